"""Helpers of notebooks/explore.ipynb (and scripts/make_readme_figures.py), kept here so that they
are tested and the notebook's cells stay a few lines each.

Three jobs: find or make a trained run (compose the real Hydra config, locate a checkpoint's
metrics and data), look inside a model (translations with CAM heatmaps, discriminator attention,
rho per layer) and draw it with matplotlib. Figures are built with ``matplotlib.figure.Figure``,
not pyplot, so nothing depends on the backend: a notebook shows them with ``display(fig)`` and a
script saves them with ``fig.savefig``. Models without attention or rho (CycleGAN) give ``None``
heatmaps and an empty rho table; the plots leave those columns out instead of failing.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from matplotlib.figure import Figure
from omegaconf import DictConfig, open_dict
from torch import Tensor, nn

from ugatit.data.dataset import ImageFolderDataset
from ugatit.data.errors import DataError
from ugatit.data.images import list_images
from ugatit.data.shapes import DEFAULT_PAIR, ensure_shapes
from ugatit.errors import UserError
from ugatit.nets.norms import clip_unit
from ugatit.nets.outputs import GeneratorOutput
from ugatit.training.base import GENERATOR_NAMES
from ugatit.visualize import colorize_heatmap, to_unit_range

# Narrows the quick start further so that the notebook trains in about a minute on a CPU. The live
# progress bar and model summary are off: in a notebook without ipywidgets they only add noise.
NOTEBOOK_OVERRIDES: tuple[str, ...] = (
    "model=ugatit_small",
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "callbacks.rich_progress_bar=null",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
)
CURVE_PANELS: dict[str, tuple[str, ...]] = {
    "generator total": ("train/g_total",),
    "discriminator total": ("train/d_total",),
    "cycle (L1)": ("train/g_cycle",),
    "CAM": ("train/g_cam",),
    "learning rate": ("lr/generator", "lr/discriminator"),
}
DIRECTION_LABELS = {"a2b": "A→B", "b2a": "B→A"}
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
    """conf/train.yaml composed as ``python src/train.py`` would, with its outputs in ``run_dir``.

    ``iterations`` sets model.schedule.max_iterations and renders the sample grid once, at the
    end; the CSV logger then writes about 30 rows whatever the length.
    """
    if iterations is not None and iterations < 1:
        raise UserError(f"The number of training iterations must be >= 1, got {iterations}.")
    os.environ.setdefault("PROJECT_ROOT", str(root))
    extra = list(overrides)
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


# ------------------------------------------------------------------------------ looking inside
def _first_parameter(module: nn.Module) -> Tensor:
    return next(module.parameters())


@torch.no_grad()
def translate(module: nn.Module, images: Tensor, direction: str) -> GeneratorOutput:
    """The module's generator output for ``images`` (eval mode, no gradients)."""
    module.eval()
    return module(images.to(_first_parameter(module).device), direction)


@torch.no_grad()
def discriminator_heatmaps(module: nn.Module, images: Tensor, domain: str) -> list[Tensor | None]:
    """Attention heatmaps [B, 1, h, w] of domain ``domain``'s discriminators, one per head.

    U-GAT-IT has two heads (global, local); CycleGAN's PatchGAN one, whose heatmap is None.
    """
    module.eval()
    discriminator = module.discriminator(domain)
    heads = discriminator(images.to(_first_parameter(module).device))
    return [head.heatmap for head in heads]


def has_attention(module: nn.Module) -> bool:
    """True when the generators produce CAM heatmaps (U-GAT-IT with use_cam)."""
    return module.generator(module.directions[0]).has_attention


@dataclass(frozen=True)
class RhoRow:
    """rho of one norm layer as the forward pass uses it: clip(rho - rho_offset, 0, 1)."""

    generator: str
    layer: str
    kind: str
    group: str
    channels: int
    mean: float
    min: float
    max: float


@torch.no_grad()
def rho_table(module: nn.Module) -> list[RhoRow]:
    """One row per rho-carrying norm (AdaLIN in the decoder blocks, LIN in the up-sampling
    blocks) of both generators, in network order; [] for models without rho (CycleGAN)."""
    rows = []
    for direction in module.directions:
        generator_name = GENERATOR_NAMES[direction]
        generator = module.generator(direction)
        for layer, norm in generator.named_modules():
            rho = getattr(norm, "rho", None)
            if not isinstance(rho, nn.Parameter):
                continue
            values = clip_unit(rho.detach().float() - getattr(norm, "rho_offset", 0.0)).flatten()
            rows.append(
                RhoRow(
                    generator=generator_name,
                    layer=layer,
                    kind=type(norm).__name__,
                    group=generator.rho_group(layer) or layer.split(".", 1)[0].lower(),
                    channels=values.numel(),
                    mean=values.mean().item(),
                    min=values.min().item(),
                    max=values.max().item(),
                )
            )
    return rows


def format_rho_table(rows: Sequence[RhoRow]) -> str:
    """A Markdown table of ``rows`` (for ``IPython.display.Markdown``)."""
    lines = [
        "| generator | layer | norm | group | channels | mean | min | max |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.generator} | {r.layer} | {r.kind} | {r.group} | {r.channels} | "
            f"{r.mean:.3f} | {r.min:.3f} | {r.max:.3f} |"
        )
    return "\n".join(lines)


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


