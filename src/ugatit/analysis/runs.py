"""Finding or making a trained run: compose the real Hydra config of the quick start, locate a
checkpoint's run folder, metrics and data, load test images, read the CSV metrics."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from torch import Tensor

from ugatit.data.dataset import ImageFolderDataset
from ugatit.data.errors import DataError
from ugatit.data.images import list_images
from ugatit.data.shapes import DEFAULT_PAIR, ensure_shapes
from ugatit.errors import UserError
from ugatit.training import cycle  # noqa: F401  (the model configs start from its settings)

# Narrows the quick start further so that the notebook trains in about a minute on a CPU. The live
# progress bar and model summary are off: in a notebook without ipywidgets they only add noise.
NOTEBOOK_OVERRIDES: tuple[str, ...] = (
    "model=ugatit_small",
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "callbacks.progress_bar=null",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
)


DEFAULT_SHAPES_SIZE = 64


# ------------------------------------------------------------------------------ runs and config
def find_project_root(start: str | Path | None = None) -> Path:
    """The repository root (the folder holding ``conf/train.yaml``) at or above ``start``.

    A notebook's working directory is wherever Jupyter was started, often ``notebooks/``.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "conf" / "train.yaml").is_file():
            return folder
    raise UserError(
        f"No conf/train.yaml found in '{here}' or any folder above it: start Jupyter (or this "
        "script) inside the repository, e.g. `cd /path/to/repo && jupyter lab`."
    )


def default_run_dir(root: Path, task: str = "notebook") -> Path:
    """``logs/<task>/runs/<time>`` like the entry points' run folders."""
    return root / "logs" / task / "runs" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def compose_quick_start(
    root: Path, run_dir: Path, iterations: int | None = None, overrides: Sequence[str] = ()
) -> DictConfig:
    """conf/train.yaml composed as ``python src/train.py experiment=quickstart`` would (``make
    train``), with its outputs in ``run_dir``.

    ``iterations`` sets model.schedule.max_iterations and renders the sample grid once, at the
    end; the CSV logger then writes about 30 rows whatever the length.
    """
    if iterations is not None and iterations < 1:
        raise UserError(f"The number of training iterations must be >= 1, got {iterations}.")
    os.environ.setdefault("PROJECT_ROOT", str(root))
    extra = ["experiment=quickstart", *overrides]
    if iterations is not None:
        extra += [
            f"model.schedule.max_iterations={iterations}",
            f"callbacks.sample_grid.every_n_iterations={iterations}",
            f"trainer.log_every_n_steps={max(1, iterations // 30)}",
        ]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=extra, return_hydra_config=True)
        HydraConfig().set_config(cfg)  # paths.output_dir refers to ${hydra:runtime.output_dir}
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.paths.root_dir = str(root)
    return cfg


def run_dir_of(ckpt_path: str | Path) -> Path:
    """A training run's folder from one of its checkpoints (``<run>/checkpoints/x.ckpt``)."""
    path = Path(ckpt_path)
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def metrics_csv_of(ckpt_path: str | Path) -> Path | None:
    """The CSV logger's ``csv/metrics.csv`` of the checkpoint's run, or None when there is none."""
    path = run_dir_of(ckpt_path) / "csv" / "metrics.csv"
    return path if path.is_file() else None


def latest_sample_grid(run_dir: Path) -> Path | None:
    """The last ``samples/iter_*.png`` the SampleGrid callback wrote in ``run_dir``."""
    grids = sorted((Path(run_dir) / "samples").glob("iter_*.png"))
    return grids[-1] if grids else None


def run_data_settings(ckpt_path: str | Path) -> dict[str, object]:
    """``data.root``, ``name``, ``pair`` and ``crop_size`` of the checkpoint's run ({} if unknown).

    Read from the CSV logger's resolved ``csv/hparams.yaml``; converted checkpoints have none.
    """
    path = run_dir_of(ckpt_path) / "csv" / "hparams.yaml"
    if not path.is_file():
        return {}
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict):
        return {}
    return {k: data[k] for k in ("root", "name", "pair", "crop_size") if data.get(k) is not None}


