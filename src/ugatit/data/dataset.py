"""Datasets: unpaired A/B training pairs with seeded augmentation, and single-domain folders.

Training randomness (which B image, flips, crops) comes only from the per-sample seed the
:class:`~ugatit.data.sampler.UnpairedSampler` supplies, so samples do not depend on workers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from ugatit.data.errors import DataError
from ugatit.data.images import load_rgb


def to_tensor(image: Image.Image) -> Tensor:
    """RGB PIL image -> float tensor [3, H, W] in [-1, 1] (mean 0.5, std 0.5 as both papers)."""
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def resize_square(image: Image.Image, size: int) -> Image.Image:
    """Bilinear resize to size x size (Pillow's bilinear filters when shrinking, as torchvision)."""
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.BILINEAR)


def _randint(high: int, generator: torch.Generator) -> int:
    return int(torch.randint(high, (1,), generator=generator).item())


def _augment(
    image: Image.Image,
    path: Path,
    crop_size: int,
    load_size: int | None,
    flip: bool,
    generator: torch.Generator,
) -> Image.Image:
    """Flip (p=0.5), resize to load_size, random crop; draws in that fixed order."""
    if flip and torch.rand(1, generator=generator).item() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if load_size is not None:
        image = resize_square(image, load_size)
    width, height = image.size
    if width < crop_size or height < crop_size:
        raise DataError(
            f"Image '{path}' is {width}x{height}, smaller than data.crop_size={crop_size}. Set "
            "data.load_size (resize before cropping), lower data.crop_size, or remove the image."
        )
    top = _randint(height - crop_size + 1, generator)
    left = _randint(width - crop_size + 1, generator)
    return image.crop((left, top, left + crop_size, top + crop_size))


def _require_files(files: list[Path], what: str) -> list[Path]:
    if not files:
        raise DataError(f"The {what} file list is empty; point data.root at a folder with images.")
    return [Path(f) for f in files]


class UnpairedImageDataset(Dataset):
    """Pairs each A image with an independently drawn B image (train) or the B at the same index.

    Keys: ``(index, sample_seed)`` from the sampler, or a plain ``int``. A plain int in train mode
    draws its seed from torch's global generator (ordinary, unreproducible shuffling).
    """

    def __init__(
        self,
        files_a: list[Path],
        files_b: list[Path],
        crop_size: int,
        load_size: int | None,
        flip: bool,
        train: bool = True,
        unreadable_advice: str | None = None,
    ) -> None:
        self.files_a = _require_files(files_a, "domain A")
        self.files_b = _require_files(files_b, "domain B")
        self.crop_size = crop_size
        self.load_size = load_size
        self.flip = flip
        self.train = train
        self.unreadable_advice = unreadable_advice  # the fix an unreadable file's error names

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor | str]:
        if isinstance(key, (tuple, list)):
            index, sample_seed = int(key[0]), int(key[1])
        else:
            index = int(key)
            sample_seed = int(torch.randint(2**62, (1,)).item()) if self.train else 0
        path_a = self.files_a[index % len(self.files_a)]
        if not self.train:
            path_b = self.files_b[index % len(self.files_b)]
            image_a = resize_square(load_rgb(path_a, self.unreadable_advice), self.crop_size)
            image_b = resize_square(load_rgb(path_b, self.unreadable_advice), self.crop_size)
        else:
            generator = torch.Generator().manual_seed(sample_seed)
            path_b = self.files_b[_randint(len(self.files_b), generator)]
            image_a = self._augment(path_a, generator)
            image_b = self._augment(path_b, generator)
        return {
            "a": to_tensor(image_a),
            "b": to_tensor(image_b),
            "a_path": str(path_a),
            "b_path": str(path_b),
        }

    def _augment(self, path: Path, generator: torch.Generator) -> Image.Image:
        image = load_rgb(path, self.unreadable_advice)
        return _augment(image, path, self.crop_size, self.load_size, self.flip, generator)


class ImageFolderDataset(Dataset):
    """One domain's images with the eval transform; for the test loaders.

    ``size=None`` keeps each image's own size (batch size 1 then, or equal-sized images).
    """

    def __init__(
        self, files: list[Path], size: int | None, unreadable_advice: str | None = None
    ) -> None:
        self.files = _require_files(files, "image")
        self.size = size
        self.unreadable_advice = unreadable_advice  # the fix an unreadable file's error names

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Tensor | str]:
        path = self.files[index]
        image = load_rgb(path, self.unreadable_advice)
        if self.size is not None:
            image = resize_square(image, self.size)
        return {"image": to_tensor(image), "path": str(path)}
