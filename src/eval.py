"""Evaluate: `python src/eval.py ckpt_path=... [data=...]` or `... real_dir=DIR fake_dir=DIR`."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

from ugatit.entry import check_command_line, run_guarded  # noqa: E402
from ugatit.evaluation.evaluate import evaluate  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    run_guarded(evaluate, cfg)


if __name__ == "__main__":
    check_command_line(sys.argv[1:])
    main()
