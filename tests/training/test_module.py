import copy

import pytest
import torch
from torch import nn

from helpers import FixedPairsDataModule, fit, tiny_module
from ugatit.errors import ConfigError
from ugatit.nets.cyclegan import ResnetGenerator
from ugatit.registry import register_network, rules_of
from ugatit.training.cycle import Side


def parameters(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


def test_one_iteration_updates_every_network_and_counts_iterations():
    module = tiny_module(schedule={"max_iterations": 3})
    before = {
        name: parameters(getattr(module, name))
        for name in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")
    }
    trainer = fit(module)
    for name, params in before.items():
        assert changed(params, getattr(module, name)), name
    assert module.iteration == 3
    assert trainer.global_step == 6  # Lightning counts both optimizer steps
    logged = trainer.callback_metrics
    for key in (
        "train/g_adv",
        "train/g_cycle",
        "train/g_identity",
        "train/d_a",
        "train/d_b",
        "lr/generator",
    ):
        assert key in logged
    assert "train/g_cam" not in logged  # CycleGAN has no CAM logits: the term is skipped


def test_zero_weight_terms_are_skipped():
    module = tiny_module(loss={"identity_weight": 0.0, "cycle_weight": 0.0})
    trainer = fit(module)
    assert "train/g_identity" not in trainer.callback_metrics
    assert "train/g_cycle" not in trainer.callback_metrics
    assert "train/g_adv" in trainer.callback_metrics


def test_generator_loss_matches_a_direct_computation():
    torch.manual_seed(0)
    module = tiny_module()
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    fake_b, fake_a = module.generator_ab(a), module.generator_ba(b)
    total, terms = module.generator_loss([Side("a", a, fake_b), Side("b", b, fake_a)])
    gab, gba, da, db = (
        module.generator_ab,
        module.generator_ba,
        module.discriminator_a,
        module.discriminator_b,
    )
    adv = ((da(fake_a.image)[0].patch_logit - 1) ** 2).mean() + (
        (db(fake_b.image)[0].patch_logit - 1) ** 2
    ).mean()
    cycle = (gba(fake_b.image).image - a).abs().mean() + (gab(fake_a.image).image - b).abs().mean()
    identity = (gba(a).image - a).abs().mean() + (gab(b).image - b).abs().mean()
    assert torch.allclose(terms["g_adv"], adv)
    assert torch.allclose(terms["g_cycle"], cycle)
    assert torch.allclose(total, adv + 10 * cycle + 5 * identity)


def test_discriminator_step_does_not_touch_generator_gradients():
    module = tiny_module(pool_size=0)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    d_loss, _ = module._discriminator_step(module.forward_pass(a, b))
    d_loss.backward()
    assert all(p.grad is None for p in module.generator_ab.parameters())
    assert any(p.grad is not None for p in module.discriminator_b.parameters())


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
    module = tiny_module(schedule={"max_iterations": 8, "decay_start": 0.5})

    trainer = fit(module, FixedPairsDataModule(n=8))
    # replay the schedule function that the LambdaLR used
    lrs = [module.lr_factor(i) for i in range(9)]
    assert lrs[:5] == [1.0] * 5
    assert lrs[5:] == pytest.approx([0.75, 0.5, 0.25, 0.0])
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0)


def test_schedule_in_epochs_counts_batches():
    module = tiny_module(schedule={"max_iterations": None, "max_epochs": 2})
    fit(module, FixedPairsDataModule(n=3))
    assert module.iteration == 6


@register_network(**rules_of(ResnetGenerator))
class CountingGenerator(ResnetGenerator):
    calls = 0

    def after_optimizer_step(self) -> None:
        CountingGenerator.calls += 1


def test_generator_post_step_hook_runs_after_every_generator_step():
    CountingGenerator.calls = 0
    module = tiny_module(
        generator={"_target_": f"{__name__}.CountingGenerator", "ngf": 8, "n_blocks": 1},
        schedule={"max_iterations": 3},
    )
    fit(module)
    assert CountingGenerator.calls == 6  # two generators, three iterations


def test_unknown_or_bad_config_keys_fail_clearly():
    with pytest.raises(ConfigError, match="cycle_wieght"):
        tiny_module(loss={"cycle_wieght": 3.0})
    with pytest.raises(ConfigError, match="gan_mode"):
        tiny_module(loss={"gan_mode": "wgan"})
    with pytest.raises(ConfigError, match="max_iterations"):
        tiny_module(schedule={"max_iterations": None, "max_epochs": None})


def test_cycle_and_identity_losses_fall_on_a_tiny_overfit_run():
    torch.manual_seed(0)
    module = tiny_module(schedule={"max_iterations": 60}, optimizer={"lr": 2e-3})
    data = FixedPairsDataModule(n=2, size=32)
    data.setup()
    batch = next(iter(data.train_dataloader()))

    def errors():
        module.eval()
        with torch.no_grad():
            out = module.translate_all(batch["a"], batch["b"])
        module.train()
        cycle = (out["rec_a"] - batch["a"]).abs().mean() + (out["rec_b"] - batch["b"]).abs().mean()
        identity = (out["id_a"] - batch["a"]).abs().mean() + (out["id_b"] - batch["b"]).abs().mean()
        return cycle.item(), identity.item()

    cycle_start, identity_start = errors()
    fit(module, data, check_val_every_n_epoch=1000)
    cycle_end, identity_end = errors()
    assert cycle_end < 0.8 * cycle_start
    assert identity_end < 0.8 * identity_start


def test_checkpoint_carries_iteration_and_image_pools(tmp_path):
    module = tiny_module(schedule={"max_iterations": 3})
    trainer = fit(module)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["iteration"] == 3
    assert len(checkpoint["image_pools"]["a"]["images"]) == 3
    restored = type(module).load_from_checkpoint(path)
    assert restored.iteration == 3
    assert len(restored.pool_a.images) == 3
    for p, q in zip(module.parameters(), restored.parameters(), strict=True):
        assert torch.equal(p, q)
    assert copy.deepcopy(restored.hparams)["generator"]["ngf"] == 8


def test_channels_last_option_trains_and_keeps_checkpoint_keys(tmp_path):
    module = tiny_module(channels_last=True, schedule={"max_iterations": 2})
    keys = set(module.state_dict())
    trainer = fit(module)
    assert module.generator_ab.model[1].weight.is_contiguous(memory_format=torch.channels_last)
    trainer.save_checkpoint(tmp_path / "c.ckpt")
    assert set(torch.load(tmp_path / "c.ckpt", weights_only=False)["state_dict"]) == keys


def test_compile_option_compiles_every_network_in_place(monkeypatch):
    compiled = []
    monkeypatch.setattr(
        nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__)
    )
    module = tiny_module(compile=True, schedule={"max_iterations": 1})
    fit(module)
    assert sorted(compiled) == sorted(["ResnetGenerator"] * 2 + ["PatchGANDiscriminator"] * 2)


@pytest.mark.slow
def test_compiled_training_runs_for_real():
    module = tiny_module(compile=True, schedule={"max_iterations": 2})
    fit(module)
    assert module.iteration == 2
