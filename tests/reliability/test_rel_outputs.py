"""No interruption leaves a partial file under a real name; translate and eval stop on SIGTERM and
Ctrl+C with a message and status 143 / 130, and a rerun continues; convert replaces nothing
unasked; a read-only destination is one message before any work."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import ROOT, compose_config, tiny_module
from helpers.port_reference import cut_generator_state
from ugatit import atomic
from ugatit.directions import DIRECTIONS
from ugatit.errors import RunStopped
from ugatit.evaluation import evaluate as evaluate_module
from ugatit.inference import translation
from ugatit.inference.export import ExportError, export
from ugatit.inference.translation import LoadedModel, TranslationError, translate_files
from ugatit.interrupts import Terminated
from ugatit.tools.convert import ConversionError, convert_cut
from ugatit.tools.convert.writing import checkpoint_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f".*{atomic.PARTIAL_MARK}*"))


def write_images(folder: Path, count: int, side: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:03d}.png")
    return folder


def outputs(folder: Path) -> list[Path]:
    """The PNGs under their real names (glob's * also matches hidden temporary files)."""
    return sorted(p for p in folder.glob("*.png") if not p.name.startswith("."))


def complete_png(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    module = tiny_module().eval().requires_grad_(False)
    return LoadedModel(module, Path("tiny.ckpt"), DIRECTIONS, None, 0)


# ------------------------------------------------------------------------------ atomic writes
def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_partial(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("earlier")

    class HalfWritten(Exception):
        pass

    with pytest.raises(HalfWritten), atomic.atomic_path(target) as partial:
        partial.write_text("half of the new cont")
        raise HalfWritten
    assert target.read_text() == "earlier"
    assert partials(tmp_path) == []


def test_a_stop_while_translate_saves_leaves_no_truncated_png(tmp_path, loaded, monkeypatch):
    """The PNG encoder is stopped after writing part of the second file (as SIGTERM would)."""
    inputs = write_images(tmp_path / "in", 3, 32)
    real_save = Image.Image.save
    calls = []

    def save_then_stop(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 2:
            Path(fp).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)  # a truncated PNG
            raise Terminated()
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_then_stop)
    with pytest.raises(RunStopped) as info:
        translate_files(loaded, inputs, tmp_path / "out")
    assert info.value.exit_code == 143
    assert "wrote 1 of 3 image(s)" in str(info.value) and "skip_existing=true" in str(info.value)
    written = outputs(tmp_path / "out")
    assert [p.name for p in written] == ["img000.png"] and complete_png(written[0])
    assert partials(tmp_path / "out") == []


# ------------------------------------------------------------------------------ real signals
STOPPABLE_TRANSLATE = """
import sys, runpy
sys.argv = ["src/translate.py", *sys.argv[1:]]
runpy.run_path("src/translate.py", run_name="__main__")
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_translate_stops_on_a_signal_and_a_rerun_finishes(tmp_path, signum):
    checkpoint = tmp_path / "tiny.ckpt"
    torch.save(checkpoint_dict(tiny_module(), {}), checkpoint)
    inputs = write_images(tmp_path / "in", 40, 512)
    output = tmp_path / "out"
    args = [f"ckpt_path={checkpoint}", f"input={inputs}", f"output={output}", "panels=true"]
    args += [f"hydra.run.dir={tmp_path / 'hydra'}", "device=cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROJECT_ROOT": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", STOPPABLE_TRANSLATE, *args],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not outputs(output):
            assert process.poll() is None, process.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "translate wrote nothing"
            time.sleep(0.05)
        process.send_signal(signum)
        status = process.wait(timeout=60)
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert status == 128 + signum, stderr[-3000:]
    assert f"Stopped by {signal.Signals(signum).name}: translate wrote" in stderr
    written = outputs(output)
    assert 0 < len(written) < 40 and all(complete_png(p) for p in written)
    assert partials(output) == []

    cfg = compose_config("translate", tmp_path / "again", tmp_path, args[:4])
    with pytest.raises(TranslationError, match=rf"holds {len(written)} of the 40 .* skip_existing"):
        translation.translate(cfg)
    cfg.skip_existing = True
    rest = translation.translate(cfg)
    assert len(rest) == 40 - len(written) and len(outputs(output)) == 40


def test_eval_stopped_says_so_and_writes_no_metrics(tmp_path, shapes_dir, monkeypatch):
    calls = []

    def stop_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_translate(*args, **kwargs)

    real_translate = evaluate_module.translate_images
    monkeypatch.setattr(evaluate_module, "translate_images", stop_on_second_batch)
    checkpoint = tmp_path / "tiny.ckpt"
    torch.save(checkpoint_dict(tiny_module(), {}), checkpoint)
    overrides = [f"ckpt_path={checkpoint}", "batch_size=2", "max_images=4", "device=cpu"]
    cfg = compose_config("eval", tmp_path / "eval", shapes_dir, overrides)
    with pytest.raises(RunStopped) as info:
        evaluate_module.evaluate(cfg)
    assert info.value.exit_code == 130 and "eval wrote no metrics" in str(info.value)
    assert not (tmp_path / "eval" / "metrics.json").exists()
    assert partials(tmp_path / "eval") == []


# ------------------------------------------------------------------------------ refusals
def test_convert_does_not_replace_an_existing_file_unasked(tmp_path):
    source = tmp_path / "latest_net_G.pth"
    torch.save(cut_generator_state(4, 1), source)  # the official layout
    trained = tmp_path / "last.ckpt"
    trained.write_bytes(b"a trained run's checkpoint")
    with pytest.raises(ConversionError, match="already exists; .* --overwrite"):
        convert_cut(source, trained)
    assert trained.read_bytes() == b"a trained run's checkpoint"
    assert convert_cut(source, trained, overwrite=True).output == trained
    status = subprocess.run(
        [sys.executable, "src/convert.py", "cut", str(source), str(trained)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert status.returncode == 1 and "--overwrite" in status.stderr


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A folder no file can be created in (faked: the tests may run as root, who writes anyway)."""
    locked = tmp_path / "locked"
    real_mkstemp = atomic.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).is_relative_to(locked):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    return locked


def test_a_read_only_destination_is_one_message_before_any_work(tmp_path, loaded, read_only):
    locked = read_only
    inputs = write_images(tmp_path / "in", 1, 16)
    with pytest.raises(TranslationError, match="Cannot write translations into"):
        translate_files(loaded, inputs, locked / "out")
    checkpoint = tmp_path / "tiny.ckpt"
    torch.save(checkpoint_dict(tiny_module(), {}), checkpoint)
    cfg = compose_config(
        "export",
        tmp_path / "export",
        tmp_path,
        [f"ckpt_path={checkpoint}", f"output={locked}/g.onnx"],
    )
    with pytest.raises(ExportError, match="Cannot write the exported onnx file into"):
        export(cfg)
