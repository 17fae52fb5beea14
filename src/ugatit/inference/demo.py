"""A local web page to try trained checkpoints on your own images (Gradio, the ``demo`` extra).

Upload an image, pick the checkpoint and the direction: the page shows the translation and, for
U-GAT-IT, the attention heatmap beside it. The upload is decoded by the project's one image reader
and translated by the same code as ``src/translate.py`` (EXIF rotation, transparency, 16-bit and
float files, size policy, rounding: all the same), so a picture saved from the page has the same
pixels as translate's file for the same input. Checkpoints are read with the safe loader and
loaded on first use. A bad upload (not an image, too many bytes or pixels, too small) is answered
with a message on the page; the server keeps running. Uploads over ``max_upload_mb`` are refused
before they are stored, and each stored upload is deleted once it has been read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ugatit.data.dataset import to_tensor
from ugatit.data.errors import DataError
from ugatit.data.images import load_rgb
from ugatit.errors import UserError
from ugatit.inference.translation import (
    LoadedModel,
    TranslationError,
    heatmap_picture,
    load_checkpoint,
    to_pil,
    translate_images,
    unit_to_pil,
)
from ugatit.nets.sizes import MIN_SIZE
from ugatit.rules import POSITIVE_INT

log = logging.getLogger(__name__)

DIRECTION_LABELS = {"a2b": "A → B (a2b)", "b2a": "B → A (b2a)"}
# small images (64 px shapes) are shown enlarged, without smoothing
PAGE_CSS = (
    "#source img, #translation img, #heatmap img "
    "{width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated;}"
)


UPLOAD_KINDS = "a PNG, JPEG, BMP, WebP or TIFF picture"
CACHE_SECONDS = 600


def forget_upload(upload: str | None) -> None:
    """Delete Gradio's stored copy of an upload once it has been read (uploads piled up in the
    system temp folder). Only a file inside Gradio's upload cache is ever deleted."""
    if not upload:
        return
    from gradio.utils import get_upload_folder

    path = Path(upload).resolve()
    if Path(get_upload_folder()).resolve() in path.parents:
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # Gradio keeps each upload in a folder of its own


class DemoError(UserError, ValueError):
    """A demo setting the user can fix (checkpoints, port, size limit)."""


def checkpoint_list(ckpt_path: Any) -> list[Path]:
    """``ckpt_path`` as one path, a comma-separated string or a list -> existing, distinct files."""
    if ckpt_path is None or str(ckpt_path).strip() in ("", "None", "???"):
        raise DemoError(
            "ckpt_path is not set: pass one checkpoint or several, e.g. "
            "ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt or 'ckpt_path=[a.ckpt,b.ckpt]'."
        )
    listed = isinstance(ckpt_path, Sequence) and not isinstance(ckpt_path, str)  # ListConfig too
    items = list(ckpt_path) if listed else str(ckpt_path).split(",")
    paths = [Path(str(item).strip()).expanduser() for item in items if str(item).strip()]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DemoError(
            f"Checkpoint '{missing[0]}' does not exist; pass .ckpt files written by src/train.py "
            "or src/convert.py."
        )
    return list(dict.fromkeys(paths))


def labels(paths: list[Path]) -> dict[str, Path]:
    """Short distinct names for the dropdown: the run folder and file, e.g. ``run_1/last.ckpt``."""
    names = {}
    for path in paths:
        name = f"{path.parent.parent.name}/{path.name}" if path.parent.name == "checkpoints" else ""
        name = name or path.name
        while name in names:
            name = f"{name} ({len(names)})"
        names[name] = path
    return names


@dataclasses.dataclass
class DemoResult:
    source: Image.Image
    translation: Image.Image
    heatmap: Image.Image | None
    status: str


