"""Built-in typeface pairs: one lowercase letter per image, domain A in one typeface and B in
another, generated on first use from the fonts matplotlib ships (no download).

Translating A into B means redrawing the letter in the other typeface while keeping which letter
it is and where it stands: the geometry changes (serifs, slant, stroke contrast), the content
stays. Letters (a-z, drawn uniformly), sizes, positions, angles and colours come from the same
distributions in both domains; only the typeface differs. A letter is placed by its ink centroid,
so a perfect translation keeps the centroid where it was (what the glyph metric measures), and
its name ends the file name (``00012_q.png``), so every image's letter is known.

Pairs (``data.pair``): ``sans_serif`` (DejaVu Sans <-> DejaVu Serif, the default),
``roman_italic`` (Computer Modern roman <-> Computer Modern text italic: real italic letter
forms, not a slanted roman) and ``bold_italic`` (DejaVu Sans Bold <-> STIX General Italic: weight,
slant and serifs all change).
"""

from __future__ import annotations

import importlib.util
import math
import string
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ugatit.data.builtin import (
    SUPERSAMPLE,
    Colour,
    check_choice,
    ensure_generated,
    paint,
    write_splits,
)
from ugatit.data.errors import DataError

MARKER = ".glyphs-complete.json"
GENERATOR_VERSION = 1  # bump when the drawing changes: a data set of another version is redrawn
LETTERS = string.ascii_lowercase

# Every font in matplotlib's wheel that holds the lowercase letters (its Display fonts have none;
# cmex10 and cmsy10 are symbol fonts), by name: the letter classifier learns all of them.
FONTS: dict[str, str] = {
    "dejavu_sans": "DejaVuSans.ttf",
    "dejavu_sans_bold": "DejaVuSans-Bold.ttf",
    "dejavu_sans_oblique": "DejaVuSans-Oblique.ttf",
    "dejavu_sans_bold_oblique": "DejaVuSans-BoldOblique.ttf",
    "dejavu_sans_mono": "DejaVuSansMono.ttf",
    "dejavu_sans_mono_bold": "DejaVuSansMono-Bold.ttf",
    "dejavu_sans_mono_oblique": "DejaVuSansMono-Oblique.ttf",
    "dejavu_sans_mono_bold_oblique": "DejaVuSansMono-BoldOblique.ttf",
    "dejavu_serif": "DejaVuSerif.ttf",
    "dejavu_serif_bold": "DejaVuSerif-Bold.ttf",
    "dejavu_serif_italic": "DejaVuSerif-Italic.ttf",
    "dejavu_serif_bold_italic": "DejaVuSerif-BoldItalic.ttf",
    "stix": "STIXGeneral.ttf",
    "stix_bold": "STIXGeneralBol.ttf",
    "stix_italic": "STIXGeneralItalic.ttf",
    "stix_bold_italic": "STIXGeneralBolIta.ttf",
    "cm_roman": "cmr10.ttf",
    "cm_bold": "cmb10.ttf",
    "cm_italic": "cmti10.ttf",
    "cm_math_italic": "cmmi10.ttf",
    "cm_sans": "cmss10.ttf",
    "cm_typewriter": "cmtt10.ttf",
}
PAIRS: dict[str, tuple[str, str]] = {
    "sans_serif": ("dejavu_sans", "dejavu_serif"),
    "roman_italic": ("cm_roman", "cm_italic"),
    "bold_italic": ("dejavu_sans_bold", "stix_italic"),
}
DEFAULT_PAIR = "sans_serif"

# The letter's em (the font size) as a fraction of the image side; its centroid lands within
# SHIFT of the middle (moved inward where a long letter would cross the border); it leans by up
# to DEGREES either way.
EM_RANGE = (0.5, 0.68)
SHIFT = 0.08
DEGREES = 10.0
MARGIN = 2  # px of the final image kept free of ink at every border
# Light paper, dark ink: a grey level each, tinted a little per channel.
PAPER_LEVEL, PAPER_TINT = (220, 245), 6
INK_LEVEL, INK_TINT = (15, 60), 10

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in canvas px


