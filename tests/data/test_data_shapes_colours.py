"""data.colours of the built-in shapes: the palette unchanged, random colours varied and apart,
both modes kept side by side, bad modes refused, wired through the data module."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ugatit.data import shapes
from ugatit.data.datamodule import UnpairedDataModule
from ugatit.data.errors import DataError
from ugatit.data.shapes import MARKER, ensure_shapes
from ugatit.evaluation.shape_metric.foreground import background_colour, contrast_map

# sha256 of the pixels of 12 images per pair (trainA/trainB/testA/testB 0-2, 64 px, seed 0),
# drawn by the generator before data.colours existed: the palette must stay bit for bit the same
PALETTE_DIGESTS = {
    "round_rect": "642a7759616191efd596690de04bb06ef44e9cbee5b03a3fcfeda04e5d06e4aa",
    "star_cross": "865967d9e66db3a4dca35e97dc091319bf61bd0cd27d2d95a4ca28ad217dc6e3",
    "hourglass_diamond": "484fc60f700ebe22c8dfd62a3a4ae18a04f66fc9d664ea601900d6c8b2134c6b",
}


def _digest(pair: str, colours: str | None = None) -> str:
    kind_a, kind_b = shapes.PAIRS[pair]
    extra = () if colours is None else (colours,)
    digest = hashlib.sha256()
    for split_id, kind in ((0, kind_a), (1, kind_b), (2, kind_a), (3, kind_b)):
        for i in range(3):
            rng = np.random.default_rng([0, split_id, i])
            digest.update(np.asarray(shapes.draw_shape(rng, kind, 64, *extra)).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("pair", list(shapes.PAIRS))
def test_the_palette_is_drawn_as_before(pair: str) -> None:
    assert _digest(pair) == PALETTE_DIGESTS[pair]
    assert _digest(pair, "palette") == PALETTE_DIGESTS[pair]
    assert _digest(pair, "random") != PALETTE_DIGESTS[pair]


def _fill_and_background(image) -> tuple[np.ndarray, np.ndarray]:
    """Background: the border's median; fill: the median of the shape's inner pixels."""
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float()
    background = background_colour(x)[0, :, 0, 0]
    distance = contrast_map(x)[0, 0]
    inside = distance >= 0.8 * distance.max()
    return x[0][:, inside].median(dim=1).values.numpy(), background.numpy()


def test_random_colours_vary_keep_their_contrast_and_are_alike_in_both_domains() -> None:
    fills, backgrounds = [], []
    for seed in range(60):
        image_a = shapes.draw_shape(np.random.default_rng(seed), "round", 64, "random")
        image_b = shapes.draw_shape(np.random.default_rng(seed), "rect", 64, "random")
        fill_a, background_a = _fill_and_background(image_a)
        fill_b, background_b = _fill_and_background(image_b)
        # the same seed draws the same colours whatever the kind: one distribution for A and B
        assert np.abs(background_a - background_b).max() < 4
        assert np.abs(fill_a - fill_b).max() < 4
        assert np.linalg.norm(fill_a - background_a) >= shapes.MIN_CONTRAST - 10  # noise
        fills.append(fill_a)
        backgrounds.append(background_a)
    fills, backgrounds = np.array(fills), np.array(backgrounds)
    assert fills.std(axis=0).min() > 50 and backgrounds.std(axis=0).min() > 50
    darker_background = (backgrounds.sum(axis=1) < fills.sum(axis=1)).mean()
    assert 0.3 < darker_background < 0.7  # light shapes on dark grounds as often as the reverse
    draws = [shapes.random_colours(np.random.default_rng(s)) for s in range(2000)]
    distances = [np.linalg.norm(np.subtract(f, b)) for f, b in draws]
    assert min(distances) >= shapes.MIN_CONTRAST
    channels = np.array([c for pair in draws for c in pair])
    assert channels.min() <= 2 and channels.max() >= 253


def test_both_modes_live_side_by_side_and_the_marker_records_the_mode(tmp_path: Path) -> None:
    palette_root = tmp_path / "shapes" / "round_rect"
    random_root = shapes.colour_folder(palette_root, "random")
    assert random_root == tmp_path / "shapes" / "round_rect-random"
    assert shapes.colour_folder(palette_root, "palette") == palette_root
    ensure_shapes(palette_root, image_size=16, n_train=2, n_test=1)
    ensure_shapes(random_root, image_size=16, n_train=2, n_test=1, colours="random")
    assert json.loads((palette_root / MARKER).read_text())["colours"] == "palette"
    assert json.loads((random_root / MARKER).read_text())["colours"] == "random"
    a_palette = (palette_root / "trainA" / "00000.png").read_bytes()
    assert a_palette != (random_root / "trainA" / "00000.png").read_bytes()
    # asking again for either mode finds it complete: nothing is redrawn
    stamps = [(r / MARKER).stat().st_mtime_ns for r in (palette_root, random_root)]
    ensure_shapes(palette_root, image_size=16, n_train=2, n_test=1)
    ensure_shapes(random_root, image_size=16, n_train=2, n_test=1, colours="random")
    assert [(r / MARKER).stat().st_mtime_ns for r in (palette_root, random_root)] == stamps


def test_a_data_set_made_before_the_option_counts_as_palette(tmp_path: Path) -> None:
    root = ensure_shapes(tmp_path / "s", image_size=16, n_train=2, n_test=1)
    settings = json.loads((root / MARKER).read_text())
    del settings["colours"]  # what the generator wrote before data.colours existed
    (root / MARKER).write_text(json.dumps(settings))
    stamp = (root / MARKER).stat().st_mtime_ns
    ensure_shapes(root, image_size=16, n_train=2, n_test=1)
    assert (root / MARKER).stat().st_mtime_ns == stamp
    ensure_shapes(root, image_size=16, n_train=2, n_test=1, colours="random")  # redrawn
    assert json.loads((root / MARKER).read_text())["colours"] == "random"


def test_unknown_colour_modes_are_refused_with_the_choices(tmp_path: Path) -> None:
    message = (
        "data.colours='neon' is not a colour mode of the shapes; choose one of palette, random"
    )
    with pytest.raises(DataError, match=message):
        ensure_shapes(tmp_path / "s", colours="neon")
    with pytest.raises(DataError, match=message):
        UnpairedDataModule(str(tmp_path / "s"), name="shapes", colours="neon")
    assert not (tmp_path / "s").exists()


def test_the_data_module_draws_random_colours_beside_the_palette(tmp_path: Path) -> None:
    module = UnpairedDataModule(str(tmp_path / "round_rect"), name="shapes", colours="random")
    assert module.root == tmp_path / "round_rect-random"
    module.prepare_data()
    assert json.loads((module.root / MARKER).read_text())["colours"] == "random"
    assert not (tmp_path / "round_rect").exists()
    palette = UnpairedDataModule(str(tmp_path / "round_rect"), name="shapes")
    assert palette.root == tmp_path / "round_rect" and palette.colours is None
