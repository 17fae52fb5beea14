"""The built-in data sets: pairs of shape kinds that differ in geometry only, generated on first use.

Each image holds one filled shape on a plain background with light noise. Colours, sizes,
positions and angles are drawn from the same distributions in every kind (upright half of the
time, else tilted a little), so translating one domain into the other means changing the outline
while keeping where the shape is and how it leans: what U-GAT-IT exists for, yet
small enough to train on a CPU in minutes. Shapes are placed by their area centroid, so a perfect
translation keeps the centroid where it was (what the shape metric measures).

Colours (``data.colours``): ``palette`` (the default) draws every image in one dark fill family on
pale backgrounds; ``random`` draws fill and background uniformly over RGB, at least MIN_CONTRAST
apart, alike in both domains. Random-colour data live beside the palette data, in a folder named
after the mode (``shapes/round_rect-random``), so both can be kept.

Pairs (``data.pair``): ``round_rect`` (circles/ellipses -> squares/rectangles, the default),
``star_cross`` (five-pointed stars -> plus-shaped crosses) and ``hourglass_diamond`` (hourglasses ->
diamonds: where one is widest the other is narrowest). Every kind is symmetric about its centre,
so "where the shape is" (its centroid) has one meaning for both kinds of a pair; with L- and
T-shapes (the first third pair) the generators kept the stem and moved the centroid by 0.18 of
the side (docs/quality.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ugatit.data.builtin import (  # noqa: F401  (SPLITS, NOISE_STD: part of this module's API)
    NOISE_STD,
    SPLITS,
    SUPERSAMPLE,
    Colour,
    add_noise,
    check_choice,
    ensure_generated,
    write_splits,
)
from ugatit.data.errors import DataError

MARKER = ".shapes-complete.json"
GENERATOR_VERSION = 6  # bump when the drawing changes: a data set of another version is redrawn
PAIRS: dict[str, tuple[str, str]] = {
    "round_rect": ("round", "rect"),
    "star_cross": ("star", "cross"),
    "hourglass_diamond": ("hourglass", "diamond"),
}
DEFAULT_PAIR = "round_rect"
MIN_CONTRAST = 120.0  # Euclidean RGB distance between shape and background
SIZE_RANGE = (0.14, 0.30)  # the shape's largest half-extent, as a fraction of the image side

Points = np.ndarray  # (N, 2) polygon vertices, centred on the shape's area centroid


# Colours: one dark fill family on pale backgrounds, the same in every kind, each image jittered.
# Not uniformly random colours: the generators' instance norms keep only the direction of the
# shape/background contrast, not absolute colours, so with colours that vary freely from image to
# image no translation (or reconstruction) can keep them; the outputs collapse to one mean colour
# and the L1 terms that cannot be met blur the shapes (measured in docs/quality.md). The pairs
# differ in geometry only, which is what they exist to show.
FILL = (40, 60, 130)  # dark blue
FILL_JITTER = 25  # grey levels, each channel
BACKGROUND_RANGE = (215, 245)  # each channel of the pale background


def colours(rng: np.random.Generator) -> tuple[Colour, Colour]:
    """A jittered dark fill on a pale background, at least MIN_CONTRAST apart."""
    while True:
        background = rng.integers(BACKGROUND_RANGE[0], BACKGROUND_RANGE[1] + 1, 3)
        jitter = rng.integers(-FILL_JITTER, FILL_JITTER + 1, 3)
        fill = np.clip(np.array(FILL) + jitter, 0, 255)
        if np.linalg.norm(fill - background) >= MIN_CONTRAST:
            return tuple(int(v) for v in fill), tuple(int(v) for v in background)


def random_colours(rng: np.random.Generator) -> tuple[Colour, Colour]:
    """Fill and background drawn uniformly over RGB, at least MIN_CONTRAST apart (a harder data
    set: the translation has to carry the colours; see the note above on why it is not the
    default)."""
    while True:
        fill, background = rng.integers(0, 256, (2, 3))
        if np.linalg.norm(fill - background) >= MIN_CONTRAST:
            return tuple(int(v) for v in fill), tuple(int(v) for v in background)


COLOUR_MODES: dict[str, Callable[[np.random.Generator], tuple[Colour, Colour]]] = {
    "palette": colours,
    "random": random_colours,
}
DEFAULT_COLOURS = "palette"


def check_colours(mode: str) -> str:
    """A colour mode's name; an unknown one is refused with the list of modes."""
    return check_choice("data.colours", mode, COLOUR_MODES, "a colour mode of the shapes")


def colour_folder(root: str | Path, mode: str) -> Path:
    """Where data of colour ``mode`` live: ``root`` itself for the palette, else its sibling
    ``<root>-<mode>``, so data of both modes can be kept side by side."""
    root = Path(root)
    return root if check_colours(mode) == DEFAULT_COLOURS else root.with_name(f"{root.name}-{mode}")


def _rotate(points: Points, angle: float) -> Points:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, -s], [s, c]]).T


def _tilt(rng: np.random.Generator, degrees: float = 15.0) -> float:
    """Upright half of the time, else a small random tilt."""
    return 0.0 if rng.random() < 0.5 else math.radians(rng.uniform(-degrees, degrees))


