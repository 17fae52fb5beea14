"""Mixed precision on the CPU (bf16) and the trainer configs for GPUs, DDP and precision."""

import os
from pathlib import Path

import pytest
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
