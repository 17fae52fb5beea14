"""Data folders: nothing a user puts in a domain folder is silently dropped, and every data error
names the setting that fixes it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pytorch_lightning.trainer.states import TrainerFn

from ugatit.data.datamodule import UnpairedDataModule
from ugatit.data.download import ensure_dataset
from ugatit.data.errors import DataError
from ugatit.data.images import load_rgb


def write(path: Path, shade: int = 0, size: tuple[int, int] = (12, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (shade, 40, 90)).save(path)
    return path


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "toy"
    for split in ("trainA", "testA", "testB"):
        write(root / split / "0.png")
        write(root / split / "1.png")
    return root


def module(root: Path, **options) -> UnpairedDataModule:
    settings = {"crop_size": 8, "load_size": 10, "batch_size": 1, "val_samples": 1, **options}
    return UnpairedDataModule(str(root), **settings)


def test_rel_images_in_subfolders_are_used_and_counted(tmp_path, caplog):
    """BAD 3: one image on top and three in a subfolder trained on one image, without a word."""
    root = make_root(tmp_path)
    write(root / "trainB" / "top.png")
    for i in range(3):
        write(root / "trainB" / "more" / f"{i}.png")
    write(root / "trainB" / ".hidden" / "skipped.png")  # hidden entries stay skipped
    write(root / "trainB" / ".skipped.png")
    data = module(root)
    with caplog.at_level(logging.INFO, logger="ugatit.data.datamodule"):
        data.setup(TrainerFn.FITTING)  # what Lightning passes
    names = [p.relative_to(root / "trainB").as_posix() for p in data.train_dataset.files_b]
    assert names == ["more/0.png", "more/1.png", "more/2.png", "top.png"]
    counts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Data ")]
    assert counts == [
        f"Data 'toy' ({root}, fit): trainA 2, trainB 4, testA 1 (validation), "
        "testB 1 (validation) images"
    ]


def test_rel_gif_files_are_images(tmp_path):
    """GIFs used to be left out of a folder silently; they are read as their first frame."""
    root = make_root(tmp_path)
    (root / "trainB").mkdir()
    frames = [Image.new("P", (12, 10), 3), Image.new("P", (12, 10), 7)]
    frames[0].save(root / "trainB" / "anim.gif", save_all=True, append_images=frames[1:])
    write(root / "trainB" / "still.png")
    data = module(root)
    data.setup("fit")
    assert [p.name for p in data.train_dataset.files_b] == ["anim.gif", "still.png"]
    first = load_rgb(root / "trainB" / "anim.gif")
    assert first.mode == "RGB" and first.size == (12, 10)
    palette = frames[0].convert("RGB").getpixel((0, 0))
    assert first.getpixel((0, 0)) == palette


@pytest.mark.parametrize("name", [None, "shapes"])
def test_rel_data_root_that_is_a_file_says_so(tmp_path, name):
    root = tmp_path / "data.zip"
    root.write_bytes(b"not a folder")
    data = module(root, name=name)
    for step in (data.prepare_data, lambda: data.setup("fit")):
        with pytest.raises(DataError) as info:
            step()
        message = str(info.value)
        assert message.startswith(f"data.root '{root}' is a file, not a folder")
        assert "does not exist" not in message
    assert root.read_bytes() == b"not a folder"  # left alone


def _corrupt_one(root: Path) -> Path:
    bad = write(root / "trainB" / "bad.png")
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    return bad


@pytest.mark.parametrize(
    "skip_unreadable, workers, advice",
    [
        (
            True,
            1,
            "data.skip_unreadable=true leaves unreadable images out only when they are checked "
            "before training: set data.check_images=true",
        ),
        (False, 0, "set data.check_images=true and data.skip_unreadable=true"),
    ],
)
def test_rel_unchecked_corrupt_file_gives_advice_that_helps(
    tmp_path, skip_unreadable, workers, advice
):
    """check_images=false: the file fails while training; its advice used to be to set
    skip_unreadable=true even when it was already set (which does nothing without the check).
    From a loader worker the message arrives alone, not under the worker's traceback."""
    root = make_root(tmp_path)
    bad = _corrupt_one(root)
    data = module(root, check_images=False, skip_unreadable=skip_unreadable, num_workers=workers)
    data.setup("fit")
    messages = []
    batches = iter(data.train_dataloader())
    while True:  # to the end, so the loader stops its worker now (not in a later test, slowly)
        try:
            next(batches)  # trainB holds only the bad file: every batch fails
        except DataError as error:
            messages.append(str(error))
        except StopIteration:
            break
    assert len(messages) == 2  # both batches (two A images)
    message = messages[0]
    assert message.startswith(f"Cannot read image '{bad}'")
    assert advice in message and "Traceback" not in message


def test_rel_checked_data_still_offers_skip_unreadable(tmp_path):
    root = make_root(tmp_path)
    bad = _corrupt_one(root)
    with pytest.raises(DataError) as info:
        module(root).setup("fit")
    assert str(info.value).startswith(f"1 unreadable image(s) under '{root}': '{bad}'")
    assert "set data.skip_unreadable=true to leave them out" in str(info.value)


def test_rel_a_hand_made_layout_with_subfolders_is_not_downloaded(tmp_path):
    """The download check counts images in subfolders too, so it does not try to fetch a data
    set that is already there (the URL below is unreachable)."""
    root = tmp_path / "mine"
    for split in ("trainA", "trainB", "testA", "testB"):
        write(root / split / "nested" / "x.png")
    assert ensure_dataset(root, "mine", "http://127.0.0.1:9/none") == root
    assert np.asarray(load_rgb(root / "trainA" / "nested" / "x.png")).shape == (12, 12, 3)
