"""Checkpoints: nothing loaded can run code, no crash or full disk leaves a broken file under a real
name, auto-resume survives a broken last.ckpt, and every bad ``ckpt_path`` is one clear message."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import ugatit.checkpoints.files as checkpoint_files
from helpers import FAST, ROOT, TINY_CYCLEGAN, compose_config, compose_train, fit, tiny_module
from ugatit.checkpoints.files import (
    AtomicCheckpointIO,
    CheckpointError,
    CheckpointWriteError,
    remove_unfinished_writes,
)
from ugatit.errors import UserError
from ugatit.evaluation.evaluate import evaluate
from ugatit.inference.translation import load_checkpoint, translate
from ugatit.tools.convert import ConversionError, convert_cyclegan, convert_ugatit
from ugatit.tools.convert.writing import checkpoint_dict
from ugatit.training.cycle import CycleTranslation
from ugatit.training.pipeline import build, train
from ugatit.training.resume import choose_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

TESTS = Path(__file__).resolve().parents[1]
# U-GAT-IT light at the shapes data's 64 px, as narrow as it trains
TINY = [
    *FAST,
    "model.generator.ngf=4",
    "model.generator.n_res=1",
    "model.discriminator.ndf=4",
    "callbacks.sample_grid.every_n_iterations=1000",
]
REFUSED = "holds Python objects besides tensors"


def iteration_of(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["iteration"])


def partial_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.partial-*"))


# ================================================================== 1. nothing loaded runs code
class Payload:
    """Unpickling it creates ``marker``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def payload_checkpoint(path: Path, marker: Path, zip_format: bool) -> Path:
    """A file that looks like a project checkpoint but runs code when unpickled unsafely."""
    contents = {
        "state_dict": {"generator_ab.w": torch.zeros(2)},
        "hyper_parameters": {"generator": {}, "discriminator": {}},
        "iteration": 1,
        "genA2B": {"x": torch.zeros(1)},
        "model.1.weight": torch.zeros(1),
        "extra": Payload(marker),
    }
    torch.save(contents, path, _use_new_zipfile_serialization=zip_format)
    return path


@pytest.fixture(params=[True, False], ids=["zip", "legacy"])
def payload(request, tmp_path):
    marker = tmp_path / "MARKER"
    path = payload_checkpoint(tmp_path / "evil.ckpt", marker, request.param)
    yield path, marker
    assert not marker.exists(), "the checkpoint's code was run"


def test_the_payload_is_live_when_loaded_unsafely(tmp_path):
    """The guard of the tests below: this file does run code without weights_only."""
    for zip_format in (True, False):
        marker = tmp_path / f"ran-{zip_format}"
        path = payload_checkpoint(tmp_path / f"p{zip_format}.ckpt", marker, zip_format)
        torch.load(path, weights_only=False)
        assert marker.exists()


def test_train_refuses_a_payload_checkpoint(tmp_path, shapes_dir, payload):
    path, _ = payload
    cfg = compose_train(tmp_path / "run", shapes_dir, [*TINY, f"ckpt_path={path}"])
    with pytest.raises(CheckpointError, match=REFUSED):
        train(cfg)
    # Lightning's own loading (the resume inside fit) goes through the same loader
    with pytest.raises(CheckpointError, match=REFUSED):
        AtomicCheckpointIO().load_checkpoint(path)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_eval_refuses_a_payload_checkpoint(tmp_path, shapes_dir, payload):
    path, _ = payload
    cfg = compose_config("eval", tmp_path / "eval", shapes_dir, [f"ckpt_path={path}"])
    with pytest.raises(CheckpointError, match=REFUSED):
        evaluate(cfg)


def test_translate_refuses_a_payload_checkpoint(tmp_path, payload):
    path, _ = payload
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.new("RGB", (16, 16)).save(inputs / "a.png")
    overrides = [f"ckpt_path={path}", f"input={inputs}", f"output={tmp_path / 'out'}"]
    with pytest.raises(CheckpointError, match=REFUSED):
        translate(compose_config("translate", tmp_path / "t", tmp_path, overrides))
    assert not (tmp_path / "out").exists()


