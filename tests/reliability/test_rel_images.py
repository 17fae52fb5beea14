"""One image reader everywhere: the demo page and translate give the same pixels for transparent,
EXIF-rotated, palette and float files; a float image with NaN is refused by name; folders linked
into a domain are read (once, even in a loop); uploads over the byte limit are refused before they
are stored and the ones read are deleted."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.checkpoints import trained_checkpoint
from ugatit.data.errors import DataError
from ugatit.data.images import list_images, load_rgb
from ugatit.inference.demo import DemoModels
from ugatit.inference.translation import TranslationError, load_checkpoint, translate_files
from ugatit.tools.demo_browser import (
    browser_page,
    running_demo,
    upload_and_translate,
    upload_refusal,
)

pytestmark = pytest.mark.usefixtures("one_thread")
EXIF_ORIENTATION = 0x0112


def odd_files(folder: Path) -> dict[str, Path]:
    """A transparent PNG, a JPEG rotated by EXIF, a palette GIF and a float TIFF (odd sizes)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (36, 44, 4), dtype=np.uint8)
    rgba[:, :22, 3] = 0  # the left half fully transparent, its colours arbitrary
    Image.fromarray(rgba, "RGBA").save(folder / "transparent.png")
    photo = Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # shown rotated by 90 degrees: 32 wide, 48 high
    photo.save(folder / "rotated.jpg", exif=exif)
    palette = Image.fromarray(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)).quantize(16)
    palette.save(folder / "palette.gif")
    floats = rng.random((28, 36)).astype(np.float32)
    Image.fromarray(floats, "F").save(folder / "float.tif")
    return {p.stem: p for p in folder.iterdir()}


def test_the_reader_applies_exif_and_refuses_nan_by_name(tmp_path):
    files = odd_files(tmp_path)
    assert load_rgb(files["rotated"]).size == (32, 48)
    transparent = np.asarray(load_rgb(files["transparent"]))
    assert (transparent[:, :22] == 255).all()  # composited onto white
    nan = np.ones((8, 8), np.float32)
    nan[3, 3] = np.nan
    Image.fromarray(nan, "F").save(tmp_path / "nan.tif")
    with pytest.raises(DataError, match=r"nan\.tif': it holds NaN or infinite pixel values"):
        load_rgb(tmp_path / "nan.tif")


def test_folders_linked_into_a_domain_are_read_once(tmp_path):
    domain, elsewhere = tmp_path / "trainA", tmp_path / "elsewhere"
    domain.mkdir()
    elsewhere.mkdir()
    Image.new("RGB", (8, 8)).save(domain / "own.png")
    Image.new("RGB", (8, 8)).save(elsewhere / "linked.png")
    os.symlink(elsewhere, domain / "linked")
    os.symlink(domain, elsewhere / "loop")  # a loop back up: walked once
    found = [p.relative_to(domain).as_posix() for p in list_images(domain, recursive=True)]
    assert found == ["linked/linked.png", "own.png"]


@pytest.fixture(scope="module")
def light(tmp_path_factory, shapes_dir) -> Path:
    return trained_checkpoint(tmp_path_factory, shapes_dir, "light")


def test_the_page_and_translate_give_the_same_pixels(light, tmp_path):
    files = odd_files(tmp_path / "in")
    upload_cache = tmp_path / "gradio"
    (tmp_path / "run").mkdir()
    loaded = load_checkpoint(light, "cpu")
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + os.urandom(2 * 2**20))  # 2 MB, over the 1 MB limit
    env = {"GRADIO_TEMP_DIR": str(upload_cache)}
    with (
        running_demo([light], tmp_path / "run", ["max_upload_mb=1"], env=env) as url,
        browser_page() as page,
    ):
        for name, path in files.items():
            shown = upload_and_translate(page, url, path)
            (written,) = translate_files(loaded, path, tmp_path / name, "a2b")
            expected = np.asarray(Image.open(written).convert("RGB"))
            assert np.array_equal(np.asarray(shown.translation), expected), name
        message = upload_refusal(page, url, big)
        assert "exceed the maximum allowed size of 1.0 Mb" in message
    assert upload_cache.is_dir()  # Gradio stored the uploads (and its results) there
    stored = [p for p in upload_cache.rglob("*") if p.is_file()]
    assert not [p for p in stored if p.name in {f.name for f in files.values()} | {big.name}]


def test_the_demo_names_a_nan_upload(light, tmp_path):
    nan = np.zeros((16, 16), np.float32)
    nan[0, 0] = np.inf
    Image.fromarray(nan, "F").save(tmp_path / "inf.tif")
    models = DemoModels([light], "cpu")
    with pytest.raises(TranslationError, match="NaN or infinite pixel values"):
        models.read_upload(str(tmp_path / "inf.tif"))
