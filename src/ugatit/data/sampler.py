"""The training sampler: one seeded order per epoch, split over ranks, resumable mid-epoch.

Each yielded item carries a seed derived from (seed, epoch, global position) alone, so every random
choice of a sample (which B image, crop, flip) is the same whatever the worker count, the batch
split over devices or the point a run was resumed from.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

_SEED_BITS = 63


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers; a hash, so neighbouring inputs give unrelated seeds."""
    text = ":".join(str(int(p)) for p in parts).encode()
    digest = hashlib.blake2b(text, digest_size=8, person=b"ugatit-sampler").digest()
    return int.from_bytes(digest, "little") >> (64 - _SEED_BITS)


class UnpairedSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, sample_seed)`` for this rank, padded by wrapping like DistributedSampler.

    Lightning calls :meth:`set_epoch` each epoch; resume calls :meth:`set_start` with the number of
    items this rank already consumed in the current epoch.
    """

    def __init__(
        self,
        num_items: int,
        seed: int,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        if num_items < 1:
            raise ValueError(f"UnpairedSampler needs num_items >= 1, got {num_items}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"UnpairedSampler needs 0 <= rank < world_size, got {rank}/{world_size}"
            )
        self.num_items = num_items
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0
        self.start_index = 0
        if drop_last:
            self.per_rank = num_items // world_size
        else:
            self.per_rank = math.ceil(num_items / world_size)
        self.total_size = self.per_rank * world_size

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's order; a resume offset from :meth:`set_start` applies to one epoch.

        Setting the epoch it already has keeps the offset: Lightning calls this again for the
        epoch a resumed run starts in, after the data module placed the offset.
        """
        if epoch != self.epoch:
            self.start_index = 0
        self.epoch = epoch

    def set_start(self, position: int) -> None:
        """Skip the first ``position`` items this rank would yield in the current epoch."""
        if not 0 <= position <= self.per_rank:
            raise ValueError(
                f"set_start position must be in [0, {self.per_rank}] (items per rank per epoch), "
                f"got {position}"
            )
        self.start_index = position

    def epoch_order(self) -> list[int]:
        """The global order of the current epoch, padded or trimmed to a multiple of world_size."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
            order = torch.randperm(self.num_items, generator=generator).tolist()
        else:
            order = list(range(self.num_items))
        if self.total_size <= len(order):
            return order[: self.total_size]
        repeats = math.ceil(self.total_size / len(order))
        return (order * repeats)[: self.total_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.epoch_order()
        first = self.rank + self.start_index * self.world_size
        for position in range(first, self.total_size, self.world_size):
            yield order[position], derive_seed(self.seed, self.epoch, position)

    def __len__(self) -> int:
        """Items this rank yields per epoch; a resume offset does not shorten it."""
        return self.per_rank
