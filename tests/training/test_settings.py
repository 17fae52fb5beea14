"""Each setting lives once: a method's Settings dataclass holds its default, rule and doc, and
the model configs, the checks, the checkpoints and the docs come from there."""

from __future__ import annotations

import dataclasses

import pytest

from helpers import TINY_UGATIT_NETS, compose_train
from ugatit.errors import ConfigError
from ugatit.rules import WEIGHT
from ugatit.training.contrastive import ContrastiveSettings
from ugatit.training.cycle import CycleLoss, CycleSettings, CycleTranslation
from ugatit.training.settings import describe, section, setting, store_defaults


# Adding a loss weight: one setting() in the method's Loss class (default, rule, doc) ...
@dataclasses.dataclass(frozen=True)
class LossWithToy(CycleLoss):
    toy_weight: float = setting(0.0, WEIGHT, "a toy term (0: off)")


@dataclasses.dataclass(frozen=True)
class SettingsWithToy(CycleSettings):
    loss: LossWithToy = section(LossWithToy, "loss weights")


# ... and the line of the loss that uses it (w.toy_weight * term). Nothing else: the rest below
# comes from the dataclass.
def test_a_new_loss_weight_is_a_setting_the_command_line_the_checks_and_checkpoints_know(
    tmp_path, shapes_dir
):
    store_defaults("ugatit", SettingsWithToy())  # what editing CycleLoss itself would give
    try:
        cfg = compose_train(tmp_path, shapes_dir, ["model.loss.toy_weight=3"])
    finally:
        store_defaults("ugatit", CycleSettings())
    values = {k: v for k, v in cfg.model.items() if k not in ("generator", "discriminator")}
    values = {k: v for k, v in values.items() if not k.startswith("_")}
    parsed = SettingsWithToy.parse(values, "model")
    assert parsed.loss.toy_weight == 3 and parsed.loss.cycle_weight == 5.0  # quick start's 5
    assert parsed.to_config()["loss"]["toy_weight"] == 3  # saved with every checkpoint
    with pytest.raises(ConfigError, match=r"model\.loss\.toy_weight=-1 is invalid"):
        SettingsWithToy.parse({"loss": {"toy_weight": -1}}, "model")
    assert ("model.loss.toy_weight", 0.0) in [row[:2] for row in describe(SettingsWithToy())]


@pytest.mark.parametrize("settings", [CycleSettings(), ContrastiveSettings()])
def test_every_setting_has_a_rule_and_a_doc(settings):
    rows = describe(settings)
    assert len(rows) >= 20
    for key, _default, rule, doc in rows:
        assert rule and doc.strip(), key


def test_a_bad_value_and_an_unknown_key_are_named_with_the_valid_choices():
    with pytest.raises(ConfigError, match=r"model\.loss\.cycle_weight='abc' is invalid"):
        CycleSettings.parse({"loss": {"cycle_weight": "abc"}}, "model")
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) \['cycle_weigth'\] in model\.loss"):
        CycleSettings.parse({"loss": {"cycle_weigth": 5}}, "model")
    with pytest.raises(ConfigError, match="update_order='random' is invalid: it must be one of"):
        CycleSettings.parse({"update_order": "random"}, "model")
    with pytest.raises(ConfigError, match="max_iterations=N"):
        CycleSettings.parse({"schedule": {"max_iterations": None}}, "model")


def test_a_section_given_in_part_keeps_the_methods_own_defaults_for_the_rest():
    # CUT's learning rate is not U-GAT-IT's; a partial optimizer block keeps CUT's
    parsed = ContrastiveSettings.parse({"optimizer": {"betas": [0.9, 0.99]}}, "model")
    assert parsed.optimizer.lr == 2e-4 and parsed.optimizer.betas == (0.9, 0.99)
    assert CycleSettings.parse({"optimizer": {}}, "model").optimizer.lr == 1e-4


def test_hyper_parameters_written_before_the_settings_classes_still_build_the_model():
    # a checkpoint of the previous version: blocks without the keys added since (cycle_colour,
    # d_lr, max_epochs), which take their defaults
    old = {
        **TINY_UGATIT_NETS,
        "loss": {"gan_mode": "lsgan", "adv_weight": 1.0, "cycle_weight": 10.0},
        "optimizer": {"lr": 1e-4, "betas": [0.5, 0.999], "weight_decay": 1e-4},
        "schedule": {"max_iterations": 1000, "decay_start": 0.5},
        "pool_size": 0,
        "seed": 3,
        "update_order": "discriminator_first",
    }
    module = CycleTranslation(**old)
    assert module.settings.loss.cycle_colour is True and module.settings.optimizer.d_lr is None
    assert module.hparams["loss"]["identity_weight"] == 10.0  # now saved in full
    assert CycleTranslation(**module.hparams).settings == module.settings
