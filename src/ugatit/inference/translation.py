"""Translating images with a trained checkpoint: loading, size handling, files in and out.

Size policy: a full-mode U-GAT-IT generator only accepts its training size, so images are resized
to it and the output is resized back to each input's size. Light U-GAT-IT and CycleGAN accept any
size whose sides are multiples of 4, so images are reflect-padded up to the next multiple of 4 and
the output is cropped back: nothing is resampled. Outputs are always written as PNG (lossless, so
the saved pixels are exactly the ones scored by FID/KID), keeping each input's relative folder and
file stem: ``in/sub/cat.jpg`` -> ``out/sub/cat.png``.

Every input is decoded and its size checked before the first output is written, and outputs never
replace existing files unless asked (``overwrite``), so a bad input or a second run into the same
folder cannot leave a half-written or silently replaced result.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ugatit import atomic, directions, interrupts
from ugatit.checkpoints.files import CheckpointError, load_checkpoint_file, require_entries
from ugatit.checkpoints.methods import build_method
from ugatit.checkpoints.models import check_weights_fit
from ugatit.config_checks import FLAG, POSITIVE_INT, check_translate_config
from ugatit.data.dataset import to_tensor
from ugatit.data.images import (
    IMAGE_EXTENSIONS,
    check_images,
    images_in_folder,
    load_rgb,
    non_image_files,
    report_bad_images,
)
from ugatit.errors import UserError
from ugatit.nets.sizes import MIN_SIZE, SIZE_MULTIPLE
from ugatit.training.base import TranslationMethod
from ugatit.visualize import colorize_heatmap, to_uint8, to_unit_range

log = logging.getLogger(__name__)

_WARN_LISTED = 5  # how many left-out files a warning names
CHECKPOINT_SOURCES = (
    "Pass a .ckpt written by src/train.py (checkpoints/last.ckpt in its run folder) or by "
    "src/convert.py."
)


class TranslationError(UserError, ValueError):
    """Bad translate/eval input: a path, a direction, a device, an unreadable image."""


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a CUDA request without CUDA is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(str(device))
    except (RuntimeError, ValueError) as error:
        raise TranslationError(
            f"device={device!r} is not a device; use auto, cpu or cuda (or cuda:N)."
        ) from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise TranslationError(
            f"device={device!r} was requested but CUDA is not available on this machine; use "
            "device=cpu or device=auto."
        )
    return resolved


def check_direction(direction: str) -> str:
    return directions.check_direction(direction, TranslationError)


@dataclasses.dataclass
class LoadedModel:
    """A checkpoint's module in eval mode, with what the size policy and directions need."""

    module: TranslationMethod
    path: Path
    directions: tuple[str, ...]
    fixed_size: int | None  # full-mode U-GAT-IT: the only accepted square size; else None
    iteration: int

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def _why_one_direction(self) -> str:
        if len(self.module.directions) == 1:
            return f"{type(self.module).__name__} is a one-sided method"
        return "a converted checkpoint with one direction"

    def require_direction(self, direction: str) -> None:
        check_direction(direction)
        if direction not in self.directions:
            raise TranslationError(
                f"Checkpoint '{self.path}' holds a trained generator only for "
                f"{', '.join(self.directions)} ({self._why_one_direction()}); use "
                f"direction={self.directions[0]}."
            )


def load_checkpoint(
    ckpt_path: str | Path | None, device: str | torch.device = "cpu"
) -> LoadedModel:
    """Rebuild the training method from a checkpoint's hyper-parameters and weights.

    Read with the shared safe loader (``weights_only=True``, memory-mapped): a checkpoint from
    anyone can be loaded, as nothing in it is run.
    """
    if ckpt_path is None or str(ckpt_path).strip() in ("", "???", "None"):
        raise CheckpointError(
            "ckpt_path is not set: pass the checkpoint to use, e.g. "
            "ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt."
        )
    path = Path(str(ckpt_path)).expanduser()
    label = f"ckpt_path '{path}'"
    checkpoint = require_entries(
        load_checkpoint_file(path, label, expected=CHECKPOINT_SOURCES),
        label,
        ("hyper_parameters", "state_dict"),
    )
    try:
        module = build_method(checkpoint, label)
    except UserError:
        raise
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(
            f"{label} does not rebuild its model ({type(error).__name__}: "
            f"{reason}); it was written by another version of the code or another project."
        ) from error
    check_weights_fit(checkpoint, module, label)
    module.load_state_dict(checkpoint["state_dict"])
    module.eval().requires_grad_(False).to(resolve_device(device))
    converted = checkpoint.get("converted") or {}
    trained = converted.get("directions", module.directions)
    directions = tuple(d for d in module.directions if d in trained)
    fixed = module.generator(directions[0]).fixed_size
    return LoadedModel(module, path, directions, fixed, int(checkpoint.get("iteration", 0)))


