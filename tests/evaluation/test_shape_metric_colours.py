"""The shape metric is colour-blind: it reads random-colour shapes (data.colours=random) as well as
the palette, light shapes on dark grounds included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ugatit.data import shapes
from ugatit.data.dataset import to_tensor
from ugatit.evaluation.shape_metric import classifier as classifier_module
from ugatit.evaluation.shape_metric.scoring import score_translations
from ugatit.training.summary import figures

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_classifier_reads_random_colour_test_images(shape_classifier):
    scores = classifier_module.accuracy(shape_classifier, colours="random")
    assert scores["real"] >= classifier_module.REQUIRED_ACCURACY["real"]  # 0.99


@pytest.mark.parametrize(
    "fill, background", [((235, 235, 235), (15, 15, 15)), ((250, 220, 40), (30, 20, 90))]
)
def test_light_shapes_on_dark_grounds(shape_classifier, fill, background):
    canvas = 64 * shapes.SUPERSAMPLE

    def drawn(kind: str, seed: int) -> torch.Tensor:
        """A shape with its centroid at a place fixed by ``seed``, whatever the kind."""
        centre = np.array([0.35 + 0.05 * (seed % 4), 0.6 - 0.04 * seed]) * canvas
        rng = np.random.default_rng(seed)
        polygon = shapes.outline(rng, kind, canvas) + centre
        return to_tensor(shapes.render(rng, [polygon], 64, fill, background))

    for source_kind, target_kind in shapes.PAIRS.values():
        sources = torch.stack([drawn(source_kind, i) for i in range(6)])
        targets = torch.stack([drawn(target_kind, i) for i in range(6)])
        scores = score_translations(sources, targets, source_kind, target_kind, shape_classifier)
        assert scores["success"] == 1.0 and scores["centroid_error"] < 0.02
        same = score_translations(sources, sources, source_kind, target_kind, shape_classifier)
        assert same["success"] == 0.0 and same["unchanged"] == 1.0


def test_the_end_of_run_summary_names_the_metric_of_the_data():
    """ugatit.training.summary prints the callback's last scores under its judge's own title."""
    from ugatit.evaluation.glyph_metric.scoring import GlyphJudge
    from ugatit.evaluation.shape_metric.callback import ShapeMetricCallback

    callback = ShapeMetricCallback()

    class Trainer:
        callbacks = [callback]
        progress_bar_metrics: dict = {}

    glyph = {"joint": 0.5, "style": 0.75, "letter": 0.5, "unchanged": 0.25, "centroid_error": 0.01}
    callback._judge = GlyphJudge.__new__(GlyphJudge)  # its title and summary need no classifiers
    callback.last_scores = {"a2b": glyph}
    lines = figures(Trainer())
    assert any(
        line.startswith("glyph translation: A->B joint 0.50 (style 0.75, letter 0.50")
        for line in lines
    ), lines
    assert callback.metric_name == "glyph metric"
