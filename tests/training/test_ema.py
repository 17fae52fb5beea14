"""The generators' weight average (model.ema_decay): updated after every generator step, used for
every translation the module returns, saved and restored with the checkpoint."""

import copy

import pytest
import torch

from helpers import fit, tiny_module
from ugatit.errors import ConfigError
from ugatit.inference.translation import load_checkpoint


def test_average_follows_the_lerp_rule_after_each_generator_step():
    module = tiny_module(ema_decay=0.5, schedule={"max_iterations": 2})
    fit(module)  # the first iterations: the warm-up decay (1 + i) / (10 + i) is below 0.5
    live_before = [p.detach().clone() for p in module.generator_ab.parameters()]
    ema_before = [p.detach().clone() for p in module.generator_ab_ema.parameters()]
    for p in module.generator_ab.parameters():  # a fake generator step
        p.data.add_(0.1)
    module.iteration = 100  # warm-up over: the configured decay applies
    module._update_weight_averages()
    for live, old, new in zip(
        live_before, ema_before, module.generator_ab_ema.parameters(), strict=True
    ):
        expected = 0.5 * old + 0.5 * (live + 0.1)
        torch.testing.assert_close(new, expected)


def test_average_differs_from_live_weights_and_is_what_forward_uses():
    torch.manual_seed(0)
    module = tiny_module(ema_decay=0.9, schedule={"max_iterations": 3})
    fit(module)
    live = list(module.generator_ab.parameters())
    ema = list(module.generator_ab_ema.parameters())
    assert not any(p.requires_grad for p in ema)
    assert any(not torch.equal(a, b) for a, b in zip(live, ema, strict=True))
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(module(image, "a2b").image, module.generator_ab_ema(image).image)
        assert not torch.allclose(module(image, "a2b").image, module.generator_ab(image).image)
        outputs = module.translate_all(image, image)
        torch.testing.assert_close(outputs["fake_a"], module.generator_ba_ema(image).image)


def test_without_average_forward_uses_the_live_generators():
    module = tiny_module()
    assert module.generator_ab_ema is None
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(module(image, "b2a").image, module.generator_ba(image).image)


def test_average_is_saved_and_loaded_for_translation(tmp_path):
    module = tiny_module(ema_decay=0.9, schedule={"max_iterations": 3})
    trainer = fit(module)
    path = tmp_path / "ema.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_checkpoint(path)
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    module.eval()
    with torch.no_grad():
        expected = module.generator_ab_ema(image).image
        torch.testing.assert_close(loaded.module(image, "a2b").image, expected)
    saved = copy.deepcopy(loaded.module.generator_ab_ema.state_dict())
    for name, value in module.generator_ab_ema.state_dict().items():
        torch.testing.assert_close(saved[name], value)


@pytest.mark.parametrize("decay", [1.0, -0.1, float("nan"), "abc"])
def test_bad_decay_is_refused_with_the_key(decay):
    with pytest.raises(ConfigError, match="model.ema_decay"):
        tiny_module(ema_decay=decay)


def test_checkpoint_without_average_continues_with_one_and_back(tmp_path):
    """ckpt_path from a run without EMA into a config with it: the average starts from the
    checkpoint's generators; the other way round it is dropped."""
    # the schedules run to 10 iterations (a finished schedule leaves the learning rate at 0);
    # max_steps counts both optimizer steps: 4 = two iterations
    plain = tiny_module(schedule={"max_iterations": 10})
    trainer = fit(plain, max_steps=4)
    path = tmp_path / "plain.ckpt"
    trainer.save_checkpoint(path)

    averaged = tiny_module(ema_decay=0.9, schedule={"max_iterations": 10})
    fit(averaged, ckpt_path=path, max_steps=6)
    assert averaged.iteration == 3
    # one EMA update (iteration 2 -> 3) from the loaded live weights toward the new ones
    assert any(
        not torch.equal(a, b)
        for a, b in zip(
            averaged.generator_ab_ema.parameters(), plain.generator_ab.parameters(), strict=True
        )
    )

    checkpoint = torch.load(path, weights_only=True)
    fresh = tiny_module(ema_decay=0.9)
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])
    for a, b in zip(
        fresh.generator_ba_ema.parameters(), plain.generator_ba.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b)

    path_avg = tmp_path / "avg.ckpt"
    fit_trainer = fit(tiny_module(ema_decay=0.9, schedule={"max_iterations": 1}))
    fit_trainer.save_checkpoint(path_avg)
    without = tiny_module(schedule={"max_iterations": 2})
    fit(without, ckpt_path=path_avg)
    assert without.iteration == 2 and without.generator_ab_ema is None
