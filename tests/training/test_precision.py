"""Mixed precision on the CPU (bf16) and the trainer configs for GPUs, DDP and precision."""

import os
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from helpers import TINY_UGATIT_NETS, fit, tiny_module
from ugatit.nets.norms import standardise

CONF = Path(__file__).resolve().parents[2] / "conf"

TINY_UGATIT = {
    **TINY_UGATIT_NETS,
    "loss": {"cam_weight": 1000.0},
}


def test_bf16_mixed_trains_u_gat_it_on_the_cpu():
    module = tiny_module(**TINY_UGATIT, schedule={"max_iterations": 3})
    before = [p.detach().clone() for p in module.generator_ab.parameters()]
    trainer = fit(module, precision="bf16-mixed")
    assert module.iteration == 3 and module.skipped_steps == 0
    assert all(p.dtype == torch.float32 for p in module.parameters())  # master weights stay fp32
    assert any(
        not torch.equal(b, p) for b, p in zip(before, module.generator_ab.parameters(), strict=True)
    )
    for key in ("train/g_total", "train/g_cam", "train/d_total"):
        assert torch.isfinite(trainer.callback_metrics[key])


def test_norm_statistics_are_computed_in_float32_under_autocast():
    x = torch.randn(2, 8, 16, 16) * 50 + 300  # large mean: bf16 statistics would lose it
    reference = standardise(x, (2, 3), unbiased=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = standardise(x.bfloat16(), (2, 3), unbiased=False)
    assert mixed.dtype == torch.bfloat16
    # only the final rounding to bf16 differs (relative 2^-8), not the statistics
    torch.testing.assert_close(mixed.float(), reference, atol=0.05, rtol=0.01)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["trainer=gpu"], {"accelerator": "gpu", "devices": 1}),
        (["trainer=ddp"], {"strategy": "ddp", "devices": 4, "num_nodes": 1}),
        (["trainer=ddp_multinode", "trainer.num_nodes=4"], {"strategy": "ddp", "num_nodes": 4}),
        (["trainer=gpu", "trainer.precision=16-mixed"], {"precision": "16-mixed"}),
        (["trainer=ddp", "trainer.precision=bf16-mixed"], {"precision": "bf16-mixed"}),
    ],
)
def test_gpu_trainer_configs_compose(overrides, expected):
    os.environ.setdefault("PROJECT_ROOT", str(CONF.parent))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    for key, value in expected.items():
        assert cfg.trainer[key] == value
    assert cfg.trainer.use_distributed_sampler is False


class CountingScaler(torch.amp.GradScaler):
    """A real CPU gradient scaler that records which optimizer it stepped and how often it
    updated its scale."""

    def __init__(self) -> None:
        super().__init__("cpu", init_scale=2.0**10)
        self.stepped: list[int] = []
        self.updates = 0

    def step(self, optimizer, *args, **kwargs):
        self.stepped.append(id(optimizer))
        return super().step(optimizer, *args, **kwargs)

    def update(self, new_scale=None):
        self.updates += 1
        return super().update(new_scale)


def fit_16_mixed(module, scaler: CountingScaler):
    from pytorch_lightning.plugins.precision import MixedPrecision

    return fit(module, plugins=[MixedPrecision("16-mixed", "cpu", scaler)])


@pytest.mark.parametrize("fused", [False, True], ids=["foreach_adam", "fused_adam"])
def test_16_mixed_scaler_steps_and_updates_once_per_optimizer_per_iteration(monkeypatch, fused):
    """The manual steps go through Lightning's scaler: each optimizer is unscaled, stepped and
    the scale updated once per iteration. With fused Adam (what GPUs use) the scaler's own
    ``found_inf`` replaces the guard's, and the step still completes."""
    import ugatit.training.base as base

    monkeypatch.setattr(base, "_fused_adam_available", lambda params: fused)
    module = tiny_module(**TINY_UGATIT, schedule={"max_iterations": 3})
    scaler = CountingScaler()
    fit_16_mixed(module, scaler)
    optimizers = [getattr(o, "optimizer", o) for o in module._named_optimizers().values()]
    assert all(bool(o.defaults.get("fused")) == fused for o in optimizers)
    assert module.iteration == 3 and module.skipped_steps == 0
    assert scaler.updates == 3 * len(optimizers)
    assert sorted(scaler.stepped) == sorted([id(o) for o in optimizers] * 3)
    assert all(p.dtype == torch.float32 for p in module.parameters())
    assert all(torch.isfinite(p).all() for p in module.parameters())


class _FirstGradients(pl.Callback):
    """The largest gradient after each backward (still scaled: Lightning unscales at the step)."""

    def __init__(self) -> None:
        self.maxima: list[float] = []

    def on_after_backward(self, trainer, pl_module) -> None:
        grads = [p.grad.abs().max() for p in pl_module.parameters() if p.grad is not None]
        self.maxima.append(float(torch.stack(grads).max()))


def test_16_mixed_scales_each_part_of_a_parted_step():
    """With ``model.parallel_directions`` each half is back-propagated on its own; the scaler
    must scale both, as it scales the joint loss: the first gradients grow with the scale."""
    from pytorch_lightning.plugins.precision import MixedPrecision

    maxima = {}
    # small scales: the CAM weight of 1000 overflows float16 gradients at 2**10
    for scale in (1.0, 2.0**4):
        torch.manual_seed(0)
        module = tiny_module(
            **TINY_UGATIT, parallel_directions=True, schedule={"max_iterations": 1}
        )
        probe = _FirstGradients()
        scaler = torch.amp.GradScaler("cpu", init_scale=scale)
        fit(module, plugins=[MixedPrecision("16-mixed", "cpu", scaler)], callbacks=[probe])
        assert len(probe.maxima) == 2  # the discriminator and the generator step
        maxima[scale] = probe.maxima
    for before, after in zip(maxima[1.0], maxima[2.0**4], strict=True):
        assert after / before == pytest.approx(2.0**4, rel=1e-2)