def test_convert_refuses_a_payload_checkpoint(tmp_path, payload):
    path, _ = payload
    with pytest.raises(ConversionError, match=REFUSED):
        convert_ugatit(path, tmp_path / "u.ckpt")
    with pytest.raises(ConversionError, match=REFUSED):
        convert_cyclegan(tmp_path / "c.ckpt", a2b=path)
    assert not (tmp_path / "u.ckpt").exists() and not (tmp_path / "c.ckpt").exists()


def test_the_notebook_loader_refuses_a_payload_checkpoint(payload):
    cells = json.loads((ROOT / "notebooks" / "explore.ipynb").read_text())["cells"]
    source = "".join("".join(cell["source"]) for cell in cells)
    assert "from ugatit.inference.translation import load_checkpoint" in source
    assert "torch.load" not in source
    path, _ = payload
    with pytest.raises(CheckpointError, match=REFUSED):
        load_checkpoint(path)


def test_settings_that_name_a_function_are_never_called(tmp_path):
    """weights_only keeps the pickle inert; a Hydra _target_ in hyper_parameters must be too."""
    marker = tmp_path / "MARKER"
    checkpoint = checkpoint_dict(tiny_module(), {})
    checkpoint["hyper_parameters"]["generator"] = {
        "_target_": "builtins.open",
        "_args_": [str(marker), "w"],
    }
    path = tmp_path / "settings.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=r"generator._target_ is 'builtins.open'"):
        load_checkpoint(path)
    with pytest.raises(UserError, match="not a network of this project"):  # Lightning's own API
        CycleTranslation.load_from_checkpoint(path)
    assert not marker.exists()


