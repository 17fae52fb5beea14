"""The judges of the glyph metric: a letter classifier and, per pair, a style classifier.

- The letter classifier names the letter (a-z) in any typeface, or NONE for a blank page. It is
  trained on every letter-bearing font in matplotlib's wheel (:data:`ugatit.data.glyphs.FONTS`),
  so a translation in an imperfect typeface is still read.
- The style classifier of a pair says whether a letter is in the pair's typeface A, B, or
  OTHER: every font not in the pair, and the distractors of
  :mod:`~ugatit.evaluation.glyph_metric.distractors` (blank paper, blobs, two letters, half
  letters).

Both read the framed ink map of :mod:`~ugatit.evaluation.glyph_metric.ink_map` (colour-blind) and
train with the noise and blur of the shape metric's judge, seeded and with one thread, in well
under a minute on a CPU; they are cached beside the data with their versions in the file names.

A typeface is a letter's form, not how sharply it is drawn: a generator's 64-px output is often a
little soft, and version 1, trained on sharp renders only, called 47 of 50 real STIX italic test
letters blurred by a Gaussian of 1 px OTHER. Version 2 trains on renders blurred in the image
(:data:`BLUR_SHARE` of them, sigma up to :data:`MAX_BLUR` px, every class alike, so blur is no
cue) and reports its accuracy on blurred held-out renders too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter
from torch import Tensor

from ugatit.data import glyphs
from ugatit.evaluation import small_classifier
from ugatit.evaluation.glyph_metric import distractors
from ugatit.evaluation.glyph_metric.ink_map import ink_maps
from ugatit.evaluation.small_classifier import SmallCNN, fit, one_thread, predict_classes

# bump when the classes, the network, the training or the training images change
VERSION = 2
SEED = 20261
NONE = "none"  # the letter classifier's verdict on a page without a letter
OTHER = "other"  # the style classifier's verdict on anything but the pair's two typefaces
LETTER_CLASSES: tuple[str, ...] = (*glyphs.LETTERS, NONE)
LETTER_RENDERS = 5  # training images per font and letter
LETTER_BLANKS = 200
LETTER_EPOCHS = 7
STYLE_RENDERS = 32  # training images per letter of each of the pair's fonts
OTHER_FONT_RENDERS = 3  # ... per letter of every other font (OTHER)
STYLE_DISTRACTORS = 200  # ... per distractor type (OTHER)
STYLE_EPOCHS = 14
HELD_OUT_RENDERS = 4  # per font and letter, for the reported accuracies
HELD_OUT_DISTRACTORS = 100  # per distractor type
BLUR_SHARE = 0.6  # training renders blurred in the image (the rest stay sharp)
MAX_BLUR = 1.2  # px: the widest Gaussian blur of a training render
HELD_OUT_BLUR = 1.0  # px: the blur of the held-out renders of the "blurred" accuracy
REQUIRED_ACCURACY = {"letters": 0.99, "style": 0.97, "other": 0.93, "blurred": 0.9}
_CHUNK = 512  # images turned into ink maps at a time (keeps the training set small in memory)


def letter_cache_path(data_root: Path) -> Path:
    """Beside the data set's folder: one letter classifier serves every pair generated there."""
    name = f"glyph_letters-v{VERSION}-{glyphs.GENERATOR_VERSION}.pt"
    return Path(data_root).parent / name


def style_cache_path(data_root: Path, pair: str) -> Path:
    name = f"glyph_style_{pair}-v{VERSION}-{glyphs.GENERATOR_VERSION}.pt"
    return Path(data_root).parent / name


class GlyphClassifier(SmallCNN):
    """The shared small CNN on the framed ink map, one output per class name."""

    def __init__(self, classes: tuple[str, ...]) -> None:
        super().__init__(len(classes))
        self.classes = classes

    def predict(self, images: Tensor) -> list[str]:
        """Class names of images (uint8, or floats in [-1, 1]) [B, 3, H, W]."""
        return [self.classes[i] for i in predict_classes(self, ink_maps(images)).tolist()]


