"""Import of U-GAT-IT PyTorch-port checkpoints: numerics against an independent reference,
inference of the settings, Lightning loading and fine-tuning, and every user error."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from helpers import FixedPairsDataModule
from helpers.port_reference import (
    port_discriminator,
    port_discriminator_state,
    port_generator,
    port_generator_state,
    port_save_dict,
)
from ugatit.errors import UserError
from ugatit.tools.convert import (
    ConversionError,
    convert_ugatit,
    normalise_spectral_norm,
)
from ugatit.training.cycle import CycleTranslation

ROOT = Path(__file__).resolve().parents[2]
SIZE = 32
# light: modern spectral norm, zip serialisation; full: PyTorch 0.4 layout, legacy serialisation.
CASES = {
    "light": {
        "ngf": 4,
        "n_res": 2,
        "light": True,
        "ndf": 4,
        "global": 5,
        "local": 3,
        "layout": "modern",
    },
    "full": {
        "ngf": 4,
        "n_res": 1,
        "light": False,
        "ndf": 4,
        "global": 4,
        "local": 3,
        "layout": "legacy",
    },
}
DOMAIN_OF = {"A": "discriminator_a", "B": "discriminator_b"}


def assert_matches(actual: Tensor, expected: Tensor) -> None:
    """Within 1e-4, relative to the tensor's scale when it is small (D logits are ~1e-2)."""
    scale = min(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, atol=1e-4 * scale, rtol=0)


