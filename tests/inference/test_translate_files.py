"""src/translate.py: files and folders, names and sizes kept, panels, full-mode resizing, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import ROOT, compose_config
from helpers.checkpoints import trained_checkpoint
from ugatit.data.dataset import to_tensor
from ugatit.inference.translation import (
    CheckpointError,
    TranslationError,
    load_checkpoint,
    output_names,
    resolve_device,
    translate,
    translate_files,
    translate_images,
)
from ugatit.visualize import to_uint8


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Inception and tiny networks on 2 shared cores: one thread avoids contention stalls."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_image(path: Path, width: int, height: int, seed: int, suffix_format: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=suffix_format)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory, shapes_dir):
    """The three kinds of generator, each from a 2-iteration training run, on the CPU."""
    return {
        name: load_checkpoint(trained_checkpoint(tmp_path_factory, shapes_dir, name), "cpu")
        for name in ("light", "full", "cyclegan")
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder tree with odd sizes, a JPEG, a nested folder and a non-image file."""
    root = tmp_path_factory.mktemp("inputs")
    write_image(root / "odd.png", 37, 50, 0)
    write_image(root / "photo.jpg", 40, 24, 1, "JPEG")
    write_image(root / "nested" / "deeper" / "small.png", 13, 9, 2)
    write_image(root / "nested" / "same.png", 37, 50, 3)
    (root / "nested" / "notes.txt").write_text("not an image")
    return root


EXPECTED = {
    Path("odd.png"): (37, 50),
    Path("photo.png"): (40, 24),
    Path("nested/deeper/small.png"): (13, 9),
    Path("nested/same.png"): (37, 50),
}


@pytest.mark.parametrize("name", ["light", "cyclegan", "full"])
def test_folder_keeps_relative_paths_names_and_sizes(models, inputs, tmp_path, name):
    written = translate_files(models[name], inputs, tmp_path / "out", "a2b", batch_size=3)
    relative = {p.relative_to(tmp_path / "out") for p in written}
    assert relative == set(EXPECTED)
    for path, size in EXPECTED.items():
        with Image.open(tmp_path / "out" / path) as image:
            assert image.format == "PNG" and image.size == size


def test_light_and_cyclegan_pad_and_crop_without_resampling(models, tmp_path):
    """An odd-sized image gives the same pixels as translating its reflect-padded version by hand."""
    image = to_tensor(Image.open(write_image(tmp_path / "odd.png", 37, 50, 4)))
    padded = torch.nn.functional.pad(image[None], (1, 2, 1, 1), mode="reflect")  # 40 x 52
    for name in ("light", "cyclegan"):
        module = models[name].module
        with torch.no_grad():
            expected = module(padded, "b2a").image[0, :, 1:51, 1:38]
        (result,) = translate_images(models[name], [image], "b2a")
        assert result.image.shape == (3, 50, 37)
        torch.testing.assert_close(result.image, expected)
    assert translate_images(models["cyclegan"], [image], "a2b")[0].heatmap is None


def test_full_mode_resizes_to_its_training_size_and_back(models):
    full = models["full"]
    assert full.fixed_size == 32
    image = torch.rand(3, 50, 37) * 2 - 1
    (result,) = translate_images(full, [image], "a2b")
    assert result.image.shape == (3, 50, 37) and result.heatmap.shape == (1, 50, 37)
    resized = torch.nn.functional.interpolate(
        image[None], size=(32, 32), mode="bilinear", align_corners=False, antialias=True
    )
    with torch.no_grad():
        at_32 = full.module(resized, "a2b").image
    back = torch.nn.functional.interpolate(
        at_32, size=(50, 37), mode="bilinear", align_corners=False, antialias=True
    )[0]
    torch.testing.assert_close(result.image, back)


def test_one_file_and_its_saved_pixels(models, inputs, tmp_path):
    (path,) = translate_files(models["light"], inputs / "odd.png", tmp_path, "a2b")
    assert path == tmp_path / "odd.png"
    (result,) = translate_images(
        models["light"], [to_tensor(Image.open(inputs / "odd.png"))], "a2b"
    )
    saved = torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1)
    assert torch.equal(saved, to_uint8(result.image))


