"""Where the shape is: pixels that differ from the image's own background colour.

The background colour is the median of the image's border pixels (shapes never cover most of the
border), so the same code reads real images and generator outputs with any colours: the distance
is the same for a dark shape on a pale ground and a light one on a dark ground (the classifier,
trained on the palette, reads data.colours=random test images as well: 1.000).
"""

from __future__ import annotations

import torch
from torch import Tensor

# RGB distance (0-255 scale) at which a pixel counts fully as shape in the soft map.
SOFT_CONTRAST = 100.0
# ...and above which it counts as shape for centroids and areas: half the built-in data's minimum
# contrast between shape and background (120).
BINARY_CONTRAST = 60.0


def to_255(images: Tensor) -> Tensor:
    """uint8 images, or float images in [-1, 1] (generator outputs), as floats on a 0-255 scale."""
    if images.dtype == torch.uint8:
        return images.float()
    return (images.float() + 1.0) * 127.5


def background_colour(images: Tensor) -> Tensor:
    """Median colour of the one-pixel border of each image: [B, 3, H, W] -> [B, 3, 1, 1]."""
    border = torch.cat(
        [images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]],
        dim=-1,
    )
    return border.median(dim=-1).values[..., None, None]


def contrast_map(images: Tensor) -> Tensor:
    """Per-pixel RGB distance from the background colour, [B, 1, H, W], on the 0-255 scale."""
    x = to_255(images)
    return (x - background_colour(x)).norm(dim=1, keepdim=True)


def soft_mask(images: Tensor) -> Tensor:
    """The shape as a map in [0, 1]: what the classifier looks at (colour-blind by design)."""
    return (contrast_map(images) / SOFT_CONTRAST).clamp(0.0, 1.0)


def geometry(images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Centroid [B, 2] (x, y as fractions of the width and height), area [B] (fraction of the
    image) and whether any shape pixel was found [B]; centroids of empty images are NaN."""
    mask = (contrast_map(images) > BINARY_CONTRAST).float()[:, 0]
    height, width = mask.shape[-2:]
    area = mask.sum(dim=(1, 2))
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    safe = area.clamp_min(1.0)
    cx = (mask.sum(dim=1) * xs).sum(dim=1) / safe
    cy = (mask.sum(dim=2) * ys).sum(dim=1) / safe
    present = area > 0
    centre = torch.stack([cx, cy], dim=1)
    centre[~present] = float("nan")
    return centre, area / (height * width), present
