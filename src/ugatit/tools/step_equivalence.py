"""Does batching the step change training? Two seeded runs, their translations compared.

The batched step (``model.batch_generator_calls``, ``model.batch_discriminator_calls``) computes
the same losses and gradients as one call per pass, up to rounding (tests/training/
test_batched_step.py). Over a run, a GAN amplifies rounding differences, so this tool trains the
same seeded run twice, batched and separate, with the project's own ``src/train.py``, then
translates the data's test images with both final checkpoints and reports how far apart the
8-bit translations are. In ``64-true`` precision the rounding is a billion times smaller, which
separates "the same maths" from "the same rounding".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ugatit import atomic
from ugatit.data.dataset import to_tensor
from ugatit.data.images import list_images, load_rgb
from ugatit.errors import UserError
from ugatit.inference.translation import load_checkpoint, translate_images
from ugatit.visualize import to_uint8

VARIANTS = {"separate": "false", "batched": "true"}


def train_variant(
    root: Path, folder: Path, batched: str, iterations: int, overrides: Sequence[str], threads: int
) -> Path:
    """One seeded run of src/train.py; returns its last checkpoint."""
    command = [
        sys.executable,
        str(root / "src" / "train.py"),
        "experiment=quickstart",
        "trainer=cpu",
        "logger=csv",
        f"model.schedule.max_iterations={iterations}",
        f"model.batch_generator_calls={batched}",
        f"model.batch_discriminator_calls={batched}",
        f"hydra.run.dir={folder}",
        *overrides,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.log", "w") as log:
        done = subprocess.run(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise UserError(f"training failed ({' '.join(command[1:])}); see {log.name}")
    return folder / "checkpoints" / "last.ckpt"


def translations(checkpoint: Path, folders: dict[str, Path]) -> dict[str, torch.Tensor]:
    """8-bit translations of each direction's test images, as translate.py would save them."""
    loaded = load_checkpoint(checkpoint)
    out = {}
    for direction, folder in folders.items():
        images = [to_tensor(load_rgb(path)) for path in list_images(folder)]
        pixels = [to_uint8(t.image) for t in translate_images(loaded, images, direction)]
        out[direction] = torch.stack(pixels).float()  # float: differences may be negative
    return out


def compare(
    root: Path,
    out: Path,
    data_root: Path,
    iterations: int,
    overrides: Sequence[str] = (),
    threads: int = 2,
) -> dict[str, Any]:
    """Train both variants, translate testA (a2b) and testB (b2a), report the differences."""
    folders = {"a2b": data_root / "testA", "b2a": data_root / "testB"}
    results = {}
    for name, batched in VARIANTS.items():
        checkpoint = train_variant(root, out / name, batched, iterations, overrides, threads)
        results[name] = translations(checkpoint, folders)
    report: dict[str, Any] = {
        "iterations": iterations,
        "overrides": list(overrides),
        "threads": threads,
        "images": {d: int(results["separate"][d].shape[0]) for d in folders},
    }
    for direction in folders:
        diff = (results["batched"][direction] - results["separate"][direction]).abs()
        report[direction] = {
            "max_diff_255": float(diff.max()),
            "mean_diff_255": float(diff.mean()),
            "share_of_pixels_over_2": float((diff > 2).float().mean()),
        }
    atomic.write_text(out / "step_equivalence.json", json.dumps(report, indent=2))
    return report
