"""Import of official CycleGAN generators: numerics against a functional reference, running-stat
keys, one or two directions, the paper's hparams, a fine-tune from the file, and user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import Tensor

from helpers import FixedPairsDataModule
from helpers.port_reference import (
    cyclegan_generator,
    cyclegan_generator_state,
    port_generator_state,
)
from ugatit.tools.convert import ConversionError, convert_cyclegan
from ugatit.training.cycle import CycleTranslation

ROOT = Path(__file__).resolve().parents[2]
SIZE = 32


def image(seed: int) -> Tensor:
    return torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def save(tmp_path: Path, name: str, sd: dict, **kwargs) -> Path:
    path = tmp_path / name
    torch.save(sd, path, **kwargs)
    return path


@pytest.mark.parametrize("running_stats", [False, True])
def test_both_directions_reproduce_the_reference(tmp_path: Path, running_stats: bool) -> None:
    g_a = cyclegan_generator_state(4, 2, running_stats, seed=1)
    g_b = cyclegan_generator_state(4, 2, running_stats, seed=2)
    a2b = save(tmp_path, "latest_net_G_A.pth", g_a)
    b2a = save(tmp_path, "latest_net_G_B.pth", g_b, _use_new_zipfile_serialization=False)
    result = convert_cyclegan(tmp_path / "cyclegan.ckpt", a2b=a2b, b2a=b2a)
    expected_dropped = 2 * 3 * (5 + 2 * 2) if running_stats else 0  # 3 keys per IN, 9 INs
    assert sum(result.converted["dropped_running_stats"].values()) == expected_dropped
    module = CycleTranslation.load_from_checkpoint(result.output).eval()
    x = image(0)
    with torch.no_grad():
        for direction, sd in (("a2b", g_a), ("b2a", g_b)):
            out = module(x, direction)
            assert out.cam_logit is None and out.heatmap is None
            torch.testing.assert_close(out.image, cyclegan_generator(sd, x), atol=1e-4, rtol=0)


def test_settings_and_paper_hparams(tmp_path: Path) -> None:
    a2b = save(tmp_path, "horse2zebra.pth", cyclegan_generator_state(8, 3))
    result = convert_cyclegan(tmp_path / "out.ckpt", a2b=a2b)
    h = result.hparams
    assert h["generator"] == {
        "_target_": "ugatit.nets.cyclegan.ResnetGenerator",
        "in_channels": 3,
        "out_channels": 3,
        "ngf": 8,
        "n_blocks": 3,
    }
    assert h["discriminator"]["_target_"] == "ugatit.nets.cyclegan.PatchGANDiscriminator"
    assert (h["discriminator"]["ndf"], h["discriminator"]["n_layers"]) == (64, 3)
    assert h["loss"] == {
        "gan_mode": "lsgan",
        "adv_weight": 1.0,
        "cycle_weight": 10.0,
        "identity_weight": 5.0,
        "cam_weight": 0.0,
        "d_loss_scale": 0.5,
        "cycle_colour": True,
    }
    assert h["optimizer"] == {"lr": 2e-4, "betas": [0.5, 0.999], "weight_decay": 0.0, "d_lr": None}
    assert h["schedule"]["max_epochs"] == 200 and h["schedule"]["decay_start"] == 0.5
    assert h["pool_size"] == 50


def test_one_direction_leaves_the_other_fresh_and_records_it(tmp_path: Path) -> None:
    g_b = cyclegan_generator_state(4, 1, seed=5)
    b2a = save(tmp_path, "latest_net_G_B.pth", g_b)
    result = convert_cyclegan(tmp_path / "out.ckpt", b2a=b2a)
    checkpoint = torch.load(result.output, weights_only=True)
    assert checkpoint["converted"]["source"] == "cyclegan"
    assert checkpoint["converted"]["directions"] == ["b2a"]
    assert checkpoint["converted"]["files"] == {"b2a": str(b2a)}
    assert checkpoint["converted"]["initialised"] == [
        "generator_ab",
        "discriminator_a",
        "discriminator_b",
    ]
    sd = checkpoint["state_dict"]
    assert torch.equal(sd["generator_ba.model.1.weight"], g_b["model.1.weight"])
    assert sd["generator_ab.model.1.weight"].shape == g_b["model.1.weight"].shape
    assert not torch.equal(sd["generator_ab.model.1.weight"], g_b["model.1.weight"])


def test_fine_tune_two_iterations_from_the_converted_file(tmp_path: Path) -> None:
    a2b = save(tmp_path, "a.pth", cyclegan_generator_state(4, 1, seed=1))
    path = convert_cyclegan(tmp_path / "out.ckpt", a2b=a2b).output
    checkpoint = torch.load(path, weights_only=True)
    module = CycleTranslation(**checkpoint["hyper_parameters"])
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    before = module.generator_ab.model[1].weight.detach().clone()
    trainer.fit(module, datamodule=FixedPairsDataModule(n=4, size=SIZE), ckpt_path=str(path))
    assert module.iteration == 2 and trainer.global_step == 4
    after = module.generator_ab.model[1].weight.detach()
    official = checkpoint["state_dict"]["generator_ab.model.1.weight"]
    # the run started from the file (one small Adam step away), not from the module's own init
    assert (after - official).abs().max() < 1e-2 < (after - before).abs().max()


# ---------------------------------------------------------------------------- errors
def test_no_generator_given(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="at least one generator: --a2b FILE"):
        convert_cyclegan(tmp_path / "out.ckpt")


def test_generator_trained_with_dropout(tmp_path: Path) -> None:
    sd = cyclegan_generator_state(4, 1)
    sd["model.10.conv_block.6.weight"] = sd.pop("model.10.conv_block.5.weight")
    path = save(tmp_path, "g.pth", sd)
    with pytest.raises(ConversionError, match="trained with dropout"):
        convert_cyclegan(tmp_path / "out.ckpt", a2b=path)


def test_ugatit_file_points_to_the_other_command(tmp_path: Path) -> None:
    path = save(tmp_path, "params.pt", {"genA2B": port_generator_state(4, 1, True)})
    with pytest.raises(ConversionError) as info:
        convert_cyclegan(tmp_path / "out.ckpt", a2b=path)
    assert "found [genA2B]" in str(info.value) and "convert.py ugatit" in str(info.value)


def test_directions_of_different_widths(tmp_path: Path) -> None:
    a2b = save(tmp_path, "a.pth", cyclegan_generator_state(4, 1))
    b2a = save(tmp_path, "b.pth", cyclegan_generator_state(4, 2))
    with pytest.raises(ConversionError, match=r"differ \(n_blocks: 1 vs 2\).*one architecture"):
        convert_cyclegan(tmp_path / "out.ckpt", a2b=a2b, b2a=b2a)
    assert not (tmp_path / "out.ckpt").exists()


def test_tensor_of_the_wrong_shape(tmp_path: Path) -> None:
    sd = cyclegan_generator_state(4, 1)
    sd["model.11.weight"] = torch.zeros(16, 8, 5, 5)  # first transposed conv, kernel 5 instead of 3
    path = save(tmp_path, "g.pth", sd)
    with pytest.raises(ConversionError, match=rf"{path} does not fit .*model\.11\.weight"):
        convert_cyclegan(tmp_path / "out.ckpt", b2a=path)


def test_missing_generator_file(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="CycleGAN b2a file .*gone.pth does not exist"):
        convert_cyclegan(tmp_path / "out.ckpt", b2a=tmp_path / "gone.pth")


# ---------------------------------------------------------------------------- command line
def test_command_line(tmp_path: Path) -> None:
    a2b = save(tmp_path, "latest_net_G_A.pth", cyclegan_generator_state(4, 2, running_stats=True))
    output = tmp_path / "converted" / "cyclegan.ckpt"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "src" / "convert.py"),
            "cyclegan",
            "--a2b",
            str(a2b),
            str(output),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    for fragment in (
        "ngf=4",
        "2 residual blocks",
        "directions converted: a2b",
        "freshly initialised (seed 0): generator_ba",
        "dropped 27",
        f"Wrote {output}",
    ):
        assert fragment in run.stdout, run.stdout
    assert torch.load(output, weights_only=True)["converted"]["directions"] == ["a2b"]
