"""Translate: `python src/translate.py ckpt_path=... input=IMAGE_OR_DIR output=DIR direction=a2b`."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

from ugatit.entry import check_command_line, run_guarded  # noqa: E402
from ugatit.inference.translation import translate  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="translate")
def main(cfg: DictConfig) -> None:
    run_guarded(translate, cfg)


if __name__ == "__main__":
    check_command_line(sys.argv[1:])
    main()
