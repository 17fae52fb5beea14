"""What the glyph metric's classifiers read: the colour-blind ink map, framed on the letter.

The map is :func:`~ugatit.evaluation.shape_metric.foreground.soft_mask` (distance from the
paper's colour), cropped to a square around the ink and resized to 32 x 32, so the letter's size
and place do not matter and all 32 px describe its form: a serif or a slant is 1-2 px of a 64-px
image, lost when the whole image is averaged down (trained on whole images averaged to 32 px, the
sans_serif style classifier named 0.86 of held-out DejaVu Sans and Serif letters right; framed,
0.99). The frame is centred on the ink centroid and
holds QUANTILE of the ink, so a stray speck does not shrink the letter; a page without ink is
read whole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ugatit.evaluation.shape_metric.foreground import soft_mask
from ugatit.evaluation.small_classifier import INPUT_SIZE

NOISE_FLOOR = 0.15  # soft-mask level under which a pixel is paper noise, not ink, for framing
QUANTILE = 0.98  # share of the ink inside the frame
MARGIN = 1.15  # frame half-side over the distance that holds QUANTILE of the ink
MIN_HALF = 0.1  # smallest frame half-side, as a fraction of the image side
MIN_INK = 1e-3  # ink (in full pixels, as a fraction of the image) under which a page is blank


def _frames(ink: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Centre x, y and half-side (px) of the square frame of each ink map [B, H, W]."""
    _, height, width = ink.shape
    mass = ink.sum(dim=(1, 2))
    safe = mass.clamp_min(1e-6)
    ys = torch.arange(height, dtype=ink.dtype) + 0.5
    xs = torch.arange(width, dtype=ink.dtype) + 0.5
    cx = (ink.sum(dim=1) * xs).sum(dim=1) / safe
    cy = (ink.sum(dim=2) * ys).sum(dim=1) / safe
    # Chebyshev distance of every pixel from the centroid; the frame holds QUANTILE of the ink
    reach = torch.maximum(
        (xs[None, None, :] - cx[:, None, None]).abs(), (ys[None, :, None] - cy[:, None, None]).abs()
    ).flatten(1)
    order = reach.argsort(dim=1)
    share = ink.flatten(1).gather(1, order).cumsum(dim=1) / safe[:, None]
    inside = (share < QUANTILE).sum(dim=1).clamp(max=reach.shape[1] - 1)
    half = reach.gather(1, order).gather(1, inside[:, None])[:, 0] * MARGIN
    half = half.clamp_min(MIN_HALF * width)
    blank = mass < MIN_INK * height * width
    whole = torch.full_like(half, width / 2)
    return (
        torch.where(blank, whole, cx),
        torch.where(blank, torch.full_like(cy, height / 2), cy),
        torch.where(blank, whole, half),
    )


def ink_maps(images: Tensor, size: int = INPUT_SIZE) -> Tensor:
    """Images [B, 3, H, W] (uint8, or floats in [-1, 1]) -> framed ink maps [B, 1, size, size]."""
    maps = soft_mask(images.cpu())
    batch, _, height, width = maps.shape
    cx, cy, half = _frames((maps[:, 0] - NOISE_FLOOR).clamp_min(0.0))
    theta = torch.zeros(batch, 2, 3)  # affine_grid: output [-1, 1] -> input [-1, 1]
    theta[:, 0, 0] = half / (width / 2)
    theta[:, 1, 1] = half / (height / 2)
    theta[:, 0, 2] = cx / (width / 2) - 1
    theta[:, 1, 2] = cy / (height / 2) - 1
    grid = F.affine_grid(theta, [batch, 1, size, size], align_corners=False)
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