def centroid(points: Points) -> np.ndarray:
    """Area centroid of a simple polygon (shoelace formula)."""
    x, y = points[:, 0], points[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    area = cross.sum() / 2
    return np.array([((x + x1) * cross).sum(), ((y + y1) * cross).sum()]) / (6 * area)


def _round(rng: np.random.Generator, r: float) -> Points:
    short = r if rng.random() < 0.5 else r * rng.uniform(0.45, 0.8)
    steps = np.linspace(0.0, 2 * math.pi, 96, endpoint=False)
    ellipse = np.stack([r * np.cos(steps), short * np.sin(steps)], axis=1)
    return _rotate(ellipse, _tilt(rng))


def _rect(rng: np.random.Generator, r: float) -> Points:
    short = r if rng.random() < 0.5 else r * rng.uniform(0.45, 0.8)
    box = np.array([[-r, -short], [r, -short], [r, short], [-r, short]])
    return _rotate(box, _tilt(rng))


def _star(rng: np.random.Generator, r: float) -> Points:
    inner = r * rng.uniform(0.38, 0.5)
    angles = -math.pi / 2 + np.arange(10) * math.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, r, inner)
    star = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    return _rotate(star, _tilt(rng, 18.0))


def _cross(rng: np.random.Generator, r: float) -> Points:
    w = r * rng.uniform(0.25, 0.35)  # half the width of an arm
    cross = np.array(
        [
            [-w, -r], [w, -r], [w, -w], [r, -w], [r, w], [w, w],
            [w, r], [-w, r], [-w, w], [-r, w], [-r, -w], [-w, -w],
        ]
    )  # fmt: skip
    return _rotate(cross, _tilt(rng))


def _hourglass(rng: np.random.Generator, r: float) -> Points:
    """Two triangles meeting tip to tip: wide at the top and bottom, narrow at the waist."""
    half_width = r * rng.uniform(0.6, 0.85)
    waist = half_width * rng.uniform(0.12, 0.22)
    hourglass = np.array(
        [[-half_width, -r], [half_width, -r], [waist, 0.0], [half_width, r], [-half_width, r],
         [-waist, 0.0]]
    )  # fmt: skip
    return _rotate(hourglass, _tilt(rng))


def _diamond(rng: np.random.Generator, r: float) -> Points:
    """A rhombus standing on a corner, taller than wide (never a square turned 45 degrees)."""
    half_width = r * rng.uniform(0.6, 0.85)
    diamond = np.array([[0.0, -r], [half_width, 0.0], [0.0, r], [-half_width, 0.0]])
    return _rotate(diamond, _tilt(rng))


KINDS: dict[str, Callable[[np.random.Generator, float], Points]] = {
    "round": _round,
    "rect": _rect,
    "star": _star,
    "cross": _cross,
    "hourglass": _hourglass,
    "diamond": _diamond,
}


def outline(rng: np.random.Generator, kind: str, canvas: float) -> Points:
    """A polygon of ``kind`` centred on its centroid, of a random size for a ``canvas`` px image."""
    if kind not in KINDS:
        raise DataError(f"Unknown shape kind {kind!r}; the kinds are {sorted(KINDS)}.")
    points = KINDS[kind](rng, rng.uniform(*SIZE_RANGE) * canvas)
    return points - centroid(points)


def place(rng: np.random.Generator, points: Points, canvas: float) -> Points:
    """Move a centred polygon to a random position with the whole shape on the canvas."""
    low, high = points.min(axis=0), points.max(axis=0)
    return points + rng.uniform(-low, canvas - high)


def render(
    rng: np.random.Generator,
    polygons: list[Points],
    image_size: int,
    fill: tuple[int, ...],
    background: tuple[int, ...],
) -> Image.Image:
    """Polygons given in supersampled canvas coordinates -> a noisy RGB image."""
    canvas = image_size * SUPERSAMPLE
    image = Image.new("RGB", (canvas, canvas), background)
    draw = ImageDraw.Draw(image)
    for polygon in polygons:
        draw.polygon([(float(x), float(y)) for x, y in polygon], fill=fill)
    return add_noise(rng, image.resize((image_size, image_size), Image.Resampling.BOX))


def draw_shape(
    rng: np.random.Generator, kind: str, image_size: int, colour_mode: str = DEFAULT_COLOURS
) -> Image.Image:
    """One RGB image: a filled shape of ``kind`` with random size, place, angle and colours."""
    canvas = image_size * SUPERSAMPLE
    fill, background = COLOUR_MODES[colour_mode](rng)
    polygon = place(rng, outline(rng, kind, canvas), canvas)
    return render(rng, [polygon], image_size, fill, background)


def check_pair(pair: str) -> tuple[str, str]:
    """The two kinds of a pair; an unknown name is refused with the list of pairs."""
    return PAIRS[check_choice("data.pair", pair, PAIRS, "a built-in pair")]


def _draw(kinds: dict[str, str], image_size: int, colour_mode: str, rng, domain: str):
    # draw_shape is looked up when called, so a test can replace it
    return draw_shape(rng, kinds[domain], image_size, colour_mode), ""


def ensure_shapes(
    root: Path,
    image_size: int = 64,
    n_train: int = 400,
    n_test: int = 50,
    seed: int = 0,
    pair: str = DEFAULT_PAIR,
    colours: str = DEFAULT_COLOURS,
) -> Path:
    """Generate a shapes pair into ``root`` unless a complete one with these settings is there
    (staging folder, marker and lock: :func:`ugatit.data.builtin.ensure_generated`)."""
    kind_a, kind_b = check_pair(pair)
    check_colours(colours)
    settings = {
        "version": GENERATOR_VERSION,
        "pair": pair,
        "colours": colours,
        "image_size": image_size,
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
    }
    draw = partial(_draw, {"A": kind_a, "B": kind_b}, image_size, colours)
    return ensure_generated(
        Path(root),
        settings,
        MARKER,
        lambda folder: write_splits(folder, n_train, n_test, seed, draw),
        "shapes",
        legacy={"colours": DEFAULT_COLOURS},  # markers written before data.colours existed
    )
