"""UnpairedSampler: seeded epochs, disjoint ranks, exact mid-epoch resume."""

from __future__ import annotations

import pytest

from ugatit.data.sampler import UnpairedSampler


def test_deterministic_per_seed_and_epoch() -> None:
    first = list(UnpairedSampler(50, seed=3))
    again = list(UnpairedSampler(50, seed=3))
    assert first == again
    assert sorted(i for i, _ in first) == list(range(50))  # a permutation
    assert [i for i, _ in first] != list(range(50))  # actually shuffled
    assert [i for i, _ in UnpairedSampler(50, seed=4)] != [i for i, _ in first]

    sampler = UnpairedSampler(50, seed=3)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert [i for i, _ in epoch1] != [i for i, _ in first]
    assert {s for _, s in epoch1}.isdisjoint({s for _, s in first})
    assert all(0 <= s < 2**63 for _, s in first + epoch1)
    assert len({s for _, s in first}) == 50


def test_no_shuffle_keeps_order() -> None:
    sampler = UnpairedSampler(7, seed=0, shuffle=False)
    sampler.set_epoch(5)
    assert [i for i, _ in sampler] == list(range(7))


@pytest.mark.parametrize("num_items,world_size", [(10, 3), (12, 4), (2, 3)])
def test_ranks_are_disjoint_and_padded_by_wrapping(num_items: int, world_size: int) -> None:
    samplers = [
        UnpairedSampler(num_items, 1, rank=r, world_size=world_size) for r in range(world_size)
    ]
    for s in samplers:
        s.set_epoch(2)
    per_rank = -(-num_items // world_size)
    outputs = [list(s) for s in samplers]
    assert all(len(out) == len(s) == per_rank for out, s in zip(outputs, samplers, strict=True))
    seeds = [seed for out in outputs for _, seed in out]
    assert len(set(seeds)) == len(seeds)  # disjoint global positions
    indices = [i for out in outputs for i, _ in out]
    assert set(indices) == set(range(num_items))  # every item seen; padding only repeats

    single = UnpairedSampler(num_items, 1)
    single.set_epoch(2)
    order = single.epoch_order()
    # rank r takes global positions r, r + W, ...: the same items and seeds as one process.
    merged = sorted((seed, i) for out in outputs for i, seed in out)
    padded = [order[p % num_items] for p in range(per_rank * world_size)]
    assert sorted(padded) == sorted(i for _, i in merged)


def test_drop_last_trims_instead_of_padding() -> None:
    samplers = [UnpairedSampler(10, 0, rank=r, world_size=3, drop_last=True) for r in range(3)]
    assert [len(list(s)) for s in samplers] == [3, 3, 3]


def test_set_start_resumes_the_exact_remaining_sequence() -> None:
    full = UnpairedSampler(23, seed=9, rank=1, world_size=2)
    full.set_epoch(4)
    expected = list(full)
    resumed = UnpairedSampler(23, seed=9, rank=1, world_size=2)
    resumed.set_epoch(4)
    resumed.set_start(5)
    assert list(resumed) == expected[5:]
    resumed.set_epoch(5)  # the offset applies to one epoch only
    assert resumed.start_index == 0 and len(list(resumed)) == len(expected)
    with pytest.raises(ValueError, match="set_start"):
        resumed.set_start(len(expected) + 1)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="num_items"):
        UnpairedSampler(0, 0)
    with pytest.raises(ValueError, match="rank"):
        UnpairedSampler(5, 0, rank=2, world_size=2)
