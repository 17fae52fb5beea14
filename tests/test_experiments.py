"""Every paper setting composes; every ablation builds and trains through the one loop."""

from pathlib import Path

import pytest

from helpers import CONF, FAST, compose_train
from ugatit.training.pipeline import train

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
ABLATIONS = [name for name in EXPERIMENTS if name.startswith("ablation_")]


def test_the_paper_rows_and_ablations_exist():
    for data in ("selfie2anime", "horse2zebra", "cat2dog", "photo2portrait", "vangogh2photo"):
        assert f"ugatit_{data}" in EXPERIMENTS and f"cyclegan_{data}" in EXPERIMENTS
    assert set(ABLATIONS) == {
        f"ablation_{n}" for n in ("in", "ln", "adain", "gn", "no_cam", "no_g_cam", "no_d_cam")
    }


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_with_the_paper_values(tmp_path, shapes_dir, name):
    cfg = compose_train(tmp_path, shapes_dir, [f"experiment={name}"])
    assert cfg.data.crop_size == 256 and cfg.data.batch_size == 1
    if name.startswith("cyclegan"):
        assert cfg.model.loss.identity_weight == 5.0 and cfg.model.optimizer.lr == 2e-4
    else:
        assert cfg.model.loss.cam_weight in (1000.0, 0.0) and cfg.model.optimizer.lr == 1e-4
        assert cfg.model.schedule.max_iterations == 1_000_000


EXPECTED = {
    "ablation_in": ("norm", "in"),
    "ablation_ln": ("norm", "ln"),
    "ablation_adain": ("norm", "adain"),
    "ablation_gn": ("norm", "gn"),
    "ablation_no_cam": ("use_cam", False),
    "ablation_no_g_cam": ("use_cam", False),
    "ablation_no_d_cam": ("norm", "adalin"),
}


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablation_trains_a_few_iterations(tmp_path, shapes_dir: Path, name):
    overrides = [
        f"experiment={name}",
        "data=shapes",
        "model=ugatit_small",
        "trainer=cpu",
        *FAST,
        "model.schedule.max_iterations=2",
        "model.generator.ngf=8",
        "model.discriminator.ndf=8",
    ]
    cfg = compose_train(tmp_path, shapes_dir, overrides)
    key, value = EXPECTED[name]
    assert cfg.model.generator[key] == value
    metrics = train(cfg)
    assert metrics["train/iteration"] == 2.0
    has_g_cam = cfg.model.generator.use_cam and cfg.model.loss.cam_weight > 0
    assert ("train/g_cam" in metrics) == bool(has_g_cam)
