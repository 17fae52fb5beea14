"""The built-in data's translation metric during training: the shape metric on ``data=shapes``,
the glyph metric on ``data=glyphs`` (:mod:`ugatit.evaluation.judges`). Cheap enough (a hundred
64-px images) to run every few hundred iterations, and at the end of training, where its one-line
summary closes the run.

Logs ``val/<prefix>_<key>_<direction>`` for every key of the judge's scores and
``val/<prefix>_<headline>_mean``: ``val/shape_success_mean`` (and ``val/shape_success_a2b``,
``unchanged``, ``empty``, ``centroid_error``, ``size_ratio``) for shapes, ``val/glyph_joint_mean``
(and ``val/glyph_joint_a2b``, ``style``, ``letter``, ``unchanged``, ``centroid_error``) for
glyphs. The values go through ``pl_module.log`` into ``trainer.callback_metrics`` (checkpoint
monitor, sweep objective) and straight to every logger. Other data have nothing to judge: the
callback warns once and stays off.
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from ugatit.directions import source
from ugatit.evaluation.judges import Judge, judge_for
from ugatit.evaluation.per_image import GatheredValues, share
from ugatit.rules import OPTIONAL_POSITIVE_INT, POSITIVE_INT

log = logging.getLogger(__name__)

_BATCH = 32


class TranslationMetricCallback(pl.Callback):
    """Scores both directions on the first ``max_images`` test images of each domain.

    ``config_key``: the callback's key under ``callbacks`` (``shape_metric``, ``glyph_metric``),
    named by the messages about its settings.
    """

    def __init__(
        self,
        every_n_iterations: int | None = 200,
        max_images: int = 50,
        at_train_end: bool = True,
        config_key: str = "shape_metric",
    ) -> None:
        OPTIONAL_POSITIVE_INT.check(
            f"callbacks.{config_key}.every_n_iterations", every_n_iterations
        )
        POSITIVE_INT.check(f"callbacks.{config_key}.max_images", max_images)
        self.every_n_iterations = every_n_iterations
        self.max_images = max_images
        self.at_train_end = at_train_end
        self.last_scores: dict[str, dict[str, float]] = {}
        self._judge: Judge | None = None
        self._images: dict[str, Tensor] | None = None
        self._keys: tuple[str, ...] = ()
        self._last_iteration = -1

    # ------------------------------------------------------------------ inputs
    def _setup(self, trainer: pl.Trainer) -> bool:
        if self._judge is not None:
            return True
        datamodule = trainer.datamodule
        judge = judge_for(datamodule)
        if judge is None:
            log.warning(
                "The translation metric needs built-in data (data=shapes or data=glyphs); it is "
                "off for data.name=%r.",
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
        self._judge = judge
        self._keys = tuple(judge.keys)
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
        """Scores per direction, with the module in eval mode (restored afterwards). Every rank
        judges its share of the images; the per-image values are gathered (torchmetrics), so
        every rank returns the numbers one process scoring every image would."""
        if not self._setup(trainer):
            return {}
        was_training = pl_module.training
        pl_module.eval()
        try:
            scores = {}
            for direction in pl_module.directions:
                images = self._images[source(direction)]
                mine = images[share(len(images), trainer.global_rank, trainer.world_size)]
                values = GatheredValues(self._keys).to(pl_module.device)
                if len(mine):
                    fakes = self._translate(pl_module, mine, direction)
                    values.update(self._judge.per_image(direction, mine, fakes))
                else:  # more ranks than images: this rank still joins the gathering
                    values.update({key: torch.empty(0) for key in self._keys})
                scores[direction] = self._judge.reduce(values.gathered())
        finally:
            pl_module.train(was_training)
        return scores

    def metrics(self, scores: dict[str, dict[str, float]]) -> dict[str, float]:
        """The logged names and values of one evaluation's scores."""
        prefix = self._judge.prefix
        metrics = {
            f"val/{prefix}_{key}_{direction}": float(value)
            for direction, values in scores.items()
            for key, value in values.items()
            if key != "n"
        }
        metrics[f"val/{prefix}_{self._judge.headline}_mean"] = self._judge.mean(scores)
        return metrics

    def summary(self) -> str:
        """The last scores in one line ("" before the first evaluation)."""
        return self._judge.summary(self.last_scores) if self.last_scores else ""

    def summary_lines(self) -> list[str]:
        """``shape translation: ...`` / ``glyph translation: ...`` for the end-of-run summary
        (none before the first evaluation)."""
        return [f"{self._judge.title}: {self.summary()}"] if self.last_scores else []

    @property
    def metric_name(self) -> str:
        """What the metric is called in commands and messages ("" off built-in data)."""
        return f"{self._judge.prefix} metric" if self._judge is not None else ""

    def _evaluate_and_log(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, in_batch_hook: bool = True
    ) -> None:
        iteration = int(getattr(pl_module, "iteration", trainer.global_step))
        if iteration == self._last_iteration:
            return
        scores = self.compute(trainer, pl_module)
        self._last_iteration = iteration
        if not scores:
            return
        self.last_scores = scores
        metrics = self.metrics(scores)
        if in_batch_hook:  # Lightning refuses pl_module.log in on_train_end
            for name, value in metrics.items():
                pl_module.log(name, value, batch_size=1, logger=False)
        if trainer.is_global_zero:
            step = trainer.fit_loop.epoch_loop._batches_that_stepped  # Lightning's own log step
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)
        log.info("Iteration %d, %s: %s", iteration, self._judge.title, self.summary())

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
