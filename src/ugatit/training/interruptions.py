"""Training stopped from outside (SIGTERM, Ctrl+C): a non-zero exit status and how to go on.

Lightning turns SIGTERM into ``SIGTERMException``, a ``SystemExit`` with status 0, and Ctrl+C into
``sys.exit(1)``; a script, a sweep or a job scheduler would take the first for a finished run.
The checkpoint callback has already written ``last.ckpt`` by then (``IterationCheckpoint``); this
module only turns the stop into :class:`~ugatit.errors.RunStopped` with 128 + the signal number.
"""

from __future__ import annotations

import signal
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from ugatit.errors import RunStopped
from ugatit.training.callbacks import last_checkpoint_path
from ugatit.training.summary import run_overrides


def fit(
    trainer: pl.Trainer, model: pl.LightningModule, datamodule: Any, ckpt_path: str | None
) -> None:
    """``trainer.fit`` (checkpoints loaded without executing code), stops turned into RunStopped."""
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        raise stopped(trainer, model, signal.SIGTERM) from None
    except SystemExit as error:
        if isinstance(error.__context__, KeyboardInterrupt):
            raise stopped(trainer, model, signal.SIGINT) from None
        raise


def stopped(trainer: pl.Trainer, model: pl.LightningModule, signum: int) -> RunStopped:
    """The message names the signal, the iteration, the checkpoint and the command that resumes."""
    name = signal.Signals(signum).name
    iteration = getattr(model, "iteration", trainer.global_step)
    checkpoint = last_checkpoint_path(trainer)
    if checkpoint:
        saved = (
            f"its state is saved in {checkpoint}. Resume with: "
            f"{' '.join(['python src/train.py', *run_overrides()])} "
            f"ckpt_path={checkpoint} (or rerun the same command with hydra.run.dir set to this "
            "run folder)."
        )
    else:
        saved = "no checkpoint was written (nothing to resume; the run had not started training)."
    return RunStopped(
        f"Training was stopped by {name} at iteration {iteration}; {saved}", 128 + signum
    )
