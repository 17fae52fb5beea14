"""The judge of the shape metric: a small CNN that names the kind of shape in an image, or OTHER.

It sees the colour-blind shape map of :func:`~ugatit.evaluation.shape_metric.foreground.soft_mask`, so the
random colours of the data cannot matter, and it is trained on freshly generated images of every
built-in kind plus the distractors of :mod:`~ugatit.evaluation.shape_metric.distractors` (OTHER), with noise
and blur so that imperfect but recognisable generator outputs are still read. Training takes
well under a minute on a CPU; the weights are cached beside the data with the version in the file
name, and loaded without executing code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ugatit.data import shapes
from ugatit.data.dataset import to_tensor
from ugatit.evaluation.shape_metric import distractors
from ugatit.evaluation.shape_metric.foreground import soft_mask
from ugatit.file_lock import exclusive

log = logging.getLogger(__name__)

# bump when the classes, the network, the training or the data generator change (3: trained and
# run with one thread, so that the same data gives the same classifier in every process)
VERSION = 3
OTHER = "other"
CLASSES: tuple[str, ...] = (*shapes.KINDS, OTHER)
INPUT_SIZE = 32  # the shape map is averaged down to this size (images of any size)
SEED = 20201
TRAIN_PER_KIND = 900
TRAIN_PER_DISTRACTOR = 500
HELD_OUT_DISTRACTORS = 100  # per distractor type, for the reported OTHER accuracy
EPOCHS = 9
REQUIRED_ACCURACY = {"real": 0.99, "distractors": 0.95}


def cache_path(data_root: Path) -> Path:
    """Beside the data set's folder: one classifier serves every pair generated there."""
    return Path(data_root).parent / f"shape_classifier-v{VERSION}-{shapes.GENERATOR_VERSION}.pt"


class ShapeClassifier(nn.Module):
    """Four conv-BN-ReLU-maxpool stages on the 32 x 32 shape map, then one linear layer."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for out in (width, 2 * width, 4 * width, 4 * width):
            layers += [
                nn.Conv2d(channels, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels * (INPUT_SIZE // 16) ** 2, len(CLASSES))

    def forward(self, shape_map: Tensor) -> Tensor:
        """Shape maps [B, 1, 32, 32] in [0, 1] -> class logits [B, len(CLASSES)]."""
        return self.head(self.features(shape_map).flatten(1))

    @torch.no_grad()
    def predict(self, images: Tensor) -> list[str]:
        """Class names of images (uint8, or floats in [-1, 1]) [B, 3, H, W]."""
        with one_thread():
            logits = self(shape_maps(images.cpu()))
        return [CLASSES[i] for i in logits.argmax(dim=1).tolist()]


@contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread for the block: a convolution's rounding depends on how many threads
    split it, and a classifier trained with two threads reads some borderline translations
    differently from one trained with one (2 of 50 squares-to-circles translations of one run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def shape_maps(images: Tensor) -> Tensor:
    """Images of any size -> the classifier's input."""
    maps = soft_mask(images)
    if maps.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        maps = F.interpolate(maps, size=(INPUT_SIZE, INPUT_SIZE), mode="area")
    return maps


# ------------------------------------------------------------------------------------ data
def _kind_images(kind: str, count: int, stream: int) -> list[Tensor]:
    kind_id = list(shapes.KINDS).index(kind)
    return [
        to_tensor(shapes.draw_shape(np.random.default_rng([SEED, stream, kind_id, i]), kind, 64))
        for i in range(count)
    ]


def _distractor_images(count: int, stream: int) -> list[Tensor]:
    images = []
    for type_id, make in enumerate(distractors.DISTRACTORS.values()):
        for i in range(count):
            images.append(
                to_tensor(make(np.random.default_rng([SEED, stream, 100 + type_id, i]), 64))
            )
    return images


