"""Import of official CUT / FastCUT generators: numerics against an independent reference of the
official network, the paper's settings, one direction everywhere after it, and user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.port_reference import cut_generator, cut_generator_state, cyclegan_generator_state
from ugatit.inference.translation import TranslationError, load_checkpoint
from ugatit.tools.convert import ConversionError, convert_cut
from ugatit.training.base import DirectionError
from ugatit.training.contrastive import ContrastiveTranslation

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[2]


def save(tmp_path: Path, sd: dict, name: str = "latest_net_G.pth") -> Path:
    path = tmp_path / name
    torch.save(sd, path)
    return path


@pytest.mark.parametrize("size", [32, 44])
def test_translations_match_the_official_network(tmp_path, size):
    sd = cut_generator_state(ngf=4, n_blocks=9, seed=1)
    result = convert_cut(save(tmp_path, sd), tmp_path / "cut.ckpt")
    loaded = load_checkpoint(result.output)
    assert isinstance(loaded.module, ContrastiveTranslation)
    assert loaded.directions == ("a2b",)
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        out = loaded.module(x, "a2b").image
    torch.testing.assert_close(out, cut_generator(sd, x), atol=1e-4, rtol=0)


def test_paper_settings_and_a_fine_tune_from_the_file(tmp_path):
    result = convert_cut(save(tmp_path, cut_generator_state(4, 9)), tmp_path / "cut.ckpt")
    h = result.hparams
    assert h["generator"]["n_blocks"] == 9 and h["generator"]["ngf"] == 4
    assert h["loss"]["nce_identity"] and h["loss"]["nce_weight"] == 1.0
    assert h["nce"] == {
        "layers": [0, 4, 8, 12, 16],
        "num_patches": 256,
        "temperature": 0.07,
        "mlp_channels": 256,
    }
    assert h["optimizer"] == {"lr": 2e-4, "betas": [0.5, 0.999], "weight_decay": 0.0, "d_lr": None}
    assert h["schedule"]["max_epochs"] == 400
    assert result.converted["initialised"] == ["discriminator_b", "patch_sampler"]
    module = ContrastiveTranslation.load_from_checkpoint(result.output)
    assert module.iteration == 0


def test_a_one_sided_checkpoint_names_its_only_direction(tmp_path):
    result = convert_cut(save(tmp_path, cut_generator_state(4, 2)), tmp_path / "cut.ckpt")
    loaded = load_checkpoint(result.output)
    with pytest.raises(TranslationError, match=r"one-sided method\); use direction=a2b"):
        loaded.require_direction("b2a")
    with pytest.raises(DirectionError, match="translates a2b only"):
        loaded.module(torch.zeros(1, 3, 16, 16), "b2a")


def test_other_files_are_refused_with_the_right_command(tmp_path):
    cyclegan = save(tmp_path, cyclegan_generator_state(4, 2), "latest_net_G_A.pth")
    with pytest.raises(ConversionError, match="no model.7.filt.*convert.py cyclegan"):
        convert_cut(cyclegan, tmp_path / "out.ckpt")
    with pytest.raises(ConversionError, match="not a CUT generator"):
        convert_cut(save(tmp_path, {"a": torch.zeros(1)}, "x.pth"), tmp_path / "out.ckpt")
    assert not (tmp_path / "out.ckpt").exists()


def test_the_command_line(tmp_path):
    source = save(tmp_path, cut_generator_state(4, 2))
    output = tmp_path / "cut.ckpt"
    run = subprocess.run(
        [sys.executable, str(ROOT / "src" / "convert.py"), "cut", str(source), str(output)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "Converted CUT generator" in run.stdout and "a2b only" in run.stdout
    assert output.is_file()
