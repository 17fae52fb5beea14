"""A progress bar in the run's own unit, iterations: ``iteration 800/1200`` with rate and ETA.

Training length here is ``model.schedule`` in iterations and Lightning's epochs are an artefact of
the data set's size, so Lightning's bars (``Epoch 2/-2 ... 400/400``) say nothing useful. On a
terminal this draws one rich bar for the whole run; anywhere else (``make train | tee``, a SLURM
log, CI) it prints plain lines, every ``every`` iterations but at most one per ``min_interval_s``,
since a redrawn bar turns into thousands of carriage returns in a file.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks.progress import ProgressBar
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1:02:05``; ``65`` -> ``1:05``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_value(value: float) -> str:
    """Three significant digits: enough to follow a loss, short enough to read at a glance."""
    return f"{value:.3g}"


def bar_values(trainer: pl.Trainer) -> dict[str, float]:
    """The numbers the method put on the progress bar (its step totals, validation error)."""
    return {k: v for k, v in trainer.progress_bar_metrics.items() if isinstance(v, float)}


class IterationProgressBar(ProgressBar):
    """Whole-run progress in iterations, with the step losses rounded (rank zero only)."""

    def __init__(
        self, every: int | None = None, min_interval_s: float = 30.0, live: bool | None = None
    ) -> None:
        """``every``: iterations between plain lines (None: the trainer's ``log_every_n_steps``);
        ``min_interval_s``: at least this long between two plain lines (the last one is always
        printed), so a fast run does not flood its log. ``live``: force the redrawn bar (True) or
        plain lines (False); None: a bar on a terminal.
        """
        super().__init__()
        if every is not None and int(every) < 1:
            raise ValueError(f"callbacks.progress_bar.every must be at least 1, got {every}.")
        if float(min_interval_s) < 0:
            raise ValueError(
                f"callbacks.progress_bar.min_interval_s must be 0 or more, got {min_interval_s}."
            )
        self.every = every
        self.min_interval_s = float(min_interval_s)
        self._printed_at = 0.0
        self.live = live
        self._enabled = True
        self._progress: Progress | None = None
        self._task: Any = None
        self._start_iteration = 0
        self._start_time = 0.0
        self._shown = -1

    # Lightning's ProgressBar contract ------------------------------------------------------
    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.console.print(*args, **kwargs)
        else:
            print(*args, **kwargs)

    # what is shown ---------------------------------------------------------------------------
    @staticmethod
    def _position(module: pl.LightningModule) -> tuple[int, int]:
        return int(getattr(module, "iteration", 0)), int(getattr(module, "total_iterations", 0))

    def losses(self, trainer: pl.Trainer) -> str:
        """The step totals the method put on the progress bar, rounded, e.g. ``d 0.512  g 3.41``."""
        return "  ".join(f"{name} {format_value(v)}" for name, v in bar_values(trainer).items())

    def line(self, trainer: pl.Trainer, module: pl.LightningModule) -> str:
        """``iteration 800/1200 (67%) · 2.31 it/s · elapsed 5:46 · ETA 2:53 · d 0.5  g 3.4``."""
        iteration, total = self._position(module)
        elapsed = time.monotonic() - self._start_time
        done = iteration - self._start_iteration
        parts = [f"iteration {iteration}/{total} ({100 * iteration // max(total, 1)}%)"]
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            parts += [
                f"{rate:.2f} it/s",
                f"elapsed {format_duration(elapsed)}",
                f"ETA {format_duration((total - iteration) / rate)}",
            ]
        losses = self.losses(trainer)
        return " · ".join(parts + ([losses] if losses else []))

    # hooks -------------------------------------------------------------------------------------
    def _interval(self, trainer: pl.Trainer) -> int:
        return int(self.every or getattr(trainer, "log_every_n_steps", 0) or 10)

    def _line_due(self, trainer: pl.Trainer, iteration: int) -> bool:
        on_interval = iteration % self._interval(trainer) == 0
        return on_interval and time.monotonic() - self._printed_at >= self.min_interval_s

    def _is_live(self) -> bool:
        return self.live if self.live is not None else sys.stdout.isatty()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._enabled:
            return
        self._start_iteration, total = self._position(pl_module)
        self._start_time = time.monotonic()
        self._shown = self._start_iteration
        self._printed_at = self._start_time
        if self._is_live():
            self._progress = Progress(
                BarColumn(bar_width=30), TextColumn("{task.description}"), console=Console()
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self.line(trainer, pl_module), total=total, completed=self._start_iteration
            )
        elif self._start_iteration:
            print(f"resuming at iteration {self._start_iteration}/{total}", flush=True)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not self._enabled:
            return
        iteration, total = self._position(pl_module)
        if self._progress is not None:
            description = self.line(trainer, pl_module)
            self._progress.update(self._task, completed=iteration, description=description)
        elif iteration != self._shown and (
            iteration >= total or self._line_due(trainer, iteration)
        ):
            self._shown = iteration
            self._printed_at = time.monotonic()
            print(self.line(trainer, pl_module), flush=True)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._stop()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