# ================================================================== 2. atomic checkpoint writes
KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    import ugatit.checkpoints.files as checkpoint_files
    from helpers import compose_train
    from ugatit.training.pipeline import train

    run, data, started = Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    real_write, files = checkpoint_files._write_chunk, []

    def write(file, data):
        if file not in files:
            files.append(file)
        written = real_write(file, data)
        if len(files) == 2:  # the second save: stop half way, as a SIGKILL would find it
            file.flush()
            started.touch()
            time.sleep(600)
        return written

    checkpoint_files._write_chunk = write
    train(compose_train(run, data, sys.argv[5:]))
    """
)


def test_a_kill_during_a_save_keeps_the_previous_last_ckpt(tmp_path, shapes_dir, caplog):
    run, started = tmp_path / "run", tmp_path / "writing-started"
    every_iteration = [*TINY, "callbacks.last_checkpoint.every_n_iterations=1"]
    (tmp_path / "kill_run.py").write_text(KILLED_RUN)
    command = [sys.executable, str(tmp_path / "kill_run.py"), str(TESTS), str(run)]
    command += [str(shapes_dir), str(started), *every_iteration]
    # TMPDIR on another filesystem: a temporary file there would make the final move a copy
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else os.environ.get("TMPDIR", "/tmp")
    env = {**os.environ, "TMPDIR": shm, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not started.exists():
            assert process.poll() is None, process.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the second save never started"
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    folder = run / "checkpoints"
    assert [p.stat().st_size > 0 for p in partial_files(folder)] == [True]  # killed mid-write
    assert iteration_of(folder / "last.ckpt") == 1  # the previous one, whole

    cfg = compose_train(run, shapes_dir, [*every_iteration, "model.schedule.max_iterations=2"])
    with caplog.at_level(logging.WARNING, logger="ugatit.checkpoints.files"):
        train(cfg)  # the next start in that folder
    assert "Removed 1 unfinished checkpoint file(s)" in caplog.text
    assert partial_files(folder) == []
    assert iteration_of(folder / "last.ckpt") == 2  # resumed from iteration 1


def test_a_full_disk_stops_the_run_and_keeps_the_previous_last_ckpt(
    tmp_path, shapes_dir, monkeypatch
):
    real_write, files = checkpoint_files._write_chunk, []

    def second_save_fills_the_disk(file, data):
        if file not in files:
            files.append(file)
        if len(files) >= 2:
            real_write(file, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(file, data)

    monkeypatch.setattr(checkpoint_files, "_write_chunk", second_save_fills_the_disk)
    run = tmp_path / "run"
    cfg = compose_train(run, shapes_dir, [*TINY, "callbacks.last_checkpoint.every_n_iterations=1"])
    folder = run / "checkpoints"
    with pytest.raises(CheckpointWriteError) as info:
        train(cfg)
    message = str(info.value)
    assert f"the disk holding {folder} is full" in message
    assert "the previous last.ckpt is intact" in message
    assert iteration_of(folder / "last.ckpt") == 1
    assert partial_files(folder) == []


@pytest.mark.parametrize("trainer", ["cpu", "ddp_cpu"])
def test_every_trainer_of_a_run_writes_atomically(tmp_path, shapes_dir, trainer):
    cfg = compose_train(tmp_path, shapes_dir, [*TINY, f"trainer={trainer}", "train=false"])
    assert isinstance(build(cfg)["trainer"].strategy.checkpoint_io, AtomicCheckpointIO)


def test_a_trainer_built_elsewhere_gets_atomic_writes_from_the_callback(tmp_path):
    from ugatit.training.callbacks import IterationCheckpoint

    stale = tmp_path / ".last.ckpt.partial-x1y2"
    stale.write_bytes(b"half")
    callback = IterationCheckpoint(dirpath=str(tmp_path), every_n_iterations=1, save_last=True)
    trainer = fit(
        tiny_module(schedule={"max_iterations": 1}), callbacks=[callback], enable_checkpointing=True
    )
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert not stale.exists() and iteration_of(tmp_path / "last.ckpt") == 1


# ================================================================== 3. auto-resume
def test_a_broken_last_ckpt_falls_back_to_the_newest_complete_checkpoint(
    tmp_path, shapes_dir, caplog
):
    run = tmp_path / "run"
    periodic = ["callbacks.model_checkpoint.every_n_iterations=1"]
    train(compose_train(run, shapes_dir, [*TINY, *periodic, "model.schedule.max_iterations=2"]))
    folder = run / "checkpoints"
    newest = folder / "iter_0000002.ckpt"
    newest.write_bytes(newest.read_bytes()[:1000])  # broken too: the one before is used
    (folder / "last.ckpt").write_bytes(b"")
    cfg = compose_train(run, shapes_dir, [*TINY, *periodic, "model.schedule.max_iterations=3"])
    with caplog.at_level(logging.WARNING, logger="ugatit.training.resume"):
        metrics = train(cfg)
    assert f"{folder / 'last.ckpt'} cannot be resumed" in caplog.text and "is empty" in caplog.text
    assert f"Resuming {folder / 'iter_0000001.ckpt'}, the newest complete" in caplog.text
    assert metrics["train/iteration"] == 3.0
    assert iteration_of(folder / "last.ckpt") == 3  # written again under its own name
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "iter_0000001.ckpt",
        "iter_0000002.ckpt",
        "iter_0000002.ckpt.broken",
        "iter_0000003.ckpt",
        "last.ckpt",
        "last.ckpt.broken",
    ]
    assert (folder / "last.ckpt.broken").stat().st_size == 0  # kept, not deleted


def test_last_ckpt_is_never_versioned_and_resume_takes_the_highest_iteration(tmp_path, shapes_dir):
    """Issue case 9: resumed runs with other checkpoint periods used to write last-v1.ckpt, and
    the next auto-resume went back to the older last.ckpt."""
    run = tmp_path / "run"
    folder = run / "checkpoints"
    for iterations, period in ((1, 1), (2, 2), (3, 5)):  # the period changes every time
        overrides = [
            *TINY,
            f"callbacks.last_checkpoint.every_n_iterations={period}",
            f"model.schedule.max_iterations={iterations}",
        ]
        if iterations > 1:  # resumed from where the previous run ended
            assert iteration_of(Path(choose_checkpoint(None, folder))) == iterations - 1
        assert train(compose_train(run, shapes_dir, overrides))["train/iteration"] == iterations
        assert sorted(p.name for p in folder.glob("last*")) == ["last.ckpt"]
        assert iteration_of(folder / "last.ckpt") == iterations

    # a folder an older version left with last-v1.ckpt ahead of last.ckpt
    ahead = folder / "last-v1.ckpt"
    shutil.copy(folder / "last.ckpt", ahead)
    behind = checkpoint_dict(tiny_module(), {})  # iteration 0
    torch.save(behind, folder / "last.ckpt")
    assert choose_checkpoint(None, folder) == str(ahead)


def test_a_run_folder_without_a_loadable_checkpoint_stops_instead_of_starting_over(tmp_path):
    last = tmp_path / "last.ckpt"
    last.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError) as info:
        choose_checkpoint(None, tmp_path)
    message = str(info.value)
    assert str(last) in message and "truncated or corrupted" in message
    assert f"Delete {last} to start this run over" in message and "ckpt_path=" in message
    assert last.read_bytes() == b"PK\x03\x04 truncated"  # nothing removed or overwritten


# ================================================================== 4. bad ckpt_path for train
def write_checkpoint(path: Path, generator: dict, discriminator: dict) -> Path:
    module = CycleTranslation(
        generator=generator, discriminator=discriminator, schedule={"max_iterations": 4}
    )
    torch.save(checkpoint_dict(module, {}), path)
    return path


def ugatit(light=True, img_size=64, ngf=16, ndf=16) -> tuple[dict, dict]:
    generator = {
        "_target_": "ugatit.nets.ugatit.UgatitGenerator",
        "ngf": ngf,
        "n_res": 4,
        "img_size": img_size,
        "light": light,
        "colour_relative": True,  # as the quick-start recipe (model=ugatit_small)
    }
    discriminator = {
        "_target_": "ugatit.nets.ugatit.UgatitDiscriminatorSet",
        "ndf": ndf,
        "global_layers": 6,
        "local_layers": 4,
    }
    return generator, discriminator


def refused_by_train(tmp_path, data_dir, ckpt: Path, *overrides: str) -> str:
    """train() with ckpt_path=ckpt must stop before training, with one CheckpointError."""
    run = tmp_path / "run"
    cfg = compose_train(
        run, data_dir, [*FAST, "model=ugatit_small", *overrides, f"ckpt_path={ckpt}"]
    )
    with pytest.raises(CheckpointError) as info:
        train(cfg)
    assert not (run / "checkpoints").exists() and not (run / "csv").exists()
    return " ".join(str(info.value).split())


def test_missing_ckpt_path(tmp_path, shapes_dir):
    message = refused_by_train(tmp_path, shapes_dir, tmp_path / "gone.ckpt")
    assert f"ckpt_path '{tmp_path / 'gone.ckpt'}' does not exist" in message


def test_empty_ckpt_path(tmp_path, shapes_dir):
    (tmp_path / "empty.ckpt").touch()
    message = refused_by_train(tmp_path, shapes_dir, tmp_path / "empty.ckpt")
    assert "empty.ckpt' is empty (0 bytes)" in message


def test_truncated_ckpt_path(tmp_path, shapes_dir):
    path = write_checkpoint(tmp_path / "cut.ckpt", *ugatit())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    message = refused_by_train(tmp_path, shapes_dir, path)
    assert "cut.ckpt' cannot be read as a checkpoint: it is a PyTorch file but truncated" in message


def test_an_image_as_ckpt_path(tmp_path, shapes_dir):
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    message = refused_by_train(tmp_path, shapes_dir, tmp_path / "photo.png")
    assert "photo.png' is not a PyTorch checkpoint" in message


def test_a_foreign_torch_file_as_ckpt_path(tmp_path, shapes_dir):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    message = refused_by_train(tmp_path, shapes_dir, tmp_path / "list.pt")
    assert "list.pt' is not a checkpoint of this project (it holds a list" in message


def test_a_folder_as_ckpt_path(tmp_path, shapes_dir):
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)
    write_checkpoint(tmp_path / "old" / "checkpoints" / "last.ckpt", *ugatit())
    message = refused_by_train(tmp_path, shapes_dir, tmp_path / "old")
    assert "old' is a folder, not a checkpoint file" in message
    assert f"did you mean {tmp_path / 'old' / 'checkpoints' / 'last.ckpt'}?" in message


def test_a_light_checkpoint_for_a_full_mode_model(tmp_path, shapes_dir):
    ckpt = write_checkpoint(tmp_path / "light.ckpt", *ugatit(light=True))
    message = refused_by_train(tmp_path, shapes_dir, ckpt, "model.generator.light=false")
    assert (
        "the checkpoint holds a light-mode U-GAT-IT generator (ngf 16, 4 residual blocks) but "
        "the config builds a full-mode U-GAT-IT generator (64x64 px, ngf 16, 4 residual blocks)"
    ) in message
    assert message.endswith(
        "Pass the model config it was trained with: model.generator.light=true."
    )


def test_a_full_mode_checkpoint_of_another_image_size(tmp_path, shapes_dir):
    ckpt = write_checkpoint(tmp_path / "full32.ckpt", *ugatit(light=False, img_size=32))
    message = refused_by_train(tmp_path, shapes_dir, ckpt, "model.generator.light=false")
    assert "holds a full-mode U-GAT-IT generator (32x32 px," in message
    assert "builds a full-mode U-GAT-IT generator (64x64 px," in message
    assert "model.generator.img_size=32 data.crop_size=32" in message


def test_a_cyclegan_checkpoint_for_a_ugatit_model(tmp_path, shapes_dir):
    ckpt = write_checkpoint(
        tmp_path / "cyclegan.ckpt", TINY_CYCLEGAN["generator"], TINY_CYCLEGAN["discriminator"]
    )
    message = refused_by_train(tmp_path, shapes_dir, ckpt)
    assert (
        "holds a CycleGAN ResNet generator (ngf 8, 1 residual block) but the config builds a "
        "light-mode U-GAT-IT generator" in message
    )
    assert (
        "holds a PatchGAN discriminator (ndf 8, 3 layers) but the config builds U-GAT-IT" in message
    )
    assert message.endswith("trained with: model=cyclegan or model=cyclegan_small.")


def test_a_checkpoint_of_other_widths(tmp_path, shapes_dir):
    ckpt = write_checkpoint(tmp_path / "narrow.ckpt", *ugatit(ngf=8, ndf=8))
    message = refused_by_train(tmp_path, shapes_dir, ckpt)
    assert "holds a light-mode U-GAT-IT generator (ngf 8, 4 residual blocks)" in message
    assert "builds a light-mode U-GAT-IT generator (ngf 16, 4 residual blocks)" in message
    assert "holds U-GAT-IT discriminators (ndf 8," in message
    assert "model.generator.ngf=8 model.discriminator.ndf=8" in message


def test_the_same_architecture_trains_from_the_checkpoint(tmp_path, shapes_dir):
    """The guard of the cases above: a fitting checkpoint passes every check and resumes."""
    ckpt = write_checkpoint(tmp_path / "same.ckpt", *ugatit(ngf=4, ndf=4))
    overrides = ["model.generator.ngf=4", "model.discriminator.ndf=4", f"ckpt_path={ckpt}"]
    cfg = compose_train(
        tmp_path / "run",
        shapes_dir,
        [*FAST, "model=ugatit_small", "model.schedule.max_iterations=1", *overrides],
    )
    assert train(cfg)["train/iteration"] == 1.0


def test_stale_partial_files_are_only_hidden_temporary_names(tmp_path):
    keep = [tmp_path / "last.ckpt", tmp_path / "iter_0000001.ckpt", tmp_path / ".hidden"]
    for path in keep:
        path.write_bytes(b"x")
    (tmp_path / ".iter_0000002.ckpt.partial-abc").write_bytes(b"x")
    assert [p.name for p in remove_unfinished_writes(tmp_path)] == [
        ".iter_0000002.ckpt.partial-abc"
    ]
    assert all(p.exists() for p in keep)
