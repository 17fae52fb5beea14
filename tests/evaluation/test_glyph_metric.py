"""The glyph metric: its classifiers' own accuracy, and its verdicts on hand-made translations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from ugatit.data import glyphs
from ugatit.data.errors import DataError
from ugatit.evaluation.glyph_metric import classifier as classifier_module
from ugatit.evaluation.glyph_metric.distractors import blank
from ugatit.evaluation.glyph_metric.ink_map import ink_maps
from ugatit.evaluation.glyph_metric.scoring import GlyphJudge, score_translations

pytestmark = pytest.mark.usefixtures("one_thread")

PAIR = "sans_serif"
SOURCE, TARGET = glyphs.PAIRS[PAIR]
N = 40


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def drawn(font: str, seeds, image_size: int = 64) -> tuple[torch.Tensor, list[str]]:
    """Images of uniformly drawn letters in ``font``, one per seed, and their letters."""
    pictures = [glyphs.draw_letter(np.random.default_rng([5, s]), font, image_size) for s in seeds]
    return torch.stack([_tensor(p) for p, _ in pictures]), [letter for _, letter in pictures]


def test_the_letter_classifier_reads_every_typeface(glyph_classifiers):
    scores = classifier_module.letter_accuracy(glyph_classifiers[0])
    assert scores["data"] >= classifier_module.REQUIRED_ACCURACY["letters"]  # 0.99
    assert scores["fonts"] >= classifier_module.REQUIRED_ACCURACY["letters"]


def test_the_style_classifier_knows_the_pair_and_rejects_the_rest(glyph_classifiers):
    scores = classifier_module.style_accuracy(glyph_classifiers[1], PAIR)
    assert scores["style"] >= classifier_module.REQUIRED_ACCURACY["style"]  # 0.97
    assert scores["blurred"] >= classifier_module.REQUIRED_ACCURACY["blurred"]  # 0.9
    assert scores["other"] >= classifier_module.REQUIRED_ACCURACY["other"]  # 0.93


@pytest.mark.slow
@pytest.mark.parametrize("pair", ["roman_italic", "bold_italic"])
def test_the_style_classifiers_of_the_other_pairs(pair, tmp_path):
    """About 25 s each; the default pair's classifier is checked in the fast suite."""
    model = classifier_module.load_style_classifier(tmp_path / "glyphs" / pair, pair)
    scores = classifier_module.style_accuracy(model, pair)
    assert scores["style"] >= classifier_module.REQUIRED_ACCURACY["style"]
    assert scores["other"] >= classifier_module.REQUIRED_ACCURACY["other"]


