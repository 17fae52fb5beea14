"""FID and KID with torch-fidelity's protocol, from one pass of Inception features per image.

The numbers agree with torch-fidelity's CLI (``fidelity --fid --kid --input1 REAL --input2 FAKE``)
on the same folders: same InceptionV3 and weights, same TF1-style resize inside the extractor,
same estimators. Both metrics are computed here from the 2048-d features rather than through
torchmetrics' FrechetInceptionDistance / KernelInceptionDistance: torchmetrics draws KID subsets
with ``torch.randperm`` while torch-fidelity uses ``numpy.random.RandomState(2020)``, so KID would
differ by sampling noise, and two metric objects would run Inception twice over every image.
During training torchmetrics carries the features instead: the FID/KID callback gathers each
rank's share across DDP ranks with :class:`ugatit.evaluation.per_image.GatheredValues`.

The extractor is created lazily and cached per process, never stored on a LightningModule, so no
checkpoint carries the ~95 MB of Inception weights.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from ugatit.data.errors import DataError
from ugatit.data.images import IMAGE_EXTENSIONS, list_images, load_rgb
from ugatit.errors import UserError
from ugatit.evaluation.inception_weights import (
    EXTRACTOR_NAME,
    InceptionWeightsError,
    inception_weights_path,
)
from ugatit.visualize import to_uint8

log = logging.getLogger(__name__)

FEATURE_SIZE = 2048  # Inception's pool3 features, the layer FID and KID read
KID_SUBSET_SIZE = 1000  # torch-fidelity's default, shrunk to the number of images when fewer
KID_SUBSETS = 100
KID_SEED = 2020  # torch-fidelity's rng_seed: the same subsets, hence the same KID

RealOrFake = Literal["real", "fake"]


class MetricsError(UserError, ValueError):
    """Bad input to FID/KID (missing folder, unreadable image, too few images, wrong tensor)."""


@functools.cache
def _cached_extractor(device: str, weights: str) -> FeatureExtractorInceptionV3:
    try:
        extractor = FeatureExtractorInceptionV3(
            EXTRACTOR_NAME, [str(FEATURE_SIZE)], feature_extractor_weights_path=weights
        )
    except Exception as error:  # truncated or foreign file: torch.load / load_state_dict errors
        raise InceptionWeightsError(
            f"The Inception weights file {weights} cannot be loaded ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}). Delete it and run again to "
            "convert or download it afresh."
        ) from error
    return extractor.to(device)


def inception_extractor(device: str | torch.device = "cpu") -> FeatureExtractorInceptionV3:
    """torch-fidelity's InceptionV3 (pool features), built once per process and device."""
    return _cached_extractor(str(torch.device(device)), str(inception_weights_path()))


def _as_uint8_batch(images: Tensor) -> Tensor:
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise MetricsError(
            f"FID/KID images must be a tensor of shape (batch, 3, height, width), got {shape}; "
            "add the batch dimension or convert greyscale images to RGB."
        )
    if images.dtype == torch.uint8:
        return images
    if images.is_floating_point():
        return to_uint8(images)
    raise MetricsError(
        f"FID/KID images must be uint8 (0..255) or float in [-1, 1], got dtype {images.dtype}."
    )


def inception_features(images: Tensor, device: str | torch.device = "cpu") -> Tensor:
    """(N, 2048) float32 CPU features of uint8 images or float images in [-1, 1].

    Runs in float32 even inside a caller's autocast (mixed-precision training), so scores do not
    depend on the trainer's precision setting.
    """
    batch = _as_uint8_batch(images)
    device = torch.device(device)
    extractor = inception_extractor(device)
    with torch.no_grad(), torch.autocast(device_type=device.type, enabled=False):
        (features,) = extractor(batch.to(device))
    return features.detach().float().cpu()


def _as_float64(x: Tensor | np.ndarray) -> Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).double().cpu()


def _factor_of_covariance(sigma: Tensor) -> Tensor:
    """L with L @ L.T == sigma (negative eigenvalues from rounding clipped to zero)."""
    eigenvalues, eigenvectors = torch.linalg.eigh((sigma + sigma.T) / 2)
    return eigenvectors * eigenvalues.clamp(min=0).sqrt()


