"""The shape metric during training: logged keys, sweep objective, end-of-run summary."""

import logging

import pytest

from helpers import FAST, compose_train
from ugatit.training.pipeline import train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_training_on_shapes_logs_the_shape_metric(tmp_path, shapes_dir, shape_classifier, caplog):
    overrides = [o for o in FAST if "shape_metric" not in o] + [
        "model.schedule.max_iterations=2",
        "callbacks.shape_metric.every_n_iterations=1",
        "callbacks.shape_metric.max_images=6",
        "optimized_metric=val/shape_success_mean",
    ]
    cfg = compose_train(tmp_path, shapes_dir, overrides)
    with caplog.at_level(logging.INFO, logger="ugatit"):
        metrics = train(cfg)
    for direction in ("a2b", "b2a"):
        for key in ("success", "unchanged", "empty", "centroid_error", "size_ratio"):
            assert f"val/shape_{key}_{direction}" in metrics
    mean = (metrics["val/shape_success_a2b"] + metrics["val/shape_success_b2a"]) / 2
    assert metrics["val/shape_success_mean"] == pytest.approx(mean)
    csv = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "val/shape_success_a2b" in csv
    assert "Iteration 2, shape translation: A->B success" in caplog.text
