"""Training through the real Hydra configs (compose API) and through the command line."""

import os
import re
import shlex
import subprocess
import sys

import pytest
import torch

from helpers import FAST, ROOT, compose_config, compose_train
from ugatit.errors import ConfigError
from ugatit.training.pipeline import build, train


def test_the_quick_start_is_an_experiment_and_data_configs_leave_the_model_alone(
    tmp_path, shapes_dir
):
    cfg = compose_train(tmp_path, shapes_dir, [])  # experiment=quickstart
    assert cfg.data.name == "shapes" and cfg.model.generator.ngf == 16
    assert "shape_metric" in cfg.callbacks
    for data in ("shapes", "glyphs", "horse2zebra"):
        plain = compose_config("train", tmp_path, shapes_dir, [f"data={data}"])
        assert plain.model.generator.ngf == 64 and plain.model.discriminator.global_layers == 7
        assert "shape_metric" not in plain.callbacks
    # the paper's networks on 64-px data: one message naming the fix, before anything is built
    with pytest.raises(ConfigError, match=r"needs images of at least 96 px.*experiment=quickstart"):
        build(compose_config("train", tmp_path / "plain", shapes_dir, []))
    assert not (tmp_path / "plain" / "checkpoints").exists()


def test_a_few_iterations_leave_checkpoint_samples_and_metrics(tmp_path, shapes_dir):
    cfg = compose_train(tmp_path, shapes_dir, FAST)
    metrics = train(cfg)
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    samples = sorted((tmp_path / "samples").glob("iter_*.png"))
    assert [p.name for p in samples] == ["iter_0000002.png", "iter_0000004.png"]
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["iteration"] == 4
    assert "train/g_total" in metrics and "lr/generator" in metrics
    csv = (tmp_path / "csv" / "metrics.csv").read_text()
    assert "train/g_cycle" in csv.splitlines()[0]


@pytest.mark.parametrize("flush", [True, False])
def test_flush_denormal_setting_decides_cpu_arithmetic_on_denormals(tmp_path, shapes_dir, flush):
    """The quick start runs 1.9x faster late in training with denormals flushed (conf/train.yaml)."""
    torch.set_flush_denormal(False)
    denormal = torch.tensor([1e-39])
    assert denormal.item() != 0  # representable, below float32's smallest normal number
    torch.set_flush_denormal(not flush)  # the opposite of what the run asks for
    try:
        build(compose_train(tmp_path, shapes_dir, [*FAST, f"flush_denormal={flush}"]))
        assert ((denormal * 1.0).item() == 0) == flush
    finally:
        torch.set_flush_denormal(False)


def test_debug_fdr_runs_one_batch(tmp_path, shapes_dir):
    cfg = compose_train(tmp_path, shapes_dir, ["debug=fdr", "callbacks.progress_bar=null"])
    metrics = train(cfg)
    # one training batch and one validation batch ran; fast_dev_run writes no checkpoint
    assert metrics["train/iteration"] == 1.0
    assert "val/cycle_l1" in metrics
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("model", ["cyclegan_small", "ugatit_small"])
def test_models_train_through_the_same_loop(tmp_path, shapes_dir, model):
    cfg = compose_train(
        tmp_path, shapes_dir, [f"model={model}", *FAST, "model.schedule.max_iterations=2"]
    )
    metrics = train(cfg)
    assert metrics["train/iteration"] == 2.0
    assert ("train/g_cam" in metrics) == model.startswith("ugatit")


