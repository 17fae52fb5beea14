"""The numbers of the shape metric for one translation direction.

- ``success``: fraction of translations the classifier calls the target kind;
- ``unchanged``: fraction still called the source kind (the typical failure: colours change,
  the outline stays);
- ``empty``: fraction in which no shape is found at all;
- ``centroid_error``: distance between the centroids of the translated and the source shape, as
  a fraction of the image side (mean over images where both have a shape);
- ``size_ratio``: area of the translated shape over the source shape's (median over the same
  images; a circle turned into the square around it gives 4/pi = 1.27).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from ugatit.data.shapes import check_pair
from ugatit.directions import pair_indices
from ugatit.evaluation.per_image import reduce_values
from ugatit.evaluation.shape_metric.classifier import ShapeClassifier, load_or_train
from ugatit.evaluation.shape_metric.foreground import geometry

KEYS = ("success", "unchanged", "empty", "centroid_error", "size_ratio")


MEDIANS = ("size_ratio",)


def per_image_scores(
    sources: Tensor,
    translations: Tensor,
    source_kind: str,
    target_kind: str,
    classifier: ShapeClassifier,
) -> dict[str, Tensor]:
    """One value per translation and key (NaN where it does not apply: no shape to measure)."""
    if len(sources) != len(translations) or len(sources) == 0:
        raise ValueError(
            f"need as many translations as sources (> 0), got {len(translations)} for "
            f"{len(sources)}"
        )
    verdicts = classifier.predict(translations)
    source_centre, source_area, source_found = geometry(sources.cpu())
    fake_centre, fake_area, fake_found = geometry(translations.cpu())
    both = source_found & fake_found
    nan = torch.full((len(verdicts),), math.nan)
    return {
        "success": torch.tensor([float(v == target_kind) for v in verdicts]),
        "unchanged": torch.tensor([float(v == source_kind) for v in verdicts]),
        "empty": (~fake_found).float(),
        "centroid_error": torch.where(both, (fake_centre - source_centre).norm(dim=1), nan),
        "size_ratio": torch.where(both, fake_area / source_area.clamp_min(1e-12), nan),
    }


def score_translations(
    sources: Tensor,
    translations: Tensor,
    source_kind: str,
    target_kind: str,
    classifier: ShapeClassifier,
) -> dict[str, float]:
    """Scores of ``translations`` [N, 3, H, W] of ``sources`` (uint8, or floats in [-1, 1])."""
    values = per_image_scores(sources, translations, source_kind, target_kind, classifier)
    return reduce_values(values, MEDIANS)


class ShapeJudge:
    """Scores translations of one built-in pair; the classifier is loaded (or trained) once."""

    keys = KEYS  # per-image values, reduced to the scores
    prefix = "shape"  # logged as val/shape_<key>_<direction>
    headline = "success"  # val/shape_success_mean: the sweep objective
    title = "shape translation"

    def __init__(self, pair: str, data_root: str | Path) -> None:
        self.pair = pair
        self.kinds = check_pair(pair)
        self.data_root = Path(data_root)
        self._classifier: ShapeClassifier | None = None

    @property
    def classifier(self) -> ShapeClassifier:
        if self._classifier is None:
            self._classifier = load_or_train(self.data_root)
        return self._classifier

    def per_image(self, direction: str, sources: Tensor, translations: Tensor) -> dict[str, Tensor]:
        source, target = pair_indices(direction)
        return per_image_scores(
            sources, translations, self.kinds[source], self.kinds[target], self.classifier
        )

    def reduce(self, values: Mapping[str, Tensor]) -> dict[str, float]:
        return reduce_values(values, MEDIANS)

    def score(self, direction: str, sources: Tensor, translations: Tensor) -> dict[str, float]:
        return self.reduce(self.per_image(direction, sources, translations))

    def summary(self, scores: dict[str, dict[str, float]]) -> str:
        return summary(scores)

    def mean(self, scores: dict[str, dict[str, float]]) -> float:
        return mean_success(scores)


def summary(scores: dict[str, dict[str, float]]) -> str:
    """One line for the console: success and centroid error per direction."""
    parts = [
        f"{d.replace('2', '->').upper()} success {s['success']:.2f} "
        f"(unchanged {s['unchanged']:.2f}), centroid error {s['centroid_error']:.3f}, "
        f"size ratio {s['size_ratio']:.2f}"
        for d, s in scores.items()
    ]
    return "; ".join(parts)


def mean_success(scores: dict[str, dict[str, float]]) -> float:
    return sum(s["success"] for s in scores.values()) / max(1, len(scores))
