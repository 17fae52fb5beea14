"""Finding image files, decoding any of them to 8-bit RGB, and reporting the ones that fail.

Data sets collected from the web mix greyscale, palette, CMYK, transparent and 16-bit files; the
networks need three 8-bit channels, so every conversion happens here, once, with the right scaling,
and every reader of the project (training data, translate, eval, the demo, the notebook) decodes
through :func:`load_rgb`, so the same file gives the same pixels everywhere:

- EXIF orientation is applied (phone photos store their rotation there);
- transparency is composited onto white (what viewers show; colours under alpha 0 are arbitrary);
- 16-bit and float images are scaled onto 0..255, never clipped; a float image holding NaN or
  infinite values is refused with the file named (no scaling can say what such a pixel shows);
- an animated GIF counts as its first frame.

Folder walks follow symbolic links to folders (a domain assembled from links), each real folder
visited once, so a link loop ends.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ugatit.data.errors import DataError
from ugatit.errors import UserError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
_SHOW_BAD = 10  # how many bad files an error lists by name
_WARN_BAD = 5  # how many a skip warning lists by name

# Transparent pixels are composited onto white: what viewers show, and hidden colour values under
# alpha 0 are often arbitrary.
_BACKGROUND = (255, 255, 255)
_HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _visible_files(folder: Path, recursive: bool) -> Iterator[Path]:
    """Files in ``folder`` (and below it, through links to folders too, each real folder once),
    skipping hidden files and hidden folders."""
    folder = Path(folder)
    seen: set[str] = set()
    for top, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:  # a link loop, or two links to one folder
            folders[:] = []
            continue
        seen.add(real)
        folders[:] = sorted(f for f in folders if not f.startswith(".")) if recursive else []
        for name in files:
            path = Path(top, name)
            if not name.startswith(".") and path.is_file():
                yield path


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (by extension, any case), sorted by path; hidden entries skipped.

    ``recursive`` also searches every subfolder (domain folders, translate inputs).
    """
    return sorted(p for p in _visible_files(folder, recursive) if is_image_name(p))


def images_in_folder(
    folder: Path, what: str, fix: str, error: type[Exception], recursive: bool = True
) -> list[Path]:
    """The image files under ``folder``; a missing folder or one without images is one
    ``error`` that names ``what`` the folder is and the ``fix``."""
    if not folder.is_dir():
        raise error(f"{what} '{folder}' does not exist; {fix}")
    files = list_images(folder, recursive=recursive)
    if not files:
        searched = "searched recursively" if recursive else "searched"
        raise error(
            f"{what} '{folder}' holds no images ({searched} for {' '.join(IMAGE_EXTENSIONS)}); {fix}"
        )
    return files


def non_image_files(folder: Path, recursive: bool = True) -> list[Path]:
    """The visible files that :func:`list_images` leaves out because of their extension."""
    return sorted(p for p in _visible_files(folder, recursive) if not is_image_name(p))


def is_image_name(path: Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


DEFAULT_UNREADABLE_ADVICE = (
    "Replace the file with a valid image or delete it, or set data.skip_unreadable=true to leave "
    "unreadable images out of the data set."
)


def _unreadable_message(path: Path, reason: str, advice: str | None) -> str:
    return f"Cannot read image '{path}': {reason}. {advice or DEFAULT_UNREADABLE_ADVICE}"


def _scale_to_uint8(image: Image.Image) -> Image.Image:
    """Map 16-bit integer or float greyscale onto 0..255 by scaling, never by clipping."""
    values = np.asarray(image).astype(np.float64)
    if image.mode.startswith("I;16"):
        scaled = values / 257.0  # 65535 -> 255
    elif image.mode == "I" and values.size and values.min() >= 0 and values.max() <= 65535:
        scaled = values / 257.0  # what 16-bit PNG and TIFF files decode to in older Pillow
    elif image.mode == "F" and not np.isfinite(values).all():
        raise ValueError("it holds NaN or infinite pixel values (a float image); fix or drop them")
    elif image.mode == "F" and values.size and values.min() >= 0 and values.max() <= 1:
        scaled = values * 255.0  # the usual convention for float images
    else:
        # Any other range (signed 32-bit, float outside [0, 1]): stretch the data's own range.
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0.0
    grey = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
    return grey.convert("RGB")


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in _HIGH_BIT_MODES:
        return _scale_to_uint8(image)
    has_alpha = "A" in image.getbands() or "a" in image.getbands()
    if image.mode in ("P", "L", "RGB", "1") and "transparency" in image.info:
        has_alpha = True
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _decode(path: Path) -> Image.Image:
    """Open, fully decode and convert; raises whatever Pillow raises for a bad file."""
    with Image.open(path) as image:
        image.load()
        image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
        return _to_rgb(image)


def _short_reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def load_rgb(path: Path, advice: str | None = None) -> Image.Image:
    """Decode ``path`` completely into an RGB image; a bad file raises :class:`DataError`.

    ``advice`` replaces the default fix named in that error (the data module knows which of its
    settings would help).
    """
    path = Path(path)
    try:
        return _decode(path)
    except FileNotFoundError as error:
        raise DataError(
            f"Image '{path}' does not exist. Check data.root, or rerun so the file list is "
            "scanned again."
        ) from error
    except Exception as error:  # Pillow raises many types (OSError, SyntaxError, struct.error)
        raise DataError(_unreadable_message(path, _short_reason(error), advice)) from error


def _inspect(path: Path, min_size: int | None) -> str | None:
    try:
        image = _decode(path)
    except Exception as error:
        return _short_reason(error)
    if min_size is not None and min(image.size) < min_size:
        return f"is {image.size[0]}x{image.size[1]}, smaller than {min_size} px on a side"
    return None


def check_images(
    paths: Iterable[Path], min_size: int | None
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Decode every file once, before training, so a bad one fails now and not hours later.

    Returns the good paths and the bad ones with a short reason, both in the input order.
    """
    paths = [Path(p) for p in paths]
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # Pillow releases the GIL to decode
        reasons = list(pool.map(lambda p: _inspect(p, min_size), paths))
    good = [p for p, reason in zip(paths, reasons, strict=True) if reason is None]
    bad = [(p, reason) for p, reason in zip(paths, reasons, strict=True) if reason is not None]
    return good, bad


def report_bad_images(
    bad: Sequence[tuple[Path, str]],
    skip: bool,
    skip_key: str,
    where: str = "",
    noun: str = "unreadable",
    error: type[UserError] = DataError,
) -> None:
    """One error listing the bad files (the first ten by name), or with ``skip`` one warning.

    The data module and translate both report through here, so the report reads the same and is
    given once per scan. ``bad`` holds (path, reason) pairs as :func:`check_images` returns them;
    ``where`` is a phrase such as " under 'ROOT'".
    """
    if not bad:
        return
    if not skip:
        listed = "; ".join(f"'{p}' ({reason})" for p, reason in bad[:_SHOW_BAD])
        more = f" and {len(bad) - _SHOW_BAD} more" if len(bad) > _SHOW_BAD else ""
        raise error(
            f"{len(bad)} {noun} image(s){where}: {listed}{more}. Replace or delete these files, "
            f"or set {skip_key}=true to leave them out."
        )
    names = ", ".join(str(p) for p, _ in bad[:_WARN_BAD])
    more = ", ..." if len(bad) > _WARN_BAD else ""
    log.warning("Skipping %d %s image(s)%s: %s%s", len(bad), noun, where, names, more)
