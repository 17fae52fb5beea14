"""Export: `python src/export.py ckpt_path=... direction=a2b format=onnx output=generator.onnx`."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

from ugatit.entry import check_command_line, run_guarded  # noqa: E402
from ugatit.inference.export import export  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    run_guarded(export, cfg)


if __name__ == "__main__":
    check_command_line(sys.argv[1:])
    main()
