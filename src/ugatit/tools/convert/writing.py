"""Building the module from inferred settings, loading the weights strictly and writing a
Lightning checkpoint atomically."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from ugatit.checkpoints.files import (
    CheckpointWriteError,
    write_checkpoint_file,
)
from ugatit.tools.convert.reading import ConversionError, PathLike, StateDict
from ugatit.training.base import TranslationMethod
from ugatit.training.cycle import CycleTranslation

SEED = 0  # fixed seed for the networks that stay freshly initialised, so conversions repeat


def build_module(
    hparams: Mapping[str, Any],
    weights: Mapping[str, tuple[StateDict, str]],
    method: type[TranslationMethod] = CycleTranslation,
) -> TranslationMethod:
    """Build the module with a fixed seed and load each network (``name -> (state dict, origin)``).

    Every given network is loaded with strict=True; the others keep their fresh initialisation.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        try:
            module = method(**copy.deepcopy(dict(hparams)))
        except Exception as error:  # Hydra wraps the networks' ValueErrors
            raise ConversionError(
                f"The inferred settings do not build a model ({error}); the weights do not fit "
                "one architecture."
            ) from None
    for name, (sd, origin) in weights.items():
        try:
            getattr(module, name).load_state_dict(sd, strict=True)
        except RuntimeError as error:
            detail = " ".join(str(error).split())
            raise ConversionError(
                f"{origin} does not fit the inferred architecture ({_settings_text(hparams, name)}): "
                f"{detail[:600]}"
            ) from None
    return module


def _settings_text(hparams: Mapping[str, Any], network: str) -> str:
    config = hparams["generator" if network.startswith("generator") else "discriminator"]
    return ", ".join(f"{k}={v}" for k, v in config.items() if k != "_target_")


def _optimizers_and_schedulers(config: Any) -> tuple[list[Any], list[Any]]:
    """Normalise the shapes configure_optimizers may return (Lightning's accepted forms)."""
    if isinstance(config, torch.optim.Optimizer):
        return [config], []
    if isinstance(config, Mapping):
        config = [config]
    if isinstance(config, tuple) and len(config) == 2 and all(isinstance(c, list) for c in config):
        optimizers, schedulers = config
    else:
        optimizers, schedulers = [], []
        for item in config:
            if isinstance(item, Mapping):
                optimizers.append(item["optimizer"])
                if item.get("lr_scheduler") is not None:
                    schedulers.append(item["lr_scheduler"])
            else:
                optimizers.append(item)
    schedulers = [s["scheduler"] if isinstance(s, Mapping) else s for s in schedulers]
    return list(optimizers), schedulers


def checkpoint_dict(module: TranslationMethod, converted: Mapping[str, Any]) -> dict[str, Any]:
    """A Lightning checkpoint at iteration 0 with the module's own fresh optimizer states."""
    optimizers, schedulers = _optimizers_and_schedulers(module.configure_optimizers())
    checkpoint: dict[str, Any] = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": pl.__version__,
        "state_dict": module.state_dict(),
        "hyper_parameters": copy.deepcopy(dict(module.hparams)),
        "optimizer_states": [optimizer.state_dict() for optimizer in optimizers],
        "lr_schedulers": [scheduler.state_dict() for scheduler in schedulers],
    }
    module.on_save_checkpoint(checkpoint)  # the module's own extra state (iteration, pools)
    checkpoint["iteration"] = 0
    checkpoint["converted"] = copy.deepcopy(dict(converted))
    return checkpoint


def save_atomic(obj: Any, path: PathLike) -> Path:
    """The shared atomic write (temporary file beside ``path``, fsync, rename)."""
    try:
        return write_checkpoint_file(obj, path, role="output")
    except CheckpointWriteError as error:
        raise ConversionError(str(error)) from None


def check_paths(
    output: PathLike, inputs: Iterable[PathLike | None], overwrite: bool = False
) -> Path:
    """The output path, refused when it is an input or (without ``overwrite``) an existing file:
    a converted file written over a trained checkpoint would lose that run."""
    output = Path(output)
    for source in inputs:
        if source is not None and Path(source).resolve() == output.resolve():
            raise ConversionError(
                f"Output {output} is the input file; give a different output path so the "
                "original weights are kept."
            )
    if output.exists() and not overwrite:
        raise ConversionError(
            f"Output {output} already exists; give another output path, or add --overwrite to "
            "replace it."
        )
    return output
