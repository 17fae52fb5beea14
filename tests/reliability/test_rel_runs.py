"""Runs stopped from outside, reruns in a used run folder, errors in the middle of training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import open_dict

from helpers import FAST, ROOT, compose_train
from ugatit.training.pipeline import train
from ugatit.training.run_folder import differing_keys

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "experiment=quickstart",
    "model.generator.ngf=4",
    "model.generator.n_res=1",
    "model.discriminator.ndf=4",
    "data.val_samples=2",
    "callbacks.progress_bar=null",
    "callbacks.sample_grid.every_n_iterations=1000",
]


def train_command(run_dir: Path, data_dir: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "src" / "train.py"),
        *TINY,
        f"hydra.run.dir={run_dir}",
        f"paths.data_dir={data_dir}",
        *overrides,
    ]


def run_cli(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def saved_iteration(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["iteration"])


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_saves_last_ckpt_and_exits_non_zero(tmp_path, shapes_dir, signum, status):
    run_dir = tmp_path / "run"
    command = train_command(
        run_dir,
        shapes_dir,
        "model.schedule.max_iterations=100000",
        "callbacks.last_checkpoint.every_n_iterations=100000",
        "callbacks.training_monitor.every_n_iterations=1",
        "trainer.log_every_n_steps=1",
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    metrics = run_dir / "csv" / "metrics.csv"
    deadline = time.monotonic() + 120
    # wait until a few iterations have been logged, then stop the run from outside
    while time.monotonic() < deadline and process.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 4:
            break
        time.sleep(0.2)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    stderr = stderr.decode()
    assert process.returncode == status, stderr[-2000:]
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file()
    iteration = saved_iteration(checkpoint)
    assert iteration >= 1
    name = signal.Signals(signum).name
    assert f"Training was stopped by {name} at iteration {iteration}" in stderr
    assert f"ckpt_path={checkpoint}" in stderr
    assert "Traceback" not in stderr


def test_a_rerun_with_another_config_is_refused_and_the_same_one_does_nothing(tmp_path, shapes_dir):
    run_dir = tmp_path / "run"
    first = run_cli(train_command(run_dir, shapes_dir, "model.schedule.max_iterations=2"))
    assert first.returncode == 0, first.stderr[-2000:]
    saved = run_dir / ".hydra" / "config.yaml"
    config_before = saved.read_text()
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    assert saved_iteration(checkpoint) == 2

    changed = run_cli(
        train_command(
            run_dir, shapes_dir, "model.schedule.max_iterations=2", "model.loss.cycle_weight=7"
        )
    )
    assert changed.returncode == 1
    assert "model.loss.cycle_weight: 5.0 -> 7" in changed.stderr
    assert "resume=force" in changed.stderr and "Traceback" not in changed.stderr
    assert saved.read_text() == config_before  # the run's own record is untouched
    assert saved_iteration(checkpoint) == 2

    again = run_cli(train_command(run_dir, shapes_dir, "model.schedule.max_iterations=2"))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "nothing to train" in again.stderr + again.stdout
    assert saved_iteration(checkpoint) == 2  # no iteration past the end of the schedule

    forced = run_cli(
        train_command(run_dir, shapes_dir, "model.schedule.max_iterations=3", "resume=force")
    )
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert saved_iteration(checkpoint) == 3
    assert (run_dir / ".hydra" / "config.previous-1.yaml").read_text() == config_before


class RaiseAt(pl.Callback):
    """Fails the run when a batch of the given iteration is about to start."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.iteration == self.iteration:
            raise RuntimeError("a failure in the middle of training")


def test_an_error_inside_training_saves_last_ckpt_before_it_propagates(tmp_path, shapes_dir):
    cfg = compose_train(
        tmp_path,
        shapes_dir,
        [*FAST, "model.schedule.max_iterations=10", "callbacks.sample_grid.every_n_iterations=100"],
    )
    with open_dict(cfg):
        cfg.callbacks.raise_at = {"_target_": f"{__name__}.RaiseAt", "iteration": 3}
    with pytest.raises(RuntimeError, match="a failure in the middle of training"):
        train(cfg)
    assert saved_iteration(tmp_path / "checkpoints" / "last.ckpt") == 3


def test_a_group_set_to_null_is_named_as_such_in_the_refusal():
    old = {"callbacks": {"shape_metric": {"every_n_iterations": 200}}, "seed": 1}
    new = {"callbacks": {"shape_metric": None}, "seed": 1, "ckpt_path": "x.ckpt"}
    shown = [f"{k}: {a!r} -> {b!r}" for k, a, b in differing_keys(old, new)]
    assert shown == [
        "callbacks.shape_metric: (absent) -> None",
        "callbacks.shape_metric.every_n_iterations: 200 -> (absent)",
    ]
