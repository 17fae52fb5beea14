"""Training monitor: throughput and U-GAT-IT's rho statistics, sent to the loggers periodically.

Throughput is measured between logging points with ``time.perf_counter`` alone: no per-step
device synchronisation, so watching the speed does not slow training down. On a GPU each window is
the host's view (kernels still queued at its end fall into the next window), which evens out over
windows of tens of iterations.

rho is the learned mix between instance and layer normalisation (AdaLIN in the residual decoder
blocks, LIN in the up-sampling blocks). Its drift towards 1 (instance statistics, texture-like
translation) or 0 (layer statistics, shape-changing translation) per group is the paper's main
diagnostic, so its mean, min and max are logged per group over both generators.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ugatit.nets.base import Generator
from ugatit.rules import POSITIVE_INT
from ugatit.training.base import TranslationMethod


def rho_parameters(generators: Iterable[nn.Module]) -> dict[str, list[Tensor]]:
    """Every parameter named ``rho`` in ``generators``, grouped where each generator says its
    norm sits (``Generator.rho_group``; a generator that does not say groups by top block)."""
    groups: dict[str, list[Tensor]] = {}
    for generator in generators:
        for name, param in generator.named_parameters():
            module_name, _, leaf = name.rpartition(".")
            if leaf == "rho":
                group = None
                if isinstance(generator, Generator):
                    group = generator.rho_group(module_name)
                group = group or module_name.split(".", 1)[0].lower() or "generator"
                groups.setdefault(group, []).append(param)
    return groups


@torch.no_grad()
def rho_statistics(generators: Iterable[nn.Module]) -> dict[str, float]:
    """``rho/<group>_{mean,min,max}`` over all channels of all generators; {} without rho.

    The values are gathered into one tensor so that a GPU is synchronised once per call.
    """
    groups = rho_parameters(generators)
    if not groups:
        return {}
    names, stats = [], []
    for group, params in groups.items():
        values = torch.cat([p.detach().reshape(-1).float() for p in params])
        names += [f"rho/{group}_mean", f"rho/{group}_min", f"rho/{group}_max"]
        stats += [values.mean(), values.min(), values.max()]
    return dict(zip(names, torch.stack(stats).tolist(), strict=True))


def _batch_images(batch: Any) -> int:
    """Images of domain A in a batch (its first dimension; host metadata, no device sync)."""
    if isinstance(batch, Mapping) and isinstance(batch.get("a"), Tensor):
        return int(batch["a"].shape[0])
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], Tensor):
        return int(batch[0].shape[0])
    return 1


class TrainingMonitor(pl.Callback):
    """Every ``every_n_iterations`` iterations, logs ``perf/it_per_s``, ``perf/img_per_s`` (images
    of one domain per second, i.e. iterations x batch size) and, for models with rho, the
    ``rho/*`` statistics of both generators. ``last_metrics`` keeps the latest values."""

    def __init__(self, every_n_iterations: int = 50) -> None:
        POSITIVE_INT.check("callbacks.training_monitor.every_n_iterations", every_n_iterations)
        self.every_n_iterations = every_n_iterations
        self.last_metrics: dict[str, float] = {}
        self._window_start = 0.0
        self._window_iterations = 0
        self._window_images = 0

    def _restart_window(self) -> None:
        self._window_start = time.perf_counter()
        self._window_iterations = 0
        self._window_images = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restart_window()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._window_iterations += 1
        self._window_images += _batch_images(batch)
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        if iteration % self.every_n_iterations:
            return
        elapsed = max(time.perf_counter() - self._window_start, 1e-9)
        metrics = {
            "perf/it_per_s": self._window_iterations / elapsed,
            "perf/img_per_s": self._window_images / elapsed,
        }
        if isinstance(pl_module, TranslationMethod):
            metrics.update(rho_statistics(pl_module.generators()))
        self.last_metrics = metrics
        if trainer.is_global_zero:
            # The same step Lightning gives its own metrics (one per batch), so charts line up.
            step = trainer.fit_loop.epoch_loop._batches_that_stepped
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)
        self._restart_window()