# ------------------------------------------------------------------------------ drawing
def _image(tile: Tensor):
    """[3, H, W] in [0, 1] -> an H x W x 3 array for imshow."""
    return tile.detach().cpu().permute(1, 2, 0).numpy()


def _grid(fig: Figure, rows: int, columns: int):
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return axes


def plot_translations(module: nn.Module, images: Tensor, direction: str) -> Figure:
    """real | generator attention heatmap | translation, one row per image.

    The heatmap column is left out for generators without CAM attention.
    """
    output = translate(module, images, direction)
    size = tuple(images.shape[-2:])
    source, target = DIRECTION_LABELS[direction].split("→")
    columns = [(f"real {source}", to_unit_range(images))]
    if output.heatmap is not None:
        columns.append(("generator attention", colorize_heatmap(output.heatmap, size)))
    columns.append((f"translated to {target}", to_unit_range(output.image)))
    fig = Figure(figsize=(2.0 * len(columns), 2.0 * len(images)), layout="constrained")
    axes = _grid(fig, len(images), len(columns))
    for c, (title, tiles) in enumerate(columns):
        axes[0, c].set_title(title, fontsize=9)
        for r in range(len(images)):
            axes[r, c].imshow(_image(tiles[r]))
    fig.suptitle(f"{DIRECTION_LABELS[direction]} ({direction})", fontsize=10)
    return fig


def plot_discriminator_attention(
    module: nn.Module, images: Mapping[str, Tensor], domain: str
) -> Figure:
    """image | one heatmap per discriminator head (global, local), for each labelled batch.

    ``images`` maps a label (e.g. "real B", "fake B") to images of domain ``domain``.
    """
    rows: list[tuple[str, Tensor, list[Tensor | None]]] = []
    for label, batch in images.items():
        heatmaps = discriminator_heatmaps(module, batch, domain)
        for i in range(len(batch)):
            rows.append(
                (label, batch[i : i + 1], [h if h is None else h[i : i + 1] for h in heatmaps])
            )
    n_heads = len(rows[0][2]) if rows else 0
    names = ["global D", "local D"] if n_heads == 2 else [f"D head {i}" for i in range(n_heads)]
    fig = Figure(figsize=(2.0 * (1 + n_heads), 2.0 * len(rows)), layout="constrained")
    axes = _grid(fig, len(rows), 1 + n_heads)
    for r, (label, image, heatmaps) in enumerate(rows):
        axes[r, 0].imshow(_image(to_unit_range(image)[0]))
        axes[r, 0].set_title(label, fontsize=9)
        for h, heatmap in enumerate(heatmaps):
            ax = axes[r, 1 + h]
            if heatmap is None:
                ax.text(0.5, 0.5, "no attention", ha="center", va="center", fontsize=8)
            else:
                ax.imshow(_image(colorize_heatmap(heatmap, tuple(image.shape[-2:]))[0]))
            if r == 0:
                ax.set_title(names[h], fontsize=9)
    fig.suptitle(f"discriminator of domain {domain.upper()}", fontsize=10)
    return fig


def plot_rho(rows: Sequence[RhoRow]) -> Figure:
    """Mean rho per layer (bars, min-max as error bars), both generators side by side."""
    layers = list(dict.fromkeys(r.layer for r in rows))
    generators = list(dict.fromkeys(r.generator for r in rows))
    width = 0.8 / max(1, len(generators))
    fig = Figure(figsize=(max(5.0, 0.6 * len(layers) + 2), 3.4), layout="constrained")
    ax = fig.subplots()
    for g, name in enumerate(generators):
        mine = {r.layer: r for r in rows if r.generator == name}
        xs = [i + (g - (len(generators) - 1) / 2) * width for i, layer in enumerate(layers)]
        means = [mine[layer].mean if layer in mine else math.nan for layer in layers]
        # float rounding can put the mean of equal values a hair outside [min, max]
        low = [max(0.0, mine[x].mean - mine[x].min) if x in mine else 0.0 for x in layers]
        high = [max(0.0, mine[x].max - mine[x].mean) if x in mine else 0.0 for x in layers]
        ax.bar(xs, means, width, yerr=[low, high], capsize=2, label=name)
    ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rho (1 = instance norm, 0 = layer norm)", fontsize=8)
    ax.axhline(1.0, color="grey", linewidth=0.5)
    ax.legend(fontsize=8)
    return fig


def plot_learning_curves(
    curves: Mapping[str, Curve], panels: Mapping[str, Sequence[str]] = CURVE_PANELS
) -> Figure:
    """One panel per entry of ``panels`` that has data (e.g. no CAM panel for CycleGAN)."""
    present = {
        title: [key for key in keys if key in curves and curves[key].values]
        for title, keys in panels.items()
    }
    present = {title: keys for title, keys in present.items() if keys}
    if not present:
        raise UserError(
            f"None of {sorted(k for keys in panels.values() for k in keys)} was logged; the "
            "metrics file holds " + ", ".join(sorted(curves)) + "."
        )
    columns = min(3, len(present))
    rows = math.ceil(len(present) / columns)
    fig = Figure(figsize=(3.6 * columns, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat[len(present) :]:
        ax.set_axis_off()
    for ax, (title, keys) in zip(axes.flat, present.items(), strict=False):
        for key in keys:
            ax.plot(curves[key].iterations, curves[key].values, label=key, linewidth=1.2)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
        if len(keys) > 1:
            ax.legend(fontsize=7)
    return fig
