"""FID/KID during training, on the data module's val or test images, for dashboards and model choice.

Computes ``<prefix>/fid_a2b``, ``<prefix>/kid_a2b``, ``<prefix>/fid_b2a``, ``<prefix>/kid_b2a``,
``<prefix>/fid_mean`` and ``<prefix>/kid_mean`` (prefix ``val``; KID is the raw mean, not x100).
They go through ``pl_module.log`` into ``trainer.callback_metrics``, where ModelCheckpoint(monitor=
...) and the sweep objective (``optimized_metric``) read them, and straight to every logger at
Lightning's current step. A monitoring checkpoint should save on the same iterations as this
callback evaluates, or it compares the last evaluation's values.

Each rank translates and featurizes its share of the images; the features are gathered in image
order (torchmetrics), so every rank scores the same features to the same values (a monitor on
any rank finds the key) and N ranks share the work of one. Inception is fetched from the per-process cache in
:mod:`ugatit.evaluation.fid_kid` and never becomes an attribute of the module, so checkpoints stay small. The
real images' features are computed once and kept here (2048 floats per image).
Enable with ``callbacks=[default,metrics]`` on the command line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from ugatit.directions import SOURCE_TARGET
from ugatit.errors import ConfigError
from ugatit.evaluation.fid_kid import (
    FEATURE_SIZE,
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    inception_features,
    scores_from_features,
)
from ugatit.evaluation.per_image import GatheredValues, share
from ugatit.inference.translation import resolve_device
from ugatit.rules import FID_COUNT, OPTIONAL_POSITIVE_INT, POSITIVE_INT

log = logging.getLogger(__name__)

SPLITS = ("val", "test")


class FidKidCallback(pl.Callback):
    """FID and KID of both translation directions every N iterations and/or every N epochs.

    ``split``: ``val`` reads the data module's ``val_dataloader()`` (the first ``data.val_samples``
    test images of each domain, batches with keys ``a`` and ``b``); ``test`` sets the data module
    up for testing and reads its two ``test_dataloader()`` loaders (every test image).
    ``max_images`` keeps the first N images per domain. ``kid_subset_size`` None means 1000, in
    both cases shrunk to the number of images. ``device``: ``auto`` uses the module's device.
    ``at_train_end`` also scores the model after the schedule's last iteration (when the module
    stops the trainer), so the final callback metrics describe the final weights.
    """

    def __init__(
        self,
        every_n_iterations: int | None = 5000,
        every_n_epochs: int | None = None,
        split: str = "val",
        max_images: int | None = None,
        kid_subset_size: int | None = None,
        device: str = "auto",
        kid_subsets: int = KID_SUBSETS,
        prefix: str = "val",
        at_train_end: bool = True,
    ) -> None:
        for name, value, rule in (
            ("every_n_iterations", every_n_iterations, OPTIONAL_POSITIVE_INT),
            ("every_n_epochs", every_n_epochs, OPTIONAL_POSITIVE_INT),
            ("max_images", max_images, FID_COUNT),
            ("kid_subset_size", kid_subset_size, FID_COUNT),
            ("kid_subsets", kid_subsets, POSITIVE_INT),
        ):
            rule.check(f"FidKidCallback {name}", value)
        if every_n_iterations is None and every_n_epochs is None:
            raise ConfigError(
                "FidKidCallback needs every_n_iterations or every_n_epochs; set one of them."
            )
        if split not in SPLITS:
            raise ConfigError(f"FidKidCallback split={split!r} is invalid; use val or test.")
        self.every_n_iterations = every_n_iterations
        self.every_n_epochs = every_n_epochs
        self.split = split
        self.max_images = max_images
        self.kid_subset_size = kid_subset_size
        self.device = device
        self.kid_subsets = kid_subsets
        self.prefix = prefix
        self.at_train_end = at_train_end
        self._real: dict[str, Tensor] | None = None  # domain -> (N, 2048) features
        self._images: dict[str, Tensor] | None = None  # domain -> (N, 3, H, W) in [-1, 1]
        self._last_iteration: int | None = None
        self.last_metrics: dict[str, float] = {}  # the latest evaluation (end-of-run summary)

    def summary_lines(self) -> list[str]:
        """The end-of-run summary's line (ugatit.training.summary asks every callback)."""
        if not self.last_metrics:
            return []
        return ["FID/KID: " + ", ".join(f"{k} {v:.3g}" for k, v in self.last_metrics.items())]

    # ------------------------------------------------------------------ images
    def _gather(self, batches: Iterable[Any], key: str) -> Tensor:
        images: list[Tensor] = []
        count = 0
        for batch in batches:
            part = batch[key]
            images.append(part)
            count += len(part)
            if self.max_images is not None and count >= self.max_images:
                break
        if not images:
            return torch.empty(0)
        stacked = torch.cat(images)
        return stacked if self.max_images is None else stacked[: self.max_images]

    def _load_images(self, trainer: pl.Trainer) -> dict[str, Tensor]:
        datamodule = trainer.datamodule
        if datamodule is None:
            raise ConfigError(
                "FidKidCallback reads its images from a LightningDataModule; pass one to "
                "trainer.fit(datamodule=...)."
            )
        if self.split == "val":
            loaders = datamodule.val_dataloader()
            loaders = loaders if isinstance(loaders, list) else [loaders]
            if not loaders:
                raise ConfigError(
                    "FidKidCallback(split=val) found no validation images: data.val_samples is "
                    "0. Set data.val_samples >= 2 or use split=test."
                )
            images = {k: self._gather(loaders[0], k) for k in ("a", "b")}
        else:
            datamodule.setup("test")
            loader_a, loader_b = datamodule.test_dataloader()
            images = {"a": self._gather(loader_a, "image"), "b": self._gather(loader_b, "image")}
        for domain, tensor in images.items():
            if len(tensor) < 2:
                raise ConfigError(
                    f"FidKidCallback(split={self.split}) has {len(tensor)} image(s) of domain "
                    f"{domain.upper()}; FID/KID need at least 2. Raise data.val_samples or "
                    "max_images."
                )
        return images

    # ------------------------------------------------------------------ computing
    def _device(self, pl_module: pl.LightningModule) -> torch.device:
        return pl_module.device if self.device == "auto" else resolve_device(self.device)

    def _translate(self, pl_module: pl.LightningModule, images: Tensor, direction: str) -> Tensor:
        fakes = []
        for start in range(0, len(images), 16):
            batch = images[start : start + 16].to(pl_module.device)
            fakes.append(pl_module(batch, direction).image.float().cpu())
        return torch.cat(fakes)

    def _features(
        self,
        trainer: pl.Trainer,
        images: Tensor,
        device: torch.device,
        translate: Callable[[Tensor], Tensor] | None = None,
    ) -> Tensor:
        """Inception features of ``images`` (of their translations with ``translate``), each
        rank computing its share; gathered (torchmetrics) in image order on every rank."""
        mine = images[share(len(images), trainer.global_rank, trainer.world_size)]
        gathered = GatheredValues(("features",)).to(device)
        if len(mine):
            if translate is not None:
                mine = translate(mine)
            gathered.update({"features": inception_features(mine, device)})
        else:  # more ranks than images: this rank still joins the gathering
            gathered.update({"features": torch.empty(0, FEATURE_SIZE)})
        return gathered.gathered()["features"].cpu()

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, float]:
        """Score both directions now; the module is put in eval mode and restored afterwards.
        Every rank returns the same numbers (the features are gathered before scoring)."""
        device = self._device(pl_module)
        if self._images is None:
            self._images = self._load_images(trainer)
        if self._real is None:
            self._real = {k: self._features(trainer, v, device) for k, v in self._images.items()}
        was_training = pl_module.training
        pl_module.eval()
        metrics: dict[str, float] = {}
        try:
            with torch.no_grad():
                for direction in pl_module.directions:
                    source, target = SOURCE_TARGET[direction]
                    fake = self._features(
                        trainer,
                        self._images[source],
                        device,
                        lambda x, d=direction: self._translate(pl_module, x, d),
                    )
                    real = self._real[target]
                    wanted = self.kid_subset_size or KID_SUBSET_SIZE
                    subset = min(wanted, len(real), len(fake))
                    scores = scores_from_features(real, fake, subset, self.kid_subsets)
                    metrics[f"{self.prefix}/fid_{direction}"] = scores["fid"]
                    metrics[f"{self.prefix}/kid_{direction}"] = scores["kid_mean"]
        finally:
            pl_module.train(was_training)
        for name in ("fid", "kid"):
            scores = [metrics[f"{self.prefix}/{name}_{d}"] for d in pl_module.directions]
            metrics[f"{self.prefix}/{name}_mean"] = sum(scores) / len(scores)
        return metrics

    def _evaluate_and_log(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        iteration = int(getattr(pl_module, "iteration", trainer.global_step))
        if iteration == self._last_iteration:
            return
        metrics = self.compute(trainer, pl_module)
        self._last_iteration = iteration
        self.last_metrics = metrics
        for name, value in metrics.items():
            # logger=False: Lightning forwards hook metrics to loggers only every
            # log_every_n_steps, which would drop most evaluations; they are sent below instead.
            pl_module.log(name, value, batch_size=1, logger=False)
        if trainer.is_global_zero:
            step = trainer.fit_loop.epoch_loop._batches_that_stepped  # Lightning's own log step
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)
        log.info(
            "Iteration %d: %s",
            iteration,
            ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()),
        )

    # ------------------------------------------------------------------ hooks
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        iteration = int(getattr(pl_module, "iteration", trainer.global_step))
        periodic = self.every_n_iterations is not None and iteration % self.every_n_iterations == 0
        # The module sets should_stop after its last scheduled iteration: score the final model.
        final = self.at_train_end and trainer.should_stop
        if iteration > 0 and (periodic or final):
            self._evaluate_and_log(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (
            self.every_n_epochs is not None
            and (trainer.current_epoch + 1) % self.every_n_epochs == 0
        ):
            self._evaluate_and_log(trainer, pl_module)
