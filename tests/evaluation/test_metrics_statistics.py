"""FID and KID estimators on plain feature matrices: no Inception network, so these run in ms."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from ugatit.evaluation.fid_kid import (
    frechet_distance,
    kernel_inception_distance,
    resolve_kid_subset_size,
    scores_from_features,
    to_uint8,
)


def _features(n: int, dim: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    # Inception pool features are non-negative and correlated; mimic that loosely.
    mixing = torch.rand(dim, dim, generator=generator) / dim**0.5
    return (torch.rand(n, dim, generator=generator) @ mixing) * scale + shift


def _scipy_frechet(mu1, sigma1, mu2, sigma2) -> float:
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)


def test_frechet_distance_matches_scipy_sqrtm_on_random_features():
    a = _features(200, 24, seed=1).double().numpy()
    b = _features(150, 24, seed=2, scale=1.3, shift=0.1).double().numpy()
    mu1, sigma1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, sigma2 = b.mean(0), np.cov(b, rowvar=False)
    expected = _scipy_frechet(mu1, sigma1, mu2, sigma2)
    assert expected > 0.1
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-8)
    # Tensors are accepted as well as arrays.
    as_tensors = [torch.from_numpy(v) for v in (mu1, sigma1, mu2, sigma2)]
    assert frechet_distance(*as_tensors) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    # For diagonal covariances: ||mu1 - mu2||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
    mu1 = np.array([0.0, 1.0, -2.0, 3.0])
    mu2 = np.array([1.0, 1.0, 0.0, 2.5])
    var1 = np.array([1.0, 4.0, 9.0, 0.25])
    var2 = np.array([4.0, 1.0, 9.0, 1.0])
    expected = 1.0 + 0.0 + 4.0 + 0.25 + (1 + 1 + 0 + 0.25)
    got = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, abs=1e-12)


def test_frechet_distance_rejects_mismatched_statistics():
    with pytest.raises(ValueError, match="same feature layer"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match=r"covariance of shape \(d, d\)"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))


@pytest.mark.parametrize("n_real, n_fake, dim", [(12, 9, 64), (300, 250, 16)])
def test_fid_from_features_matches_torch_fidelity(n_real, n_fake, dim):
    # Fewer samples than dimensions (rank-deficient covariances) and more samples than dimensions
    # take different factorisations here; both must equal torch-fidelity's eigvals formula.
    real = _features(n_real, dim, seed=3)
    fake = _features(n_fake, dim, seed=4, scale=0.8, shift=0.05)
    reference = fid_statistics_to_metric(
        fid_features_to_statistics(real.double()), fid_features_to_statistics(fake.double()), False
    )["frechet_inception_distance"]
    scores = scores_from_features(real, fake, kid_subset_size=5)
    assert scores["fid"] == pytest.approx(reference, rel=1e-6)
    # The covariance-only entry point agrees with the feature path.
    r, f = real.double().numpy(), fake.double().numpy()
    via_statistics = frechet_distance(
        r.mean(0), np.cov(r, rowvar=False), f.mean(0), np.cov(f, rowvar=False)
    )
    assert via_statistics == pytest.approx(scores["fid"], rel=1e-9)


def test_kid_draws_the_same_subsets_as_torch_fidelity():
    real = _features(40, 32, seed=5)
    fake = _features(30, 32, seed=6, scale=1.2)
    reference = kid_features_to_metric(  # float64 on both sides: only the estimator differs
        real.double(),
        fake.double(),
        kid_subsets=50,
        kid_subset_size=7,
        rng_seed=2020,
        verbose=False,
    )
    mean, std = kernel_inception_distance(real, fake, subset_size=7, subsets=50, seed=2020)
    assert mean == pytest.approx(reference["kernel_inception_distance_mean"], rel=1e-10)
    assert std == pytest.approx(reference["kernel_inception_distance_std"], rel=1e-10)
    # Another seed draws other subsets: the agreement above is not an accident of the data.
    other, _ = kernel_inception_distance(real, fake, subset_size=7, subsets=50, seed=1)
    assert abs(other - mean) > 1e-3 * abs(mean)


def test_identical_sets_give_zero_fid_and_near_zero_kid():
    features = _features(120, 32, seed=7)
    same = scores_from_features(features, features, kid_subset_size=50)
    different = scores_from_features(features, _features(120, 32, seed=8, shift=0.3), 50)
    assert abs(same["fid"]) < 1e-9
    assert different["fid"] > 1.0
    assert abs(same["kid_mean"]) < 0.02 * different["kid_mean"]


def test_scores_report_every_key_with_kid_scaled_by_100():
    scores = scores_from_features(_features(10, 8, seed=9), _features(12, 8, seed=10), 6, 20)
    assert set(scores) == {
        "fid",
        "kid_mean",
        "kid_std",
        "kid_x100_mean",
        "kid_x100_std",
        "kid_subset_size",
        "n_real",
        "n_fake",
    }
    assert (scores["n_real"], scores["n_fake"], scores["kid_subset_size"]) == (10, 12, 6)
    assert scores["kid_x100_mean"] == pytest.approx(100 * scores["kid_mean"])
    assert scores["kid_x100_std"] == pytest.approx(100 * scores["kid_std"])


def test_kid_subset_size_shrinks_to_the_smaller_set_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="ugatit.evaluation.fid_kid"):
        assert resolve_kid_subset_size(None, 140, 120) == 120
    assert "shrunk from 1000 to 120" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ugatit.evaluation.fid_kid"):
        assert resolve_kid_subset_size(50, 140, 120) == 50
        assert resolve_kid_subset_size(None, 5000, 3000) == 1000
    assert caplog.text == ""
    with pytest.raises(ValueError, match="at least 2"):
        resolve_kid_subset_size(1, 10, 10)


def test_too_few_images_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 real and 2 fake"):
        scores_from_features(_features(1, 8, seed=1), _features(5, 8, seed=2))
    with pytest.raises(ValueError, match="between 2 and the number of images"):
        kernel_inception_distance(_features(4, 8, seed=1), _features(5, 8, seed=2), 5)


def test_to_uint8_maps_tanh_range_to_pixels():
    x = torch.tensor([-1.5, -1.0, -0.5, 0.0, 0.999, 1.0, 2.0])
    # 127.5 * [0.5, 1] = 63.75 -> 64; 127.5 -> 128 (round half to even); 254.87 -> 255.
    assert to_uint8(x).tolist() == [0, 0, 64, 128, 255, 255, 255]
    assert to_uint8(x).dtype == torch.uint8
    assert to_uint8(torch.tensor([0.0], dtype=torch.float16)).tolist() == [128]