def _factor_of_features(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and a factor L of the sample covariance, L @ L.T == cov; the thinner of two forms.

    With fewer samples than dimensions the centred samples themselves are the factor, which makes
    the square-root trace exact and cheap; otherwise the covariance's eigen-decomposition is used.
    """
    n, dim = features.shape
    mean = features.mean(dim=0)
    centred = features - mean
    if n - 1 <= dim:
        return mean, centred.T / (n - 1) ** 0.5
    return mean, _factor_of_covariance(centred.T @ centred / (n - 1))


def _frechet_from_factors(mu1: Tensor, l1: Tensor, mu2: Tensor, l2: Tensor) -> float:
    # tr sqrt(S1 S2) is the nuclear norm of L1^T L2 whenever S = L L^T: the eigenvalues of S1 S2
    # are the squared singular values of L1^T L2. Symmetric algebra only, so no complex parts.
    trace_sqrt = torch.linalg.svdvals(l1.T @ l2).sum()
    distance = (mu1 - mu2).square().sum() + l1.square().sum() + l2.square().sum() - 2 * trace_sqrt
    return float(distance)


def _check_statistics(mu: Tensor, sigma: Tensor, which: str) -> None:
    if mu.dim() != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise MetricsError(
            f"frechet_distance: {which} statistics must be a mean of shape (d,) and a covariance "
            f"of shape (d, d), got {tuple(mu.shape)} and {tuple(sigma.shape)}."
        )


def frechet_distance(
    mu1: Tensor | np.ndarray,
    sigma1: Tensor | np.ndarray,
    mu2: Tensor | np.ndarray,
    sigma2: Tensor | np.ndarray,
) -> float:
    """Frechet distance ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) of two Gaussians, float64."""
    m1, s1, m2, s2 = (_as_float64(v) for v in (mu1, sigma1, mu2, sigma2))
    _check_statistics(m1, s1, "first")
    _check_statistics(m2, s2, "second")
    if m1.shape != m2.shape:
        raise MetricsError(
            f"frechet_distance: the two means differ in size ({m1.shape[0]} vs {m2.shape[0]}); "
            "both sets must use the same feature layer."
        )
    return _frechet_from_factors(m1, _factor_of_covariance(s1), m2, _factor_of_covariance(s2))


def _mmd2_polynomial(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with KID's kernel k(a, b) = (a.b / d + 1)^3."""
    m, dim = x.shape
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    real_features: Tensor,
    fake_features: Tensor,
    subset_size: int,
    subsets: int = KID_SUBSETS,
    seed: int = KID_SEED,
) -> tuple[float, float]:
    """Mean and standard deviation of MMD^2 over random subsets, drawn as torch-fidelity draws them.

    ``real_features`` plays torch-fidelity's ``input1``: each subset first draws its real rows,
    then its fake rows, from one ``RandomState(seed)``. Slightly negative values are valid.
    """
    real = _as_float64(real_features).numpy()
    fake = _as_float64(fake_features).numpy()
    n_real, n_fake = len(real), len(fake)
    if not 2 <= subset_size <= min(n_real, n_fake):
        raise MetricsError(
            f"KID subset size {subset_size} must be between 2 and the number of images "
            f"(real {n_real}, fake {n_fake}); lower kid_subset_size."
        )
    if subsets < 1:
        raise MetricsError(f"kid_subsets must be at least 1, got {subsets}.")
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = real[rng.choice(n_real, subset_size, replace=False)]
        y = fake[rng.choice(n_fake, subset_size, replace=False)]
        values[i] = _mmd2_polynomial(x, y)
    return float(values.mean()), float(values.std())


def resolve_kid_subset_size(requested: int | None, n_real: int, n_fake: int) -> int:
    """min(requested or 1000, n_real, n_fake), with a warning when the set forced it smaller."""
    wanted = KID_SUBSET_SIZE if requested is None else int(requested)
    if wanted < 2:
        raise MetricsError(
            f"kid_subset_size must be at least 2 (or None for 1000), got {requested}."
        )
    used = min(wanted, n_real, n_fake)
    if used < wanted:
        log.warning(
            "KID subset size shrunk from %d to %d: only %d real and %d fake images. KID values "
            "are comparable only between runs with the same subset size.",
            wanted,
            used,
            n_real,
            n_fake,
        )
    return used


def scores_from_features(
    real_features: Tensor,
    fake_features: Tensor,
    kid_subset_size: int | None = None,
    kid_subsets: int = KID_SUBSETS,
    seed: int = KID_SEED,
) -> dict[str, float | int]:
    """FID and KID (also x100, as the paper reports it) from two feature matrices (N, d)."""
    real, fake = _as_float64(real_features), _as_float64(fake_features)
    n_real, n_fake = len(real), len(fake)
    if n_real < 2 or n_fake < 2 or real.dim() != 2 or real.shape[1:] != fake.shape[1:]:
        raise MetricsError(
            f"FID/KID need at least 2 real and 2 fake images with features of one size, got "
            f"real {tuple(real.shape)} and fake {tuple(fake.shape)}; evaluate on more images."
        )
    subset_size = resolve_kid_subset_size(kid_subset_size, n_real, n_fake)
    kid_mean, kid_std = kernel_inception_distance(real, fake, subset_size, kid_subsets, seed)
    mu_real, factor_real = _factor_of_features(real)
    mu_fake, factor_fake = _factor_of_features(fake)
    return {
        "fid": _frechet_from_factors(mu_real, factor_real, mu_fake, factor_fake),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        "kid_x100_mean": 100 * kid_mean,
        "kid_x100_std": 100 * kid_std,
        "kid_subset_size": subset_size,
        "n_real": n_real,
        "n_fake": n_fake,
    }


