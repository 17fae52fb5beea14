"""The notebook's helpers: run discovery, rho table, metrics reading, heatmaps and figures."""

from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from helpers import ROOT, tiny_module
from ugatit import analysis as nu
from ugatit.data.errors import DataError
from ugatit.errors import UserError

TINY_UGATIT = {
    "generator": {
        "_target_": "ugatit.nets.ugatit.UgatitGenerator",
        "ngf": 4,
        "n_res": 2,
        "light": True,
    },
    "discriminator": {
        "_target_": "ugatit.nets.ugatit.UgatitDiscriminatorSet",
        "ndf": 4,
        "global_layers": 4,
        "local_layers": 3,
    },
}


@pytest.fixture(scope="module")
def ugatit():
    torch.manual_seed(0)
    return tiny_module(**TINY_UGATIT)


@pytest.fixture(scope="module")
def cyclegan():
    torch.manual_seed(0)
    return tiny_module()


def images(n=2, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(n)) * 2 - 1


# ------------------------------------------------------------------------------ runs and config
def test_project_root_is_found_from_a_subfolder_and_missing_elsewhere(tmp_path):
    assert nu.find_project_root(ROOT / "notebooks") == ROOT
    with pytest.raises(UserError, match="conf/train.yaml"):
        nu.find_project_root(tmp_path)


def test_quick_start_config_writes_into_the_run_folder(tmp_path):
    cfg = nu.compose_quick_start(ROOT, tmp_path / "run", 7, nu.NOTEBOOK_OVERRIDES)
    assert cfg.paths.output_dir == str(tmp_path / "run")
    assert cfg.callbacks.model_checkpoint.dirpath == str(tmp_path / "run" / "checkpoints")
    assert cfg.model.schedule.max_iterations == 7
    assert cfg.callbacks.sample_grid.every_n_iterations == 7
    assert cfg.model.generator.ngf == 8 and cfg.model.discriminator.ndf == 8
    assert cfg.model.generator._target_.endswith("UgatitGenerator")
    assert cfg.data.name == "shapes"
    with pytest.raises(UserError, match="iterations"):
        nu.compose_quick_start(ROOT, tmp_path, 0)


