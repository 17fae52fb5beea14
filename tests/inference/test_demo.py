"""src/demo.py: the page translates like translate.py, in a real browser, and answers bad uploads
and bad settings with a message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import compose_config
from helpers.checkpoints import trained_checkpoint
from ugatit.errors import UserError
from ugatit.inference.demo import DemoError, DemoModels, checkpoint_list, labels, serve
from ugatit.inference.translation import load_checkpoint, translate_files
from ugatit.tools.demo_browser import browser_page, page_error, running_demo, upload_and_translate

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, shapes_dir) -> dict[str, Path]:
    return {
        kind: trained_checkpoint(tmp_path_factory, shapes_dir, kind) for kind in ("light", "cut")
    }


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """An odd-sized picture (not a multiple of 4, so the size policy pads and crops)."""
    path = tmp_path_factory.mktemp("upload") / "photo.png"
    pixels = np.random.default_rng(1).integers(0, 256, (45, 58, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def translate_py_output(checkpoint: Path, image: Path, direction: str, out: Path) -> np.ndarray:
    (written,) = translate_files(load_checkpoint(checkpoint, "cpu"), image, out, direction)
    return np.asarray(Image.open(written).convert("RGB"))


def test_page_in_a_browser_translates_like_translate_py(checkpoints, photo, tmp_path):
    (tmp_path / "run").mkdir()
    light, cut = checkpoints["light"], checkpoints["cut"]
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    with running_demo([light, cut], tmp_path / "run") as url, browser_page() as page:
        shown = upload_and_translate(page, url, photo, direction="b2a")
        expected = translate_py_output(light, photo, "b2a", tmp_path / "light")
        assert np.array_equal(np.asarray(shown.translation), expected)
        assert shown.heatmap is not None and shown.heatmap.size == (58, 45)
        assert "B → A (b2a)" in shown.status and "58x45 px" in shown.status
        # the second checkpoint of the list, chosen on the page: CUT has no attention map
        name = labels([light, cut])
        cut_name = next(k for k, v in name.items() if v == cut)
        shown = upload_and_translate(page, url, photo, direction="a2b", checkpoint=cut_name)
        expected = translate_py_output(cut, photo, "a2b", tmp_path / "cut")
        assert np.array_equal(np.asarray(shown.translation), expected)
        assert shown.heatmap is None and "no attention heatmap" in shown.status
        # a broken upload: a message on the page, and the server keeps serving
        assert "not an image Pillow can read" in page_error(page, url, bad)
        assert upload_and_translate(page, url, photo).translation.size == (58, 45)


def test_uploads_the_demo_refuses(checkpoints, tmp_path, photo):
    models = DemoModels(checkpoint_list(str(checkpoints["light"])), "cpu", max_side=50)
    big = models.read_upload  # 58 px > max_side 50
    with pytest.raises(UserError, match="58x45; the demo takes at most 50 px"):
        big(str(photo))
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (5, 20)).save(tiny)
    with pytest.raises(UserError, match="at least 8 px"):
        models.translate(next(iter(models.choices)), "a2b", str(tiny))
    with pytest.raises(UserError, match="Upload an image first"):
        models.read_upload(None)
    one_sided = DemoModels(checkpoint_list(str(checkpoints["cut"])), "cpu")
    with pytest.raises(UserError, match="use direction=a2b"):
        one_sided.translate(next(iter(one_sided.choices)), "b2a", str(photo))


def test_checkpoint_lists(checkpoints, tmp_path):
    light, cut = str(checkpoints["light"]), str(checkpoints["cut"])
    assert checkpoint_list(f"{light},{cut}") == [Path(light), Path(cut)]
    assert checkpoint_list([light, light]) == [Path(light)]
    with pytest.raises(DemoError, match="ckpt_path is not set"):
        checkpoint_list(None)
    with pytest.raises(DemoError, match="missing.ckpt' does not exist"):
        checkpoint_list([light, str(tmp_path / "missing.ckpt")])
    # two runs' last.ckpt get distinct names: the run folder and the file
    assert list(
        labels([Path("a/run1/checkpoints/last.ckpt"), Path("b/run2/checkpoints/last.ckpt")])
    ) == [
        "run1/last.ckpt",
        "run2/last.ckpt",
    ]


@pytest.mark.parametrize(
    ("override", "message"),
    [("port=70000", "port=70000 is not a TCP port"), ("max_side=4", "max_side=4 must be")],
)
def test_bad_settings_stop_before_serving(checkpoints, tmp_path, shapes_dir, override, message):
    cfg = compose_config(
        "demo", tmp_path, shapes_dir, [f"ckpt_path={checkpoints['light']}", override]
    )
    with pytest.raises(DemoError, match=message):
        serve(cfg)