class LetterClassifier(GlyphClassifier):
    """Letter (a-z) or NONE, in any typeface."""

    def __init__(self) -> None:
        super().__init__(LETTER_CLASSES)


def style_classes(pair: str) -> tuple[str, str, str]:
    """The style classifier's classes: the pair's two fonts (A, B) by name, then OTHER."""
    return (*glyphs.check_pair(pair), OTHER)


class StyleClassifier(GlyphClassifier):
    """The pair's typeface A or B (by font name), or OTHER."""

    def __init__(self, pair: str) -> None:
        super().__init__(style_classes(pair))


# ------------------------------------------------------------------------------------ images
def _as_tensor(image: Image.Image) -> Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def _maps(images: list[Image.Image]) -> Tensor:
    chunks = []
    for start in range(0, len(images), _CHUNK):
        chunks.append(
            ink_maps(torch.stack([_as_tensor(i) for i in images[start : start + _CHUNK]]))
        )
    return torch.cat(chunks)


def blurred(image: Image.Image, sigma: float) -> Image.Image:
    """``image`` softened by a Gaussian blur of ``sigma`` px (what a generator's output shows)."""
    return image.filter(ImageFilter.GaussianBlur(sigma)) if sigma > 0 else image


def _renders(
    fonts: list[str], per_letter: int, stream: int, blur: float | None = None
) -> tuple[list[Image.Image], list[tuple[str, str]]]:
    """``per_letter`` images of every letter in each of ``fonts``, with (font, letter) labels.

    ``blur``: every image blurred by that sigma; None: the training mix (BLUR_SHARE of them,
    sigma uniform up to MAX_BLUR)."""
    images, labels = [], []
    for font in fonts:
        font_id = list(glyphs.FONTS).index(font)
        for letter_id, letter in enumerate(glyphs.LETTERS):
            for k in range(per_letter):
                rng = np.random.default_rng([SEED, stream, font_id, letter_id, k])
                image = glyphs.draw_glyph(rng, font, letter, 64)
                if blur is None:
                    sigma = rng.uniform(0, MAX_BLUR) if rng.random() < BLUR_SHARE else 0.0
                else:
                    sigma = blur
                images.append(blurred(image, sigma))
                labels.append((font, letter))
    return images, labels


def _distractors(
    fonts: tuple[str, str], count: int, stream: int, kinds: set[str] | None = None
) -> list[Image.Image]:
    images = []
    for type_id, (name, make) in enumerate(distractors.DISTRACTORS.items()):
        if kinds is None or name in kinds:
            images += [
                make(np.random.default_rng([SEED, stream, 100 + type_id, i]), fonts, 64)
                for i in range(count)
            ]
    return images


def _other_fonts(pair: str) -> list[str]:
    return [font for font in glyphs.FONTS if font not in glyphs.check_pair(pair)]


def letter_training_set() -> tuple[Tensor, Tensor]:
    """Ink maps and labels: every letter in every font, and blank pages (NONE)."""
    images, labels = _renders(list(glyphs.FONTS), LETTER_RENDERS, stream=0)
    targets = [LETTER_CLASSES.index(letter) for _, letter in labels]
    blanks = _distractors(glyphs.PAIRS[glyphs.DEFAULT_PAIR], LETTER_BLANKS, 0, kinds={"blank"})
    targets += [LETTER_CLASSES.index(NONE)] * len(blanks)
    return _maps(images + blanks), torch.tensor(targets)


def style_training_set(pair: str) -> tuple[Tensor, Tensor]:
    """Ink maps and labels: the pair's two fonts (A, B); every other font and the distractors
    (OTHER)."""
    classes = style_classes(pair)
    own, own_labels = _renders(list(classes[:2]), STYLE_RENDERS, stream=0)
    others, _ = _renders(_other_fonts(pair), OTHER_FONT_RENDERS, stream=0)
    others += _distractors(classes[:2], STYLE_DISTRACTORS, stream=0)
    targets = [classes.index(font) for font, _ in own_labels]
    targets += [classes.index(OTHER)] * len(others)
    return _maps(own + others), torch.tensor(targets)