def image(seed: int, size: int = SIZE) -> Tensor:
    return torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each case: the official dict, the port file and the converted checkpoint."""
    root = tmp_path_factory.mktemp("ugatit")
    out = {}
    for name, c in CASES.items():
        official = port_save_dict(
            c["ngf"], c["n_res"], c["light"], SIZE, c["ndf"], c["global"], c["local"], c["layout"]
        )
        source = root / f"{name}_params_0100000.pt"
        torch.save(official, source, _use_new_zipfile_serialization=(name == "light"))
        result = convert_ugatit(source, root / f"{name}.ckpt")
        out[name] = {"official": official, "source": source, "result": result}
    return out


def loaded(case: dict) -> CycleTranslation:
    return CycleTranslation.load_from_checkpoint(case["result"].output).eval()


# ---------------------------------------------------------------------------- numerics
@pytest.mark.parametrize("name", list(CASES))
def test_generators_reproduce_the_port(converted, name: str) -> None:
    case = converted[name]
    module = loaded(case)
    x = image(0)
    with torch.no_grad():
        for direction, key in (("a2b", "genA2B"), ("b2a", "genB2A")):
            out = module(x, direction)
            expected = port_generator(case["official"][key], x, light=CASES[name]["light"])
            for actual, reference in zip(out, expected, strict=True):
                assert actual.shape == reference.shape
                assert_matches(actual, reference)


@pytest.mark.parametrize("name", list(CASES))
def test_discriminators_reproduce_the_port_in_both_spectral_norm_layouts(
    converted, name: str
) -> None:
    case = converted[name]
    module = loaded(case)
    x = image(1)
    with torch.no_grad():
        for domain, attribute in DOMAIN_OF.items():
            heads = getattr(module, attribute)(x)
            for head, key in zip(heads, (f"disG{domain}", f"disL{domain}"), strict=True):
                expected = port_discriminator(case["official"][key], x)
                for actual, reference in zip(head, expected, strict=True):
                    assert actual.shape == reference.shape
                    assert_matches(actual, reference)


def test_the_port_numerics_are_what_makes_outputs_match(converted) -> None:
    """The project's defaults (biased variance, normalised D CAM weight) would not reproduce the
    port, so the reference comparisons above do test the inferred numerics."""
    case = converted["light"]
    checkpoint = torch.load(case["result"].output, weights_only=True)
    hparams = copy.deepcopy(checkpoint["hyper_parameters"])
    hparams["generator"]["unbiased_variance"] = False
    hparams["discriminator"]["cam_weight"] = "normalized"
    other = CycleTranslation(**hparams)
    other.load_state_dict(checkpoint["state_dict"])
    other.eval()
    x = image(2)
    with torch.no_grad():
        g = port_generator(case["official"]["genA2B"], x, light=True)[0]
        assert (other(x).image - g).abs().max() > 1e-3
        d = port_discriminator(case["official"]["disGA"], x)[2]
        assert (other.discriminator_a(x)[0].heatmap - d).abs().max() > 1e-3


def test_legacy_spectral_norm_gives_the_weight_of_torchs_own_hook() -> None:
    """Loaded into torch's spectral norm, our rewritten layer and the legacy layer (through torch's
    SpectralNormLoadStateDictPreHook) both give the stored normalised weight in eval mode."""
    legacy = port_discriminator_state(4, 4, layout="legacy", seed=7)
    prefix = "model.4."
    layer_sd = {k[len(prefix) :]: v for k, v in legacy.items() if k.startswith(prefix)}
    assert set(layer_sd) == {"weight_orig", "weight_u", "weight", "bias"}
    ours, layout = normalise_spectral_norm(layer_sd, "test")
    assert layout == "legacy" and set(ours) == {"weight_orig", "weight_u", "weight_v", "bias"}
    weights = []
    for sd in (layer_sd, ours):
        conv = nn.utils.spectral_norm(nn.Conv2d(4, 8, 4, 2)).eval()
        conv.load_state_dict(sd)
        with torch.no_grad():
            conv(torch.zeros(1, 4, 8, 8))  # eval mode: no power iteration, weight from u and v
        weights.append(conv.weight.detach())
    torch.testing.assert_close(weights[0], layer_sd["weight"])
    torch.testing.assert_close(weights[1], layer_sd["weight"])
    # v is the hook's: pinv(W) u (its pinv(W^T W) W^T u), rescaled so that u . W v = sigma
    mat = layer_sd["weight_orig"].reshape(8, -1).double()
    u = layer_sd["weight_u"].double()
    v = torch.linalg.pinv(mat) @ u
    sigma = (layer_sd["weight_orig"] / layer_sd["weight"]).mean().double()
    v = v * sigma / torch.dot(u, mat @ v)
    torch.testing.assert_close(ours["weight_v"].double(), v, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(layer_sd["weight"], layer_sd["weight_orig"], rtol=0.05)


# ---------------------------------------------------------------------------- inferred settings
def test_settings_are_inferred_from_the_weights(converted) -> None:
    light = converted["light"]["result"].hparams
    full = converted["full"]["result"].hparams
    assert {k: light["generator"][k] for k in ("ngf", "n_res", "light", "use_cam")} == {
        "ngf": 4,
        "n_res": 2,
        "light": True,
        "use_cam": True,
    }
    assert {k: full["generator"][k] for k in ("ngf", "n_res", "light", "img_size")} == {
        "ngf": 4,
        "n_res": 1,
        "light": False,
        "img_size": SIZE,
    }
    for hparams, c in ((light, CASES["light"]), (full, CASES["full"])):
        g, d = hparams["generator"], hparams["discriminator"]
        assert g["unbiased_variance"] is True and g["rho_offset"] == 0.0 and g["norm"] == "adalin"
        assert d["_target_"] == "ugatit.nets.ugatit.UgatitDiscriminatorSet"
        assert (d["ndf"], d["global_layers"], d["local_layers"]) == (
            c["ndf"],
            c["global"],
            c["local"],
        )
        assert d["cam_weight"] == "raw" and d["use_cam"] is True
        assert hparams["loss"] == {
            "gan_mode": "lsgan",
            "adv_weight": 1.0,
            "cycle_weight": 10.0,
            "identity_weight": 10.0,
            "cam_weight": 1000.0,
            "d_loss_scale": 1.0,
            "cycle_colour": True,
        }
        optimizer = {"lr": 1e-4, "betas": [0.5, 0.999], "weight_decay": 1e-4, "d_lr": None}
        assert hparams["optimizer"] == optimizer
        schedule = {"max_iterations": 1_000_000, "max_epochs": None, "decay_start": 0.5}
        assert hparams["schedule"] == schedule
        assert hparams["pool_size"] == 0


def test_checkpoint_records_the_conversion_and_fresh_training_state(converted) -> None:
    case = converted["full"]
    checkpoint = torch.load(case["result"].output, weights_only=True)  # plain data only
    assert checkpoint["converted"]["source"] == "ugatit-pytorch"
    assert checkpoint["converted"]["directions"] == ["a2b", "b2a"]
    assert checkpoint["converted"]["initialised"] == []
    assert set(checkpoint["converted"]["spectral_norm_layouts"].values()) == {"legacy"}
    assert (checkpoint["epoch"], checkpoint["global_step"], checkpoint["iteration"]) == (0, 0, 0)
    assert checkpoint["pytorch-lightning_version"] == pl.__version__
    assert len(checkpoint["optimizer_states"]) == 2 and len(checkpoint["lr_schedulers"]) == 2
    assert all(state["state"] == {} for state in checkpoint["optimizer_states"])
    # every official tensor landed under its project name (spectral norm rewritten as modern)
    sd = checkpoint["state_dict"]
    official = case["official"]
    assert torch.equal(sd["generator_ba.FC.0.weight"], official["genB2A"]["FC.0.weight"])
    assert torch.equal(
        sd["discriminator_b.discriminators.1.model.1.weight_orig"],
        official["disLB"]["model.1.weight_orig"],
    )
    assert "discriminator_a.discriminators.0.conv.weight_v" in sd
    assert not any(
        k.endswith(".weight") and "discriminators" in k and "conv1x1" not in k for k in sd
    )


def test_generator_only_file_keeps_fresh_seeded_discriminators(tmp_path: Path) -> None:
    official = {"genA2B": port_generator_state(4, 1, light=True, seed=3)}
    source = tmp_path / "gen_only.pt"
    torch.save(official, source)
    first = convert_ugatit(source, tmp_path / "one.ckpt")
    second = convert_ugatit(source, tmp_path / "two.ckpt")
    assert first.converted["directions"] == ["a2b"]
    assert first.converted["initialised"] == ["generator_ba", "discriminator_a", "discriminator_b"]
    d = first.hparams["discriminator"]
    assert (d["ndf"], d["global_layers"], d["local_layers"]) == (4, 7, 5)  # the port's defaults
    a = torch.load(first.output, weights_only=True)["state_dict"]
    b = torch.load(second.output, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # fresh networks are seeded: conversions repeat
    module = CycleTranslation.load_from_checkpoint(first.output).eval()
    x = image(3)
    with torch.no_grad():
        assert_matches(module(x).image, port_generator(official["genA2B"], x, light=True)[0])


# ---------------------------------------------------------------------------- Lightning
def fit_from(path: Path, module: CycleTranslation, **kwargs) -> pl.Trainer:
    """Two iterations (four optimizer steps) resumed from ``path`` via trainer.fit(ckpt_path)."""
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        **kwargs,
    )
    trainer.fit(module, datamodule=FixedPairsDataModule(n=4, size=SIZE), ckpt_path=str(path))
    return trainer


class _RecordStart(pl.Callback):
    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.iteration = module.iteration


def test_fine_tune_two_iterations_from_the_converted_file(converted) -> None:
    path = converted["light"]["result"].output
    saved = torch.load(path, weights_only=True)["state_dict"]
    module = CycleTranslation(**torch.load(path, weights_only=True)["hyper_parameters"])
    assert not torch.equal(
        module.state_dict()["generator_ab.FC.0.weight"], saved["generator_ab.FC.0.weight"]
    )
    record = _RecordStart()
    trainer = fit_from(path, module, callbacks=[record])
    assert all(torch.equal(record.start[k], saved[k]) for k in saved)  # resumed from the file
    assert record.iteration == 0
    assert module.iteration == 2 and trainer.global_step == 4
    assert not torch.equal(
        module.generator_ab.FC[0].weight.detach(), saved["generator_ab.FC.0.weight"]
    )
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-4)


# ---------------------------------------------------------------------------- errors
def expect_error(source: Path, output: Path, *fragments: str) -> str:
    with pytest.raises(ConversionError) as info:
        convert_ugatit(source, output)
    message = str(info.value)
    assert isinstance(info.value, UserError)
    for fragment in fragments:
        assert fragment in message, message
    assert not output.exists()
    return message


def test_missing_file(tmp_path: Path) -> None:
    expect_error(
        tmp_path / "nope.pt", tmp_path / "out.ckpt", str(tmp_path / "nope.pt"), "does not exist"
    )


def test_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    source = tmp_path / "photo.pt"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    expect_error(source, tmp_path / "out.ckpt", str(source), "is not a PyTorch checkpoint")


@pytest.mark.parametrize("zip_format", [True, False])
def test_truncated_file(tmp_path: Path, zip_format: bool) -> None:
    source = tmp_path / "params.pt"
    torch.save(
        {"genA2B": port_generator_state(4, 1, True)},
        source,
        _use_new_zipfile_serialization=zip_format,
    )
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    expect_error(source, tmp_path / "out.ckpt", str(source), "truncated or corrupted", "again")


def test_file_with_python_objects_is_refused_unexecuted(tmp_path: Path) -> None:
    source = tmp_path / "params.pt"
    torch.save(
        {"genA2B": port_generator_state(4, 1, True), "args": argparse.Namespace(lr=1)}, source
    )
    expect_error(
        source, tmp_path / "out.ckpt", str(source), "argparse.Namespace", "weights_only=True"
    )


def test_dict_without_the_expected_keys(tmp_path: Path) -> None:
    source = tmp_path / "other.pt"
    torch.save({"encoder": {"w": torch.zeros(1)}, "step": torch.tensor(3)}, source)
    expect_error(
        source, tmp_path / "out.ckpt", str(source), "found [encoder, step]", "genA2B, genB2A, disGA"
    )


def test_cyclegan_file_given_to_ugatit_points_to_the_other_command(tmp_path: Path) -> None:
    source = tmp_path / "latest_net_G_A.pth"
    torch.save({"model.1.weight": torch.zeros(4, 3, 7, 7), "model.1.bias": torch.zeros(4)}, source)
    expect_error(source, tmp_path / "out.ckpt", "convert.py cyclegan")


def test_generators_of_different_widths(tmp_path: Path) -> None:
    source = tmp_path / "params.pt"
    torch.save(
        {"genA2B": port_generator_state(4, 1, True), "genB2A": port_generator_state(8, 1, True)},
        source,
    )
    expect_error(
        source, tmp_path / "out.ckpt", "genA2B in", "genB2A in", "ngf: 4 vs 8", "one architecture"
    )


def test_discriminators_of_different_widths(tmp_path: Path) -> None:
    official = port_save_dict(4, 1, True, SIZE, 4, 4, 3)
    official["disLA"] = port_discriminator_state(8, 3, seed=9)
    source = tmp_path / "params.pt"
    torch.save(official, source)
    expect_error(source, tmp_path / "out.ckpt", "disGA in", "disLA in", "ndf: 4 vs 8")


def test_first_fc_layer_that_fits_no_image_size(tmp_path: Path) -> None:
    official = port_generator_state(4, 1, light=False, img_size=SIZE)
    official["FC.0.weight"] = torch.zeros(16, 16 * 50)  # 50 cells is not a square
    source = tmp_path / "params.pt"
    torch.save({"genA2B": official}, source)
    expect_error(source, tmp_path / "out.ckpt", "FC.0.weight takes 800 inputs", "(img_size/4)^2")


def test_tensor_of_the_wrong_shape(tmp_path: Path) -> None:
    official = port_generator_state(4, 1, light=True)
    official["UpBlock1_1.conv2.weight"] = torch.zeros(16, 16, 5, 5)
    source = tmp_path / "params.pt"
    torch.save({"genA2B": official}, source)
    expect_error(
        source, tmp_path / "out.ckpt", f"genA2B in {source}", "does not fit", "conv2.weight"
    )


def test_one_discriminator_of_a_domain_missing(tmp_path: Path) -> None:
    official = port_save_dict(4, 1, True, SIZE, 4, 4, 3)
    del official["disLB"]
    source = tmp_path / "params.pt"
    torch.save(official, source)
    expect_error(source, tmp_path / "out.ckpt", "holds disGB but not disLB")


def test_output_may_not_overwrite_the_input(tmp_path: Path) -> None:
    source = tmp_path / "params.pt"
    torch.save({"genA2B": port_generator_state(4, 1, True)}, source)
    with pytest.raises(ConversionError, match="is the input file"):
        convert_ugatit(source, source)
    assert "genA2B" in torch.load(source, weights_only=True)


def test_failed_write_keeps_the_old_output_and_leaves_no_temporary_file(
    tmp_path, monkeypatch
) -> None:
    source = tmp_path / "params.pt"
    torch.save({"genA2B": port_generator_state(4, 1, True)}, source)
    output = tmp_path / "out" / "model.ckpt"
    output.parent.mkdir()
    output.write_bytes(b"previous")
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "converted" in obj:
            f.write(b"partial")
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(ConversionError, match="Cannot write output .*No space left"):
        convert_ugatit(source, output, overwrite=True)
    assert output.read_bytes() == b"previous"
    assert os.listdir(output.parent) == ["model.ckpt"]


# ---------------------------------------------------------------------------- command line
def _cli():
    spec = importlib.util.spec_from_file_location("convert_cli", ROOT / "src" / "convert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_line(converted, tmp_path: Path) -> None:
    source = converted["full"]["source"]
    output = tmp_path / "cli.ckpt"
    run = subprocess.run(
        [sys.executable, str(ROOT / "src" / "convert.py"), "ugatit", str(source), str(output)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    for fragment in (
        "ngf=4",
        "1 residual blocks",
        "full mode",
        f"{SIZE}x{SIZE}",
        "legacy",
        f"Wrote {output}",
    ):
        assert fragment in run.stdout, run.stdout
    assert CycleTranslation.load_from_checkpoint(output).hparams["generator"]["img_size"] == SIZE


def test_command_line_error_is_one_message_and_status_1(tmp_path: Path, capsys) -> None:
    assert _cli().main(["ugatit", str(tmp_path / "missing.pt"), str(tmp_path / "o.ckpt")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("Error: ") and "missing.pt does not exist" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
