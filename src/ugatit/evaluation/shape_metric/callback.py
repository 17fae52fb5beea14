"""The shape metric during training: cheap enough (a hundred 64-px images) to run every few
hundred iterations, and at the end of training, where its one-line summary closes the run.

Logs ``val/shape_success_a2b``, ``val/shape_success_b2a``, ``val/shape_success_mean`` and the
per-direction ``unchanged``, ``empty``, ``centroid_error`` and ``size_ratio``; the values go through
``pl_module.log`` into ``trainer.callback_metrics`` (checkpoint monitor, sweep objective) and straight
to every logger. Only data sets made by the built-in generator have a pair to judge.
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from ugatit.config_checks import OPTIONAL_POSITIVE_INT, POSITIVE_INT
from ugatit.evaluation.shape_metric.scoring import DIRECTIONS, ShapeJudge, mean_success, summary

log = logging.getLogger(__name__)

_BATCH = 32


class ShapeMetricCallback(pl.Callback):
    """Scores both directions on the first ``max_images`` test images of each domain."""

    def __init__(
        self, every_n_iterations: int | None = 200, max_images: int = 50, at_train_end: bool = True
    ) -> None:
        OPTIONAL_POSITIVE_INT.check("callbacks.shape_metric.every_n_iterations", every_n_iterations)
        POSITIVE_INT.check("callbacks.shape_metric.max_images", max_images)
        self.every_n_iterations = every_n_iterations
        self.max_images = max_images
        self.at_train_end = at_train_end
        self.last_scores: dict[str, dict[str, float]] = {}
        self._judge: ShapeJudge | None = None
        self._images: dict[str, Tensor] | None = None
        self._last_iteration = -1

    # ------------------------------------------------------------------ inputs
    def _setup(self, trainer: pl.Trainer) -> bool:
        if self._judge is not None:
            return True
        datamodule = trainer.datamodule
        pair = getattr(datamodule, "pair", None)
        if getattr(datamodule, "name", None) != "shapes" or not pair:
            log.warning(
                "The shape metric needs the built-in shapes data (data=shapes); it is off for "
                "data.name=%r.",
                getattr(datamodule, "name", None),
            )
            self.every_n_iterations, self.at_train_end = None, False
            return False
        datamodule.setup("test")
        self._images = {
            domain: torch.stack(
                [
                    datamodule.test_datasets[domain][i]["image"]
                    for i in range(self._count(datamodule, domain))
                ]
            )
            for domain in ("a", "b")
        }
        self._judge = ShapeJudge(pair, datamodule.root)
        return True

    def _count(self, datamodule: Any, domain: str) -> int:
        return min(self.max_images, len(datamodule.test_datasets[domain]))

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def _translate(self, pl_module: pl.LightningModule, images: Tensor, direction: str) -> Tensor:
        outputs = []
        for start in range(0, len(images), _BATCH):
            batch = images[start : start + _BATCH].to(pl_module.device)
            outputs.append(pl_module(batch, direction).image.float().cpu())
        return torch.cat(outputs)

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, dict]:
        """Scores per direction, with the module in eval mode (restored afterwards)."""
        if not self._setup(trainer):
            return {}
        was_training = pl_module.training
        pl_module.eval()
        try:
            scores = {}
            for direction in pl_module.directions:
                images = self._images["ab"[DIRECTIONS[direction][0]]]
                fakes = self._translate(pl_module, images, direction)
                scores[direction] = self._judge.score(direction, images, fakes)
        finally:
            pl_module.train(was_training)
        return scores

    def _evaluate_and_log(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, in_batch_hook: bool = True
    ) -> None:
        iteration = int(getattr(pl_module, "iteration", trainer.global_step))
        if iteration == self._last_iteration:
            return
        scores = self.compute(trainer, pl_module) if trainer.is_global_zero else None
        scores = trainer.strategy.broadcast(scores, src=0)
        self._last_iteration = iteration
        if not scores:
            return
        self.last_scores = scores
        metrics = {
            f"val/shape_{key}_{direction}": float(value)
            for direction, values in scores.items()
            for key, value in values.items()
            if key != "n"
        }
        metrics["val/shape_success_mean"] = mean_success(scores)
        if in_batch_hook:  # Lightning refuses pl_module.log in on_train_end
            for name, value in metrics.items():
                pl_module.log(name, value, batch_size=1, logger=False)
        if trainer.is_global_zero:
            step = trainer.fit_loop.epoch_loop._batches_that_stepped  # Lightning's own log step
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)
        log.info("Iteration %d, shape translation: %s", iteration, summary(scores))

    # ------------------------------------------------------------------ hooks
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        iteration = int(getattr(pl_module, "iteration", trainer.global_step))
        periodic = self.every_n_iterations is not None and iteration % self.every_n_iterations == 0
        final = self.at_train_end and trainer.should_stop
        if iteration > 0 and (periodic or final):
            self._evaluate_and_log(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.at_train_end:  # a run that ended off the schedule (signal, max_epochs, ...)
            self._evaluate_and_log(trainer, pl_module, in_batch_hook=False)
