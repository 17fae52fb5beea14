"""Images that show no letter of the pair's typefaces: the style classifier's OTHER class, beside
the letters of every other typeface (see :mod:`~ugatit.evaluation.glyph_metric.classifier`).

Without them a classifier asked "which typeface?" always names one of the two, so a smudge would
count as a successful translation. Each is made from the pair's own letters, colours, sizes and
places, so only the letter's integrity tells it apart: what a translation gets wrong when it
erases, smears, doubles or half-draws the letter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from ugatit.data import glyphs
from ugatit.data.builtin import SUPERSAMPLE, paint

Fonts = tuple[str, str]


def _letter(rng: np.random.Generator, fonts: Fonts) -> tuple[str, str]:
    return fonts[rng.integers(len(fonts))], glyphs.LETTERS[rng.integers(len(glyphs.LETTERS))]


def _painted(rng: np.random.Generator, mask: Image.Image, image_size: int) -> Image.Image:
    ink, paper = glyphs.glyph_colours(rng)
    return paint(rng, mask, image_size, ink, paper)


def blank(rng: np.random.Generator, fonts: Fonts, image_size: int) -> Image.Image:
    """Paper and noise only (a translation that erased the letter)."""
    return _painted(rng, Image.new("L", (image_size * SUPERSAMPLE,) * 2, 0), image_size)


def blob(rng: np.random.Generator, fonts: Fonts, image_size: int) -> Image.Image:
    """A letter blurred beyond reading (a translation that smeared it)."""
    canvas = image_size * SUPERSAMPLE
    mask = glyphs.glyph_mask(rng, *_letter(rng, fonts), canvas)
    radius = rng.uniform(2.0, 3.5) * image_size / 64 * SUPERSAMPLE
    return _painted(rng, mask.filter(ImageFilter.GaussianBlur(radius)), image_size)


def two_letters(rng: np.random.Generator, fonts: Fonts, image_size: int) -> Image.Image:
    """Two smaller letters side by side (a translation that doubled the letter)."""
    canvas = image_size * SUPERSAMPLE
    left = (0.25 * canvas, 0.4 * canvas, 0.3 * canvas, 0.6 * canvas)
    right = (0.7 * canvas, 0.4 * canvas, 0.75 * canvas, 0.6 * canvas)
    masks = [
        glyphs.glyph_mask(rng, *_letter(rng, fonts), canvas, 0.6, box) for box in (left, right)
    ]
    return _painted(rng, ImageChops.lighter(*masks), image_size)


def half_letter(rng: np.random.Generator, fonts: Fonts, image_size: int) -> Image.Image:
    """A letter cut by a straight line near its centroid, keeping 30-70 % of its ink (a
    translation that drew part of it)."""
    canvas = image_size * SUPERSAMPLE
    while True:
        mask = glyphs.glyph_mask(rng, *_letter(rng, fonts), canvas)
        ink = np.asarray(mask, dtype=np.float64)
        ys, xs = np.nonzero(ink)
        weights = ink[ys, xs]
        centre = np.array([xs @ weights, ys @ weights]) / weights.sum()
        centre += rng.normal(0.0, 0.05 * canvas, 2)
        angle = rng.uniform(0.0, 2 * math.pi)
        direction = np.array([math.cos(angle), math.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        far = 2 * canvas
        cut = [centre + far * direction, centre + far * direction + far * normal,
               centre - far * direction + far * normal, centre - far * direction]  # fmt: skip
        ImageDraw.Draw(mask).polygon([(float(x), float(y)) for x, y in cut], fill=0)
        kept = np.asarray(mask, dtype=np.float64).sum() / weights.sum()
        if 0.3 <= kept <= 0.7:
            return _painted(rng, mask, image_size)


DISTRACTORS: dict[str, Callable[[np.random.Generator, Fonts, int], Image.Image]] = {
    "blank": blank,
    "blob": blob,
    "two_letters": two_letters,
    "half_letter": half_letter,
}