def make_run(tmp_path: Path, data: dict | None = None) -> Path:
    """A run folder laid out as src/train.py leaves it; returns its checkpoint path."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "csv").mkdir()
    ckpt = run / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(b"")
    if data is not None:
        (run / "csv" / "hparams.yaml").write_text(yaml.safe_dump({"data": data}))
    return ckpt


def test_a_checkpoint_finds_its_run_metrics_and_data(tmp_path):
    ckpt = make_run(tmp_path, {"root": "/somewhere/h2z", "name": "horse2zebra", "crop_size": 128})
    assert nu.run_dir_of(ckpt) == tmp_path / "run"
    assert nu.metrics_csv_of(ckpt) is None
    (tmp_path / "run" / "csv" / "metrics.csv").write_text("step\n0\n")
    assert nu.metrics_csv_of(ckpt) == tmp_path / "run" / "csv" / "metrics.csv"
    assert nu.data_for_checkpoint(ckpt, ROOT) == (Path("/somewhere/h2z"), 128, None)
    # explicit values win; a full-mode generator's fixed size wins over everything
    assert nu.data_for_checkpoint(ckpt, ROOT, "/mine", 32) == (Path("/mine"), 32, None)
    assert nu.data_for_checkpoint(ckpt, ROOT, "/mine", 32, fixed_size=256)[1] == 256


def test_without_run_config_the_built_in_shapes_are_used(tmp_path):
    ckpt = make_run(tmp_path)
    assert nu.data_for_checkpoint(ckpt, ROOT) == (
        ROOT / "data" / "shapes" / "round_rect",
        64,
        "round_rect",
    )
    lone = tmp_path / "converted.ckpt"
    assert nu.run_dir_of(lone) == tmp_path
    assert nu.metrics_csv_of(lone) is None


def test_latest_sample_grid_is_the_highest_iteration(tmp_path):
    assert nu.latest_sample_grid(tmp_path) is None
    (tmp_path / "samples").mkdir()
    for name in ("iter_0000002.png", "iter_0000010.png", "iter_0000004.png"):
        (tmp_path / "samples" / name).write_bytes(b"")
    assert nu.latest_sample_grid(tmp_path).name == "iter_0000010.png"


# ------------------------------------------------------------------------------ test images
def test_test_images_are_the_first_n_of_each_domain_resized(tmp_path):
    for split, colour in (("testA", (255, 0, 0)), ("testB", (0, 0, 255))):
        (tmp_path / split).mkdir()
        for i in range(3):
            Image.new("RGB", (20, 12), colour).save(tmp_path / split / f"{i}.png")
    a, b = nu.load_test_images(tmp_path, 8, 2)
    assert a.shape == b.shape == (2, 3, 8, 8)
    assert torch.allclose(a[:, 0], torch.ones(2, 8, 8)) and torch.allclose(
        a[:, 2], -torch.ones(2, 8, 8)
    )
    assert torch.allclose(b[:, 2], torch.ones(2, 8, 8))


def test_missing_test_images_name_the_folder(tmp_path):
    (tmp_path / "testA").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "testA" / "x.png")
    with pytest.raises(DataError, match="testB"):
        nu.load_test_images(tmp_path, 8, 1)
    with pytest.raises(UserError, match="N_IMAGES"):
        nu.load_test_images(tmp_path, 8, 0)


# ------------------------------------------------------------------------------ looking inside
def test_rho_table_lists_every_adalin_and_lin_layer_as_used(ugatit):
    rows = nu.rho_table(ugatit)
    # per generator: 2 AdaLIN per residual decoder block (n_res=2) and 2 LIN up-sampling layers
    assert len(rows) == 2 * (2 * 2 + 2)
    assert [r.generator for r in rows[:6]] == ["generator_ab"] * 6
    assert {r.kind for r in rows if r.group == "decoder_res"} == {"AdaLIN"}
    assert {r.kind for r in rows if r.group == "upsample"} == {"LIN"}
    norm = ugatit.generator_ba.UpBlock1_2.norm1
    original = norm.rho.detach().clone()
    try:
        with torch.no_grad():
            norm.rho.copy_(torch.linspace(-0.5, 1.5, norm.rho.numel()).view_as(norm.rho))
        row = next(
            r
            for r in nu.rho_table(ugatit)
            if (r.generator, r.layer) == ("generator_ba", "UpBlock1_2.norm1")
        )
        # clipped to [0, 1] as the forward pass uses it
        assert (row.min, row.max) == (0.0, 1.0)
        expected = norm.rho.detach().clamp(0, 1).mean().item()
        assert row.mean == pytest.approx(expected)
        assert row.channels == norm.rho.numel()
        norm.rho_offset = 0.25
        row = next(
            r
            for r in nu.rho_table(ugatit)
            if (r.generator, r.layer) == ("generator_ba", "UpBlock1_2.norm1")
        )
        assert row.mean == pytest.approx((norm.rho.detach() - 0.25).clamp(0, 1).mean().item())
    finally:
        norm.rho_offset = 0.0
        with torch.no_grad():
            norm.rho.copy_(original)
    table = nu.format_rho_table(nu.rho_table(ugatit))
    assert table.count("\n") == len(rows) + 1
    assert "| generator_ab | UpBlock1_1.norm1 | AdaLIN | decoder_res | 16 | 0.900 |" in table


def test_cyclegan_has_no_rho_and_no_attention(cyclegan):
    assert nu.rho_table(cyclegan) == []
    assert not nu.has_attention(cyclegan)
    assert nu.discriminator_heatmaps(cyclegan, images(), "a") == [None]
    assert nu.translate(cyclegan, images(), "a2b").heatmap is None


def test_discriminator_heatmaps_come_from_the_domain_discriminator(ugatit):
    x = images(3)
    global_map, local_map = nu.discriminator_heatmaps(ugatit, x, "b")
    assert nu.has_attention(ugatit)
    assert global_map.shape[:2] == local_map.shape[:2] == (3, 1)
    with torch.no_grad():
        direct = ugatit.discriminator_b(x)
        other = ugatit.discriminator_a(x)
    torch.testing.assert_close(global_map, direct[0].heatmap)
    torch.testing.assert_close(local_map, direct[1].heatmap)
    assert not torch.allclose(global_map, other[0].heatmap)
    with pytest.raises(ValueError, match="domain"):
        nu.discriminator_heatmaps(ugatit, x, "c")


# ------------------------------------------------------------------------------ metrics
CSV = """epoch,lr/generator,step,train/g_total,train/iteration,val/cycle_l1
0,0.0002,1,5.0,2.0,
0,0.0002,3,4.0,4.0,
0,,4,,,0.7
0,0.0001,5,nan,6.0,
"""


def test_read_metrics_keeps_each_columns_logged_values(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(CSV)
    curves = nu.read_metrics(path)
    assert curves["train/g_total"] == nu.Curve([2.0, 4.0], [5.0, 4.0])  # nan dropped
    assert curves["lr/generator"] == nu.Curve([2.0, 4.0, 6.0], [0.0002, 0.0002, 0.0001])
    assert curves["val/cycle_l1"] == nu.Curve([5.0], [0.7])  # no iteration column: step + 1
    assert "step" not in curves and "epoch" not in curves


def test_read_metrics_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match="missing.csv"):
        nu.read_metrics(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("step,train/g_total\n")
    with pytest.raises(UserError, match="no rows"):
        nu.read_metrics(tmp_path / "empty.csv")


# ------------------------------------------------------------------------------ figures
def image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def test_translation_figure_has_a_heatmap_column_only_with_attention(ugatit, cyclegan):
    fig = nu.plot_translations(ugatit, images(2), "a2b")
    assert len(image_axes(fig)) == 2 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == [
        "real A",
        "generator attention",
        "translated to B",
    ]
    fig = nu.plot_translations(cyclegan, images(2), "b2a")
    assert len(image_axes(fig)) == 2 * 2


def test_discriminator_figure_shows_every_head_for_every_image(ugatit, cyclegan):
    fig = nu.plot_discriminator_attention(ugatit, {"real": images(2), "fake": images(1)}, "a")
    assert len(image_axes(fig)) == 3 * 3
    assert [ax.get_title() for ax in fig.axes[1:3]] == ["global D", "local D"]
    fig = nu.plot_discriminator_attention(cyclegan, {"real": images(2)}, "b")
    assert len(image_axes(fig)) == 2  # the images only; the head says "no attention"
    assert any(t.get_text() == "no attention" for ax in fig.axes for t in ax.texts)


def test_rho_figure_has_one_bar_per_layer_and_generator(ugatit):
    rows = nu.rho_table(ugatit)
    fig = nu.plot_rho(rows)
    bars = fig.axes[0].patches
    assert len(bars) == len(rows)
    assert sorted(round(b.get_height(), 4) for b in bars) == sorted(round(r.mean, 4) for r in rows)


def test_learning_curve_panels_skip_what_was_not_logged():
    curves = {
        "train/g_total": nu.Curve([1.0, 2.0], [3.0, 2.0]),
        "lr/generator": nu.Curve([1.0, 2.0], [1e-4, 1e-4]),
        "lr/discriminator": nu.Curve([1.0, 2.0], [1e-4, 5e-5]),
    }
    fig = nu.plot_learning_curves(curves)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["generator total", "learning rate"]
    assert len(titled[1].lines) == 2
    assert list(titled[0].lines[0].get_ydata()) == [3.0, 2.0]
    with pytest.raises(UserError, match="train/g_total"):
        nu.plot_learning_curves({"other": nu.Curve([1.0], [1.0])})