# ------------------------------------------------------------------------------ test images
def data_for_checkpoint(
    ckpt_path: str | Path,
    project_root: Path,
    data_root: str | Path | None = None,
    image_size: int | None = None,
    fixed_size: int | None = None,
) -> tuple[Path, int, str | None]:
    """(data root, image size, the built-in shapes pair or None) for showing a checkpoint's work.

    The root: ``data_root`` if given, else the run's own data, else the built-in shapes. The size:
    a full-mode generator's ``fixed_size`` (the only one it takes), else ``image_size``, else the
    run's crop size, else 64 px for shapes and 256 px otherwise.
    """
    run = run_data_settings(ckpt_path)
    if data_root is not None:
        root, shapes = Path(data_root).expanduser(), None
    elif "root" in run:
        root = Path(str(run["root"]))
        shapes = str(run.get("pair") or DEFAULT_PAIR) if run.get("name") == "shapes" else None
        root = root if root.is_absolute() else project_root / root
    else:
        root, shapes = project_root / "data" / "shapes" / DEFAULT_PAIR, DEFAULT_PAIR
    default = DEFAULT_SHAPES_SIZE if shapes else 256
    size = fixed_size or image_size or int(run.get("crop_size") or default)
    return root, int(size), shapes


def load_test_images(
    data_root: str | Path, size: int, n_images: int, shapes: str | None = None
) -> tuple[Tensor, Tensor]:
    """The first ``n_images`` of ``testA`` and ``testB``, resized to ``size``, in [-1, 1].

    ``shapes=PAIR`` generates that built-in pair into ``data_root`` first when it is missing.
    """
    root = Path(data_root).expanduser()
    if n_images < 1:
        raise UserError(f"N_IMAGES must be >= 1, got {n_images}.")
    if shapes:
        ensure_shapes(root, pair=shapes)
    batches = []
    for split in ("testA", "testB"):
        folder = root / split
        files = list_images(folder) if folder.is_dir() else []
        if not files:
            raise DataError(
                f"No test images in '{folder}': point DATA_ROOT at a data folder laid out as "
                "ROOT/{trainA,trainB,testA,testB}, or leave it None to use the run's data."
            )
        dataset = ImageFolderDataset(files[:n_images], size)
        batches.append(torch.stack([dataset[i]["image"] for i in range(len(dataset))]))
    return batches[0], batches[1]


# ------------------------------------------------------------------------------ metrics
@dataclass(frozen=True)
class Curve:
    """One logged value over training iterations."""

    iterations: list[float]
    values: list[float]


def read_metrics(csv_path: str | Path) -> dict[str, Curve]:
    """Every numeric column of a Lightning CSVLogger ``metrics.csv`` as a curve over iterations.

    Rows hold only the values logged at that step (others are empty); the x value is the
    ``train/iteration`` column where present, else ``step + 1`` (iterations count from 1).
    """
    path = Path(csv_path)
    if not path.is_file():
        raise UserError(
            f"Metrics file '{path}' does not exist: pass the csv/metrics.csv of a run trained "
            "with the CSV logger (logger=csv, the default)."
        )
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise UserError(f"Metrics file '{path}' holds no rows yet: train for longer, then retry.")
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        x = _number(row.get("train/iteration"))
        if x is None:
            step = _number(row.get("step"))
            x = None if step is None else step + 1
        if x is None:
            continue
        for key, text in row.items():
            value = _number(text)
            if key in ("step", "epoch") or value is None:
                continue
            xs, ys = curves.setdefault(key, ([], []))
            xs.append(x)
            ys.append(value)
    return {key: Curve(xs, ys) for key, (xs, ys) in curves.items()}


def _number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
