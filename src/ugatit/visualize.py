"""Turning generator outputs into pictures: coloured attention heatmaps and sample grids."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib import colormaps
from torch import Tensor
from torchvision.utils import make_grid, save_image


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


SAMPLE_ROWS = {
    "a2b": ("real_a", "heatmap_ab", "fake_b", "rec_a", "id_b"),
    "b2a": ("real_b", "heatmap_ba", "fake_a", "rec_b", "id_a"),
}


def sample_grid(outputs: dict[str, Tensor | None]) -> Tensor:
    """One row per image and direction: real, heatmap (if any), translation, reconstruction,
    identity. Returns a [3, H, W] image in [0, 1]."""
    tiles: list[Tensor] = []
    columns = 0
    n = outputs["real_a"].shape[0]
    size = tuple(outputs["real_a"].shape[-2:])
    for direction in ("a2b", "b2a"):
        keys = [k for k in SAMPLE_ROWS[direction] if outputs.get(k) is not None]
        columns = len(keys)
        for i in range(n):
            for key in keys:
                value = outputs[key][i : i + 1]
                if key.startswith("heatmap"):
                    tiles.append(colorize_heatmap(value, size)[0].cpu())
                else:
                    tiles.append(to_unit_range(value)[0].cpu())
    return make_grid(torch.stack(tiles), nrow=columns, padding=2, pad_value=1.0)


def save_grid(grid: Tensor, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path)
    return path
