"""Images that are no built-in kind of shape: the classifier's OTHER class.

Without them a classifier asked "which kind?" always names one, so a smudge would count as a
successful translation. Each distractor uses the data's own colour, size and position
distributions, so only the outline tells it apart from a real shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ugatit.data import shapes
from ugatit.data.builtin import paint


def _canvas(image_size: int) -> int:
    return image_size * shapes.SUPERSAMPLE


def _compose(
    rng: np.random.Generator, mask: Image.Image, image_size: int, blur_px: float = 0.0
) -> Image.Image:
    """Fill colour where ``mask`` (canvas size, mode L) is set, background elsewhere, then noise."""
    if blur_px > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(blur_px * shapes.SUPERSAMPLE))
    fill, background = shapes.colours(rng)
    return paint(rng, mask, image_size, fill, background)


def _polygon_mask(polygons: list[np.ndarray], canvas: int, value: int = 255) -> Image.Image:
    mask = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(mask)
    for polygon in polygons:
        draw.polygon([(float(x), float(y)) for x, y in polygon], fill=value)
    return mask


def _random_kind_polygon(rng: np.random.Generator, canvas: int, scale: float = 1.0) -> np.ndarray:
    kind = str(rng.choice(list(shapes.KINDS)))
    return shapes.place(rng, shapes.outline(rng, kind, canvas) * scale, canvas)


def blank(rng: np.random.Generator, image_size: int) -> Image.Image:
    """Background and noise only (a translation that erased the shape)."""
    return _compose(rng, Image.new("L", (_canvas(image_size),) * 2, 0), image_size)


def blob(rng: np.random.Generator, image_size: int) -> Image.Image:
    """A shape blurred beyond recognition (a translation that smudged it)."""
    canvas = _canvas(image_size)
    mask = _polygon_mask([_random_kind_polygon(rng, canvas)], canvas)
    return _compose(rng, mask, image_size, blur_px=rng.uniform(2.5, 5.0))


def two_shapes(rng: np.random.Generator, image_size: int) -> Image.Image:
    """Two smaller shapes, one in each half of the image."""
    canvas = _canvas(image_size)
    polygons = []
    for half in (0, 1):
        polygon = shapes.outline(rng, str(rng.choice(list(shapes.KINDS))), canvas) * 0.6
        low, high = polygon.min(axis=0), polygon.max(axis=0)
        lo_x, hi_x = (
            (-low[0], canvas / 2 - high[0])
            if half == 0
            else (canvas / 2 - low[0], canvas - high[0])
        )
        x = rng.uniform(lo_x, max(lo_x, hi_x))
        y = rng.uniform(-low[1], canvas - high[1])
        polygons.append(polygon + np.array([x, y]))
    return _compose(rng, _polygon_mask(polygons, canvas), image_size)


def _regular(rng: np.random.Generator, corners: int, r: float) -> np.ndarray:
    angles = rng.uniform(0, 2 * math.pi) + np.arange(corners) * 2 * math.pi / corners
    return np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)


def other_kind(rng: np.random.Generator, image_size: int) -> Image.Image:
    """A shape of no built-in kind: a triangle, a ring or a crescent (not polygons with many
    corners: at small sizes those are circles)."""
    canvas = _canvas(image_size)
    r = rng.uniform(*shapes.SIZE_RANGE) * canvas
    choice = rng.integers(3)
    if choice == 0:
        polygon = _regular(rng, 3, r)
        mask = _polygon_mask([shapes.place(rng, polygon, canvas)], canvas)
        return _compose(rng, mask, image_size)
    centre = rng.uniform(r, canvas - r, 2)
    mask = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse([*(centre - r), *(centre + r)], fill=255)
    if choice == 1:  # ring
        inner = r * rng.uniform(0.45, 0.7)
        draw.ellipse([*(centre - inner), *(centre + inner)], fill=0)
    else:  # crescent: a disc with an offset disc taken out
        angle = rng.uniform(0, 2 * math.pi)
        offset = centre + r * rng.uniform(0.45, 0.7) * np.array([math.cos(angle), math.sin(angle)])
        draw.ellipse([*(offset - r), *(offset + r)], fill=0)
    return _compose(rng, mask, image_size)


def half_shape(rng: np.random.Generator, image_size: int) -> Image.Image:
    """A built-in kind cut diagonally near its centre (a half-finished translation).

    The cut runs 30-60 degrees off the image axes and keeps 30-70 % of the area, so the piece is
    never itself a built-in kind.
    """
    canvas = _canvas(image_size)
    while True:
        polygon = _random_kind_polygon(rng, canvas)
        mask = _polygon_mask([polygon], canvas)
        before = np.count_nonzero(np.asarray(mask))
        centre = polygon.mean(axis=0) + rng.normal(0, 0.1, 2) * np.ptp(polygon, axis=0)
        angle = math.radians(rng.uniform(30, 60) + 90 * rng.integers(4))
        direction = np.array([math.cos(angle), math.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        far = 2 * canvas
        cut = [centre + far * direction, centre + far * direction + far * normal,
               centre - far * direction + far * normal, centre - far * direction]  # fmt: skip
        ImageDraw.Draw(mask).polygon([(float(x), float(y)) for x, y in cut], fill=0)
        if 0.3 <= np.count_nonzero(np.asarray(mask)) / max(1, before) <= 0.7:
            return _compose(rng, mask, image_size)


def fragments(rng: np.random.Generator, image_size: int) -> Image.Image:
    """Several small specks scattered over the image (noise the generator painted)."""
    canvas = _canvas(image_size)
    mask = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(rng.integers(3, 8)):
        r = rng.uniform(0.02, 0.06) * canvas
        centre = rng.uniform(r, canvas - r, 2)
        draw.ellipse([*(centre - r), *(centre + r * rng.uniform(0.5, 1.5))], fill=255)
    return _compose(rng, mask, image_size)


DISTRACTORS: dict[str, Callable[[np.random.Generator, int], Image.Image]] = {
    "blank": blank,
    "blob": blob,
    "two_shapes": two_shapes,
    "other_kind": other_kind,
    "half_shape": half_shape,
    "fragments": fragments,
}
