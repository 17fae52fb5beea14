"""Per-image values, gathered across DDP ranks by torchmetrics and reduced to a metric's numbers.

A judge (shape or glyph metric) gives one value per translated image and key (1.0/0.0 for a
verdict, a distance, NaN where the key does not apply, e.g. no shape found). During training each
rank scores its own contiguous share of the evaluation images into a :class:`GatheredValues`;
``compute()`` gathers the shares in rank order on every rank, so every rank reduces the same
values in the same order to the same numbers, as one process scoring every image would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


class GatheredValues(Metric):
    """Per-image values under fixed keys, concatenated across updates and ranks."""

    full_state_update = False

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__()
        self.keys = tuple(keys)
        self._trailing: dict[str, tuple[int, ...]] = {}  # each key's shape per image
        for key in self.keys:
            self.add_state(key, default=[], dist_reduce_fx="cat")

    def update(self, values: Mapping[str, Tensor]) -> None:
        """One batch of values per key, [N, ...]; a rank with no image passes N = 0."""
        for key in self.keys:
            value = values[key].detach().to(self.device)
            self._trailing[key] = tuple(value.shape[1:])
            getattr(self, key).append(value)

    def compute(self) -> dict[str, Tensor]:
        return {
            key: dim_zero_cat(parts) if len(parts) else torch.empty(0, device=self.device)
            for key, parts in ((key, getattr(self, key)) for key in self.keys)
        }

    def gathered(self) -> dict[str, Tensor]:
        """Every rank's values in image order, [N, ...] per key (``compute()`` squeezes a lone
        image's values to a scalar, as torchmetrics does with every one-element result)."""
        return {k: v.reshape(-1, *self._trailing.get(k, ())) for k, v in self.compute().items()}


def share(count: int, rank: int, world_size: int) -> slice:
    """Rank ``rank``'s contiguous share of ``count`` items (the shares in rank order are the
    items in order; the first ``count % world_size`` ranks take one more)."""
    base, extra = divmod(count, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def reduce_values(values: Mapping[str, Tensor], medians: Iterable[str] = ()) -> dict[str, float]:
    """Each key's mean over the images where it applies (NaN where it applies to none); keys in
    ``medians`` take the median instead; ``n`` is the number of images."""
    medians = set(medians)
    scores: dict[str, float] = {}
    n = 0
    for key, tensor in values.items():
        flat = tensor.detach().double().cpu().reshape(-1)
        n = max(n, len(flat))
        finite = flat[torch.isfinite(flat)]
        if not len(finite):
            scores[key] = float("nan")
        elif key in medians:
            scores[key] = finite.median().item()
        else:
            scores[key] = finite.mean().item()
    scores["n"] = n
    return scores
