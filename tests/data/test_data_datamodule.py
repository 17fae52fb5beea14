"""UnpairedDataModule: layout checks, one clear error per problem, loaders, and the sampler."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from ugatit.data.datamodule import UnpairedDataModule
from ugatit.data.errors import DataError
from ugatit.data.sampler import UnpairedSampler

COUNTS = {"trainA": 5, "trainB": 3, "testA": 4, "testB": 2}


def _make_root(tmp_path: Path, counts: dict[str, int] = COUNTS) -> Path:
    root = tmp_path / "toy"
    for split, n in counts.items():
        (root / split).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(root / split / f"{i:02d}.png")
    return root


def _module(root: Path, **kwargs) -> UnpairedDataModule:
    options = {"crop_size": 8, "load_size": 10, "batch_size": 2, "val_samples": 2, **kwargs}
    return UnpairedDataModule(str(root), **options)


def test_fit_builds_datasets_and_loaders(tmp_path: Path) -> None:
    module = _module(_make_root(tmp_path))
    module.prepare_data()
    module.setup("fit")
    assert len(module.train_dataset) == 5
    assert len(module.val_dataset) == 2
    assert module.val_dataset[1]["a_path"].endswith("testA/01.png")
    assert module.val_dataset[1]["b_path"].endswith("testB/01.png")

    loader = module.train_dataloader()
    assert isinstance(module.train_sampler, UnpairedSampler)
    assert loader.sampler is module.train_sampler
    batches = list(loader)
    assert len(batches) == 2  # 5 items, batch 2, drop_last
    assert batches[0]["a"].shape == (2, 3, 8, 8)
    assert batches[0]["a"].min() >= -1 and batches[0]["a"].max() <= 1

    val = list(module.val_dataloader())
    assert len(val) == 1 and val[0]["a"].shape == (2, 3, 8, 8)  # resized to crop_size


def test_load_size_defaults_to_crop_plus_30(tmp_path: Path) -> None:
    module = UnpairedDataModule(str(tmp_path), crop_size=64)
    assert module.load_size == 94


def test_test_loaders(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    module = _module(root, batch_size=1)
    module.setup("test")
    loaders = module.test_dataloader()
    assert [len(loader) for loader in loaders] == [4, 2]
    assert module.test_datasets["a"].files == sorted((root / "testA").iterdir())


class _FakeTrainer:
    def __init__(self, rank: int, world: int) -> None:
        self.global_rank, self.world_size = rank, world


def test_train_loader_splits_by_rank_and_keeps_batch_per_device(tmp_path: Path) -> None:
    module = _module(_make_root(tmp_path), batch_size=1)
    module.setup("fit")
    seen = []
    for rank in range(2):
        module.trainer = _FakeTrainer(rank, 2)
        loader = module.train_dataloader()
        assert loader.batch_size == 1 and module.train_sampler.rank == rank
        seen.append([key[1] for key in module.train_sampler])
    assert len(seen[0]) == len(seen[1]) == 3
    assert not set(seen[0]) & set(seen[1])


def test_resume_skips_consumed_items(tmp_path: Path) -> None:
    module = _module(_make_root(tmp_path, {**COUNTS, "trainA": 9}), batch_size=1)
    module.setup("fit")
    full = [b["a_path"][0] + b["b_path"][0] for b in module.train_dataloader()]
    loader = module.train_dataloader()
    module.train_sampler.set_start(4)
    assert [b["a_path"][0] + b["b_path"][0] for b in loader] == full[4:]


@pytest.mark.parametrize("root", ["", "???"])
def test_unset_root(root: str) -> None:
    with pytest.raises(DataError, match="data.root is not set"):
        UnpairedDataModule(root)


def test_missing_root(tmp_path: Path) -> None:
    module = _module(tmp_path / "nowhere")
    for step in (module.prepare_data, lambda: module.setup("fit")):
        with pytest.raises(DataError, match="does not exist") as info:
            step()
        assert str(tmp_path / "nowhere") in str(info.value)
        assert "{trainA,trainB,testA,testB}" in str(info.value)


@pytest.mark.parametrize("problem", ["missing", "empty", "only_text"])
def test_missing_or_empty_domain_folder(tmp_path: Path, problem: str) -> None:
    root = _make_root(tmp_path, {"trainA": 2, "testA": 1, "testB": 1})
    if problem != "missing":
        (root / "trainB").mkdir()
    if problem == "only_text":
        (root / "trainB" / "readme.txt").write_text("images go here")
    with pytest.raises(DataError) as info:
        _module(root).setup("fit")
    message = str(info.value)
    assert str(root / "trainB") in message
    assert "{trainA,trainB,testA,testB}" in message
    assert ("is missing" if problem == "missing" else "holds no images") in message


def _corrupt(root: Path) -> list[Path]:
    bad = [root / "trainA" / "03.png", root / "trainB" / "01.png"]
    bad[0].write_text("not an image at all")  # a text file with an image extension
    data = bad[1].read_bytes()
    bad[1].write_bytes(data[: len(data) // 2])  # truncated
    return bad


def test_unreadable_images_raise_one_error_listing_all(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    bad = _corrupt(root)
    with pytest.raises(DataError) as info:
        _module(root).setup("fit")
    message = str(info.value)
    assert message.startswith("2 unreadable image(s)")
    assert all(str(path) in message for path in bad)
    assert "skip_unreadable=true" in message


def test_error_lists_first_ten_and_counts_the_rest(tmp_path: Path) -> None:
    root = _make_root(tmp_path, {**COUNTS, "trainA": 14})
    for i in range(13):
        (root / "trainA" / f"{i:02d}.png").write_bytes(b"junk")
    with pytest.raises(DataError) as info:
        _module(root).setup("fit")
    message = str(info.value)
    assert "13 unreadable" in message and "and 3 more" in message
    assert "09.png" in message and "10.png" not in message


def test_skip_unreadable_warns_with_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _make_root(tmp_path)
    bad = _corrupt(root)
    module = _module(root, skip_unreadable=True)
    with caplog.at_level(logging.WARNING, logger="ugatit.data.datamodule"):
        module.setup("fit")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Skipping 2 unreadable" in warnings[0]
    assert str(bad[0]) in warnings[0]
    assert len(module.train_dataset.files_a) == 4 and len(module.train_dataset.files_b) == 2
    assert str(bad[0]) not in {str(p) for p in module.train_dataset.files_a}


def test_check_images_off_defers_errors_to_loading(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    _corrupt(root)
    module = _module(root, check_images=False)
    module.setup("fit")
    assert len(module.train_dataset.files_a) == 5
    with pytest.raises(DataError, match="03.png"):
        module.train_dataset[(3, 0)]


def test_val_scan_replaces_bad_leading_test_images(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    (root / "testA" / "00.png").write_bytes(b"junk")
    module = _module(root, skip_unreadable=True)
    module.setup("fit")
    assert [Path(p).name for p in module.val_dataset.files_a] == ["01.png", "02.png"]


@pytest.mark.parametrize(
    "options,match",
    [
        ({"crop_size": 20, "load_size": 10}, "crop_size=20 is larger than data.load_size=10"),
        ({"crop_size": 0}, "crop_size=0"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"load_size": -5}, "load_size=-5"),
        ({"download": {"base_url": "x"}}, "data.name is empty"),
    ],
)
def test_invalid_config(tmp_path: Path, options: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        _module(tmp_path, **options)


def test_unknown_download_key(tmp_path: Path) -> None:
    module = _module(tmp_path / "x", name="x", download={"base_url": "u", "expected_count": {}})
    with pytest.raises(DataError, match=r"unknown key\(s\) \['expected_count'\]"):
        module.prepare_data()


def test_too_few_items_for_a_batch(tmp_path: Path) -> None:
    module = _module(_make_root(tmp_path, {**COUNTS, "trainA": 2, "trainB": 2}), batch_size=4)
    module.setup("fit")
    with pytest.raises(DataError, match="batch_size=4"):
        module.train_dataloader()


def test_shapes_and_manual_dataset_in_prepare_data(tmp_path: Path) -> None:
    manual = UnpairedDataModule(str(tmp_path / "selfie2anime"), name="selfie2anime")
    with pytest.raises(DataError, match="by hand"):
        manual.prepare_data()

    module = UnpairedDataModule(
        str(tmp_path / "shapes"), name="shapes", crop_size=32, load_size=40, val_samples=1
    )
    module.prepare_data()
    module.setup("fit")
    assert len(module.train_dataset) == 400
    batch = next(iter(module.train_dataloader()))
    assert batch["a"].shape == (1, 3, 32, 32) and batch["a"].dtype == torch.float32


class _Recorder(pl.LightningModule):
    """Records each training batch's file names; a single weight keeps Lightning satisfied."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[int, str]] = []

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.seen.append((self.current_epoch, batch["a_path"][0] + batch["b_path"][0]))
        return (self.weight * batch["a"].mean()).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


