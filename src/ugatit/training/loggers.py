"""What the loggers need across a resume: the same wandb run continued (its id travels in the
checkpoint), and the earlier CSV metrics of a run folder kept."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, open_dict
from pytorch_lightning.loggers import CSVLogger, WandbLogger

from ugatit.training.resume import read_resumable

log = logging.getLogger(__name__)

WANDB_ID_KEY = "wandb_run_id"


class KeepWandbRunId(pl.Callback):
    """Writes the wandb run's id into every checkpoint, so a resumed run continues that run."""

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                checkpoint[WANDB_ID_KEY] = str(logger.version)


def continue_wandb_run(logger_cfg: DictConfig | None, ckpt_path: str | None) -> None:
    """A run resumed from a checkpoint logs into the wandb run that wrote it (unless the config
    names another ``logger.wandb.id``)."""
    wandb_cfg = (logger_cfg or {}).get("wandb")
    if not ckpt_path or not isinstance(wandb_cfg, DictConfig) or wandb_cfg.get("id"):
        return
    run_id = read_resumable(ckpt_path).get(WANDB_ID_KEY)
    if not run_id:
        log.info("The checkpoint has no wandb run id (written without logger=wandb): a new run.")
        return
    with open_dict(wandb_cfg):
        wandb_cfg.id = str(run_id)
        wandb_cfg.resume = "allow"
    log.info("Continuing wandb run %s", run_id)


def keep_previous_csv_logs(loggers: list[Any]) -> None:
    """Lightning's CSV logger deletes an existing metrics.csv in its folder; a resumed run in the
    same folder keeps it as metrics.previous-N.csv instead."""
    for logger in loggers:
        if isinstance(logger, CSVLogger):
            metrics = Path(logger.log_dir) / "metrics.csv"
            if metrics.is_file():
                n = len(list(metrics.parent.glob("metrics.previous-*.csv"))) + 1
                kept = metrics.rename(metrics.with_name(f"metrics.previous-{n}.csv"))
                log.info("Kept the earlier metrics of this run folder as %s", kept)