class DemoModels:
    """The checkpoints on offer, each loaded once on first use (then kept, on ``device``)."""

    def __init__(self, paths: list[Path], device: str = "cpu", max_side: int = 2048) -> None:
        if int(max_side) < MIN_SIZE:
            raise DemoError(f"max_side={max_side} must be at least {MIN_SIZE} (pixels).")
        self.choices = labels(paths)
        self.device = device
        self.max_side = int(max_side)
        self._loaded: dict[str, LoadedModel] = {}

    def model(self, name: str) -> LoadedModel:
        if name not in self.choices:
            raise TranslationError(f"Unknown checkpoint {name!r}; pick one from the list.")
        if name not in self._loaded:
            self._loaded[name] = load_checkpoint(self.choices[name], self.device)
        return self._loaded[name]

    def read_upload(self, upload: str | None) -> Image.Image:
        """The uploaded file as RGB through the project's image reader (as translate reads it),
        its longer side checked from the header before it is decoded."""
        if not upload:
            raise TranslationError("Upload an image first (PNG, JPEG, ...).")
        try:
            with Image.open(upload) as probe:  # reads the header only
                width, height = probe.size
        except Exception as error:  # Pillow raises many types on a file that is not an image
            raise TranslationError(
                f"The uploaded file is not an image Pillow can read ({type(error).__name__}); "
                f"upload {UPLOAD_KINDS}."
            ) from error
        if max(width, height) > self.max_side:
            raise TranslationError(
                f"This image is {width}x{height}; the demo takes at most {self.max_side} px on a "
                "side (setting max_side). Shrink it, or use src/translate.py."
            )
        try:
            return load_rgb(Path(upload), advice=f"Upload {UPLOAD_KINDS}.")
        except DataError as error:
            raise TranslationError(f"The uploaded file cannot be used: {error}") from None
        # too small a side is refused by translate_images, with its size

    def translate(self, name: str, direction: str, upload: str | None) -> DemoResult:
        image = self.read_upload(upload)
        loaded = self.model(name)
        start = time.perf_counter()
        (result,) = translate_images(loaded, [to_tensor(image)], direction)
        seconds = time.perf_counter() - start
        heatmap = None if result.heatmap is None else unit_to_pil(heatmap_picture(result.heatmap))
        status = (
            f"{DIRECTION_LABELS[direction]} with {name} (iteration {loaded.iteration}), "
            f"{image.size[0]}x{image.size[1]} px, {seconds:.2f} s"
            + ("" if heatmap is not None else "; this model has no attention heatmap")
        )
        return DemoResult(image, to_pil(result.image), heatmap, status)


def build_app(models: DemoModels) -> Any:
    """The Gradio page: checkpoint, direction, upload; input | translation | heatmap; status."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local demo
    import gradio as gr

    def run(name: str, direction: str, upload: str | None) -> tuple[Any, Any, Any, str]:
        try:
            result = models.translate(name, direction, upload)
        except UserError as error:
            raise gr.Error(str(error), print_exception=False) from None
        finally:
            forget_upload(upload)
        return result.source, result.translation, result.heatmap, result.status

    names = list(models.choices)
    # results Gradio caches for the page are deleted after CACHE_SECONDS
    with gr.Blocks(title="U-GAT-IT demo", delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as app:
        gr.Markdown("## Image-to-image translation\nUpload an image, choose a direction.")
        with gr.Row():
            checkpoint = gr.Dropdown(
                names, value=names[0], label="checkpoint", elem_id="checkpoint"
            )
            direction = gr.Radio(
                [(label, key) for key, label in DIRECTION_LABELS.items()],
                value="a2b",
                label="direction",
                elem_id="direction",
            )
            # a file, not an image component: the page reads it itself, so a broken or huge
            # upload gets its own message instead of a failure inside Gradio's image decoding
            upload = gr.File(type="filepath", label="image to translate", elem_id="upload")
        button = gr.Button("Translate", variant="primary", elem_id="translate")
        with gr.Row():
            pictures = [
                gr.Image(format="png", label=label, elem_id=key, interactive=False, height=280)
                for key, label in (
                    ("source", "input"),
                    ("translation", "translation"),
                    ("heatmap", "attention"),
                )
            ]
        status = gr.Markdown(elem_id="status")
        button.click(run, [checkpoint, direction, upload], [*pictures, status])
    return app


def serve(cfg: Any) -> None:
    """What src/demo.py runs: check the settings, then serve until interrupted."""
    port = int(cfg.port)
    if not 0 < port < 65536:
        raise DemoError(f"port={port} is not a TCP port; use 1-65535 (default 7860).")
    max_upload_mb = cfg.get("max_upload_mb", 50)
    POSITIVE_INT.check("max_upload_mb", max_upload_mb, DemoError)
    models = DemoModels(checkpoint_list(cfg.ckpt_path), str(cfg.device), int(cfg.max_side))
    models.model(next(iter(models.choices)))  # a bad first checkpoint fails now, not on upload
    app = build_app(models)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests
    log.info("Serving the demo on http://%s:%d (Ctrl-C stops it)", cfg.host, port)
    try:
        app.launch(
            server_name=str(cfg.host),
            server_port=port,
            share=False,
            quiet=True,
            css=PAGE_CSS,
            max_file_size=f"{int(max_upload_mb)}mb",  # refused before it is stored
        )
    except OSError as error:
        raise DemoError(
            f"Cannot serve on {cfg.host}:{port} ({error}); pick a free port with port=N."
        ) from error
