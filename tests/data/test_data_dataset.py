"""Datasets: seeded, independent A/B draws; the paper's transforms; worker-count independence."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ugatit.data.dataset import ImageFolderDataset, UnpairedImageDataset
from ugatit.data.errors import DataError
from ugatit.data.sampler import UnpairedSampler


def _coded_image(path: Path, size: int, code: int) -> Path:
    """R = 8x, G = 8y (a pixel tells its position), B = code (tells which file)."""
    y, x = np.mgrid[0:size, 0:size]
    array = np.stack([x * 8, y * 8, np.full_like(x, code)], axis=-1).astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def domains(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    files_a = [_coded_image(tmp_path / "A" / f"{i}.png", 24, i) for i in range(6)]
    files_b = [_coded_image(tmp_path / "B" / f"{i}.png", 24, 100 + i) for i in range(9)]
    return files_a, files_b


def _to_uint8(tensor: torch.Tensor) -> np.ndarray:
    return ((tensor + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def test_b_is_drawn_independently_of_a(domains: tuple[list[Path], list[Path]]) -> None:
    files_a, files_b = domains
    dataset = UnpairedImageDataset(files_a, files_b, crop_size=8, load_size=None, flip=False)
    assert len(dataset) == 9
    sampler = UnpairedSampler(len(dataset), seed=0)
    pairs = []
    for epoch in range(12):
        sampler.set_epoch(epoch)
        for key in sampler:
            item = dataset[key]
            pairs.append((Path(item["a_path"]).name, Path(item["b_path"]).name))
    by_a: dict[str, set[str]] = {}
    for a, b in pairs:
        by_a.setdefault(a, set()).add(b)
    assert all(len(bs) >= 5 for bs in by_a.values())  # a given A meets many different Bs
    counts = Counter(b for _, b in pairs)
    assert len(counts) == 9 and min(counts.values()) >= 4  # every B is drawn
    assert Counter(a for a, _ in pairs)["0.png"] == 24  # A follows index % |A|: 0 and 6 map to 0


def test_same_seed_same_sample_and_epochs_differ(domains: tuple[list[Path], list[Path]]) -> None:
    dataset = UnpairedImageDataset(*domains, crop_size=8, load_size=12, flip=True)
    one, two = dataset[(3, 12345)], dataset[(3, 12345)]
    assert one["b_path"] == two["b_path"]
    assert torch.equal(one["a"], two["a"]) and torch.equal(one["b"], two["b"])

    sampler = UnpairedSampler(len(dataset), seed=1)
    epoch0 = [dataset[k] for k in sampler]
    sampler.set_epoch(1)
    epoch1 = [dataset[k] for k in sampler]
    stack0 = torch.stack([torch.cat([x["a"], x["b"]]) for x in epoch0])
    stack1 = torch.stack([torch.cat([x["a"], x["b"]]) for x in epoch1])
    assert not torch.equal(stack0, stack1)


def test_train_transform_flips_and_crops_windows(domains: tuple[list[Path], list[Path]]) -> None:
    dataset = UnpairedImageDataset(*domains, crop_size=10, load_size=None, flip=True)
    offsets, flips = set(), 0
    for seed in range(40):
        item = dataset[(0, seed)]
        assert item["a"].shape == (3, 10, 10) and item["b"].shape == (3, 10, 10)
        assert item["a"].min() >= -1 and item["a"].max() <= 1
        a = _to_uint8(item["a"]).astype(int)
        step = np.diff(a[0, :, 0])
        assert np.all(step == 8) or np.all(step == -8)  # a contiguous window, maybe mirrored
        assert np.all(np.diff(a[:, 0, 1]) == 8)  # never flipped vertically
        assert np.all(a[..., 2] == 0)  # file code of A index 0 survives
        flips += bool(step[0] < 0)
        offsets.add((int(a[0, :, 0].min()) // 8, int(a[0, 0, 1]) // 8))
    assert 8 <= flips <= 32  # p = 0.5
    assert len(offsets) > 10  # random crop positions
    assert all(0 <= x <= 14 and 0 <= y <= 14 for x, y in offsets)


def test_resize_then_crop_reaches_full_range(tmp_path: Path) -> None:
    image = np.zeros((40, 30, 3), dtype=np.uint8)
    image[:, 15:] = 255
    Image.fromarray(image).save(tmp_path / "half.png")
    dataset = UnpairedImageDataset(
        [tmp_path / "half.png"], [tmp_path / "half.png"], crop_size=16, load_size=20, flip=False
    )
    out = dataset[(0, 7)]["a"]
    assert out.shape == (3, 16, 16)
    assert out.min().item() == -1.0 and out.max().item() == 1.0


def test_eval_mode_pairs_by_position_and_resizes(domains: tuple[list[Path], list[Path]]) -> None:
    files_a, files_b = domains
    dataset = UnpairedImageDataset(
        files_a, files_b, crop_size=12, load_size=30, flip=True, train=False
    )
    item = dataset[7]
    assert item["a_path"] == str(files_a[1]) and item["b_path"] == str(files_b[7])
    expected = np.asarray(Image.open(files_a[1]).convert("RGB").resize((12, 12), Image.BILINEAR))
    assert np.array_equal(_to_uint8(item["a"]), expected)  # no flip, no crop
    assert torch.equal(dataset[7]["a"], item["a"])

    folder = ImageFolderDataset(files_b, size=16)
    assert len(folder) == 9 and folder[2]["path"] == str(files_b[2])
    assert folder[2]["image"].shape == (3, 16, 16)
    assert ImageFolderDataset(files_b, size=None)[0]["image"].shape == (3, 24, 24)


def test_image_smaller_than_crop_names_file(domains: tuple[list[Path], list[Path]]) -> None:
    dataset = UnpairedImageDataset(*domains, crop_size=32, load_size=None, flip=False)
    with pytest.raises(DataError, match=r"24x24.*crop_size=32.*load_size"):
        dataset[(0, 1)]


def _all_batches(dataset: UnpairedImageDataset, workers: int, batch_size: int) -> torch.Tensor:
    sampler = UnpairedSampler(len(dataset), seed=5)
    sampler.set_epoch(3)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers)
    return torch.cat([torch.cat([b["a"], b["b"]], dim=1) for b in loader])


def test_samples_do_not_depend_on_workers_or_batch_size(
    domains: tuple[list[Path], list[Path]],
) -> None:
    dataset = UnpairedImageDataset(*domains, crop_size=8, load_size=16, flip=True)
    reference = _all_batches(dataset, workers=0, batch_size=1)
    assert reference.shape == (9, 6, 8, 8)
    assert torch.equal(_all_batches(dataset, workers=2, batch_size=3), reference)
