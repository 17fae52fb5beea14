"""One training per run folder: a second process is refused naming the holder, a lock left by a
dead process is taken over with a note, the ranks of one DDP run share it, and a run folder
that cannot be written is one message."""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, compose_train
from ugatit import atomic
from ugatit.training.run_folder import RunFolderGuard
from ugatit.training.run_lock import RunFolderBusy, hold_run_folder, release_run_folder

HOLDER = """
import sys, time
from ugatit.training.run_lock import hold_run_folder
hold_run_folder(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def held(tmp_path):
    """A live process holding ``tmp_path/run`` as a training would; killed (-9) at the end."""
    folder = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    yield folder, process
    if process.poll() is None:
        process.kill()
    process.wait()
    process.stdout.close()


def test_a_second_training_into_a_held_folder_is_refused(held, shapes_dir):
    folder, holder = held
    command = [sys.executable, str(ROOT / "src" / "train.py"), "experiment=quickstart"]
    command += [f"hydra.run.dir={folder}"]
    command += [f"paths.data_dir={shapes_dir}", "train=false"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert f"The run folder '{folder}' is in use by another training process" in result.stderr
    assert f"(PID {holder.pid} on " in result.stderr and "did not start" in result.stderr
    assert not (folder / ".hydra").exists()  # refused before Hydra wrote anything


def test_a_lock_left_by_a_killed_process_is_taken_over(held, tmp_path, shapes_dir, caplog):
    folder, holder = held
    cfg = compose_train(folder, shapes_dir, [f"hydra.run.dir={folder}"])
    with pytest.raises(SystemExit):  # still alive: refused
        RunFolderGuard().on_run_start(cfg)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    try:
        with caplog.at_level(logging.INFO, logger="ugatit.training.run_lock"):
            RunFolderGuard().on_run_start(cfg)
        assert f"took over the lock left by PID {holder.pid}" in caplog.text
        another = subprocess.run(  # the lock is this process's now
            [sys.executable, "-c", HOLDER, str(folder)], capture_output=True, text=True
        )
        assert another.returncode != 0 and f"PID {os.getpid()} on" in another.stderr
    finally:
        release_run_folder(folder)


def test_the_other_ranks_of_a_ddp_run_share_its_lock(held, monkeypatch):
    folder, _ = held
    with pytest.raises(RunFolderBusy):
        hold_run_folder(folder)
    for variable in ("LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        with monkeypatch.context() as patch:
            patch.setenv(variable, "1")
            assert hold_run_folder(folder) is None  # a rank of the holder's run


def test_a_run_folder_that_cannot_be_written_is_one_message(
    tmp_path, shapes_dir, monkeypatch, capsys
):
    locked = tmp_path / "read-only"
    locked.mkdir()
    real_mkstemp = atomic.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).is_relative_to(locked):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    run = locked / "runs" / "x"
    cfg = compose_train(run, shapes_dir, [f"hydra.run.dir={run}"])
    with pytest.raises(SystemExit) as info:
        RunFolderGuard().on_run_start(cfg)
    assert info.value.code == 1
    assert (
        f"Cannot write the run folder into '{locked}' (Permission denied)"
        in capsys.readouterr().err
    )