def test_command_line_entry_point(tmp_path, shapes_dir):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        str(ROOT / "src" / "train.py"),
        "experiment=quickstart",
        "model.schedule.max_iterations=4",
        "trainer.log_every_n_steps=2",
        "callbacks.progress_bar.min_interval_s=0",
        "data.val_samples=2",
        f"paths.log_dir={tmp_path}/logs",
        f"paths.data_dir={shapes_dir}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 1
    assert (runs[0] / ".hydra" / "config.yaml").exists()
    # what the run must have produced: a checkpoint at its last iteration, a sample grid, the
    # logged losses and the shape metric of the built-in data at the end
    checkpoint = torch.load(runs[0] / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["iteration"] == 4
    assert checkpoint["method"] == "ugatit.training.cycle.CycleTranslation"
    assert sorted((runs[0] / "samples").glob("*.png"))
    metrics = (runs[0] / "csv" / "metrics.csv").read_text()
    assert "train/g_total" in metrics and "val/shape_success_a2b" in metrics
    console = result.stdout + result.stderr
    assert "shape translation: A->B success" in console
    # progress in iterations of the whole run, not Lightning's epochs
    assert re.search(r"iteration 2/4 \(50%\) · [\d.]+ it/s · elapsed \d+:\d\d · ETA", console)
    assert "iteration 4/4 (100%)" in console and "Epoch" not in console
    # no library advertisement or known-harmless deprecation notice on a normal run
    assert "Tip:" not in console
    assert "LeafSpec" not in console
    # the summary names the real files, and its next commands run as printed
    summary = result.stdout[result.stdout.index("Training finished at iteration 4/4.") :]
    assert f"checkpoint:  {runs[0] / 'checkpoints' / 'last.ckpt'}" in summary
    assert f"samples:     {runs[0] / 'samples' / 'iter_0000004.png'}" in summary
    assert "last losses: d " in summary and "shape translation:" in summary
    commands = [line.strip() for line in summary.splitlines() if line.startswith("  python ")]
    assert [c.split()[1] for c in commands] == [
        "src/eval.py",
        "src/translate.py",
        "src/export.py",
        "src/train.py",
    ]
    for printed in commands[:3]:
        extra = ["max_images=4"] if "eval.py" in printed else []
        args = [sys.executable, *shlex.split(printed)[1:], *extra]
        ran = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
        assert ran.returncode == 0, f"{printed}\n{ran.stderr[-3000:]}"
    assert (runs[0] / "translated").is_dir() and (runs[0] / "generator_a2b.onnx").is_file()


def test_bad_data_folder_ends_in_one_clear_message(tmp_path, shapes_dir):
    command = [
        sys.executable,
        str(ROOT / "src" / "train.py"),
        "data=folder",
        f"data.root={tmp_path}/missing",
        "model=cyclegan_small",
        f"paths.log_dir={tmp_path}/logs",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "missing" in result.stderr and "trainA" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_folder_with_a_last_checkpoint_resumes_itself(tmp_path, shapes_dir):
    """A requeued job starts again in the same folder and must continue, not start over."""
    every_step = "trainer.log_every_n_steps=1"
    cfg = compose_train(
        tmp_path, shapes_dir, [*FAST, every_step, "model.schedule.max_iterations=2"]
    )
    train(cfg)
    cfg = compose_train(
        tmp_path, shapes_dir, [*FAST, every_step, "model.schedule.max_iterations=3"]
    )
    metrics = train(cfg)
    assert metrics["train/iteration"] == 3.0
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["iteration"] == 3
    # the first part's metrics are kept, not overwritten by the resumed part
    previous = (tmp_path / "csv" / "metrics.previous-1.csv").read_text()
    assert "train/g_total" in previous.splitlines()[0]
    assert (tmp_path / "csv" / "metrics.csv").exists()


def test_a_folder_data_set_without_its_root_ends_in_one_clear_message(tmp_path):
    """Raised inside Hydra's instantiate, the data module's own message reaches the user alone."""
    command = [
        sys.executable,
        str(ROOT / "src" / "train.py"),
        "data=folder",
        "model=cyclegan_small",
        f"paths.log_dir={tmp_path}/logs",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert (
        "Error: data.root is not set" in result.stderr
        and "data.root=/path/to/ROOT" in result.stderr
    )
    assert "Traceback" not in result.stderr and "Error in call to target" not in result.stderr
