"""Unpaired image data: folder datasets, the seeded sampler, the data module, downloads, shapes.

Every user-caused data problem raises :class:`DataError` with a message that names the fix.
"""

from ugatit.data.datamodule import UnpairedDataModule
from ugatit.data.dataset import ImageFolderDataset, UnpairedImageDataset
from ugatit.data.download import CYCLEGAN_BASE_URL, ensure_dataset
from ugatit.data.errors import DataError
from ugatit.data.images import IMAGE_EXTENSIONS, check_images, list_images, load_rgb
from ugatit.data.sampler import UnpairedSampler
from ugatit.data.shapes import ensure_shapes

__all__ = [
    "CYCLEGAN_BASE_URL",
    "DataError",
    "IMAGE_EXTENSIONS",
    "ImageFolderDataset",
    "UnpairedDataModule",
    "UnpairedImageDataset",
    "UnpairedSampler",
    "check_images",
    "ensure_dataset",
    "ensure_shapes",
    "list_images",
    "load_rgb",
]