# ---------------------------------------------------------------------------------- tensors
def _pad_amounts(size: int) -> tuple[int, int]:
    extra = -size % SIZE_MULTIPLE
    return extra // 2, extra - extra // 2


def _check_size(height: int, width: int, where: str) -> None:
    if min(height, width) < MIN_SIZE:
        raise TranslationError(
            f"{where} is {width}x{height}; the generators need at least {MIN_SIZE} px on each "
            "side. Enlarge or leave out this image."
        )


def _resize(images: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


@dataclasses.dataclass
class Translated:
    """One translated image in [-1, 1] (3, H, W) at its input's size, and its raw heatmap or None."""

    image: Tensor
    heatmap: Tensor | None  # (1, H, W), upsampled onto the image, not normalised


def _run(loaded: LoadedModel, batch: Tensor, direction: str) -> tuple[Tensor, Tensor | None]:
    with torch.no_grad():
        output = loaded.module(batch.to(loaded.device), direction)
    heatmap = output.heatmap
    if heatmap is not None:
        heatmap = _resize(heatmap.float(), tuple(batch.shape[-2:]))
    return output.image.float(), heatmap


def _translate_fixed(
    loaded: LoadedModel, images: Sequence[Tensor], direction: str
) -> list[Translated]:
    """Full mode: every image resized to the training size, one batch, each resized back."""
    size = (loaded.fixed_size, loaded.fixed_size)
    image, heatmap = _run(loaded, torch.cat([_resize(x[None], size) for x in images]), direction)
    results = []
    for i, source in enumerate(images):
        own = tuple(source.shape[-2:])
        back = _resize(image[i : i + 1], own)[0].cpu()
        results.append(
            Translated(back, None if heatmap is None else _resize(heatmap[i : i + 1], own)[0].cpu())
        )
    return results


def _translate_padded(loaded: LoadedModel, batch: Tensor, direction: str) -> list[Translated]:
    """Light mode and CycleGAN, images of one size: reflect-pad to a multiple of 4, crop back."""
    height, width = batch.shape[-2:]
    top, bottom = _pad_amounts(height)
    left, right = _pad_amounts(width)
    if top + bottom + left + right:
        batch = F.pad(batch, (left, right, top, bottom), mode="reflect")
    image, heatmap = _run(loaded, batch, direction)
    rows, cols = slice(top, top + height), slice(left, left + width)
    return [
        Translated(
            image[i, :, rows, cols].cpu(),
            None if heatmap is None else heatmap[i, :, rows, cols].cpu(),
        )
        for i in range(len(image))
    ]


def translate_images(
    loaded: LoadedModel, images: Sequence[Tensor], direction: str
) -> list[Translated]:
    """Translate images in [-1, 1] (each (3, H, W), any size), returned in input order.

    Images of equal size run as one batch; the caller chooses how many to pass at once.
    """
    loaded.require_direction(direction)
    for image in images:
        _check_size(int(image.shape[-2]), int(image.shape[-1]), "An image")
    if loaded.fixed_size is not None:
        return _translate_fixed(loaded, images, direction)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(tuple(image.shape[-2:]), []).append(index)
    results: dict[int, Translated] = {}
    for indices in groups.values():
        batch = torch.stack([images[i] for i in indices])
        results.update(zip(indices, _translate_padded(loaded, batch, direction), strict=True))
    return [results[i] for i in range(len(images))]


# ---------------------------------------------------------------------------------- pictures
def to_pil(image: Tensor) -> Image.Image:
    """Generator output in [-1, 1] (3, H, W) -> 8-bit RGB image, rounded as ``to_uint8``."""
    return Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy())