class _ResumeAt(pl.Callback):
    def __init__(self, module: UnpairedDataModule, epoch: int, position: int) -> None:
        self.module, self.epoch, self.position = module, epoch, position

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            self.module.train_sampler.set_start(self.position)


def test_lightning_keeps_our_sampler_and_sets_its_epoch(tmp_path: Path) -> None:
    module = _module(_make_root(tmp_path, {"trainA": 6, "trainB": 6}), batch_size=1, val_samples=0)
    recorder = _Recorder()
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", devices=1, use_distributed_sampler=False, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )  # fmt: skip
    resume = _ResumeAt(module, epoch=1, position=2)
    trainer.callbacks.append(resume)
    trainer.fit(recorder, datamodule=module)
    assert trainer.train_dataloader.sampler is module.train_sampler
    assert module.train_sampler.epoch == 1
    epochs = [[name for epoch, name in recorder.seen if epoch == e] for e in (0, 1)]
    assert len(epochs[0]) == 6 and epochs[0] != epochs[1]
    sampler = UnpairedSampler(6, seed=module.seed)
    sampler.set_epoch(1)
    expected = [module.train_dataset[key] for key in sampler]
    # set_start in on_train_epoch_start (after Lightning's set_epoch) resumes that epoch exactly
    assert epochs[1] == [item["a_path"] + item["b_path"] for item in expected][2:]
