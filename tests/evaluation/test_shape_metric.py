"""The shape metric: its classifier's own accuracy, and its verdicts on hand-made translations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ugatit.data import shapes
from ugatit.data.dataset import to_tensor
from ugatit.evaluation.shape_metric import classifier as classifier_module
from ugatit.evaluation.shape_metric.distractors import blob
from ugatit.evaluation.shape_metric.foreground import geometry
from ugatit.evaluation.shape_metric.scoring import ShapeJudge, score_translations

pytestmark = pytest.mark.usefixtures("one_thread")

FILL, BACKGROUND = (230, 40, 40), (30, 60, 200)


def drawn(kind: str, centre: tuple[float, float], seed: int = 0, size: int = 64) -> torch.Tensor:
    """One image of ``kind`` with its centroid at ``centre`` (fractions of the side), [3, H, W]."""
    canvas = size * shapes.SUPERSAMPLE
    rng = np.random.default_rng(seed)
    polygon = shapes.outline(rng, kind, canvas) + np.array(centre) * canvas
    return to_tensor(shapes.render(rng, [polygon], size, FILL, BACKGROUND))


def test_the_classifier_reads_held_out_shapes_and_rejects_distractors(shape_classifier):
    scores = classifier_module.accuracy(shape_classifier)
    assert scores["real"] >= classifier_module.REQUIRED_ACCURACY["real"]  # 0.99
    assert scores["distractors"] >= classifier_module.REQUIRED_ACCURACY["distractors"]  # 0.95


def test_the_classifier_is_cached_beside_the_data_and_reloaded(shape_classifier, shapes_dir):
    path = classifier_module.cache_path(shapes_dir / "shapes" / "star_cross")
    assert path.parent == shapes_dir / "shapes" and path.is_file()
    assert f"v{classifier_module.VERSION}" in path.name
    again = classifier_module.load_or_train(shapes_dir / "shapes" / "hourglass_diamond")
    for p, q in zip(
        again.state_dict().values(), shape_classifier.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q)


@pytest.mark.parametrize("pair", list(shapes.PAIRS))
def test_verdicts_on_hand_made_translations(shape_classifier, pair):
    source_kind, target_kind = shapes.PAIRS[pair]
    centres = [(0.3 + 0.1 * i, 0.6 - 0.05 * i) for i in range(4)]
    sources = torch.stack([drawn(source_kind, c, seed=i) for i, c in enumerate(centres)])

    perfect = torch.stack([drawn(target_kind, c, seed=i) for i, c in enumerate(centres)])
    scores = score_translations(sources, perfect, source_kind, target_kind, shape_classifier)
    assert scores["success"] == 1.0 and scores["unchanged"] == 0.0
    assert scores["centroid_error"] < 0.02  # the same centroid, up to pixel rounding

    unchanged = score_translations(sources, sources, source_kind, target_kind, shape_classifier)
    assert unchanged["success"] == 0.0 and unchanged["unchanged"] == 1.0
    assert unchanged["centroid_error"] < 1e-6 and unchanged["size_ratio"] == 1.0

    blank = torch.stack(
        [to_tensor(shapes.add_noise(np.random.default_rng(i), _plain())) for i in range(4)]
    )
    empty = score_translations(sources, blank, source_kind, target_kind, shape_classifier)
    assert empty["success"] == 0.0 and empty["empty"] == 1.0 and math.isnan(empty["centroid_error"])

    blobs = torch.stack([to_tensor(blob(np.random.default_rng([7, i]), 64)) for i in range(8)])
    smudged = score_translations(
        torch.cat([sources, sources]), blobs, source_kind, target_kind, shape_classifier
    )
    assert smudged["success"] <= 0.125  # a blob is OTHER, not the target kind


def _plain():
    from PIL import Image

    return Image.new("RGB", (64, 64), BACKGROUND)


def test_moved_shapes_show_in_the_centroid_error(shape_classifier):
    sources = drawn("round", (0.3, 0.3))[None]
    moved = drawn("rect", (0.5, 0.3))[None]
    scores = score_translations(sources, moved, "round", "rect", shape_classifier)
    assert scores["success"] == 1.0
    assert scores["centroid_error"] == pytest.approx(0.2, abs=0.02)


def test_geometry_finds_the_shape_against_its_own_background():
    image = drawn("rect", (0.25, 0.75))[None]
    centre, area, found = geometry(image)
    assert found.tolist() == [True]
    assert centre[0].tolist() == pytest.approx([0.25, 0.75], abs=0.02)
    assert 0.01 < float(area[0]) < 0.4


def test_the_judge_knows_the_pair_and_refuses_unknown_ones(shape_classifier, shapes_dir):
    judge = ShapeJudge("star_cross", shapes_dir / "shapes" / "star_cross")
    star = drawn("star", (0.5, 0.5))[None]
    cross = drawn("cross", (0.5, 0.5))[None]
    assert judge.score("a2b", star, cross)["success"] == 1.0
    assert judge.score("b2a", cross, star)["success"] == 1.0
    with pytest.raises(Exception, match="data.pair='hearts'"):
        ShapeJudge("hearts", shapes_dir)


def test_the_classifier_is_the_same_whatever_the_process_thread_count(monkeypatch):
    """Trained with one thread in any process: a run with two threads (make train) and one with
    one thread (a helper process, a test) get the same classifier, so the same verdicts."""
    small = {"TRAIN_PER_KIND": 60, "TRAIN_PER_DISTRACTOR": 30}
    for name, value in small.items():
        monkeypatch.setattr(classifier_module, name, value)
    weights = {}
    for threads in (2, 1):
        torch.set_num_threads(threads)
        weights[threads] = classifier_module.train_classifier(epochs=2).state_dict()
        assert torch.get_num_threads() == threads
    torch.set_num_threads(1)
    for key, value in weights[1].items():
        assert torch.equal(value, weights[2][key]), key