def unit_to_pil(image: Tensor) -> Image.Image:
    """An image in [0, 1] (3, H, W) -> 8-bit RGB image."""
    pixels = (image.float() * 255).round().clamp(0, 255).to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).numpy())


def heatmap_picture(heatmap: Tensor) -> Tensor:
    """Raw heatmap (1, H, W) -> coloured [0, 1] picture (3, H, W), min-max normalised."""
    return colorize_heatmap(heatmap[None], tuple(heatmap.shape[-2:]))[0].cpu()


def panel(source: Tensor, result: Translated) -> Tensor:
    """input | heatmap | output side by side in [0, 1]; without a heatmap: input | output."""
    tiles = [to_unit_range(source.cpu())]
    if result.heatmap is not None:
        tiles.append(heatmap_picture(result.heatmap))
    tiles.append(to_unit_range(result.image))
    return torch.cat(tiles, dim=-1)


# ---------------------------------------------------------------------------------- file names
def output_names(relatives: Sequence[Path]) -> list[Path]:
    """``sub/name.ext`` -> ``sub/name.png``; when two inputs would share a name, both keep their
    extension (``name.jpg.png``, ``name.png.png``) so no output overwrites another."""
    wanted = [relative.with_suffix(".png") for relative in relatives]
    counts: dict[Path, int] = {}
    for name in wanted:
        counts[name] = counts.get(name, 0) + 1
    names = []
    for relative, name in zip(relatives, wanted, strict=True):
        if counts[name] > 1:
            name = relative.with_name(relative.name + ".png")
            log.warning("Two inputs would both be saved as %s; writing %s", relative, name)
        names.append(name)
    return names


def save_png(picture: Image.Image, path: Path) -> None:
    """Whole or not at all: an interrupted write leaves no partial file under ``path``."""
    atomic.save_image(picture, path, format="PNG")


# ---------------------------------------------------------------------------------- files
def collect_inputs(input_path: str | Path | None) -> tuple[Path, list[Path]]:
    """The folder that relative output paths start from, and the image files to translate."""
    if input_path is None or str(input_path).strip() in ("", "???", "None"):
        raise TranslationError(
            "input is not set: pass an image or a folder of images, e.g. input=photos/."
        )
    path = Path(str(input_path)).expanduser()
    if path.is_file():
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise TranslationError(
                f"input '{path}' is not an image file (known extensions: "
                f"{' '.join(IMAGE_EXTENSIONS)}); pass an image or a folder of images."
            )
        return path.parent, [path]
    fix = "pass an existing image file or a folder of images."
    return path, images_in_folder(path, "input", fix, TranslationError)


def _warn_left_out(folder: Path) -> None:
    """Files in the input folder that are not translated because of their extension, named once."""
    left_out = non_image_files(folder)
    if left_out:
        names = ", ".join(str(p.relative_to(folder)) for p in left_out[:_WARN_LISTED])
        more = ", ..." if len(left_out) > _WARN_LISTED else ""
        log.warning(
            "Leaving out %d file(s) under '%s' whose extension is not an image's (%s): %s%s",
            len(left_out),
            folder,
            " ".join(IMAGE_EXTENSIONS),
            names,
            more,
        )


def _usable(files: list[Path], skip_unreadable: bool) -> list[Path]:
    """Decode every input and check its size up front, so nothing stops halfway through."""
    good, bad = check_images(files, MIN_SIZE)
    report_bad_images(
        bad,
        skip_unreadable,
        "skip_unreadable",
        noun="unreadable or too small",
        error=TranslationError,
    )
    if not good:
        raise TranslationError(
            f"Every input image is unreadable or smaller than {MIN_SIZE} px on a side; nothing "
            "was translated."
        )
    return good