def training_set() -> tuple[Tensor, Tensor]:
    """Shape maps and labels of freshly generated images of every class (seeded)."""
    images, labels = [], []
    for label, kind in enumerate(shapes.KINDS):
        kind_images = _kind_images(kind, TRAIN_PER_KIND, stream=0)
        images += kind_images
        labels += [label] * len(kind_images)
    other = _distractor_images(TRAIN_PER_DISTRACTOR, stream=0)
    images += other
    labels += [CLASSES.index(OTHER)] * len(other)
    return torch.stack(images), torch.tensor(labels)


def _augment(maps: Tensor, generator: torch.Generator) -> Tensor:
    """Contrast, speckle noise and blur of the kinds a generator's outputs show."""
    n = maps.shape[0]
    contrast = 0.6 + 0.6 * torch.rand(n, 1, 1, 1, generator=generator)
    noise_std = 0.12 * torch.rand(n, 1, 1, 1, generator=generator)
    noisy = maps * contrast + noise_std * torch.randn(maps.shape, generator=generator).abs()
    noisy = noisy.clamp(0, 1)
    blurred = F.avg_pool2d(noisy, 3, stride=1, padding=1, count_include_pad=False)
    use_blur = torch.rand(n, 1, 1, 1, generator=generator) < 0.3
    return torch.where(use_blur, blurred, noisy)


def train_classifier(epochs: int = EPOCHS, batch_size: int = 64) -> ShapeClassifier:
    """Train a classifier from scratch (seeded, CPU, one thread: the same in every process)."""
    with one_thread():
        return _train(epochs, batch_size)


def _train(epochs: int, batch_size: int) -> ShapeClassifier:
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    images, labels = training_set()
    maps = shape_maps(images)
    model = ShapeClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * ((len(maps) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(maps), generator=generator)
        for start in range(0, len(maps), batch_size):
            index = order[start : start + batch_size]
            loss = F.cross_entropy(model(_augment(maps[index], generator)), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


# ------------------------------------------------------------------------------------ accuracy
def accuracy(model: ShapeClassifier) -> dict[str, float]:
    """Accuracy on held-out images: real test images of every built-in pair (drawn exactly as the
    data sets' test splits are) and distractors (to be called OTHER)."""
    real_images, real_labels = [], []
    for pair, (kind_a, kind_b) in shapes.PAIRS.items():
        for split_id, kind in ((2, kind_a), (3, kind_b)):  # testA, testB as in ensure_shapes
            for i in range(50):
                rng = np.random.default_rng([0, split_id, i])
                real_images.append(to_tensor(shapes.draw_shape(rng, kind, 64)))
                real_labels.append(kind)
        del pair
    held_out = _distractor_images(HELD_OUT_DISTRACTORS, stream=1)
    real = model.predict(torch.stack(real_images))
    other = model.predict(torch.stack(held_out))
    return {
        "real": float(np.mean([p == t for p, t in zip(real, real_labels, strict=True)])),
        "distractors": float(np.mean([p == OTHER for p in other])),
    }


# ------------------------------------------------------------------------------------ cache
def _load(path: Path) -> ShapeClassifier | None:
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = ShapeClassifier()
        model.load_state_dict(saved["state_dict"])
        return model.eval()
    except Exception as error:  # a truncated or foreign file: train again, say so
        log.warning("Shape classifier cache %s unreadable (%s); training a new one.", path, error)
        return None


def load_or_train(data_root: Path) -> ShapeClassifier:
    """The cached classifier beside ``data_root``; trained and cached on first use (once, when
    several runs start together)."""
    path = cache_path(data_root)
    with exclusive(path.with_name(f".{path.name}.lock")):
        model = _load(path)
        if model is not None:
            return model
        tic = time.perf_counter()
        model = train_classifier()
        scores = accuracy(model)
        log.info(
            "Trained the shape classifier in %.0f s: accuracy %.3f on held-out real shapes, %.3f "
            "on distractors; cached in %s",
            time.perf_counter() - tic,
            scores["real"],
            scores["distractors"],
            path,
        )
        partial = path.with_name(f".{path.name}.partial")
        state = {"state_dict": model.state_dict(), "accuracy": scores, "version": VERSION}
        torch.save(state, partial)
        partial.replace(path)
        return model
