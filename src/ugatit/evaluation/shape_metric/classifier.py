"""The judge of the shape metric: a small CNN that names the kind of shape in an image, or OTHER.

It sees the colour-blind shape map of :func:`~ugatit.evaluation.shape_metric.foreground.soft_mask`, so the
random colours of the data cannot matter, and it is trained on freshly generated images of every
built-in kind plus the distractors of :mod:`~ugatit.evaluation.shape_metric.distractors` (OTHER), with noise
and blur so that imperfect but recognisable generator outputs are still read. Training takes
well under a minute on a CPU; the weights are cached beside the data with the version in the file
name, and loaded without executing code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ugatit.data import shapes
from ugatit.data.dataset import to_tensor
from ugatit.evaluation import small_classifier
from ugatit.evaluation.shape_metric import distractors
from ugatit.evaluation.shape_metric.foreground import soft_mask
from ugatit.evaluation.small_classifier import INPUT_SIZE, SmallCNN, fit, one_thread

# bump when the classes, the network, the training or the data generator change (3: trained and
# run with one thread, so that the same data gives the same classifier in every process)
VERSION = 3
OTHER = "other"
CLASSES: tuple[str, ...] = (*shapes.KINDS, OTHER)
SEED = 20201
TRAIN_PER_KIND = 900
TRAIN_PER_DISTRACTOR = 500
HELD_OUT_DISTRACTORS = 100  # per distractor type, for the reported OTHER accuracy
EPOCHS = 9
REQUIRED_ACCURACY = {"real": 0.99, "distractors": 0.95}


def cache_path(data_root: Path) -> Path:
    """Beside the data set's folder: one classifier serves every pair generated there."""
    return Path(data_root).parent / f"shape_classifier-v{VERSION}-{shapes.GENERATOR_VERSION}.pt"


class ShapeClassifier(SmallCNN):
    """The shared small CNN on the 32 x 32 shape map, one output per class."""

    def __init__(self, width: int = 16) -> None:
        super().__init__(len(CLASSES), width)

    @torch.no_grad()
    def predict(self, images: Tensor) -> list[str]:
        """Class names of images (uint8, or floats in [-1, 1]) [B, 3, H, W]."""
        with one_thread():
            logits = self(shape_maps(images.cpu()))
        return [CLASSES[i] for i in logits.argmax(dim=1).tolist()]


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


def train_classifier(epochs: int = EPOCHS, batch_size: int = 64) -> ShapeClassifier:
    """Train a classifier from scratch (seeded, CPU, one thread: the same in every process)."""
    with one_thread():
        torch.manual_seed(SEED)
        images, labels = training_set()
        maps = shape_maps(images)
        model = ShapeClassifier()
        return fit(model, maps, labels, epochs, SEED, batch_size)


# ------------------------------------------------------------------------------------ accuracy
def accuracy(model: ShapeClassifier, colours: str = shapes.DEFAULT_COLOURS) -> dict[str, float]:
    """Accuracy on held-out images: real test images of every built-in pair (drawn exactly as the
    data sets' test splits are, in the colour mode ``colours``) and distractors (to be called
    OTHER)."""
    real_images, real_labels = [], []
    for kind_a, kind_b in shapes.PAIRS.values():
        for split_id, kind in ((2, kind_a), (3, kind_b)):  # testA, testB as in ensure_shapes
            for i in range(50):
                rng = np.random.default_rng([0, split_id, i])
                real_images.append(to_tensor(shapes.draw_shape(rng, kind, 64, colours)))
                real_labels.append(kind)
    held_out = _distractor_images(HELD_OUT_DISTRACTORS, stream=1)
    real = model.predict(torch.stack(real_images))
    other = model.predict(torch.stack(held_out))
    return {
        "real": float(np.mean([p == t for p, t in zip(real, real_labels, strict=True)])),
        "distractors": float(np.mean([p == OTHER for p in other])),
    }


# ------------------------------------------------------------------------------------ cache
def load_or_train(data_root: Path) -> ShapeClassifier:
    """The cached classifier beside ``data_root``; trained and cached on first use (once, when
    several runs start together)."""
    return small_classifier.load_or_train(
        cache_path(data_root), ShapeClassifier, train_classifier, accuracy, "shape classifier"
    )
