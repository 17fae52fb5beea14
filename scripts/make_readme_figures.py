"""Draw the README's pictures from a real run: docs/sample_grid.png and docs/loss_curves.png.

    python scripts/make_readme_figures.py                      # train the quick start, then draw
    python scripts/make_readme_figures.py --ckpt RUN/checkpoints/last.ckpt [--metrics CSV]

Without ``--ckpt`` it trains the quick start exactly as ``make train`` (``python src/train.py
experiment=quickstart``: U-GAT-IT light, narrowed, 2,000 iterations on the built-in shapes data;
``--iterations`` shortens it) into
``logs/figures/runs/<time>``. The sample grid is the run's latest ``samples/iter_*.png`` (real |
attention heatmap | translation | reconstruction | identity, both directions), or, for a checkpoint
without one, rendered the same way from its test images. The curves come from the run's
``csv/metrics.csv``. Both files are kept under 300 KB so the repository stays small.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms.functional import to_pil_image

from ugatit import analysis as nu
from ugatit.atomic import save_image
from ugatit.entry import run_guarded
from ugatit.errors import UserError
from ugatit.inference.translation import load_checkpoint
from ugatit.visualize import sample_grid

log = logging.getLogger("make_readme_figures")
MAX_BYTES = 300_000
N_SAMPLES = 4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, help="checkpoint of a finished run (skips training)")
    parser.add_argument(
        "--metrics", type=Path, help="metrics.csv to plot (default: the run's csv/metrics.csv)"
    )
    parser.add_argument(
        "--iterations", type=int, help="training length when training (default: the quick start's)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: docs/ in the repository)")
    return parser.parse_args(argv)


def train_quick_start(root: Path, iterations: int | None) -> Path:
    """Train ``make train``'s quick start into a fresh run folder; its last.ckpt."""
    from ugatit.training.pipeline import (
        train,  # imported here: drawing alone does not need Lightning
    )

    run_dir = nu.default_run_dir(root, task="figures")
    overrides = ["callbacks.progress_bar=null"]
    if iterations is not None:
        cfg = nu.compose_quick_start(root, run_dir, iterations, overrides)
    else:
        cfg = nu.compose_quick_start(root, run_dir, overrides=overrides)
    log.info(
        "Training the quick start (%d iterations) into %s",
        cfg.model.schedule.max_iterations,
        run_dir,
    )
    train(cfg)
    return run_dir / "checkpoints" / "last.ckpt"


def save_small_png(image: Image.Image, path: Path, max_bytes: int = MAX_BYTES) -> Path:
    """Save as PNG; over ``max_bytes``, as a 256-colour PNG (enough for these pictures)."""
    save_image(image.convert("RGB"), path, optimize=True)
    if path.stat().st_size > max_bytes:
        save_image(image.convert("RGB").quantize(colors=256), path, optimize=True)
    if path.stat().st_size > max_bytes:
        raise UserError(
            f"{path} is {path.stat().st_size} bytes even with 256 colours, over the {max_bytes} "
            "byte limit for README pictures; use fewer sample images."
        )
    return path


def write_sample_grid(ckpt: Path, root: Path, path: Path) -> Path:
    """The run's latest sample grid, or one rendered from the checkpoint's test images."""
    existing = nu.latest_sample_grid(nu.run_dir_of(ckpt))
    if existing is not None:
        log.info("Sample grid from %s", existing)
        with Image.open(existing) as image:
            return save_small_png(image, path)
    loaded = load_checkpoint(ckpt)
    data_root, size, shapes = nu.data_for_checkpoint(ckpt, root, fixed_size=loaded.fixed_size)
    real_a, real_b = nu.load_test_images(data_root, size, N_SAMPLES, shapes=shapes)
    log.info("Rendering a sample grid from %s with test images of %s", ckpt, data_root)
    with torch.no_grad():
        grid = sample_grid(loaded.module.visuals(real_a, real_b))
    return save_small_png(to_pil_image(grid), path)


def write_loss_curves(metrics: Path, path: Path) -> Path:
    fig = nu.plot_learning_curves(nu.read_metrics(metrics))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return save_small_png(image, path)


def make_figures(argv: list[str] | None = None) -> tuple[Path, Path]:
    args = parse_args(argv)
    root = nu.find_project_root(Path(__file__).resolve().parent)
    out = args.out or root / "docs"
    if args.ckpt is None and args.metrics is not None:
        raise UserError("--metrics needs --ckpt (a fresh run plots its own csv/metrics.csv).")
    ckpt = args.ckpt if args.ckpt is not None else train_quick_start(root, args.iterations)
    if not ckpt.is_file():
        raise UserError(f"--ckpt {ckpt} does not exist; pass a run's checkpoints/last.ckpt.")
    metrics = args.metrics or nu.metrics_csv_of(ckpt)
    if metrics is None:
        raise UserError(
            f"No csv/metrics.csv in the run folder of {ckpt}; pass the curves' file with --metrics."
        )
    grid = write_sample_grid(ckpt, root, out / "sample_grid.png")
    curves = write_loss_curves(metrics, out / "loss_curves.png")
    for path in (grid, curves):
        log.info("Wrote %s (%d KB)", path, path.stat().st_size // 1024)
    return grid, curves


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_guarded(make_figures, sys.argv[1:])