@pytest.mark.parametrize("name, columns", [("light", 3), ("cyclegan", 2)])
def test_panels_put_input_heatmap_and_output_side_by_side(models, inputs, tmp_path, name, columns):
    (path,) = translate_files(models[name], inputs / "photo.jpg", tmp_path, "b2a", panels=True)
    with Image.open(path) as picture:
        assert picture.size == (40 * columns, 24)
        left = np.array(picture)[:, :40]
    original = np.array(Image.open(inputs / "photo.jpg").convert("RGB"))
    assert np.abs(left.astype(int) - original.astype(int)).max() <= 1  # the input, unchanged


def test_the_config_entry_translates_a_folder(models, inputs, tmp_path):
    checkpoint = models["cyclegan"].path
    cfg = compose_config(
        "translate",
        tmp_path,
        tmp_path,
        [f"ckpt_path={checkpoint}", f"input={inputs}", "direction=b2a", "device=cpu"],
    )
    written = translate(cfg)
    assert {p.relative_to(tmp_path / "translated") for p in written} == set(EXPECTED)


def test_name_clashes_keep_the_extension():
    names = output_names([Path("a/x.jpg"), Path("a/x.png"), Path("b/x.jpg"), Path("y.JPEG")])
    assert names == [Path("a/x.jpg.png"), Path("a/x.png.png"), Path("b/x.png"), Path("y.png")]


def test_unreadable_images_stop_or_are_skipped(models, tmp_path):
    folder = tmp_path / "in"
    write_image(folder / "good.png", 16, 16, 5)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(
        TranslationError, match=r"1 unreadable or too small image.*broken.png.*skip_unreadable"
    ):
        translate_files(models["light"], folder, tmp_path / "out", "a2b")
    assert not (tmp_path / "out").exists()  # stopped before writing anything
    written = translate_files(
        models["light"], folder, tmp_path / "out", "a2b", skip_unreadable=True
    )
    assert written == [tmp_path / "out" / "good.png"]


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda d: d / "missing", r"input '.*missing' does not exist"),
        (lambda d: d, r"input '.*' holds no images"),
        (lambda d: d / "notes.txt", r"'.*notes.txt' is not an image file"),
        (
            lambda d: write_image(d / "tiny.png", 5, 30, 6),
            r"tiny.png' \(is 5x30, smaller than 8 px",
        ),
    ],
)
def test_bad_inputs_end_in_clear_errors(models, tmp_path, make_input, message):
    (tmp_path / "notes.txt").write_text("text")
    with pytest.raises(TranslationError, match=message):
        translate_files(models["light"], make_input(tmp_path), tmp_path / "out", "a2b")


def test_bad_options_end_in_clear_errors(models, inputs, tmp_path):
    light = models["light"]
    with pytest.raises(TranslationError, match=r"direction='x2y' is invalid"):
        translate_files(light, inputs, tmp_path, "x2y")
    with pytest.raises(
        TranslationError, match=r"batch_size=0 is invalid: it must be an integer >= 1"
    ):
        translate_files(light, inputs, tmp_path, "a2b", batch_size=0)
    with pytest.raises(TranslationError, match=r"would overwrite input image"):
        translate_files(light, inputs, inputs, "a2b")
    with pytest.raises(TranslationError, match=r"output '.*odd.png' is a file"):
        translate_files(light, inputs, inputs / "odd.png", "a2b")
    with pytest.raises(TranslationError, match=r"device='tpu9' is not a device"):
        resolve_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(TranslationError, match=r"CUDA is not available"):
            resolve_device("cuda")


def test_a_converted_checkpoint_translates_only_its_direction(models, tmp_path):
    checkpoint = torch.load(models["cyclegan"].path, map_location="cpu", weights_only=False)
    checkpoint["converted"] = {"directions": ["a2b"]}
    torch.save(checkpoint, tmp_path / "one.ckpt")
    one = load_checkpoint(tmp_path / "one.ckpt")
    assert one.directions == ("a2b",)
    with pytest.raises(TranslationError, match=r"only for a2b.*use direction=a2b"):
        translate_images(one, [torch.zeros(3, 16, 16)], "b2a")


def test_missing_checkpoint_on_the_command_line_is_one_message(inputs, tmp_path):
    command = [
        sys.executable,
        str(ROOT / "src" / "translate.py"),
        f"ckpt_path={tmp_path}/gone.ckpt",
        f"input={inputs}",
        f"paths.log_dir={tmp_path}/logs",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "gone.ckpt' does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(CheckpointError, match="ckpt_path is not set"):
        load_checkpoint(None)
