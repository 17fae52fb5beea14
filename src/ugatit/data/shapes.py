"""The built-in data set: round shapes (A) to angular shapes (B), generated on first use.

Translating it means changing geometry, not only colour, yet it is small enough to train on a CPU
in minutes, so the quick start and the tests need no download.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ugatit.data.errors import DataError

MARKER = ".shapes-complete.json"
SPLITS = ("trainA", "trainB", "testA", "testB")
_SUPERSAMPLE = 4  # draw large, then shrink: smooth edges
_NOISE_STD = 3.0  # grey levels of Gaussian noise, so images are not perfectly flat
_MIN_CONTRAST = 120.0  # Euclidean RGB distance between shape and background


def _colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    background = rng.integers(0, 256, 3)
    while True:
        fill = rng.integers(0, 256, 3)
        if np.linalg.norm(fill - background) >= _MIN_CONTRAST:
            return tuple(int(v) for v in fill), tuple(int(v) for v in background)


def _outline(rng: np.random.Generator, round_shape: bool, canvas: int) -> list[tuple[float, float]]:
    """Polygon of a circle/ellipse (A) or square/rectangle (B), fully inside the canvas."""
    half_long = rng.uniform(0.14, 0.30) * canvas
    if rng.random() < 0.5:
        half_short = half_long  # circle or square
    else:
        half_short = half_long * rng.uniform(0.45, 0.8)  # ellipse or rectangle
    if round_shape:
        angle = rng.uniform(0.0, math.pi)
        steps = np.linspace(0.0, 2 * math.pi, 96, endpoint=False)
        points = np.stack([half_long * np.cos(steps), half_short * np.sin(steps)], axis=1)
    else:
        angle = 0.0 if rng.random() < 0.5 else math.radians(rng.uniform(-15.0, 15.0))
        points = np.array(
            [
                [-half_long, -half_short],
                [half_long, -half_short],
                [half_long, half_short],
                [-half_long, half_short],
            ]
        )
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    points = points @ rotation.T
    low, high = points.min(axis=0), points.max(axis=0)
    centre = rng.uniform(-low, canvas - high)  # keeps the whole shape on the canvas
    return [(float(x), float(y)) for x, y in points + centre]


def draw_shape(rng: np.random.Generator, round_shape: bool, image_size: int) -> Image.Image:
    """One RGB image: a filled shape of random size, place, angle and colours, light noise."""
    canvas = image_size * _SUPERSAMPLE
    fill, background = _colours(rng)
    image = Image.new("RGB", (canvas, canvas), background)
    ImageDraw.Draw(image).polygon(_outline(rng, round_shape, canvas), fill=fill)
    image = image.resize((image_size, image_size), Image.Resampling.BOX)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(
        0.0, _NOISE_STD, (image_size,) * 2 + (3,)
    )
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


def _generate(folder: Path, image_size: int, n_train: int, n_test: int, seed: int) -> None:
    for split_id, split in enumerate(SPLITS):
        target = folder / split
        target.mkdir()
        count = n_train if split.startswith("train") else n_test
        round_shape = split.endswith("A")
        for i in range(count):
            rng = np.random.default_rng([seed, split_id, i])
            draw_shape(rng, round_shape, image_size).save(target / f"{i:05d}.png", compress_level=1)


def _is_ours(root: Path) -> bool:
    """A folder left by an interrupted generation holds nothing but our split folders."""
    return all(entry.name in SPLITS or entry.name == MARKER for entry in root.iterdir())


def ensure_shapes(
    root: Path, image_size: int = 64, n_train: int = 400, n_test: int = 50, seed: int = 0
) -> Path:
    """Generate the shapes data set into ``root`` unless a complete one with these settings is there.

    Files are written into a temporary sibling folder that is renamed into place, with the marker
    written last, so an interrupted run leaves nothing that counts as complete.
    """
    root = Path(root)
    settings = {"image_size": image_size, "n_train": n_train, "n_test": n_test, "seed": seed}
    marker = root / MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == settings:
                return root
        except (OSError, ValueError):
            pass
    if root.exists() and not (root.is_dir() and _is_ours(root)):
        raise DataError(
            f"'{root}' exists but is not a complete shapes data set and holds other files, so it "
            "is left alone. Delete it or point data.root at an empty or new folder; the shapes "
            "data are generated there on first use."
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        _generate(staging, image_size, n_train, n_test, seed)
        (staging / MARKER).write_text(json.dumps(settings))
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return root