def _destinations(
    root: Path, files: list[Path], output_dir: Path, overwrite: bool = False
) -> list[Path]:
    if output_dir.exists() and not output_dir.is_dir():
        raise TranslationError(
            f"output '{output_dir}' is a file; pass a folder (it is created when missing)."
        )
    atomic.check_writable(output_dir, "translations", TranslationError)
    destinations = [output_dir / n for n in output_names([f.relative_to(root) for f in files])]
    sources = {f.resolve() for f in files}
    clashes = [d for d in destinations if d.resolve() in sources]
    if clashes:
        raise TranslationError(
            f"Writing to output '{output_dir}' would overwrite input image(s) such as "
            f"'{clashes[0]}'; choose an output folder outside the input."
        )
    existing = [d for d in destinations if d.exists()]
    if existing and not overwrite:
        raise TranslationError(
            f"output '{output_dir}' already holds {len(existing)} of the {len(destinations)} "
            f"file(s) this run would write, such as '{existing[0]}'; set skip_existing=true to "
            "translate only the others (e.g. after an interrupted run), overwrite=true to replace "
            "them, or choose another output folder."
        )
    return destinations


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def translate_files(
    loaded: LoadedModel,
    input_path: str | Path | None,
    output_dir: str | Path,
    direction: str = "a2b",
    batch_size: int = 1,
    panels: bool = False,
    skip_unreadable: bool = False,
    overwrite: bool = False,
    skip_existing: bool = False,
) -> list[Path]:
    """Translate one image or every image under a folder; returns the written PNG paths.

    With ``panels`` each written file is input | heatmap | output side by side instead of the
    translation alone (no heatmap column for CycleGAN). Existing files in ``output_dir`` are
    replaced with ``overwrite``, left as they are (their inputs not translated) with
    ``skip_existing``; otherwise the run stops before writing anything. Every file is written
    whole or not at all; a stop (SIGTERM, Ctrl+C) ends in :class:`RunStopped` saying how many
    were written.
    """
    loaded.require_direction(direction)
    POSITIVE_INT.check("batch_size", batch_size, TranslationError)
    FLAG.check("overwrite", overwrite, TranslationError)
    FLAG.check("skip_existing", skip_existing, TranslationError)
    root, files = collect_inputs(input_path)
    if root == Path(str(input_path)).expanduser():  # a folder, not a single file
        _warn_left_out(root)
    files = _usable(files, skip_unreadable)
    output_dir = Path(str(output_dir)).expanduser()
    destinations = _destinations(root, files, output_dir, overwrite or skip_existing)
    pairs = list(zip(files, destinations, strict=True))
    if skip_existing and not overwrite:
        done = [target for _, target in pairs if target.exists()]
        if done:
            log.info("Leaving %d existing translation(s) in %s as they are", len(done), output_dir)
        pairs = [(source, target) for source, target in pairs if not target.exists()]
    written: list[Path] = []
    try:
        with interrupts.signals_raise():
            for chunk in _chunks(pairs, batch_size):
                sources = [to_tensor(load_rgb(source)) for source, _ in chunk]
                results = translate_images(loaded, sources, direction)
                for (source, target), image, result in zip(chunk, sources, results, strict=True):
                    picture = unit_to_pil(panel(image, result)) if panels else to_pil(result.image)
                    save_png(picture, target)
                    written.append(target)
                    log.debug("%s -> %s", source, target)
    except interrupts.STOPS as stop:
        raise interrupts.stopped(
            stop,
            f"translate wrote {len(written)} of {len(pairs)} image(s) into {output_dir}, each "
            "complete (none is half-written). Rerun the same command with skip_existing=true to "
            "translate the rest.",
        ) from None
    log.info("Translated %d image(s) %s into %s", len(written), direction, output_dir)
    return written


def translate(cfg: Any) -> list[Path]:
    """What src/translate.py runs: check the cheap options, load the checkpoint, translate."""
    check_translate_config(cfg)
    check_direction(str(cfg.direction))
    collect_inputs(cfg.input)  # a bad input path fails before a large checkpoint is read
    loaded = load_checkpoint(cfg.ckpt_path, cfg.get("device", "auto"))
    return translate_files(
        loaded,
        cfg.input,
        cfg.output,
        direction=str(cfg.direction),
        batch_size=cfg.get("batch_size", 1),
        panels=bool(cfg.get("panels", False)),
        skip_unreadable=bool(cfg.get("skip_unreadable", False)),
        overwrite=bool(cfg.get("overwrite", False)),
        skip_existing=bool(cfg.get("skip_existing", False)),
    )
