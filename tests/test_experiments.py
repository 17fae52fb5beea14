"""Every paper setting composes; every ablation builds and trains through the one loop."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from helpers import CONF, FAST, compose_train
from ugatit.training.pipeline import train

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
PAPER_ROWS = [name for name in EXPERIMENTS if name != "quickstart"]
ABLATIONS = sorted(p.stem for p in (CONF / "ablation").glob("*.yaml"))


def test_the_paper_rows_and_ablations_exist():
    for data in ("selfie2anime", "horse2zebra", "cat2dog", "photo2portrait", "vangogh2photo"):
        assert f"ugatit_{data}" in EXPERIMENTS and f"cyclegan_{data}" in EXPERIMENTS
    for data in ("horse2zebra", "cat2dog"):
        assert f"cut_{data}" in EXPERIMENTS and f"fastcut_{data}" in EXPERIMENTS
    assert set(ABLATIONS) == {"in", "ln", "adain", "gn", "no_cam", "no_g_cam", "no_d_cam"}


@pytest.mark.parametrize("name", PAPER_ROWS)
def test_experiment_composes_with_the_paper_values(tmp_path, shapes_dir, name):
    cfg = compose_train(tmp_path, shapes_dir, [f"experiment={name}"])
    assert cfg.data.crop_size == 256 and cfg.data.batch_size == 1
    if name.startswith("cyclegan"):
        assert cfg.model.loss.identity_weight == 5.0 and cfg.model.optimizer.lr == 2e-4
        assert cfg.model.update_order == "generator_first"
    elif name.startswith(("cut", "fastcut")):
        fast = name.startswith("fastcut")
        assert cfg.model.loss.nce_weight == (10.0 if fast else 1.0)
        assert cfg.model.loss.nce_identity is (not fast)
        assert cfg.model.loss.flip_equivariance is fast
        assert cfg.model.schedule.max_epochs == (200 if fast else 400)
        assert cfg.model.optimizer.lr == 2e-4 and cfg.model.nce.num_patches == 256
    else:
        assert cfg.model.loss.cam_weight == 1000.0 and cfg.model.optimizer.lr == 1e-4
        assert cfg.model.schedule.max_iterations == 1_000_000
        assert cfg.model.update_order == "discriminator_first"


EXPECTED = {  # what each ablation changes, and a setting it must leave as it was
    "in": {"generator.norm": "in", "discriminator.use_cam": True},
    "ln": {"generator.norm": "ln", "discriminator.use_cam": True},
    "adain": {"generator.norm": "adain", "discriminator.use_cam": True},
    "gn": {"generator.norm": "gn", "discriminator.use_cam": True},
    "no_cam": {"generator.use_cam": False, "discriminator.use_cam": False, "loss.cam_weight": 0.0},
    "no_g_cam": {"generator.use_cam": False, "discriminator.use_cam": True, "loss.cam_weight": 0.0},
    "no_d_cam": {
        "generator.use_cam": True,
        "discriminator.use_cam": False,
        "generator.norm": "adalin",
    },
}


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablation_composes_onto_the_paper_setting(tmp_path, shapes_dir, name):
    cfg = compose_train(
        tmp_path, shapes_dir, ["experiment=ugatit_selfie2anime", f"ablation={name}"]
    )
    for key, value in EXPECTED[name].items():
        assert OmegaConf.select(cfg.model, key) == value, key
    assert cfg.data.name == "selfie2anime" and cfg.model.generator.ngf == 64


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablation_trains_a_few_iterations(tmp_path, shapes_dir: Path, name):
    overrides = [
        f"ablation={name}",
        "model=ugatit_small",
        "trainer=cpu",
        *FAST,
        "model.schedule.max_iterations=2",
        "model.generator.ngf=8",
        "model.discriminator.ndf=8",
    ]
    cfg = compose_train(tmp_path, shapes_dir, overrides)
    for key, value in EXPECTED[name].items():
        assert OmegaConf.select(cfg.model, key) == value, key
    metrics = train(cfg)
    assert metrics["train/iteration"] == 2.0
    has_g_cam = cfg.model.generator.use_cam and cfg.model.loss.cam_weight > 0
    assert ("train/g_cam" in metrics) == bool(has_g_cam)
