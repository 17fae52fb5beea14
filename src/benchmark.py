"""Time training steps: `python src/benchmark.py [model=...] [trainer=gpu] [benchmark.iterations=N]`.

Prints one JSON line: speed and peak memory of the project's training step and of the official
code's ordering, and their ratios (see ugatit.tools.benchmark).
"""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

from ugatit.entry import check_command_line, run_guarded  # noqa: E402
from ugatit.tools.benchmark import run_benchmark  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="benchmark")
def main(cfg: DictConfig) -> None:
    run_guarded(run_benchmark, cfg)


if __name__ == "__main__":
    check_command_line(sys.argv[1:])
    main()