# ------------------------------------------------------------------------------------ training
def train_letter_classifier(epochs: int = LETTER_EPOCHS) -> LetterClassifier:
    """Trained from scratch: seeded, CPU, one thread (the same in every process)."""
    with one_thread():
        torch.manual_seed(SEED)
        maps, labels = letter_training_set()
        return fit(LetterClassifier(), maps, labels, epochs, SEED)


def train_style_classifier(pair: str, epochs: int = STYLE_EPOCHS) -> StyleClassifier:
    """Trained from scratch: seeded, CPU, one thread (the same in every process)."""
    with one_thread():
        torch.manual_seed(SEED)
        maps, labels = style_training_set(pair)
        return fit(StyleClassifier(pair), maps, labels, epochs, SEED)


# ------------------------------------------------------------------------------------ accuracy
def _share(verdicts: list[str], truth: list[str]) -> float:
    return float(np.mean([v == t for v, t in zip(verdicts, truth, strict=True)]))


def _stacked(images: list[Image.Image]) -> Tensor:
    return torch.stack([_as_tensor(i) for i in images])


def letter_accuracy(model: LetterClassifier) -> dict[str, float]:
    """``data``: the test images of every built-in pair, drawn exactly as the data sets' test
    splits are; ``fonts``: held-out renders of every letter in every font."""
    images, truth = [], []
    for fonts in glyphs.PAIRS.values():
        for split_id, font in ((2, fonts[0]), (3, fonts[1])):  # testA, testB as in ensure_glyphs
            for i in range(50):
                image, letter = glyphs.draw_letter(
                    np.random.default_rng([0, split_id, i]), font, 64
                )
                images.append(image)
                truth.append(letter)
    renders, labels = _renders(list(glyphs.FONTS), 1, stream=1, blur=0.0)
    return {
        "data": _share(model.predict(_stacked(images)), truth),
        "fonts": _share(model.predict(_stacked(renders)), [letter for _, letter in labels]),
    }


def style_accuracy(model: StyleClassifier, pair: str) -> dict[str, float]:
    """``style``: sharp held-out renders of the pair's fonts called by their font; ``blurred``:
    the same renders blurred by HELD_OUT_BLUR px; ``other``: held-out renders of every other
    font and distractors called OTHER."""
    fonts = glyphs.check_pair(pair)
    own, labels = _renders(list(fonts), HELD_OUT_RENDERS, stream=1, blur=0.0)
    soft, _ = _renders(list(fonts), HELD_OUT_RENDERS, stream=1, blur=HELD_OUT_BLUR)
    others, _ = _renders(_other_fonts(pair), 1, stream=1, blur=0.0)
    others += _distractors(fonts, HELD_OUT_DISTRACTORS, stream=1)
    truth = [font for font, _ in labels]
    return {
        "style": _share(model.predict(_stacked(own)), truth),
        "blurred": _share(model.predict(_stacked(soft)), truth),
        "other": _share(model.predict(_stacked(others)), [OTHER] * len(others)),
    }


# ------------------------------------------------------------------------------------ cache
def load_letter_classifier(data_root: Path) -> LetterClassifier:
    """Cached beside ``data_root``; trained and cached on first use."""
    return small_classifier.load_or_train(
        letter_cache_path(data_root),
        LetterClassifier,
        train_letter_classifier,
        letter_accuracy,
        "glyph letter classifier",
    )


def load_style_classifier(data_root: Path, pair: str) -> StyleClassifier:
    """Cached beside ``data_root``; trained and cached on first use."""
    glyphs.check_pair(pair)
    return small_classifier.load_or_train(
        style_cache_path(data_root, pair),
        lambda: StyleClassifier(pair),
        lambda: train_style_classifier(pair),
        lambda model: style_accuracy(model, pair),
        f"glyph style classifier ({pair})",
    )
