"""Train a translation model: `python src/train.py [data=...] [model=...] [trainer=...]`."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

from ugatit.entry import check_command_line, run_guarded  # noqa: E402
from ugatit.training.pipeline import metric_value, train  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = run_guarded(train, cfg)
    if metrics is None:  # a multirun job that failed (named when the sweep ends)
        return None
    return metric_value(metrics, cfg.get("optimized_metric"))


if __name__ == "__main__":
    check_command_line(sys.argv[1:])
    main()
