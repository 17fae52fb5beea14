"""The papers' training settings are stated twice on purpose (the model configs for training, the
converter for imported checkpoints, which must not depend on a config folder); they must agree."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from helpers import compose_train
from ugatit.tools.convert.paper_settings import CUT_TRAINING, CYCLEGAN_TRAINING, UGATIT_TRAINING


@pytest.mark.parametrize(
    ("model", "settings"),
    [("ugatit", UGATIT_TRAINING), ("cyclegan", CYCLEGAN_TRAINING), ("cut", CUT_TRAINING)],
)
def test_converter_settings_equal_the_model_configs(tmp_path, shapes_dir, model, settings):
    cfg = compose_train(tmp_path, shapes_dir, [f"model={model}", "data=horse2zebra"])
    config = OmegaConf.to_container(cfg.model, resolve=True)
    for section, values in settings.items():
        if isinstance(values, dict):
            for key, value in values.items():
                assert config[section].get(key) == value, f"model.{section}.{key}"
        else:
            assert config[section] == values, f"model.{section}"
