"""A checkpoint names only this project's networks and methods: every other name is refused as a
string, before it is imported; every keyword is checked, Hydra directives are refused and a huge
network is counted, not built. Each case goes through every way a checkpoint is read: train's
resume, eval, translate, export, the demo and the notebook's loader."""

from __future__ import annotations

import resource
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from helpers import FAST, compose_config, compose_train, tiny_module
from ugatit.checkpoints.files import CheckpointError
from ugatit.evaluation.evaluate import evaluate
from ugatit.inference.demo import DemoModels
from ugatit.inference.export import export
from ugatit.inference.translation import load_checkpoint, translate
from ugatit.tools.convert.writing import checkpoint_dict
from ugatit.training.pipeline import train

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [*FAST, "model.generator.ngf=4", "model.generator.n_res=1", "model.discriminator.ndf=4"]


class Payload:
    """Unpickling it creates ``marker``: what a constructor that unpickles a file would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def save_with(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    """A real (tiny, untrained) checkpoint with ``change`` applied to its contents."""
    checkpoint = checkpoint_dict(tiny_module(), {})
    change(checkpoint)
    path = tmp_path / f"{name}.ckpt"
    torch.save(checkpoint, path)
    return path


# ---------------------------------------------------------------------------------- readers
def via_train(path: Path, tmp_path: Path, shapes_dir: Path) -> None:
    train(compose_train(tmp_path / "run", shapes_dir, [*TINY, f"ckpt_path={path}"]))


def via_eval(path: Path, tmp_path: Path, shapes_dir: Path) -> None:
    evaluate(compose_config("eval", tmp_path / "eval", shapes_dir, [f"ckpt_path={path}"]))


def via_translate(path: Path, tmp_path: Path, shapes_dir: Path) -> None:
    image = tmp_path / "in.png"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(image)
    overrides = [f"ckpt_path={path}", f"input={image}", f"output={tmp_path / 'out'}"]
    translate(compose_config("translate", tmp_path / "translate", shapes_dir, overrides))


def via_export(path: Path, tmp_path: Path, shapes_dir: Path) -> None:
    overrides = [f"ckpt_path={path}", f"output={tmp_path / 'g.onnx'}"]
    export(compose_config("export", tmp_path / "export", shapes_dir, overrides))


def via_demo(path: Path, tmp_path: Path, shapes_dir: Path) -> None:
    models = DemoModels([path])
    models.model(next(iter(models.choices)))


def via_notebook(path: Path, tmp_path: Path, shapes_dir: Path) -> None:
    load_checkpoint(path)  # the notebook's own cell


READERS = [via_train, via_eval, via_translate, via_export, via_demo, via_notebook]


@pytest.fixture(params=READERS, ids=lambda f: f.__name__.removeprefix("via_"))
def read(request, tmp_path, shapes_dir):
    return lambda path: request.param(path, tmp_path, shapes_dir)


# ---------------------------------------------------------------------------------- cases
def test_a_library_class_that_unpickles_in_its_constructor_is_never_built(tmp_path, read):
    """torch-fidelity's VGG16 extractor is an nn.Module whose constructor runs torch.load with
    weights_only=False on a path the settings give: the old "any nn.Module" check let it run."""
    marker = tmp_path / "MARKER"
    torch.save(Payload(marker), tmp_path / "weights.pt")

    def gadget(checkpoint):
        checkpoint["hyper_parameters"]["generator"] = {
            "_target_": "torch_fidelity.feature_extractor_vgg16.FeatureExtractorVGG16",
            "name": "vgg16",
            "features_list": ["fc2"],
            "feature_extractor_weights_path": str(tmp_path / "weights.pt"),
            "_convert_": "all",
        }

    with pytest.raises(CheckpointError, match="FeatureExtractorVGG16', which is not a network"):
        read(save_with(tmp_path, "gadget", gadget))
    assert not marker.exists()


@pytest.fixture
def side_effect_module(tmp_path, monkeypatch):
    """An importable module whose import writes a marker file (what ``this`` or ``venv.__main__``
    do on import: print, create folders)."""
    name = f"sidefx_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "IMPORTED"
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nimport torch\nclass Net(torch.nn.Module): pass\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    yield name, marker
    assert name not in sys.modules and not marker.exists(), "the named module was imported"


@pytest.mark.parametrize("entry", ["generator", "method"])
def test_a_name_is_refused_before_its_module_is_imported(tmp_path, read, side_effect_module, entry):
    name, _ = side_effect_module

    def rename(checkpoint):
        if entry == "method":
            checkpoint["method"] = f"{name}.Method"
        else:
            checkpoint["hyper_parameters"]["generator"]["_target_"] = f"{name}.Net"

    expected = "not a training method" if entry == "method" else "not a network of this project"
    with pytest.raises(CheckpointError, match=expected):
        read(save_with(tmp_path, f"import-{entry}", rename))


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def test_a_huge_network_is_counted_not_built(tmp_path, read):
    """Full mode at ngf 512 is 1.1 G parameters (4.4 GB): refused from its description alone."""

    def enlarge(checkpoint):
        generator = checkpoint["hyper_parameters"]["generator"] = {
            "_target_": "ugatit.nets.ugatit.UgatitGenerator",
            "ngf": 512,
            "n_res": 1,
            "img_size": 64,
            "light": False,
        }
        checkpoint["hyper_parameters"]["discriminator"] = {
            "_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator",
            "ndf": 8,
        }
        assert generator["ngf"] == 512

    path = save_with(tmp_path, "huge", enlarge)
    before = peak_rss_bytes()
    with pytest.raises(CheckpointError, match=r"of 1,\d{3},\d{3},\d{3} parameters .* not built"):
        read(path)
    assert peak_rss_bytes() - before < 1 << 30


@pytest.mark.parametrize(
    "where",
    ["hyper_parameters", "generator", "loss"],
)
def test_hydra_directives_from_a_file_are_refused(tmp_path, read, where):
    def direct(checkpoint):
        settings = checkpoint["hyper_parameters"]
        target = settings if where == "hyper_parameters" else settings[where]
        target["_partial_"] = True

    with pytest.raises(CheckpointError, match=r"_partial_ is a Hydra directive"):
        read(save_with(tmp_path, f"directive-{where}", direct))


def test_every_stored_network_keyword_passes_its_rule(tmp_path):
    def bad_value(checkpoint):
        checkpoint["hyper_parameters"]["generator"]["ngf"] = "64"

    with pytest.raises(CheckpointError, match=r"generator\.ngf='64' is invalid: it must be an int"):
        load_checkpoint(save_with(tmp_path, "ngf", bad_value))

    def nested_target(checkpoint):
        checkpoint["hyper_parameters"]["generator"]["ngf"] = {"_target_": "os.system"}

    with pytest.raises(CheckpointError, match=r"generator\.ngf\._target_ is a Hydra directive"):
        load_checkpoint(save_with(tmp_path, "nested", nested_target))

    def unknown_keyword(checkpoint):
        checkpoint["hyper_parameters"]["generator"]["weights_path"] = "/tmp/x.pt"

    with pytest.raises(CheckpointError, match=r"\['weights_path'\] that ResnetGenerator does not"):
        load_checkpoint(save_with(tmp_path, "unknown", unknown_keyword))

    def unknown_setting(checkpoint):
        checkpoint["hyper_parameters"]["hook"] = "x"

    with pytest.raises(CheckpointError, match=r"\['hook'\] that CycleTranslation does not take"):
        load_checkpoint(save_with(tmp_path, "setting", unknown_setting))


def test_the_project_checkpoint_itself_still_loads(tmp_path):
    """The guard of the cases above: the unchanged file loads through the same path."""
    loaded = load_checkpoint(save_with(tmp_path, "plain", lambda checkpoint: None))
    assert loaded.directions == ("a2b", "b2a")
