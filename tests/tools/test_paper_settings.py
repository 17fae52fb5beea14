"""The papers' training settings live once, in the methods' settings (U-GAT-IT's and CUT's as the
defaults, CycleGAN's as CYCLEGAN_PAPER over them): the model configs for training and the
converter for imported checkpoints both start from there, so they cannot disagree."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from helpers import compose_train
from ugatit.tools.convert.cut import cut_hparams
from ugatit.tools.convert.cyclegan import cyclegan_hparams
from ugatit.tools.convert.ugatit_port import ugatit_hparams
from ugatit.training.contrastive import ContrastiveTranslation
from ugatit.training.cycle import CycleTranslation


def _converted(model: str) -> dict:
    """The hyper-parameters a converted official checkpoint of ``model`` is saved with."""
    if model == "ugatit":
        generator = {"_target_": "ugatit.nets.ugatit.UgatitGenerator", "ngf": 8, "light": True}
        discriminator = {"ndf": 8, "global_layers": 5, "local_layers": 3}
        return CycleTranslation(**ugatit_hparams(generator, discriminator)).hparams
    if model == "cyclegan":
        generator = {"_target_": "ugatit.nets.cyclegan.ResnetGenerator", "ngf": 8, "n_blocks": 2}
        return CycleTranslation(**cyclegan_hparams({**generator, "in_channels": 3})).hparams
    generator = {"_target_": "ugatit.nets.cut.CutGenerator", "ngf": 8, "n_blocks": 9}
    return ContrastiveTranslation(**cut_hparams({**generator, "out_channels": 3})).hparams


@pytest.mark.parametrize("model", ["ugatit", "cyclegan", "cut"])
def test_converted_checkpoints_train_as_the_model_configs_do(tmp_path, shapes_dir, model):
    cfg = compose_train(tmp_path, shapes_dir, [f"model={model}", "data=horse2zebra"])
    config = OmegaConf.to_container(cfg.model, resolve=True)
    converted = dict(_converted(model))
    for settings in (config, converted):
        for key in ("_target_", "_recursive_", "generator", "discriminator", "seed"):
            settings.pop(key, None)
    assert converted == config


def test_the_papers_differ_where_the_papers_say():
    cfg_ugatit, cfg_cyclegan = (dict(_converted(m)) for m in ("ugatit", "cyclegan"))
    assert (
        cfg_ugatit["loss"]["cam_weight"] == 1000.0 and cfg_ugatit["loss"]["identity_weight"] == 10
    )
    assert (
        cfg_cyclegan["loss"]["cam_weight"] == 0.0 and cfg_cyclegan["loss"]["identity_weight"] == 5
    )
    assert cfg_cyclegan["pool_size"] == 50 and cfg_cyclegan["update_order"] == "generator_first"
    assert cfg_ugatit["optimizer"]["lr"] == 1e-4 and cfg_cyclegan["optimizer"]["lr"] == 2e-4
