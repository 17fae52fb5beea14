"""Benchmark: the reference ordering trains identically, does the extra work, and the script
prints one JSON line with both variants."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from helpers import TINY_CYCLEGAN, TINY_UGATIT_NETS, FixedPairsDataModule, fit
from ugatit.errors import ConfigError
from ugatit.tools.benchmark import (
    BenchmarkSettings,
    ReferenceOrderModule,
    plain_official_loop,
    run_benchmark,
    run_variant,
)
from ugatit.training.cycle import CycleTranslation

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[2]


TINY_UGATIT = {
    **TINY_UGATIT_NETS,
    "pool_size": 0,
}
MODELS = {"ugatit": TINY_UGATIT, "cyclegan": TINY_CYCLEGAN}
LOSS_KEYS = (
    "train/d_a",
    "train/d_b",
    "train/d_total",
    "train/g_adv",
    "train/g_cycle",
    "train/g_identity",
    "train/g_total",
)


def build(cls, config, iterations=1):
    torch.manual_seed(0)
    return cls(**config, schedule={"max_iterations": iterations})


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_order_gives_the_same_losses_and_weights_after_one_iteration(name):
    # one call per pass in both (batching is checked in tests/training/test_batched_step.py):
    # Adam turns the rounding noise of zero gradients into full-size steps
    unbatched = {"batch_generator_calls": False, "batch_discriminator_calls": False}
    ours = build(CycleTranslation, {**MODELS[name], **unbatched})
    reference = build(ReferenceOrderModule, MODELS[name])
    for p, q in zip(ours.parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q)  # same initial weights

    data = FixedPairsDataModule(n=2, size=32)
    ours_metrics = fit(ours, data).callback_metrics
    reference_metrics = fit(reference, data).callback_metrics
    keys = LOSS_KEYS + (("train/g_cam",) if name == "ugatit" else ())
    for key in keys:
        assert torch.allclose(ours_metrics[key], reference_metrics[key], rtol=1e-5), key
    # ... and the same update: both orderings are the same training
    moved = 0
    for (n, p), q, p0 in zip(
        ours.named_parameters(),
        reference.parameters(),
        build(CycleTranslation, MODELS[name]).parameters(),
        strict=True,
    ):
        assert torch.allclose(p, q, atol=1e-6), n
        moved += not torch.equal(p, p0)
    assert moved > 0


class Counter:
    """Counts generator forward passes and backward passes that reach a generator weight."""

    def __init__(self, module):
        self.forwards = self.backwards = 0
        for generator in (module.generator_ab, module.generator_ba):
            generator.register_forward_hook(self._forward)
        first_weight = next(module.generator_ab.parameters())
        first_weight.register_hook(self._backward)

    def _forward(self, *args):
        self.forwards += 1

    def _backward(self, grad):
        self.backwards += 1


def test_reference_runs_the_generators_again_and_backpropagates_the_d_loss_into_them():
    counts = {}
    for cls in (CycleTranslation, ReferenceOrderModule):
        module = build(cls, TINY_UGATIT)
        counter = Counter(module)
        fit(module, FixedPairsDataModule(n=2, size=32), limit_val_batches=0)
        counts[cls] = (counter.forwards, counter.backwards)
    # ours: 2 translations + per generator its reconstruction and identity in one batched call;
    # the reference (one call per pass, as the official code): 2 translations + 2 + 2 + 2 more
    assert counts[CycleTranslation] == (4, 1)  # only the G loss reaches generator weights
    assert counts[ReferenceOrderModule] == (8, 2)  # the D loss does too (fakes not detached)


def test_a_variant_on_a_configured_data_module_counts_images_per_batch():
    spec = {
        "model": {
            "_target_": "ugatit.training.cycle.CycleTranslation",
            "_recursive_": False,
            **TINY_UGATIT,
            "schedule": {"max_iterations": 1000},
        },
        "data": {"_target_": "helpers.FixedPairsDataModule", "n": 8, "size": 32, "batch_size": 1},
        "trainer": {"_target_": "pytorch_lightning.Trainer", "accelerator": "cpu", "devices": 1},
        "seed": 3,
        "benchmark": {
            "iterations": 2,
            "warmup": 1,
            "data": "builtin",
            "batch_size": 2,
            "threads": 1,
        },
    }
    result = run_variant(spec, "reference")
    assert result["device"] == "cpu" and result["batch_size"] == 2 and result["threads"] == 1
    assert result["it_per_s"] > 0
    assert result["img_per_s"] == pytest.approx(2 * result["it_per_s"])
    assert result["seconds"] == pytest.approx(2 / result["it_per_s"])
    assert result["peak_mem_mb"] is None or result["peak_mem_mb"] >= 0


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"iterations": 0}, "benchmark.iterations"),
        ({"warmup": -1}, "benchmark.warmup"),
        ({"data": "disk"}, "benchmark.data"),
        ({"batch_size": 0}, "benchmark.batch_size"),
        ({"threads": 0}, "benchmark.threads"),
        ({"iters": 3}, "iters"),
    ],
)
def test_bad_settings_name_the_key(values, key):
    with pytest.raises(ConfigError, match=key):
        BenchmarkSettings.from_config(values)


def test_script_prints_one_json_line_with_every_variant(tmp_path):
    command = [
        sys.executable,
        str(ROOT / "src" / "benchmark.py"),
        "model=ugatit_small",
        "benchmark.iterations=2",
        "benchmark.warmup=1",
        "benchmark.threads=1",
        "model.generator.ngf=8",
        "model.generator.n_res=1",
        "model.discriminator.ndf=8",
        f"paths.log_dir={tmp_path}/logs",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    summary = json.loads(lines[0])
    assert summary["model"] == "ugatit_small" and summary["device"] == "cpu"
    assert (summary["image_size"], summary["batch_size"], summary["iterations"]) == (64, 1, 2)
    assert summary["cpu_threads"] == 1
    for variant in ("ours", "reference", "plain"):
        stats = summary[variant]
        assert stats["it_per_s"] > 0 and stats["img_per_s"] == pytest.approx(stats["it_per_s"])
        assert stats["peak_mem_mb"] > 0
    ratio = summary["ours"]["it_per_s"] / summary["reference"]["it_per_s"]
    assert summary["speedup"] == pytest.approx(ratio) and summary["speedup"] > 0
    mem = summary["ours"]["peak_mem_mb"] / summary["reference"]["peak_mem_mb"]
    assert summary["mem_ratio"] == pytest.approx(mem) and summary["mem_ratio"] > 0
    plain = summary["ours"]["it_per_s"] / summary["plain"]["it_per_s"]
    assert summary["speedup_vs_plain"] == pytest.approx(plain)
    saved = list((tmp_path / "logs" / "benchmark" / "runs").glob("*/benchmark.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text()) == summary


def compose_benchmark(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("benchmark", overrides=overrides)


def test_config_composes_the_training_groups_and_refuses_the_paper_model_at_64_px():
    cfg = compose_benchmark(["model=ugatit_small"])
    assert cfg.model.generator.ngf == 16 and cfg.model.generator.light
    assert cfg.data.name == "shapes" and cfg.trainer.accelerator == "cpu"
    assert dict(cfg.benchmark) == {
        "iterations": 20,
        "warmup": 3,
        "data": "random",
        "batch_size": None,
        "threads": None,
    }
    # the defaults: the paper's U-GAT-IT on the built-in 64-px data, stopped before any run
    with pytest.raises(ConfigError, match=r"needs images of at least 96 px"):
        run_benchmark(compose_benchmark([]))


def test_several_devices_are_refused_before_anything_runs():
    cfg = compose_benchmark(["trainer=ddp"])
    with pytest.raises(ConfigError, match="trainer.devices=4"):
        run_benchmark(cfg)


def test_the_plain_loop_trains_the_networks_in_the_official_order():
    """The plain yardstick is a real training loop: the weights move, rho stays clipped, and
    it counts its timed iterations only."""
    module = build(ReferenceOrderModule, TINY_UGATIT, iterations=4)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    datamodule = FixedPairsDataModule(n=2, size=32)
    datamodule.setup("fit")
    seconds, peak = plain_official_loop(
        module, datamodule.train_dataloader(), 1, 3, torch.device("cpu")
    )
    assert seconds > 0 and peak is None
    moved = [n for n, p in module.named_parameters() if not torch.equal(p, before[n])]
    assert any(n.startswith("generator_ab") for n in moved)
    assert any(n.startswith("discriminator_b") for n in moved)
    rho = [p for n, p in module.named_parameters() if n.endswith("rho")]
    assert rho and all(((r >= 0) & (r <= 1)).all() for r in rho)
