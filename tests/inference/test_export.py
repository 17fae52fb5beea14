"""src/export.py: ONNX and TorchScript files that reproduce PyTorch on every model kind, dynamic
batch and size where the network allows it, and nothing lost or half-written on a bad request."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
import torch.nn.functional as F

from helpers import ROOT, compose_config
from helpers.checkpoints import trained_checkpoint
from ugatit.inference import export as export_module
from ugatit.inference.export import ExportError, export, export_generator
from ugatit.inference.translation import TranslationError, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
KINDS = ("light", "full", "cyclegan", "cut")
PARITY = 1e-4  # the bound on |exported - PyTorch|


@pytest.fixture(scope="module")
def models(tmp_path_factory, shapes_dir):
    """Every kind of generator, each from a 2-iteration training run, on the CPU."""
    return {
        kind: load_checkpoint(trained_checkpoint(tmp_path_factory, shapes_dir, kind), "cpu")
        for kind in KINDS
    }


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    """Each kind exported once per format (a2b, no heatmap)."""
    folder = tmp_path_factory.mktemp("exported")
    return {
        (kind, fmt): export_generator(
            models[kind], folder / f"{kind}{suffix}", direction="a2b", export_format=fmt
        )
        for kind in KINDS
        for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt"))
    }


def run_file(path: Path, image: torch.Tensor) -> list[np.ndarray]:
    """Run an exported file the way a user without this project would."""
    if path.suffix == ".onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"input": image.numpy()})
    outputs = torch.jit.load(str(path))(image)
    return [o.numpy() for o in (outputs if isinstance(outputs, tuple) else (outputs,))]


def images(batch: int, height: int, width: int, seed: int) -> torch.Tensor:
    return (
        torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    )


def pytorch_image(models, kind: str, image: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return models[kind].module(image, "a2b").image.numpy()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("kind", ["light", "cyclegan", "cut"])
def test_dynamic_networks_match_pytorch_at_other_batch_and_size(models, exported, kind, fmt):
    report = exported[(kind, fmt)]
    assert report.dynamic_size and report.max_abs_difference <= PARITY
    for batch, height, width in ((1, 32, 32), (4, 48, 20), (2, 100, 36)):
        image = images(batch, height, width, seed=height)
        (got,) = run_file(report.path, image)
        assert got.shape == (batch, 3, height, width)
        assert np.abs(got - pytorch_image(models, kind, image)).max() <= PARITY


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_full_mode_is_fixed_size_with_a_dynamic_batch(models, exported, fmt):
    report = exported[("full", fmt)]
    assert not report.dynamic_size and report.probe_shape[-2:] == (32, 32)
    image = images(3, 32, 32, seed=5)
    (got,) = run_file(report.path, image)
    assert np.abs(got - pytorch_image(models, "full", image)).max() <= PARITY
    if fmt == "onnx":  # the graph states its size: another one is refused, not mistranslated
        with pytest.raises(Exception, match="(?i)dimension|shape"):
            run_file(report.path, images(1, 36, 36, seed=6))


def test_heatmap_output_is_the_attention_map_resized_to_the_image(models, tmp_path):
    loaded = models["light"]
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
        report = export_generator(loaded, tmp_path / f"g{suffix}", export_format=fmt, heatmap=True)
        image = images(2, 40, 28, seed=7)
        got_image, got_heatmap = run_file(report.path, image)
        with torch.no_grad():
            output = loaded.module(image, "a2b")
        expected = F.interpolate(output.heatmap, size=(40, 28), mode="bilinear")
        assert got_heatmap.shape == (2, 1, 40, 28)
        assert np.abs(got_heatmap - expected.numpy()).max() <= PARITY * expected.abs().max()
        assert np.abs(got_image - output.image.numpy()).max() <= PARITY


def test_files_say_what_they_hold(exported):
    model = onnx.load(str(exported[("light", "onnx")].path))
    metadata = {p.key: p.value for p in model.metadata_props}
    assert metadata["direction"] == "a2b" and metadata["generator"] == "UgatitGenerator"
    assert "multiples of 4" in metadata["size"]
    extra = {"ugatit.json": ""}
    torch.jit.load(str(exported[("full", "torchscript")].path), _extra_files=extra)
    assert json.loads(extra["ugatit.json"])["size"] == "32x32 only"


def test_b2a_exports_the_other_generator(models, tmp_path):
    report = export_generator(
        models["cyclegan"], tmp_path / "b2a.pt", direction="b2a", export_format="torchscript"
    )
    image = images(1, 32, 32, seed=8)
    (got,) = run_file(report.path, image)
    with torch.no_grad():
        expected = models["cyclegan"].module(image, "b2a").image.numpy()
    assert np.abs(got - expected).max() <= PARITY
    assert np.abs(got - pytorch_image(models, "cyclegan", image)).max() > 1e-3


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("light", {"export_format": "tflite"}, "format='tflite' is invalid"),
        ("light", {"export_format": "onnx", "name": "g.pt"}, r"does not end in \.onnx"),
        ("cyclegan", {"heatmap": True}, "needs a generator with CAM attention"),
        ("cut", {"direction": "b2a"}, "only for a2b"),
        ("light", {"direction": "ba"}, "direction='ba' is invalid"),
    ],
)
def test_bad_requests_name_the_fix_and_write_nothing(models, tmp_path, kind, options, message):
    name = options.pop("name", "g.onnx")
    with pytest.raises((ExportError, TranslationError), match=message):
        export_generator(models[kind], tmp_path / name, **options)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_kept_unless_overwrite(models, tmp_path):
    target = tmp_path / "g.pt"
    target.write_bytes(b"earlier export")
    with pytest.raises(ExportError, match="already exists.*overwrite=true"):
        export_generator(models["light"], target, export_format="torchscript")
    assert target.read_bytes() == b"earlier export"
    export_generator(models["light"], target, export_format="torchscript", overwrite=True)
    assert torch.jit.load(str(target)) is not None


def test_a_file_that_fails_its_check_is_not_kept(models, tmp_path, monkeypatch):
    target = tmp_path / "g.onnx"
    target.write_bytes(b"earlier export")
    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # no file can pass
    with pytest.raises(ExportError, match="differs from PyTorch.*nothing was written"):
        export_generator(models["light"], target, overwrite=True)
    assert target.read_bytes() == b"earlier export"
    assert [p.name for p in tmp_path.iterdir()] == ["g.onnx"]  # no partial file left


def test_config_default_output_is_in_the_run_folder(models, tmp_path, shapes_dir):
    checkpoint = models["cyclegan"].path
    cfg = compose_config(
        "export", tmp_path, shapes_dir, [f"ckpt_path={checkpoint}", "format=torchscript"]
    )
    report = export(cfg)
    assert report.path == tmp_path / "generator_a2b.pt" and report.path.is_file()


def test_command_line_export_and_the_readme_example(models, tmp_path):
    """docs/usage.md's lines run the exported file with numpy, Pillow and onnxruntime only."""
    onnx_file = tmp_path / "generator_a2b.onnx"
    done = subprocess.run(
        [
            sys.executable,
            "src/export.py",
            f"ckpt_path={models['light'].path}",
            f"output={onnx_file}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "matches PyTorch within" in done.stdout + done.stderr
    readme = (ROOT / "docs" / "usage.md").read_text()
    example = re.search(r"```python\n(import numpy as np, onnxruntime\n.*?)```", readme, re.S)
    assert example, "docs/usage.md lost its example of running an exported generator"
    photo = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    from PIL import Image

    Image.fromarray(pixels).save(photo)
    code = example.group(1).replace("generator_a2b.onnx", str(onnx_file))
    code = code.replace('"photo.png"', repr(str(photo))).replace(
        '"out.png"', repr(str(tmp_path / "out.png"))
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape[2] == 3 and out.std() > 0
