"""The Lightning data module: makes the data present, checks it once, and builds every loader.

Each domain folder (trainA, trainB, testA, testB) is searched recursively: images in subfolders
count as well as those at its top level (hidden files and folders are skipped). The number of
images each split uses is logged when the module is set up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from ugatit.data import glyphs, shapes
from ugatit.data.dataset import ImageFolderDataset, UnpairedImageDataset
from ugatit.data.download import (
    CYCLEGAN_BASE_URL,
    LAYOUT,
    MANUAL_SOURCES,
    ensure_dataset,
)
from ugatit.data.errors import DataError
from ugatit.data.images import (
    IMAGE_EXTENSIONS,
    check_images,
    list_images,
    report_bad_images,
)
from ugatit.data.sampler import UnpairedSampler
from ugatit.errors import UserError
from ugatit.rules import COUNT, POSITIVE_INT

log = logging.getLogger(__name__)

_LOAD_MARGIN = 30
_DOWNLOAD_KEYS = {
    "base_url",
    "expected_counts",
    "max_extracted_bytes",
}  # both papers: load 286 for crop 256


def check_load_size(crop_size: Any, load_size: Any, error: type[UserError] = DataError) -> None:
    """Images are resized to load_size and then cropped, so load_size cannot be smaller."""
    sizes = (crop_size, load_size)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in sizes) and crop_size > load_size:
        raise error(
            f"data.crop_size={crop_size} is larger than data.load_size={load_size}: images are "
            "resized to load_size and then cropped to crop_size. Set load_size >= crop_size, or "
            "load_size=null for crop_size + 30."
        )


class UnpairedDataModule(pl.LightningDataModule):
    """Unpaired A/B image folders laid out as ROOT/{trainA,trainB,testA,testB}.

    ``batch_size`` is per device. Training uses :class:`UnpairedSampler`, which the module keeps
    as ``train_sampler`` so a resume can call ``set_start``; the trainer configs therefore set
    ``use_distributed_sampler: false``.
    """

    def __init__(
        self,
        root: str,
        name: str | None = None,
        download: dict | None = None,
        crop_size: int = 256,
        load_size: int | None = None,
        flip: bool = True,
        batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        val_samples: int = 4,
        check_images: bool = True,
        skip_unreadable: bool = False,
        seed: int = 0,
        pair: str | None = None,
        colours: str | None = None,
    ) -> None:
        """``pair``: which built-in pair ``name=shapes`` (ugatit.data.shapes) or ``name=glyphs``
        (ugatit.data.glyphs) generates. ``colours``: the shapes' colour mode; data of a mode other
        than ``palette`` live beside ``root``, in ``<root>-<mode>`` (shapes.colour_folder)."""
        super().__init__()
        if root is None or str(root).strip() in ("", "???"):
            raise DataError(
                f"data.root is not set (got {root!r}): give the folder of your data, e.g. "
                f"data.root=/path/to/ROOT, laid out as {LAYOUT}."
            )
        self.root = Path(str(root)).expanduser()
        self.name = name
        self.pair = pair
        self.colours = colours
        if name == "shapes":
            self.root = shapes.colour_folder(self.root, colours or shapes.DEFAULT_COLOURS)
        elif colours is not None:
            raise DataError(
                f"data.colours={colours!r} applies to the built-in shapes only (data=shapes); "
                "remove it for other data."
            )
        self.download = dict(download) if download is not None else None
        self.crop_size = crop_size
        self.load_size = crop_size + _LOAD_MARGIN if load_size is None else load_size
        self.flip = flip
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.val_samples = val_samples
        self.check_images = check_images
        self.skip_unreadable = skip_unreadable
        self.seed = seed
        self.train_dataset: UnpairedImageDataset | None = None
        self.val_dataset: UnpairedImageDataset | None = None
        self.test_datasets: dict[str, ImageFolderDataset] = {}
        self.train_sampler: UnpairedSampler | None = None
        self._files: dict[tuple[str, int | None], list[Path]] = {}
        self._validate_config()

    # ----------------------------------------------------------------------------- config checks
    def _validate_config(self) -> None:
        for key, rule in (
            ("crop_size", POSITIVE_INT),
            ("load_size", POSITIVE_INT),
            ("batch_size", POSITIVE_INT),
            ("num_workers", COUNT),
            ("val_samples", COUNT),
        ):
            rule.check(f"data.{key}", getattr(self, key), DataError)
        check_load_size(self.crop_size, self.load_size, DataError)
        if self.download is not None and not self.name:
            raise DataError(
                "data.download is set but data.name is empty: the download needs the data set's "
                "name (for example data.name=horse2zebra)."
            )

    # ----------------------------------------------------------------------------- presence
    def prepare_data(self) -> None:
        """Generate, download or just check the folders (Lightning runs it on one process)."""
        self._refuse_file_root()
        if self.name == "shapes":
            shapes.ensure_shapes(
                self.root,
                pair=self.pair or shapes.DEFAULT_PAIR,
                colours=self.colours or shapes.DEFAULT_COLOURS,
            )
        elif self.name == "glyphs":
            glyphs.ensure_glyphs(self.root, pair=self.pair or glyphs.DEFAULT_PAIR)
        elif self.download is not None or self.name in MANUAL_SOURCES:
            options = dict(self.download or {})
            unknown = sorted(set(options) - _DOWNLOAD_KEYS)
            if unknown:
                raise DataError(
                    f"data.download has unknown key(s) {unknown}; the known keys are "
                    f"{sorted(_DOWNLOAD_KEYS)}. Fix the spelling in the data config."
                )
            base_url = options.pop("base_url", None) or CYCLEGAN_BASE_URL
            ensure_dataset(self.root, self.name, base_url, **options)
        else:
            self._require_root()

    def _refuse_file_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise DataError(
                f"data.root '{self.root}' is a file, not a folder: point data.root at the folder "
                f"that holds trainA, trainB, testA and testB ({LAYOUT})."
            )

    def _require_root(self) -> None:
        self._refuse_file_root()
        if not self.root.is_dir():
            raise DataError(
                f"The data folder '{self.root}' does not exist. Create it with the layout {LAYOUT} "
                "(ROOT = data.root), or choose a data set that downloads itself (data=horse2zebra) "
                "or the built-in one (data=shapes)."
            )

    def _split_files(self, split: str) -> list[Path]:
        folder = self.root / split
        if not folder.is_dir():
            raise DataError(
                f"The folder '{folder}' is missing. Unpaired data must be laid out as {LAYOUT} "
                f"(ROOT = '{self.root}')."
            )
        files = list_images(folder, recursive=True)
        if not files:
            raise DataError(
                f"The folder '{folder}' holds no images (extensions {' '.join(IMAGE_EXTENSIONS)}, "
                f"searched recursively). Put the domain's images there; the expected layout is "
                f"{LAYOUT}."
            )
        return files

    # ----------------------------------------------------------------------------- setup
    def _needed(self, stage: str) -> dict[str, int | None]:
        """Splits a stage reads, each with how many leading files it uses (None: all)."""
        if stage == "test":
            return {"testA": None, "testB": None}
        val = self.val_samples
        needed: dict[str, int | None] = {"testA": val, "testB": val} if val else {}
        if stage != "validate":
            needed = {"trainA": None, "trainB": None, **needed}
        return needed

    def setup(self, stage: str | None = None) -> None:
        """List and check the splits ``stage`` needs; build the datasets."""
        stage = getattr(stage, "value", stage) or "fit"  # Lightning passes a TrainerFn
        self._require_root()
        needed = self._needed(stage)
        todo = {
            (s, n): self._split_files(s) for s, n in needed.items() if (s, n) not in self._files
        }
        self._files.update(self._scan(todo))
        files = {s: self._files[(s, n)] for s, n in needed.items()}
        self._log_counts(stage, {(s, n): self._files[(s, n)] for s, n in needed.items()})
        advice = self.unreadable_advice()
        if "trainA" in files:
            self.train_dataset = UnpairedImageDataset(
                files["trainA"],
                files["trainB"],
                self.crop_size,
                self.load_size,
                self.flip,
                unreadable_advice=advice,
            )
        if stage in ("fit", "validate") and self.val_samples > 0:
            self.val_dataset = UnpairedImageDataset(
                files["testA"],
                files["testB"],
                self.crop_size,
                self.load_size,
                False,
                train=False,
                unreadable_advice=advice,
            )
        if stage == "test":
            self.test_datasets = {
                "a": ImageFolderDataset(files["testA"], self.crop_size, advice),
                "b": ImageFolderDataset(files["testB"], self.crop_size, advice),
            }

    def _log_counts(self, stage: str, files: dict[tuple[str, int | None], list[Path]]) -> None:
        """One line: how many images each split contributes, so a short folder is noticed."""
        if self._rank_and_world()[0] != 0:
            return
        parts = [
            f"{split} {len(paths)}" + ("" if limit is None else " (validation)")
            for (split, limit), paths in files.items()
        ]
        name = self.name or self.root.name
        log.info("Data '%s' (%s, %s): %s images", name, self.root, stage, ", ".join(parts))

    def unreadable_advice(self) -> str:
        """The fix an image that fails while training names, which depends on the settings:
        ``data.skip_unreadable`` acts only on the scan that ``data.check_images`` turns on."""
        if self.check_images:
            return (
                "It was readable when the data were checked at start-up, so it changed since: "
                "replace the file with a valid image or delete it, then resume."
            )
        if self.skip_unreadable:
            return (
                "data.skip_unreadable=true leaves unreadable images out only when they are "
                "checked before training: set data.check_images=true, or replace or delete the "
                "file."
            )
        return (
            "Replace the file with a valid image or delete it, or set data.check_images=true "
            "and data.skip_unreadable=true to leave unreadable images out before training starts."
        )

    def _scan(
        self, listed: dict[tuple[str, int | None], list[Path]]
    ) -> dict[tuple[str, int | None], list[Path]]:
        """Decode files once; drop bad ones (skip_unreadable) or raise one error for all of them.

        Keys are (split, limit): with a limit only the first ``limit`` good files are kept and
        checked (the val set), so a long test folder is not decoded for four samples.
        """
        kept: dict[tuple[str, int | None], list[Path]] = {}
        bad: list[tuple[Path, str]] = []
        for (split, limit), files in listed.items():
            if not self.check_images:
                kept[(split, limit)] = files if limit is None else files[:limit]
                continue
            good: list[Path] = []
            remaining = files
            while remaining and (limit is None or len(good) < limit):
                batch = remaining if limit is None else remaining[: limit - len(good)]
                remaining = remaining[len(batch) :]
                ok, failed = check_images(batch, None)
                good += ok
                bad += failed
            kept[(split, limit)] = good
        report_bad_images(
            bad, self.skip_unreadable, "data.skip_unreadable", f" under '{self.root}'"
        )
        for (split, _), files in kept.items():
            if not files:
                raise DataError(
                    f"Every image in '{self.root / split}' is unreadable; nothing is left to use. "
                    "Replace the files with valid images."
                )
        return kept

    # ----------------------------------------------------------------------------- loaders
    def _loader(self, dataset: Any, **kwargs: Any) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            **kwargs,
        )

    def _require(self, dataset: Any, stage: str) -> Any:
        if dataset is None:
            raise RuntimeError(f"UnpairedDataModule.setup('{stage}') must run before this loader")
        return dataset

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def train_dataloader(self) -> DataLoader:
        """Seeded unpaired batches; each device draws ``batch_size`` items (never divided)."""
        dataset = self._require(self.train_dataset, "fit")
        rank, world_size = self._rank_and_world()
        self.train_sampler = UnpairedSampler(
            len(dataset), seed=self.seed, shuffle=True, rank=rank, world_size=world_size
        )
        if len(self.train_sampler) < self.batch_size:
            raise DataError(
                f"Each device gets {len(self.train_sampler)} training pair(s) per epoch under "
                f"'{self.root}', fewer than data.batch_size={self.batch_size}, so no full batch "
                "exists. Lower data.batch_size or add images."
            )
        self._place_resume_offset()
        return self._loader(dataset, sampler=self.train_sampler, drop_last=True)

    def _place_resume_offset(self) -> None:
        """Continue a resumed run exactly where it stopped inside an epoch.

        Lightning creates the loader after restoring a checkpoint, before it announces the
        epoch, and (with workers) the loader starts drawing at once; so the epoch and the
        position are placed here. The module's ``iteration`` counts every batch consumed, and
        every epoch has the same number of batches, so the position follows from the two.
        """
        trainer = getattr(self, "trainer", None)
        module = getattr(trainer, "lightning_module", None) if trainer is not None else None
        iteration = getattr(module, "iteration", None)
        if not iteration:
            return
        epoch = trainer.current_epoch
        batches_per_epoch = len(self.train_sampler) // self.batch_size
        position = iteration - epoch * batches_per_epoch
        self.train_sampler.set_epoch(epoch)
        if 0 < position < batches_per_epoch:
            self.train_sampler.set_start(position * self.batch_size)
        elif position < 0:
            # The run ended by its schedule (Lightning closed the epoch) and is being extended.
            log.info(
                "Continuing a finished run at iteration %d with a fresh epoch %d.", iteration, epoch
            )
        elif position != 0:
            log.warning(
                "Resuming at iteration %d in epoch %d does not fit %d batches per epoch (did the "
                "data change?); the epoch restarts from its first batch.",
                iteration,
                epoch,
                batches_per_epoch,
            )

    def val_dataloader(self) -> DataLoader | list:
        """The first ``val_samples`` test images of each domain, in order (empty when 0)."""
        if self.val_samples == 0:
            return []
        return self._loader(self._require(self.val_dataset, "validate"), shuffle=False)

    def test_dataloader(self) -> list[DataLoader]:
        """[testA loader, testB loader], every image in sorted order."""
        if not self.test_datasets:
            self._require(None, "test")
        return [self._loader(self.test_datasets[k], shuffle=False) for k in ("a", "b")]
