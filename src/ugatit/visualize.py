"""Turning generator outputs into pictures: coloured attention heatmaps and sample grids."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.utils import make_grid, save_image

from ugatit.atomic import atomic_path


def to_unit_range(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1] for saving and display."""
    return ((images.detach().float() + 1.0) / 2.0).clamp(0.0, 1.0)


def colorize_heatmap(heatmap: Tensor, size: tuple[int, int], cmap: str = "jet") -> Tensor:
    """Per-image min-max normalised heatmap [B, 1, h, w] -> RGB [B, 3, H, W] in [0, 1].

    A constant map (max == min) becomes all zeros instead of dividing by zero.
    """
    heatmap = heatmap.detach().float()
    heatmap = F.interpolate(heatmap, size=size, mode="bilinear", align_corners=False)
    flat = heatmap.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    span = (flat.max(dim=1).values.view(-1, 1, 1, 1) - low).clamp_min(1e-12)
    normalised = torch.where(span > 1e-12, (heatmap - low) / span, torch.zeros_like(heatmap))
    lut = torch.as_tensor(colormaps[cmap](torch.linspace(0, 1, 256).numpy())[:, :3]).float()
    index = (normalised.squeeze(1) * 255).round().long().clamp(0, 255).cpu()
    return lut[index].permute(0, 3, 1, 2).to(heatmap.device)


class Visual(NamedTuple):
    """One column of a sample-grid row: a named image and the attention heatmap that produced it."""

    name: str
    image: Tensor  # [B, 3, H, W] in [-1, 1]
    heatmap: Tensor | None = None  # [B, 1, h, w] or None


HEATMAP_LABEL = "attention"
_HEADER_PX = 14


def _columns(visuals: list[Visual]) -> list[tuple[str, Tensor, bool]]:
    """(label, images, is_heatmap) per column; a heatmap stands left of the image it belongs to."""
    columns = []
    for visual in visuals:
        if visual.heatmap is not None:
            columns.append((HEATMAP_LABEL, visual.heatmap, True))
        columns.append((visual.name, visual.image, False))
    return columns


def _header(labels: list[str], tile: int, padding: int) -> Tensor:
    """A white strip with each column's label centred above it, [3, h, W] in [0, 1]."""
    width = len(labels) * (tile + padding) + padding
    strip = Image.new("RGB", (width, _HEADER_PX), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default()
    for i, label in enumerate(labels):
        text = label
        while len(text) > 1 and draw.textlength(text, font=font) > tile:
            text = text[:-2] + "."  # "reconstruction" -> "reconstr." on a 64 px tile
        left = padding + i * (tile + padding) + (tile - draw.textlength(text, font=font)) / 2
        draw.text((left, 1), text, fill=(0, 0, 0), font=font)
    return torch.from_numpy(np.asarray(strip).copy()).permute(2, 0, 1).float() / 255


def sample_grid(rows: dict[str, list[Visual]], padding: int = 2) -> Tensor:
    """One row per image and direction; every column of a row shows the same input image passed
    through one path (input, identity, translation, reconstruction, heatmaps beside their image),
    under a header naming the columns. Returns a [3, H, W] image in [0, 1]."""
    tiles: list[Tensor] = []
    labels: list[str] = []
    for visuals in rows.values():
        columns = _columns(visuals)
        labels = labels or [label for label, _, _ in columns]
        size = tuple(visuals[0].image.shape[-2:])
        for i in range(visuals[0].image.shape[0]):
            for _, images, is_heatmap in columns:
                one = images[i : i + 1]
                tile = colorize_heatmap(one, size)[0] if is_heatmap else to_unit_range(one)[0]
                tiles.append(tile.cpu())
    grid = make_grid(torch.stack(tiles), nrow=len(labels), padding=padding, pad_value=1.0)
    header = _header(labels, tiles[0].shape[-1], padding)
    return torch.cat([header, grid], dim=1)


def save_grid(grid: Tensor, path: Path) -> Path:
    """Whole or not at all (a run stopped mid-save leaves no half-written grid)."""
    with atomic_path(path) as partial:
        save_image(grid, partial, format="png")
    return path


def to_uint8(x: Tensor) -> Tensor:
    """Map generator output in [-1, 1] to uint8 pixels the way a saved image file would hold them."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