def font_folder() -> Path:
    """matplotlib's font folder, found without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The glyphs data are drawn with the fonts that matplotlib ships; install matplotlib "
            "(pip install matplotlib) or choose other data."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf"


def check_pair(pair: str) -> tuple[str, str]:
    """The two fonts of a pair; an unknown name is refused with the list of pairs."""
    return PAIRS[check_choice("data.pair", pair, PAIRS, "a built-in glyph pair")]


def letter_of(path: str | Path) -> str:
    """The letter an image of the glyphs data shows, from its file name (``00012_q.png``)."""
    return Path(path).stem.rsplit("_", 1)[-1]


@lru_cache(maxsize=128)
def _face(font: str, em_px: int) -> ImageFont.FreeTypeFont:
    path = font_folder() / FONTS[font]
    if not path.is_file():
        raise DataError(f"The font file '{path}' is missing; reinstall matplotlib.")
    return ImageFont.truetype(str(path), em_px)


@lru_cache(maxsize=2048)  # 572 letters per canvas size
def _master(font: str, letter: str, em_px: int) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """The letter at ``em_px``: its ink as a mode-L image, the ink centroid and the ink's box
    corners (both in that image's px)."""
    face = _face(font, em_px)
    left, top, right, bottom = face.getbbox(letter)
    pad = 2
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(image).text((pad - left, pad - top), letter, font=face, fill=255)
    ink = np.asarray(image, dtype=np.float64)
    ys, xs = np.nonzero(ink)
    weights = ink[ys, xs]
    centre = np.array([(xs + 0.5) @ weights, (ys + 0.5) @ weights]) / weights.sum()
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    return image, centre, corners


def glyph_mask(
    rng: np.random.Generator,
    font: str,
    letter: str,
    canvas: int,
    em_scale: float = 1.0,
    box: Box | None = None,
) -> Image.Image:
    """The letter's ink on a ``canvas`` px square (mode L): size, angle and place drawn at random,
    its ink centroid inside ``box`` (default: the middle of the canvas, +- SHIFT of its side)."""
    master, centre, corners = _master(font, letter, canvas)
    scale = rng.uniform(*EM_RANGE) * em_scale
    angle = math.radians(rng.uniform(-DEGREES, DEGREES))
    if box is None:
        low, high = canvas * (0.5 - SHIFT), canvas * (0.5 + SHIFT)
        box = (low, low, high, high)
    target = rng.uniform(box[:2], box[2:])
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    reach = (corners - centre) @ rotation.T * scale  # the ink's box around the centroid, placed
    margin = MARGIN * SUPERSAMPLE
    low, high = margin - reach.min(axis=0), canvas - margin - reach.max(axis=0)
    target = np.where(low <= high, np.clip(target, low, high), (low + high) / 2)
    # PIL maps each output pixel back into the master: in = centre + rotation^T (out - target) / s
    a, b, d, e = cos / scale, sin / scale, -sin / scale, cos / scale
    inverse = (a, b, centre[0] - a * target[0] - b * target[1],
               d, e, centre[1] - d * target[0] - e * target[1])  # fmt: skip
    return master.transform(
        (canvas, canvas), Image.Transform.AFFINE, inverse, resample=Image.Resampling.BILINEAR
    )


def _tinted(rng: np.random.Generator, level: tuple[int, int], tint: int) -> Colour:
    grey = rng.integers(level[0], level[1] + 1)
    return tuple(int(v) for v in np.clip(grey + rng.integers(-tint, tint + 1, 3), 0, 255))


def glyph_colours(rng: np.random.Generator) -> tuple[Colour, Colour]:
    """Dark ink and light paper, each a grey tinted a little."""
    return _tinted(rng, INK_LEVEL, INK_TINT), _tinted(rng, PAPER_LEVEL, PAPER_TINT)


def draw_glyph(rng: np.random.Generator, font: str, letter: str, image_size: int) -> Image.Image:
    """One RGB image of ``letter`` in ``font`` with random size, place, angle and colours."""
    ink, paper = glyph_colours(rng)
    mask = glyph_mask(rng, font, letter, image_size * SUPERSAMPLE)
    return paint(rng, mask, image_size, ink, paper)


def draw_letter(rng: np.random.Generator, font: str, image_size: int) -> tuple[Image.Image, str]:
    """A uniformly drawn letter in ``font``, and which letter it is."""
    letter = LETTERS[rng.integers(len(LETTERS))]
    return draw_glyph(rng, font, letter, image_size), letter


def _draw(fonts: dict[str, str], image_size: int, rng: np.random.Generator, domain: str):
    image, letter = draw_letter(rng, fonts[domain], image_size)
    return image, f"_{letter}"


def ensure_glyphs(
    root: Path,
    image_size: int = 64,
    n_train: int = 400,
    n_test: int = 50,
    seed: int = 0,
    pair: str = DEFAULT_PAIR,
) -> Path:
    """Generate a typeface pair into ``root`` unless a complete one with these settings is there
    (staging folder, marker and lock: :func:`ugatit.data.builtin.ensure_generated`)."""
    font_a, font_b = check_pair(pair)
    settings = {
        "version": GENERATOR_VERSION,
        "pair": pair,
        "image_size": image_size,
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
    }
    draw = partial(_draw, {"A": font_a, "B": font_b}, image_size)
    return ensure_generated(
        Path(root),
        settings,
        MARKER,
        lambda folder: write_splits(folder, n_train, n_test, seed, draw),
        "glyphs",
    )
