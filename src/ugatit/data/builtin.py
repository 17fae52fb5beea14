"""What the built-in data sets (``data=shapes``, ``data=glyphs``) share: the split layout, how an
image is painted from a drawn mask, the checks of their options, and generation on first use.

A data set is generated into a temporary sibling folder that is renamed into place, with a marker
that records its settings written last, so an interrupted run leaves nothing that counts as
complete; a lock file beside the folder makes concurrent runs wait for one generation instead of
replacing each other's. A folder whose marker records other settings is drawn again.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from ugatit.data.errors import DataError
from ugatit.file_lock import exclusive

SPLITS = ("trainA", "trainB", "testA", "testB")
SUPERSAMPLE = 4  # draw large, then shrink: smooth edges
NOISE_STD = 3.0  # grey levels of Gaussian noise, so images are not perfectly flat

Colour = tuple[int, ...]
# draws one image of a domain ("A" or "B") and says what to append to its file name ("" or "_q")
DrawImage = Callable[[np.random.Generator, str], tuple[Image.Image, str]]


def check_choice(key: str, value: str, choices: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``choices``, else a DataError naming them all."""
    choices = list(choices)
    if value not in choices:
        raise DataError(f"{key}={value!r} is not {what}; choose one of {', '.join(choices)}.")
    return value


def add_noise(rng: np.random.Generator, image: Image.Image, std: float = NOISE_STD) -> Image.Image:
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0.0, std, image.size[::-1] + (3,))
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


def paint(
    rng: np.random.Generator, mask: Image.Image, image_size: int, ink: Colour, paper: Colour
) -> Image.Image:
    """``ink`` where ``mask`` (mode L, supersampled canvas) is set, ``paper`` elsewhere, shrunk to
    ``image_size`` and noised."""
    size = mask.size
    image = Image.composite(Image.new("RGB", size, ink), Image.new("RGB", size, paper), mask)
    return add_noise(rng, image.resize((image_size, image_size), Image.Resampling.BOX))


def write_splits(folder: Path, n_train: int, n_test: int, seed: int, draw: DrawImage) -> None:
    """Every split of a data set into ``folder``; image i of a split is drawn from the seed
    ``[seed, split index, i]``, so any image can be drawn again alone."""
    for split_id, split in enumerate(SPLITS):
        target = folder / split
        target.mkdir()
        count = n_train if split.startswith("train") else n_test
        for i in range(count):
            image, tag = draw(np.random.default_rng([seed, split_id, i]), split[-1])
            image.save(target / f"{i:05d}{tag}.png", compress_level=1)


def _is_ours(root: Path, marker: str) -> bool:
    """A folder left by an interrupted generation holds nothing but our split folders."""
    return all(entry.name in SPLITS or entry.name == marker for entry in root.iterdir())


def _is_complete(root: Path, marker: str, settings: Mapping, legacy: Mapping) -> bool:
    path = root / marker
    if not path.is_file():
        return False
    try:
        return {**legacy, **json.loads(path.read_text())} == dict(settings)
    except (OSError, ValueError, TypeError):
        return False


def _generate_into(
    root: Path, settings: Mapping, marker: str, write: Callable[[Path], None], what: str
) -> None:
    if root.exists() and not (root.is_dir() and _is_ours(root, marker)):
        raise DataError(
            f"'{root}' exists but is not a complete {what} data set and holds other files, so it "
            f"is left alone. Delete it or point data.root at an empty or new folder; the {what} "
            "data are generated there on first use."
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        write(staging)
        (staging / marker).write_text(json.dumps(dict(settings)))
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def ensure_generated(
    root: Path,
    settings: Mapping,
    marker: str,
    write: Callable[[Path], None],
    what: str,
    legacy: Mapping | None = None,
) -> Path:
    """``root`` holding a complete data set drawn with ``settings``; ``write(folder)`` draws one.

    ``legacy``: settings a marker of an older generator does not record, with the values it
    drew (a data set made before an option existed is still the same data set).
    """
    root = Path(root)
    with exclusive(root.parent / f".{root.name}.lock"):
        if not _is_complete(root, marker, settings, legacy or {}):
            _generate_into(root, settings, marker, write, what)
    return root
