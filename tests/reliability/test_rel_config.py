"""Bad config values stop a run when it is composed, in one message naming key, value and rule.

Each case composes the real train/eval/translate config with one bad override and checks that the
message names the key and what is allowed, and that nothing was built or written before it.
"""

from __future__ import annotations

import math
from pathlib import Path

import hydra
import pytest
import torch

from helpers import compose_config, compose_train, tiny_module
from ugatit.config_checks import check_train_config
from ugatit.errors import ConfigError
from ugatit.training.pipeline import build


@pytest.fixture
def nothing_built(monkeypatch):
    """Fails the test if the pipeline gets as far as instantiating any object."""

    def refuse(*args, **kwargs):
        raise AssertionError("an object was built before the config was checked")

    monkeypatch.setattr(hydra.utils, "instantiate", refuse)


def refused(tmp_path: Path, overrides: list[str]) -> str:
    cfg = compose_train(tmp_path / "run", tmp_path / "data", overrides)
    with pytest.raises(ConfigError) as info:
        build(cfg)
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()
    return str(info.value)


def test_rel_nan_loss_weight_is_refused(tmp_path, nothing_built):
    """BAD 5: nan > 0 is false, so a NaN weight used to drop its loss term silently."""
    message = refused(tmp_path, ["model.loss.cycle_weight=nan"])
    assert message == ("model.loss.cycle_weight=nan is invalid: it must be a finite number >= 0.")


def test_rel_nan_in_the_module_settings_is_refused_too():
    """The typed settings refuse NaN themselves (a module built without the composed check)."""
    with pytest.raises(ConfigError, match=r"model\.loss\.identity_weight=nan is invalid"):
        tiny_module(loss={"identity_weight": math.nan})
    with pytest.raises(ConfigError, match=r"model\.optimizer\.lr=nan is invalid.*> 0"):
        tiny_module(optimizer={"lr": math.nan})
    with pytest.raises(ConfigError, match=r"model\.optimizer\.d_lr=inf is invalid"):
        tiny_module(optimizer={"d_lr": math.inf})


def test_rel_non_numeric_weight_names_the_key(tmp_path, nothing_built):
    message = refused(tmp_path, ["model.loss.cycle_weight=abc"])
    assert message == ("model.loss.cycle_weight='abc' is invalid: it must be a finite number >= 0.")


def test_rel_crop_size_not_a_multiple_of_4_is_refused_up_front(tmp_path, nothing_built):
    message = refused(tmp_path, ["data.crop_size=30", "data.load_size=36"])
    assert message.startswith(
        "data.crop_size=30 is invalid: it must be an integer >= 8 and a multiple of 4"
    )
    assert "downsample twice" in message


def test_rel_gpu_trainer_without_a_gpu_suggests_cpu(tmp_path, monkeypatch, nothing_built):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    message = refused(tmp_path, ["trainer=gpu"])
    assert message.startswith("trainer.accelerator='gpu' asks for a GPU")
    assert "trainer=cpu" in message


def test_rel_gpu_trainer_with_a_gpu_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_train_config(compose_train(tmp_path, tmp_path, ["trainer=gpu"]))


@pytest.mark.parametrize(
    "override, expected",
    [
        (
            "model.optimizer.lr=0",
            "model.optimizer.lr=0 is invalid: it must be a finite number > 0.",
        ),
        ("model.optimizer.lr=-inf", "model.optimizer.lr=-inf is invalid"),
        (
            "model.optimizer.betas=[0.5,1.0]",
            "model.optimizer.betas[1]=1.0 is invalid: it must be a finite number in [0, 1).",
        ),
        ("model.optimizer.betas=[0.5]", "model.optimizer.betas=[0.5] is invalid: it must be two"),
        (
            "model.schedule.decay_start=1.5",
            "model.schedule.decay_start=1.5 is invalid: it must be a finite number in [0, 1].",
        ),
        ("model.schedule.max_iterations=2.5", "model.schedule.max_iterations=2.5 is invalid"),
        ("data.batch_size=0", "data.batch_size=0 is invalid: it must be an integer >= 1."),
        ("data.num_workers=-1", "data.num_workers=-1 is invalid: it must be an integer >= 0."),
        ("data.val_samples=two", "data.val_samples='two' is invalid"),
        ("data.check_images=no", "data.check_images='no' is invalid: it must be true or false."),
        ("data.load_size=60", "data.crop_size=64 is larger than data.load_size=60"),
        ("trainer.devices=0", "trainer.devices=0 is invalid: it must be a number of devices"),
        (
            "callbacks.last_checkpoint.every_n_iterations=0",
            "callbacks.last_checkpoint.every_n_iterations=0 is invalid",
        ),
        ("seed=-3", "seed=-3 is invalid: it must be an integer in [0, 4294967295], or null."),
    ],
)
def test_rel_every_checked_key_names_itself(tmp_path, nothing_built, override, expected):
    assert expected in refused(tmp_path, [override])


def test_rel_the_shipped_configs_pass_the_checks(tmp_path, monkeypatch):
    """No false alarms: the defaults and a paper experiment compose and pass."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for overrides in ([], ["experiment=ugatit_horse2zebra"], ["model=cyclegan", "trainer=ddp"]):
        check_train_config(compose_train(tmp_path, tmp_path, overrides))


def test_rel_translate_and_eval_check_their_own_keys_first(tmp_path):
    """A bad option stops them before the (missing) checkpoint is even looked at."""
    from ugatit.evaluation.evaluate import evaluate
    from ugatit.inference.translation import translate

    missing = f"ckpt_path={tmp_path}/none.ckpt"
    cfg = compose_config("translate", tmp_path, tmp_path, [missing, "input=x", "batch_size=abc"])
    with pytest.raises(ConfigError, match=r"^batch_size='abc' is invalid: it must be an integer"):
        translate(cfg)
    cfg = compose_config("translate", tmp_path, tmp_path, [missing, "input=x", "overwrite=yes"])
    with pytest.raises(ConfigError, match=r"^overwrite='yes' is invalid: it must be true or false"):
        translate(cfg)
    cfg = compose_config("eval", tmp_path, tmp_path, [missing, "kid_subsets=0"])
    with pytest.raises(ConfigError, match=r"^kid_subsets=0 is invalid: it must be an integer >= 1"):
        evaluate(cfg)
    cfg = compose_config("eval", tmp_path, tmp_path, [missing, "max_images=1"])
    with pytest.raises(ConfigError, match=r"^max_images=1 is invalid: it must be an integer >= 2"):
        evaluate(cfg)
