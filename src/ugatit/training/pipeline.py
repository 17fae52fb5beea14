"""What src/train.py runs: build data, model, callbacks, loggers and trainer from the config, fit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import WandbLogger

from ugatit.checkpoints.files import AtomicCheckpointIO
from ugatit.config_checks import check_train_config
from ugatit.console import quiet_known_noise
from ugatit.training.base import check_model_config
from ugatit.training.callbacks import last_checkpoint_path
from ugatit.training.interruptions import fit
from ugatit.training.loggers import KeepWandbRunId, continue_wandb_run, keep_previous_csv_logs
from ugatit.training.resume import check_fits_model, choose_checkpoint
from ugatit.training.summary import run_summary

log = logging.getLogger(__name__)


def instantiate_group(config: DictConfig | None) -> list[Any]:
    """Instantiate every entry with a ``_target_`` of a callbacks/logger group (None -> [])."""
    if not config:
        return []
    return [
        hydra.utils.instantiate(entry)
        for entry in config.values()
        if isinstance(entry, DictConfig) and "_target_" in entry
    ]


def build(cfg: DictConfig) -> dict[str, Any]:
    """Everything a run needs, built from the composed config."""
    quiet_known_noise()
    check_train_config(cfg)  # every value's type and range, before anything is built
    check_model_config(cfg.model)
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    if cfg.get("flush_denormal") is not None:
        # CPU arithmetic on denormals is slow (conf/train.yaml); the setting is the process's,
        # so the config decides it both ways
        torch.set_flush_denormal(bool(cfg.flush_denormal))
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model)
    ckpt_path = resume_path(cfg) if cfg.get("train", True) else None
    if ckpt_path:
        check_fits_model(ckpt_path, model)  # another architecture: one message, nothing written
    callbacks = instantiate_group(cfg.get("callbacks"))
    continue_wandb_run(cfg.get("logger"), ckpt_path)
    loggers = instantiate_group(cfg.get("logger"))
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        callbacks.append(KeepWandbRunId())
    if ckpt_path:
        keep_previous_csv_logs(loggers)  # before anything writes through the loggers
    # checkpoints written atomically (configured plugins are kept; the callback adds it then)
    plugins = {} if cfg.trainer.get("plugins") else {"plugins": [AtomicCheckpointIO()]}
    trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, **plugins
    )
    if loggers:
        run_config = {k: v for k, v in OmegaConf.to_container(cfg).items() if k != "hydra"}
        resolved = OmegaConf.to_container(OmegaConf.create(run_config), resolve=True)
        for logger in loggers:
            logger.log_hyperparams(resolved)
    return {"datamodule": datamodule, "model": model, "trainer": trainer, "ckpt_path": ckpt_path}


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, and return the final callback metrics (a sweeper reads ``cfg.optimized_metric``)."""
    objects = build(cfg)
    trainer: pl.Trainer = objects["trainer"]
    if cfg.get("train", True):
        fit(trainer, objects["model"], objects["datamodule"], objects["ckpt_path"])
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    checkpoint = last_checkpoint_path(trainer)
    if checkpoint:
        log.info("Last checkpoint: %s", checkpoint)
    if cfg.get("train", True) and trainer.is_global_zero:
        print(run_summary(cfg, trainer, objects["model"]), flush=True)
    return metrics


def resume_path(cfg: DictConfig) -> str | None:
    """``ckpt_path`` if given; else this run folder's own newest complete checkpoint, if any.

    A requeued cluster job (submitit, SLURM) starts again in the same run folder: picking up its
    last checkpoint there (or Lightning's SLURM requeue checkpoint ``hpc_ckpt_N.ckpt``, when it
    is further along) continues the run instead of starting it over. Every file is checked
    first (:func:`ugatit.training.resume.choose_checkpoint`): a broken last.ckpt falls back to the newest
    complete iter_*.ckpt; with none, the run stops with one message instead of starting over.
    """
    run_folder = Path(cfg.paths.output_dir)
    return choose_checkpoint(cfg.get("ckpt_path"), run_folder / "checkpoints", run_folder)


def metric_value(metrics: dict[str, float], name: str | None) -> float | None:
    """The value a sweeper optimises; None (with a warning naming the choices) when not logged.

    A finished run never fails here: its checkpoints are already written.
    """
    if not name:
        return None
    if name not in metrics:
        log.warning(
            "optimized_metric=%r was not logged (logged: %s); a sweep needs one of those.",
            name,
            sorted(metrics),
        )
        return None
    return metrics[name]
