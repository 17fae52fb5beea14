"""Image listing and decoding: every mode becomes RGB with the right values; bad files say so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ugatit.data.errors import DataError
from ugatit.data.images import IMAGE_EXTENSIONS, check_images, list_images, load_rgb


def _pixel(path: Path, xy: tuple[int, int] = (0, 0)) -> tuple[int, int, int]:
    image = load_rgb(path)
    assert image.mode == "RGB"
    return image.getpixel(xy)


def test_greyscale_and_alpha_modes(tmp_path: Path) -> None:
    Image.new("L", (3, 2), 77).save(tmp_path / "l.png")
    assert _pixel(tmp_path / "l.png") == (77, 77, 77)

    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (100, 255))  # opaque grey
    la.putpixel((1, 0), (0, 0))  # fully transparent black -> white background
    la.save(tmp_path / "la.png")
    assert _pixel(tmp_path / "la.png", (0, 0)) == (100, 100, 100)
    assert _pixel(tmp_path / "la.png", (1, 0)) == (255, 255, 255)

    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (10, 20, 30, 255))
    rgba.putpixel((1, 0), (200, 0, 0, 128))  # half red over white
    rgba.save(tmp_path / "rgba.png")
    assert _pixel(tmp_path / "rgba.png", (0, 0)) == (10, 20, 30)
    r, g, b = _pixel(tmp_path / "rgba.png", (1, 0))
    assert abs(r - 227) <= 1 and abs(g - 127) <= 1 and g == b


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png")
    assert _pixel(tmp_path / "p.png", (0, 0)) == (255, 0, 0)
    assert _pixel(tmp_path / "p.png", (1, 0)) == (0, 0, 255)

    palette.save(tmp_path / "pt.png", transparency=1)
    assert Image.open(tmp_path / "pt.png").mode == "P"
    assert _pixel(tmp_path / "pt.png", (0, 0)) == (255, 0, 0)
    assert _pixel(tmp_path / "pt.png", (1, 0)) == (255, 255, 255)


def test_cmyk(tmp_path: Path) -> None:
    Image.new("CMYK", (2, 2), (0, 255, 255, 0)).save(tmp_path / "c.tiff")
    assert Image.open(tmp_path / "c.tiff").mode == "CMYK"
    assert _pixel(tmp_path / "c.tiff") == (255, 0, 0)


def test_high_bit_depth_is_scaled_not_clipped(tmp_path: Path) -> None:
    values16 = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(values16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    image = load_rgb(tmp_path / "g16.png")
    assert [image.getpixel((x, 0)) for x in range(3)] == [(0,) * 3, (100,) * 3, (255,) * 3]

    Image.fromarray(values16.astype(np.int32)).save(tmp_path / "i32.tif")
    assert Image.open(tmp_path / "i32.tif").mode == "I"
    assert _pixel(tmp_path / "i32.tif", (1, 0)) == (100, 100, 100)

    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "f.tif")
    assert Image.open(tmp_path / "f.tif").mode == "F"
    assert [_pixel(tmp_path / "f.tif", (x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_list_images_filters_sorts_and_ignores_case(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "b.png")
    for name in ("a.JPG", "c.Jpeg", "d.TIFF", "e.webp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "README").write_text("no extension")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()  # a directory with an image-like name
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "z.bmp").write_bytes(b"x")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "y.png").write_bytes(b"x")

    names = [p.name for p in list_images(tmp_path)]
    assert names == ["a.JPG", "b.png", "c.Jpeg", "d.TIFF", "e.webp"]
    deep = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)]
    assert deep == ["a.JPG", "b.png", "c.Jpeg", "d.TIFF", "e.webp", "sub/z.bmp"]
    assert ".png" in IMAGE_EXTENSIONS and ".txt" not in IMAGE_EXTENSIONS


def _truncated_jpeg(path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=95)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("kind", ["truncated", "text", "empty"])
def test_bad_files_raise_data_error_naming_file_and_fix(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.jpg"
    if kind == "truncated":
        _truncated_jpeg(path)
    elif kind == "text":
        path.write_text("<html>this is not a picture</html>")
    else:
        path.write_bytes(b"")
    with pytest.raises(DataError) as info:
        load_rgb(path)
    message = str(info.value)
    assert str(path) in message
    assert "skip_unreadable=true" in message and "delete" in message


def test_check_images_splits_good_from_bad_in_order(tmp_path: Path) -> None:
    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (8 if i != 2 else 4, 8)).save(path)
        paths.append(path)
    _truncated_jpeg(tmp_path / "t.jpg")
    paths.insert(1, tmp_path / "t.jpg")

    good, bad = check_images(paths, min_size=None)
    assert good == [paths[0], paths[2], paths[3], paths[4]]
    assert [p for p, _ in bad] == [paths[1]] and bad[0][1]

    good, bad = check_images(paths, min_size=6)
    assert [p for p, _ in bad] == [paths[1], paths[3]]
    assert "4x8" in bad[1][1]