def test_the_classifiers_are_cached_beside_the_data_and_reloaded(glyph_classifiers, shapes_dir):
    letters, style = glyph_classifiers
    root = shapes_dir / "glyphs" / "roman_italic"  # another pair's folder shares the letters
    path = classifier_module.letter_cache_path(root)
    assert path.parent == shapes_dir / "glyphs" and path.is_file()
    assert f"v{classifier_module.VERSION}-{glyphs.GENERATOR_VERSION}" in path.name
    assert classifier_module.style_cache_path(root, PAIR).is_file()
    again = classifier_module.load_letter_classifier(root)
    for p, q in zip(again.state_dict().values(), letters.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    assert style.classes == (SOURCE, TARGET, classifier_module.OTHER)


def test_verdicts_on_hand_made_translations(glyph_classifiers):
    letters, style = glyph_classifiers
    sources, source_letters = drawn(SOURCE, range(N))

    # the oracle: the same letters in the target typeface, same size, place, angle and colours
    oracle, _ = drawn(TARGET, range(N))
    scores = score_translations(sources, oracle, SOURCE, TARGET, letters, style)
    assert scores["joint"] >= 0.95 and scores["unchanged"] <= 0.05
    assert scores["centroid_error"] < 0.01  # the same ink centroid, up to rendering
    assert scores["n"] == N

    # no translation at all: still the source typeface
    unchanged = score_translations(sources, sources, SOURCE, TARGET, letters, style)
    assert unchanged["joint"] <= 1 / N and unchanged["unchanged"] >= 0.95
    assert unchanged["letter"] == 1.0 and unchanged["centroid_error"] == 0.0

    # the target typeface, but other letters: letter kept only where the letters coincide
    others, other_letters = drawn(TARGET, range(1000, 1000 + 4 * N))
    repeated = torch.cat([sources] * 4)
    coincide = np.mean([a == b for a, b in zip(source_letters * 4, other_letters, strict=True)])
    wrong = score_translations(repeated, others, SOURCE, TARGET, letters, style)
    assert wrong["style"] >= 0.95
    assert wrong["letter"] == pytest.approx(coincide, abs=0.02)  # about 1/26
    assert wrong["letter"] <= 0.1 and wrong["joint"] <= wrong["letter"]

    # blank pages: no typeface, no letter, no ink
    pages = torch.stack(
        [_tensor(blank(np.random.default_rng(i), glyphs.PAIRS[PAIR], 64)) for i in range(N)]
    )
    empty = score_translations(sources, pages, SOURCE, TARGET, letters, style)
    assert empty["joint"] == empty["style"] == empty["letter"] == 0.0
    assert math.isnan(empty["centroid_error"])


def test_floats_in_the_generator_range_are_read_like_uint8(glyph_classifiers):
    letters, style = glyph_classifiers
    sources, _ = drawn(SOURCE, range(8))
    as_float = sources.float() / 127.5 - 1.0
    assert letters.predict(as_float) == letters.predict(sources)
    assert style.predict(as_float) == style.predict(sources)


def test_the_frame_ignores_size_and_place():
    """The classifiers' input: the same letter small in a corner and large in the middle."""
    image = Image.new("RGB", (64, 64), (235, 235, 230))
    small = glyphs.glyph_mask(np.random.default_rng(0), TARGET, "g", 256, 0.7, (70, 70, 70, 70))
    large = glyphs.glyph_mask(np.random.default_rng(0), TARGET, "g", 256, 1.2, (140,) * 4)
    maps = []
    for mask in (small, large):
        ink = Image.composite(
            Image.new("RGB", (256, 256), (20, 20, 30)), image.resize((256,) * 2), mask
        )
        maps.append(ink_maps(_tensor(ink.resize((64, 64), Image.Resampling.BOX))[None]))
    assert torch.nn.functional.cosine_similarity(maps[0].flatten(), maps[1].flatten(), dim=0) > 0.9
    blank_map = ink_maps(_tensor(image)[None])
    assert torch.isfinite(blank_map).all() and float(blank_map.max()) < 0.1


def test_the_judge_scores_both_directions_and_refuses_unknown_pairs(glyph_classifiers, shapes_dir):
    judge = GlyphJudge(PAIR, shapes_dir / "glyphs" / PAIR)
    sans, _ = drawn(SOURCE, range(10))
    serif, _ = drawn(TARGET, range(10))
    assert judge.score("a2b", sans, serif)["joint"] >= 0.9
    assert judge.score("b2a", serif, sans)["joint"] >= 0.9
    scores = {"a2b": judge.score("a2b", sans, serif), "b2a": judge.score("b2a", serif, serif)}
    assert judge.mean(scores) == pytest.approx((scores["a2b"]["joint"] + 0.0) / 2, abs=0.1)
    assert judge.summary(scores).startswith("A->B joint ")
    assert (judge.prefix, judge.headline) == ("glyph", "joint")
    with pytest.raises(DataError, match="data.pair='gothic' is not a built-in glyph pair"):
        GlyphJudge("gothic", shapes_dir)


def test_the_letter_classifier_is_the_same_whatever_the_process_thread_count(monkeypatch):
    """Trained with one thread in any process, like the shape metric's classifier."""
    monkeypatch.setattr(classifier_module, "LETTER_RENDERS", 1)
    monkeypatch.setattr(classifier_module, "LETTER_BLANKS", 20)
    weights = {}
    for threads in (2, 1):
        torch.set_num_threads(threads)
        weights[threads] = classifier_module.train_letter_classifier(epochs=1).state_dict()
        assert torch.get_num_threads() == threads
    torch.set_num_threads(1)
    for key, value in weights[1].items():
        assert torch.equal(value, weights[2][key]), key
