"""scripts/make_readme_figures.py on a finished run: sample grid and loss curves, small PNGs."""

import importlib.util

import numpy as np
import pytest
import yaml
from PIL import Image

from helpers import ROOT, fit, tiny_module
from ugatit.errors import UserError

TINY_UGATIT = {
    "generator": {
        "_target_": "ugatit.nets.ugatit.UgatitGenerator",
        "ngf": 4,
        "n_res": 1,
        "light": True,
    },
    "discriminator": {
        "_target_": "ugatit.nets.ugatit.UgatitDiscriminatorSet",
        "ndf": 4,
        "global_layers": 4,
        "local_layers": 3,
    },
}
CSV = "step,train/g_total,train/d_total,lr/generator\n0,5.0,2.0,0.0002\n1,4.0,1.5,0.0001\n"


def load_script():
    spec = importlib.util.spec_from_file_location(
        "make_readme_figures", ROOT / "scripts" / "make_readme_figures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = load_script()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny U-GAT-IT run: checkpoint, metrics, resolved config pointing at test images."""
    base = tmp_path_factory.mktemp("figures")
    data = base / "data"
    for split in ("testA", "testB"):
        (data / split).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (100 * i, 50, 150)).save(data / split / f"{i}.png")
    run = base / "run"
    (run / "csv").mkdir(parents=True)
    (run / "csv" / "metrics.csv").write_text(CSV)
    config = {"data": {"root": str(data), "name": "mine", "crop_size": 32}}
    (run / "csv" / "hparams.yaml").write_text(yaml.safe_dump(config))
    trainer = fit(tiny_module(**TINY_UGATIT, schedule={"max_iterations": 2}))
    trainer.save_checkpoint(run / "checkpoints" / "last.ckpt")
    return run


def test_rendered_grid_and_curves_from_a_checkpoint(run, tmp_path):
    grid, curves = figures.make_figures(
        ["--ckpt", str(run / "checkpoints" / "last.ckpt"), "--out", str(tmp_path)]
    )
    assert (grid, curves) == (tmp_path / "sample_grid.png", tmp_path / "loss_curves.png")
    for path in (grid, curves):
        assert 0 < path.stat().st_size < 300_000
    with Image.open(grid) as image:
        # sample_grid: input, then identity, translation and reconstruction each with its
        # heatmap (7 columns of 32 px, padding 2); 2 test images per domain x 2 directions = 4
        # rows under a 14 px header
        assert image.size == (7 * 34 + 2, 14 + 4 * 34 + 2)
    with Image.open(curves) as image:
        assert image.format == "PNG" and min(image.size) > 100


def test_the_runs_latest_sample_grid_is_used_as_is(run, tmp_path):
    samples = run / "samples"
    samples.mkdir(exist_ok=True)
    Image.new("RGB", (20, 10), (0, 0, 255)).save(samples / "iter_0000001.png")
    Image.new("RGB", (20, 10), (255, 0, 0)).save(samples / "iter_0000002.png")
    try:
        grid, _ = figures.make_figures(
            ["--ckpt", str(run / "checkpoints" / "last.ckpt"), "--out", str(tmp_path)]
        )
        with Image.open(grid) as image:
            assert image.size == (20, 10)
            assert image.convert("RGB").getpixel((5, 5)) == (255, 0, 0)
    finally:
        for path in samples.iterdir():
            path.unlink()
        samples.rmdir()


def test_explicit_metrics_and_clear_errors(run, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("step,train/g_total\n0,1.0\n1,0.5\n")
    ckpt = str(run / "checkpoints" / "last.ckpt")
    figures.make_figures(["--ckpt", ckpt, "--metrics", str(other), "--out", str(tmp_path)])
    assert (tmp_path / "loss_curves.png").is_file()
    with pytest.raises(UserError, match="--metrics needs --ckpt"):
        figures.make_figures(["--metrics", str(other)])
    with pytest.raises(UserError, match="does not exist"):
        figures.make_figures(["--ckpt", str(tmp_path / "nope.ckpt")])
    lone = tmp_path / "lone.ckpt"
    lone.write_bytes((run / "checkpoints" / "last.ckpt").read_bytes())
    with pytest.raises(UserError, match="--metrics"):
        figures.make_figures(["--ckpt", str(lone), "--out", str(tmp_path)])


def test_large_pictures_fall_back_to_256_colours(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    path = figures.save_small_png(Image.fromarray(noise), tmp_path / "noise.png", max_bytes=100_000)
    with Image.open(path) as image:
        assert image.mode == "P"
    assert path.stat().st_size <= 100_000
    with pytest.raises(UserError, match="over the 1000 byte limit"):
        figures.save_small_png(Image.fromarray(noise), tmp_path / "noise.png", max_bytes=1000)
