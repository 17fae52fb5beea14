"""The small CNN judges of the built-in data's metrics (shapes, glyphs): network, training loop,
augmentation and weight cache, shared so that every judge is trained and stored the same way.

A judge is trained on the CPU in well under a minute, seeded and with one thread (so every process
gets the same weights), cached beside the data with its version in the file name, and loaded with
``torch.load(weights_only=True)``, which executes no code from the file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ugatit.file_lock import exclusive

log = logging.getLogger(__name__)

INPUT_SIZE = 32  # side of the one-channel maps the networks read


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


class SmallCNN(nn.Module):
    """Four conv-BN-ReLU-maxpool stages on a 32 x 32 map, then one linear layer."""

    def __init__(self, n_classes: int, width: int = 16) -> None:
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
        self.head = nn.Linear(channels * (INPUT_SIZE // 16) ** 2, n_classes)

    def forward(self, maps: Tensor) -> Tensor:
        """Maps [B, 1, 32, 32] in [0, 1] -> class logits [B, n_classes]."""
        return self.head(self.features(maps).flatten(1))


def augment(maps: Tensor, generator: torch.Generator) -> Tensor:
    """Contrast, speckle noise and blur of the kinds a generator's outputs show."""
    n = maps.shape[0]
    contrast = 0.6 + 0.6 * torch.rand(n, 1, 1, 1, generator=generator)
    noise_std = 0.12 * torch.rand(n, 1, 1, 1, generator=generator)
    noisy = maps * contrast + noise_std * torch.randn(maps.shape, generator=generator).abs()
    noisy = noisy.clamp(0, 1)
    blurred = F.avg_pool2d(noisy, 3, stride=1, padding=1, count_include_pad=False)
    use_blur = torch.rand(n, 1, 1, 1, generator=generator) < 0.3
    return torch.where(use_blur, blurred, noisy)


def fit(
    model: nn.Module,
    maps: Tensor,
    labels: Tensor,
    epochs: int,
    seed: int,
    batch_size: int = 64,
) -> nn.Module:
    """Train ``model`` on augmented ``maps`` (Adam, one-cycle schedule); the caller seeds torch
    before building the model and holds :func:`one_thread`."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * ((len(maps) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(maps), generator=generator)
        for start in range(0, len(maps), batch_size):
            index = order[start : start + batch_size]
            loss = F.cross_entropy(model(augment(maps[index], generator)), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


@torch.no_grad()
def predict_classes(model: nn.Module, maps: Tensor, batch_size: int = 512) -> Tensor:
    """Class indices of ``maps``, with one thread (the verdicts do not depend on the process)."""
    with one_thread():
        return torch.cat(
            [model(maps[i : i + batch_size]).argmax(dim=1) for i in range(0, len(maps), batch_size)]
        )


def _load(path: Path, build: Callable[[], nn.Module], what: str) -> nn.Module | None:
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = build()
        model.load_state_dict(saved["state_dict"])
        return model.eval()
    except Exception as error:  # a truncated or foreign file: train again, say so
        log.warning("%s cache %s unreadable (%s); training a new one.", what, path, error)
        return None


def load_or_train(
    path: Path,
    build: Callable[[], nn.Module],
    train: Callable[[], nn.Module],
    accuracy: Callable[[nn.Module], dict[str, float]],
    what: str,
) -> nn.Module:
    """The classifier cached at ``path``; trained, measured and cached on first use (once, when
    several runs start together)."""
    with exclusive(path.with_name(f".{path.name}.lock")):
        model = _load(path, build, what)
        if model is not None:
            return model
        tic = time.perf_counter()
        model = train()
        seconds = time.perf_counter() - tic
        scores = accuracy(model)
        log.info(
            "Trained the %s in %.0f s: held-out accuracy %s; cached in %s",
            what,
            seconds,
            ", ".join(f"{k} {v:.3f}" for k, v in scores.items()),
            path,
        )
        partial = path.with_name(f".{path.name}.partial")
        state = {"state_dict": model.state_dict(), "accuracy": scores, "train_seconds": seconds}
        torch.save(state, partial)
        partial.replace(path)
        return model
