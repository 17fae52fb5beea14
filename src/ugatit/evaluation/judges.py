"""Which metric judges a data set's translations: the shape metric for the built-in shapes
(``data=shapes``), the glyph metric for the built-in typefaces (``data=glyphs``), none for other
data (nothing says what a good translation of them looks like)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from torch import Tensor

from ugatit.data import glyphs, shapes
from ugatit.evaluation.glyph_metric.scoring import GlyphJudge
from ugatit.evaluation.shape_metric.scoring import ShapeJudge

Scores = Mapping[str, Mapping[str, float]]  # direction -> key -> value


class Judge(Protocol):
    keys: tuple[str, ...]  # the per-image values (per_image) that reduce turns into scores
    prefix: str  # logged keys are val/<prefix>_<key>_<direction>
    headline: str  # the key whose mean over directions is val/<prefix>_<headline>_mean
    title: str  # how the console names it ("shape translation")

    def per_image(
        self, direction: str, sources: Tensor, translations: Tensor
    ) -> dict[str, Tensor]: ...

    def reduce(self, values: Mapping[str, Tensor]) -> dict[str, float]: ...

    def score(self, direction: str, sources: Tensor, translations: Tensor) -> dict[str, float]: ...

    def summary(self, scores: Scores) -> str: ...

    def mean(self, scores: Scores) -> float: ...


def judge_for(datamodule: Any) -> Judge | None:
    """The judge of a data module's built-in data and pair, or None for other data."""
    name = getattr(datamodule, "name", None)
    pair = getattr(datamodule, "pair", None)
    if name == "shapes":
        return ShapeJudge(pair or shapes.DEFAULT_PAIR, datamodule.root)
    if name == "glyphs":
        return GlyphJudge(pair or glyphs.DEFAULT_PAIR, datamodule.root)
    return None
