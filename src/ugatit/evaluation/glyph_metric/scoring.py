"""The numbers of the glyph metric for one translation direction.

- ``joint``: fraction of translations in the target typeface that still show the source's
  letter (the headline: a translation must do both);
- ``style``: fraction the style classifier calls the target typeface;
- ``letter``: fraction whose letter is the source image's letter (both read by the letter
  classifier; a page without a letter keeps none);
- ``unchanged``: fraction still called the source typeface (the typical failure);
- ``centroid_error``: distance between the ink centroids of the translation and the source, as
  a fraction of the image side (mean over images where both have ink).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from ugatit.data.glyphs import check_pair
from ugatit.directions import pair_indices
from ugatit.evaluation.glyph_metric.classifier import (
    NONE,
    LetterClassifier,
    StyleClassifier,
    load_letter_classifier,
    load_style_classifier,
)
from ugatit.evaluation.per_image import reduce_values
from ugatit.evaluation.shape_metric.foreground import geometry

KEYS = ("joint", "style", "letter", "unchanged", "centroid_error")


def per_image_scores(
    sources: Tensor,
    translations: Tensor,
    source_font: str,
    target_font: str,
    letters: LetterClassifier,
    style: StyleClassifier,
) -> dict[str, Tensor]:
    """One value per translation and key (NaN where it does not apply: no ink to measure)."""
    if len(sources) != len(translations) or len(sources) == 0:
        raise ValueError(
            f"need as many translations as sources (> 0), got {len(translations)} for "
            f"{len(sources)}"
        )
    source_letters = letters.predict(sources)
    kept = torch.tensor(
        [s == t != NONE for s, t in zip(source_letters, letters.predict(translations), strict=True)]
    )
    verdicts = style.predict(translations)
    in_target = torch.tensor([v == target_font for v in verdicts])
    source_centre, _, source_found = geometry(sources.cpu())
    fake_centre, _, fake_found = geometry(translations.cpu())
    both = source_found & fake_found
    nan = torch.full((len(verdicts),), math.nan)
    return {
        "joint": (in_target & kept).float(),
        "style": in_target.float(),
        "letter": kept.float(),
        "unchanged": torch.tensor([float(v == source_font) for v in verdicts]),
        "centroid_error": torch.where(both, (fake_centre - source_centre).norm(dim=1), nan),
    }


def score_translations(
    sources: Tensor,
    translations: Tensor,
    source_font: str,
    target_font: str,
    letters: LetterClassifier,
    style: StyleClassifier,
) -> dict[str, float]:
    """Scores of ``translations`` [N, 3, H, W] of ``sources`` (uint8, or floats in [-1, 1])."""
    values = per_image_scores(sources, translations, source_font, target_font, letters, style)
    return reduce_values(values)


class GlyphJudge:
    """Scores translations of one built-in typeface pair; the classifiers are loaded (or trained)
    once, on first use."""

    keys = KEYS  # per-image values, reduced to the scores
    prefix = "glyph"  # logged as val/glyph_<key>_<direction>
    headline = "joint"  # val/glyph_joint_mean: the sweep objective
    title = "glyph translation"

    def __init__(self, pair: str, data_root: str | Path) -> None:
        self.pair = pair
        self.fonts = check_pair(pair)
        self.data_root = Path(data_root)
        self._letters: LetterClassifier | None = None
        self._style: StyleClassifier | None = None

    @property
    def classifiers(self) -> tuple[LetterClassifier, StyleClassifier]:
        if self._letters is None or self._style is None:
            self._letters = load_letter_classifier(self.data_root)
            self._style = load_style_classifier(self.data_root, self.pair)
        return self._letters, self._style

    def per_image(self, direction: str, sources: Tensor, translations: Tensor) -> dict[str, Tensor]:
        source, target = pair_indices(direction)
        letters, style = self.classifiers
        return per_image_scores(
            sources, translations, self.fonts[source], self.fonts[target], letters, style
        )

    def reduce(self, values: Mapping[str, Tensor]) -> dict[str, float]:
        return reduce_values(values)

    def score(self, direction: str, sources: Tensor, translations: Tensor) -> dict[str, float]:
        return self.reduce(self.per_image(direction, sources, translations))

    def summary(self, scores: Mapping[str, Mapping[str, float]]) -> str:
        return summary(scores)

    def mean(self, scores: Mapping[str, Mapping[str, float]]) -> float:
        return mean_joint(scores)


def summary(scores: Mapping[str, Mapping[str, float]]) -> str:
    """One line for the console: per direction the joint success, its parts and the centroid
    error."""
    return "; ".join(
        f"{d.replace('2', '->').upper()} joint {s['joint']:.2f} (style {s['style']:.2f}, letter "
        f"{s['letter']:.2f}, unchanged {s['unchanged']:.2f}), centroid error "
        f"{s['centroid_error']:.3f}"
        for d, s in scores.items()
    )


def mean_joint(scores: Mapping[str, Mapping[str, float]]) -> float:
    return sum(s["joint"] for s in scores.values()) / max(1, len(scores))


def markdown_rows(scores: Mapping[str, Mapping[str, float]]) -> list[str]:
    """The glyph metric as a Markdown table (src/eval.py's metrics.md)."""
    lines = [
        "| direction | glyph joint | style | letter kept | unchanged | centroid error | images |",
        "|---|---|---|---|---|---|---|",
    ]
    for direction, s in scores.items():
        lines.append(
            f"| {direction} | {s['joint']:.3f} | {s['style']:.3f} | {s['letter']:.3f} | "
            f"{s['unchanged']:.3f} | {s['centroid_error']:.3f} | {s['n']} |"
        )
    return lines
