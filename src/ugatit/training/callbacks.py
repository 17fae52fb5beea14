"""Callbacks: iteration-based checkpoints and sample grids with attention heatmaps."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ugatit.checkpoints.files import (
    CheckpointWriteError,
    remove_unfinished_writes,
    use_atomic_checkpoint_io,
)
from ugatit.errors import ConfigError
from ugatit.visualize import sample_grid, save_grid

# Lightning warns that manual optimization saves post-step weights: that is what resuming needs.
warnings.filterwarnings("ignore", message=".*ModelCheckpoint with manual optimization.*")

log = logging.getLogger(__name__)


class IterationCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose period and file names count iterations (batches).

    Lightning's global_step grows by one per optimizer step, i.e. by two per iteration here, so
    ``every_n_iterations`` is translated once the optimizers exist; ``{iteration}`` is available
    in ``filename``. Saving follows the iteration period only (not epoch ends), and
    ``last.ckpt`` (with ``save_last``) is also written when training ends, wherever it stops.
    Files are written atomically (:class:`~ugatit.checkpoints.files.AtomicCheckpointIO`), and the
    hidden partial files a killed save left in ``dirpath`` are removed when a run starts there.
    ``last.ckpt`` is the one name of the latest state: replaced, never versioned as
    ``last-v1.ckpt`` (which Lightning does when a resumed run's callback settings changed, and
    the next auto-resume would then have taken the older file).
    """

    def __init__(self, every_n_iterations: int = 1000, **kwargs: Any) -> None:
        if every_n_iterations < 1:
            raise ConfigError(f"every_n_iterations must be >= 1, got {every_n_iterations}.")
        kwargs["enable_version_counter"] = False
        # Passing a step period here turns Lightning's per-epoch saving off.
        super().__init__(every_n_train_steps=every_n_iterations, **kwargs)
        self.every_n_iterations = every_n_iterations

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        use_atomic_checkpoint_io(trainer)  # a trainer built outside src/train.py
        if stage == "fit" and trainer.is_global_zero and self.dirpath:
            remove_unfinished_writes(self.dirpath)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._every_n_train_steps = self.every_n_iterations * max(1, len(trainer.optimizers))

    @property
    def state_key(self) -> str:
        # Stable across the translation above, so a resumed run finds this callback's state
        # (and keeps writing last.ckpt instead of last-v1.ckpt).
        return self._generate_state_key(
            monitor=self.monitor,
            every_n_iterations=self.every_n_iterations,
            save_last=self.save_last,
            save_top_k=self.save_top_k,
        )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.fast_dev_run:  # debug=fdr: Lightning writes no checkpoint, nor do we
            return
        if self.save_last and trainer.global_step > 0 and not trainer.sanity_checking:
            if self._last_global_step_saved != trainer.global_step:
                self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """Keep the run's state when training ends early: a stop signal (SIGTERM, which Lightning
        lets finish the iteration; Ctrl+C) or an error (a corrupt image met mid-run, a bug).

        Ctrl+C or an error in the middle of an iteration leaves one optimizer stepped and the other
        not; that state is saved all the same (losing the run since the last save is worse), and
        the log says the resume will not be bit-exact.
        """
        if not self.save_last or trainer.global_step == 0:
            return
        if self._last_global_step_saved == trainer.global_step:
            return
        if type(exception).__name__ == "NonFiniteLossError":
            return  # it has written its own checkpoint, named after the iteration
        if isinstance(exception, CheckpointWriteError):
            return  # a save just failed (a full disk): another would fail the same way
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        log.info(
            "Training ended by %s at iteration %d: saved %s",
            type(exception).__name__,
            iteration,
            self.last_model_path,
        )
        if getattr(pl_module, "inside_iteration", False):
            log.warning(
                "It ended in the middle of iteration %d (some networks already updated), so "
                "resuming from that checkpoint repeats part of that iteration.",
                iteration,
            )

    def _monitor_candidates(self, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
        candidates = super()._monitor_candidates(trainer)
        candidates["iteration"] = torch.tensor(getattr(trainer.lightning_module, "iteration", 0))
        return candidates


def last_checkpoint_path(trainer: pl.Trainer) -> str:
    """The newest last.ckpt any checkpoint callback wrote in this run, or ""."""
    paths = [getattr(c, "last_model_path", "") for c in trainer.checkpoint_callbacks]
    return next((p for p in paths if p), "")


class SampleGrid(pl.Callback):
    """Every ``every_n_iterations`` (and at the end of training) renders the fixed validation
    images through both generators under no_grad, saves ``dirpath/iter_XXXXXXX.png`` and sends
    the grid to every logger that can take images."""

    def __init__(self, dirpath: str, every_n_iterations: int = 500, n_samples: int = 4) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_iterations = every_n_iterations
        self.n_samples = n_samples
        self.last_saved: Path | None = None

    def _fixed_batch(
        self, trainer: pl.Trainer, device: torch.device, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """The first validation images, on the weights' device and in their dtype."""
        dataset = trainer.datamodule.val_dataset
        items = [dataset[i] for i in range(min(self.n_samples, len(dataset)))]
        return {k: torch.stack([item[k] for item in items]).to(device, dtype) for k in ("a", "b")}

    def render(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Path | None:
        if not trainer.is_global_zero:
            return None
        batch = self._fixed_batch(trainer, pl_module.device, pl_module.dtype)
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad():
                grid = sample_grid(pl_module.visuals(batch["a"], batch["b"]))
        finally:
            pl_module.train(was_training)
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        path = save_grid(grid, self.dirpath / f"iter_{iteration:07d}.png")
        self.last_saved = path
        for logger in trainer.loggers:
            _log_image(logger, grid, iteration)
        return path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        if self.every_n_iterations and iteration % self.every_n_iterations == 0:
            self.render(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        if self.last_saved is None or not self.last_saved.name.endswith(f"{iteration:07d}.png"):
            self.render(trainer, pl_module)
        if self.last_saved is not None:
            log.info("Sample grid: %s", self.last_saved)


def _log_image(logger: Any, grid: torch.Tensor, iteration: int) -> None:
    """Send the grid to TensorBoard or wandb; loggers without images (CSV) are skipped."""
    experiment = getattr(logger, "experiment", None)
    if hasattr(logger, "log_image"):  # wandb
        logger.log_image(key="samples", images=[grid], step=iteration)
    elif hasattr(experiment, "add_image"):  # tensorboard
        experiment.add_image("samples", grid, global_step=iteration)
