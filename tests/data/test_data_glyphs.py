"""The built-in typeface pairs: deterministic, letters named in the files, both domains drawn alike
but for the typeface, fonts found in matplotlib's wheel, wired into the data module."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from ugatit.data import glyphs
from ugatit.data.builtin import SPLITS
from ugatit.data.datamodule import UnpairedDataModule
from ugatit.data.errors import DataError
from ugatit.data.glyphs import MARKER, ensure_glyphs
from ugatit.evaluation.shape_metric.foreground import background_colour, geometry


def _contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def test_counts_letter_names_and_determinism(tmp_path: Path) -> None:
    root = ensure_glyphs(tmp_path / "one", image_size=32, n_train=6, n_test=3, seed=7)
    files = {s: sorted((root / s).glob("*.png")) for s in SPLITS}
    assert {s: len(f) for s, f in files.items()} == {
        "trainA": 6,
        "trainB": 6,
        "testA": 3,
        "testB": 3,
    }
    assert all(re.fullmatch(r"\d{5}_[a-z]", p.stem) for f in files.values() for p in f)
    assert all(Image.open(p).size == (32, 32) for f in files.values() for p in f)
    assert (root / MARKER).is_file()
    # the letter in the name is the one drawn: trainB image 2 comes from the seed [7, 1, 2]
    image, letter = glyphs.draw_letter(np.random.default_rng([7, 1, 2]), "dejavu_serif", 32)
    assert files["trainB"][2].name == f"00002_{letter}.png"
    assert np.array_equal(np.asarray(Image.open(files["trainB"][2])), np.asarray(image))

    same = ensure_glyphs(tmp_path / "two", image_size=32, n_train=6, n_test=3, seed=7)
    assert _contents(same) == _contents(root)
    other = ensure_glyphs(tmp_path / "three", image_size=32, n_train=6, n_test=3, seed=8)
    assert _contents(other) != _contents(root)


@pytest.mark.parametrize("pair", list(glyphs.PAIRS))
def test_the_same_draw_in_both_typefaces_differs_in_the_typeface_only(pair: str) -> None:
    """Both domains consume the random stream alike: the same seed gives the same letter, paper,
    ink, size, angle and place in either typeface, so their distributions are the same."""
    font_a, font_b = glyphs.PAIRS[pair]
    for seed in range(12):
        image_a, letter_a = glyphs.draw_letter(np.random.default_rng(seed), font_a, 64)
        image_b, letter_b = glyphs.draw_letter(np.random.default_rng(seed), font_b, 64)
        assert letter_a == letter_b
        a, b = _tensor(image_a)[None], _tensor(image_b)[None]
        assert torch.allclose(background_colour(a.float()), background_colour(b.float()), atol=4)
        centre_a, centre_b = geometry(a)[0], geometry(b)[0]
        assert float((centre_a - centre_b).norm()) < 0.02  # placed by the ink centroid
        assert not torch.equal(a, b)


def test_the_generated_domains_share_colours_places_and_letters(tmp_path: Path) -> None:
    """Statistics of the generated splits (independent draws): paper colour, ink centroid and
    letters alike in A and B."""
    root = ensure_glyphs(tmp_path / "g", n_train=150, n_test=1)
    stats = {}
    for split in ("trainA", "trainB"):
        paths = sorted((root / split).glob("*.png"))
        images = torch.stack([_tensor(Image.open(p)) for p in paths])
        centre, _, found = geometry(images)
        assert bool(found.all())
        stats[split] = {
            "paper": background_colour(images.float()).mean(dim=0).flatten(),
            "centre": centre.mean(dim=0),
            "spread": centre.std(dim=0),
            "letters": {glyphs.letter_of(p) for p in paths},
        }
    a, b = stats["trainA"], stats["trainB"]
    assert float((a["paper"] - b["paper"]).abs().max()) < 3.0  # grey levels; tints within 6
    assert float((a["centre"] - b["centre"]).abs().max()) < 0.015
    assert torch.allclose(a["centre"], torch.tensor([0.5, 0.5]), atol=0.02)
    assert float((a["spread"] - b["spread"]).abs().max()) < 0.01
    assert len(a["letters"]) >= 24 and len(b["letters"]) >= 24  # 150 uniform draws of 26


def test_long_letters_stay_inside_the_image() -> None:
    for seed in range(60):
        rng = np.random.default_rng(seed)
        font = list(glyphs.FONTS)[seed % len(glyphs.FONTS)]
        letter = "jfgqyl"[seed % 6]
        mask = np.asarray(glyphs.glyph_mask(rng, font, letter, 256))
        edge = glyphs.MARGIN * 4 - 1  # MARGIN px of the final 64-px image, minus rounding
        for border in (mask[:edge], mask[-edge:], mask[:, :edge], mask[:, -edge:]):
            assert border.max() == 0, (font, letter)


def test_fonts_are_matplotlibs_and_hold_every_letter() -> None:
    assert glyphs.font_folder() == Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for font, file_name in glyphs.FONTS.items():
        assert (glyphs.font_folder() / file_name).is_file(), font
    for font in glyphs.FONTS:  # every letter has ink and a form of its own
        masks = [glyphs._master(font, letter, 64)[0].tobytes() for letter in glyphs.LETTERS]
        assert len(set(masks)) == len(glyphs.LETTERS), font
    for font_a, font_b in glyphs.PAIRS.values():
        assert font_a != font_b


def test_unknown_pairs_and_foreign_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match="data.pair='gothic' is not a built-in glyph pair; choose one of "
        "sans_serif, roman_italic, bold_italic",
    ):
        ensure_glyphs(tmp_path / "g", pair="gothic")
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("precious")
    with pytest.raises(DataError, match="not a complete glyphs data set and holds other files"):
        ensure_glyphs(root, image_size=16, n_train=2, n_test=1)
    assert (root / "notes.txt").read_text() == "precious"


def test_the_data_module_generates_the_chosen_pair(tmp_path: Path) -> None:
    module = UnpairedDataModule(
        str(tmp_path / "glyphs" / "roman_italic"), name="glyphs", pair="roman_italic", crop_size=64
    )
    module.prepare_data()
    marker = (tmp_path / "glyphs" / "roman_italic" / MARKER).read_text()
    assert '"pair": "roman_italic"' in marker
    module.setup("test")
    assert len(module.test_datasets["a"]) == 50 and len(module.test_datasets["b"]) == 50
    with pytest.raises(DataError, match="data.colours='random' applies to the built-in shapes"):
        UnpairedDataModule(str(tmp_path / "g"), name="glyphs", colours="random")


def test_data_glyphs_is_a_plain_data_config() -> None:
    """data=glyphs sets the data only: the model and the callbacks stay as chosen."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        plain = compose("train", overrides=["paths.data_dir=/datasets", "data=folder"])
        cfg = compose("train", overrides=["paths.data_dir=/datasets", "data=glyphs"])
    for key in ("model", "callbacks"):  # unresolved: the model reads data.crop_size
        assert OmegaConf.to_container(cfg[key]) == OmegaConf.to_container(plain[key]), key
    module = instantiate(cfg.data)
    assert (module.name, module.pair, module.root) == (
        "glyphs", "sans_serif", Path("/datasets/glyphs/sans_serif")
    )  # fmt: skip
    assert (module.crop_size, module.flip) == (64, False)  # a mirrored b is a d
    text = (conf / "data" / "glyphs.yaml").read_text()
    assert "@package" not in text