class FidKidScorer:
    """Accumulates Inception features of real and fake images, then computes FID and KID.

    Holds features only (2048 floats per image); the network is fetched from the per-process
    cache on each update, so keeping a scorer anywhere never copies Inception weights.
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        kid_subset_size: int | None = None,
        kid_subsets: int = KID_SUBSETS,
        seed: int = KID_SEED,
    ) -> None:
        self.device = torch.device(device)
        self.kid_subset_size = kid_subset_size
        self.kid_subsets = kid_subsets
        self.seed = seed
        self._features: dict[str, list[Tensor]] = {"real": [], "fake": []}

    def update(self, real_or_fake: RealOrFake, images: Tensor) -> None:
        """Add a batch: uint8 (0..255) or float in [-1, 1] (generator output), (B, 3, H, W)."""
        if real_or_fake not in self._features:
            raise MetricsError(f"update() takes 'real' or 'fake' first, got {real_or_fake!r}.")
        self._features[real_or_fake].append(inception_features(images, self.device))

    @property
    def n_real(self) -> int:
        return sum(len(f) for f in self._features["real"])

    @property
    def n_fake(self) -> int:
        return sum(len(f) for f in self._features["fake"])

    def compute(self) -> dict[str, float | int]:
        """fid, kid_mean, kid_std, kid_x100_mean, kid_x100_std, kid_subset_size, n_real, n_fake."""
        real = torch.cat(self._features["real"]) if self._features["real"] else torch.empty(0, 0)
        fake = torch.cat(self._features["fake"]) if self._features["fake"] else torch.empty(0, 0)
        return scores_from_features(real, fake, self.kid_subset_size, self.kid_subsets, self.seed)

    def reset(self) -> None:
        """Forget every feature, to score another pair of sets."""
        self._features = {"real": [], "fake": []}


def _folder_images(folder: Path | str, role: str) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise MetricsError(
            f"The {role} image folder '{folder}' does not exist or is not a folder; pass the "
            f"folder that holds the {role} images."
        )
    paths = list_images(folder)
    if not paths:
        raise MetricsError(
            f"The {role} image folder '{folder}' holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
            "point it at the folder with the image files (subfolders are not searched)."
        )
    return paths


def _load_uint8(path: Path) -> Tensor:
    try:
        image = load_rgb(path)
    except DataError as error:
        reason = error.__cause__ or error
        raise MetricsError(
            f"Cannot read image '{path}' for FID/KID ({reason}); replace or delete the file."
        ) from error
    pixels = np.array(image, dtype=np.uint8)  # (H, W, 3), a fresh writable copy
    return torch.from_numpy(pixels).permute(2, 0, 1)


def _add_folder(scorer: FidKidScorer, role: RealOrFake, paths: list[Path], batch_size: int) -> None:
    """Feed images in batches; a batch is split where image sizes change (no resizing here)."""
    for start in range(0, len(paths), batch_size):
        images = [_load_uint8(p) for p in paths[start : start + batch_size]]
        group = [images[0]]
        for image in images[1:]:
            if image.shape != group[0].shape:
                scorer.update(role, torch.stack(group))
                group = []
            group.append(image)
        scorer.update(role, torch.stack(group))


def score_folders(
    real_dir: Path | str,
    fake_dir: Path | str,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
    kid_subset_size: int | None = None,
    kid_subsets: int = KID_SUBSETS,
    seed: int = KID_SEED,
) -> dict[str, float | int]:
    """FID and KID between every image in two folders, as ``fidelity --input1 real --input2 fake``.

    Images are read as 8-bit RGB at their own size (the extractor resizes to 299 inside), files
    sorted by path, subfolders not searched. Same numbers as torch-fidelity for RGB PNG/JPEG files;
    beyond its png/jpg/jpeg, this also reads the other formats ugatit.data.images knows, composites
    transparency onto white and applies EXIF rotation, as the training data loader does.
    """
    if batch_size < 1:
        raise MetricsError(f"batch_size must be at least 1, got {batch_size}.")
    real_paths = _folder_images(real_dir, "real")
    fake_paths = _folder_images(fake_dir, "fake")
    scorer = FidKidScorer(device, kid_subset_size, kid_subsets, seed)
    _add_folder(scorer, "real", real_paths, batch_size)
    _add_folder(scorer, "fake", fake_paths, batch_size)
    return scorer.compute()
