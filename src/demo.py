"""Demo page: `python src/demo.py ckpt_path=...` serves http://127.0.0.1:7860."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

from ugatit.entry import check_command_line, run_guarded  # noqa: E402
from ugatit.inference.demo import serve  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    run_guarded(serve, cfg)


if __name__ == "__main__":
    check_command_line(sys.argv[1:])
    main()
