"""Checks of a composed config's values (type, finiteness, range), run before anything is built.

A crop size the generators cannot take used to fail only at the first step, under a long
traceback; each key below is judged by a rule of :mod:`ugatit.rules` in one message. The model
section is judged by the method's own typed settings and the networks' registered rules
(:func:`ugatit.training.base.check_model_config`), which the training pipeline runs next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from ugatit.data.datamodule import check_load_size
from ugatit.errors import ConfigError
from ugatit.nets.sizes import MIN_SIZE, SIZE_MULTIPLE
from ugatit.nets.ugatit import discriminator_min_size
from ugatit.rules import (  # noqa: F401  (re-exported: the entry points' own options use them)
    COUNT,
    FID_COUNT,
    FLAG,
    OPTIONAL_POSITIVE_INT,
    POSITIVE_INT,
    WEIGHT,
    Devices,
    Number,
    Pair,
    Rule,
)

CROP_SIZE = Number(
    integer=True,
    low=MIN_SIZE,
    multiple_of=SIZE_MULTIPLE,
    why=f"the generators downsample twice by 2, so both sides must divide by {SIZE_MULTIPLE}",
)


DATA_RULES: dict[str, Rule] = {
    "data.crop_size": CROP_SIZE,
    "data.load_size": OPTIONAL_POSITIVE_INT,
    "data.batch_size": POSITIVE_INT,
    "data.num_workers": COUNT,
    "data.val_samples": COUNT,
    "data.flip": FLAG,
    "data.pin_memory": FLAG,
    "data.persistent_workers": FLAG,
    "data.check_images": FLAG,
    "data.skip_unreadable": FLAG,
}

TRAINER_RULES: dict[str, Rule] = {
    "trainer.devices": Devices(),
    "trainer.num_nodes": POSITIVE_INT,
    "trainer.log_every_n_steps": POSITIVE_INT,
    "trainer.check_val_every_n_epoch": OPTIONAL_POSITIVE_INT,
}

CALLBACK_RULES: dict[str, Rule] = {
    "callbacks.model_checkpoint.every_n_iterations": POSITIVE_INT,
    "callbacks.last_checkpoint.every_n_iterations": POSITIVE_INT,
    "callbacks.sample_grid.every_n_iterations": COUNT,  # 0: only at the end of training
    "callbacks.sample_grid.n_samples": POSITIVE_INT,
    "callbacks.training_monitor.every_n_iterations": POSITIVE_INT,
    "callbacks.fid_kid.every_n_iterations": OPTIONAL_POSITIVE_INT,
    "callbacks.fid_kid.every_n_epochs": OPTIONAL_POSITIVE_INT,
    "callbacks.fid_kid.max_images": FID_COUNT,
    "callbacks.fid_kid.kid_subset_size": FID_COUNT,
    "callbacks.fid_kid.kid_subsets": POSITIVE_INT,
}

SEED_RULES: dict[str, Rule] = {
    "seed": Number(integer=True, low=0, high=2**32 - 1, optional=True),
}

TRAIN_RULES: dict[str, Rule] = {
    **SEED_RULES,
    "flush_denormal": FLAG,
    **DATA_RULES,
    **TRAINER_RULES,
    **CALLBACK_RULES,
}

# eval resizes test images to data.crop_size and pads to a multiple of 4 itself (light mode,
# CycleGAN); full mode's own size is checked against the checkpoint.
EVAL_RULES: dict[str, Rule] = {
    **SEED_RULES,
    **DATA_RULES,
    "data.crop_size": Number(integer=True, low=MIN_SIZE),
    "batch_size": POSITIVE_INT,
    "max_images": FID_COUNT,
    "kid_subset_size": FID_COUNT,
    "kid_subsets": POSITIVE_INT,
    "save_heatmaps": FLAG,
}

TRANSLATE_RULES: dict[str, Rule] = {
    "batch_size": POSITIVE_INT,
    "panels": FLAG,
    "skip_unreadable": FLAG,
    "overwrite": FLAG,
    "skip_existing": FLAG,
}

_ABSENT = object()


def _select(cfg: Any, key: str) -> Any:
    if isinstance(cfg, DictConfig):
        return OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False)
    value: Any = cfg
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def check_config(cfg: Any, rules: Mapping[str, Rule]) -> None:
    """Apply each rule to its key; keys the config does not have are skipped."""
    for key, rule in rules.items():
        value = _select(cfg, key)
        if value is not _ABSENT:
            rule.check(key, value)


def check_accelerator(cfg: Any) -> None:
    """A GPU trainer on a machine without one: say so, and how to train on the CPU instead."""
    accelerator = _select(cfg, "trainer.accelerator")
    if str(accelerator).lower() in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={accelerator!r} asks for a GPU, but PyTorch finds no CUDA GPU "
            "on this machine (torch.cuda.is_available() is false). Train on the CPU with "
            "trainer=cpu (trainer=ddp_cpu for several processes), or check the GPU driver and "
            "CUDA_VISIBLE_DEVICES."
        )


def check_discriminator_size(cfg: Any) -> None:
    """U-GAT-IT's discriminators against the crop size: the paper's 7-layer global one needs
    96 px, so the paper's model on the built-in 64-px data stops here with the fix, not at the
    first step."""
    target = _select(cfg, "model.discriminator._target_")
    crop = _select(cfg, "data.crop_size")
    if not str(target).startswith("ugatit.nets.ugatit.") or not isinstance(crop, int):
        return
    for key in ("global_layers", "local_layers"):
        layers = _select(cfg, f"model.discriminator.{key}")
        if isinstance(layers, int) and layers >= 3 and crop < discriminator_min_size(layers):
            raise ConfigError(
                f"model.discriminator.{key}={layers} needs images of at least "
                f"{discriminator_min_size(layers)} px, and data.crop_size is {crop}. The paper's "
                f"U-GAT-IT is sized for 256 px; at {crop} px take the small model "
                "(experiment=quickstart for the built-in shapes, model=ugatit_small otherwise) "
                f"or lower model.discriminator.{key}."
            )


def check_train_config(cfg: Any) -> None:
    """Every check of a training run's composed config; :func:`ugatit.training.pipeline.build` runs it
    first, so a bad value stops the run before data, networks or folders are made."""
    check_config(cfg, TRAIN_RULES)
    check_load_size(_select(cfg, "data.crop_size"), _select(cfg, "data.load_size"), ConfigError)
    check_discriminator_size(cfg)
    check_accelerator(cfg)


def check_eval_config(cfg: Any) -> None:
    """The numbers and flags of src/eval.py's config (its own keys and the data section)."""
    check_config(cfg, EVAL_RULES)
    check_load_size(_select(cfg, "data.crop_size"), _select(cfg, "data.load_size"), ConfigError)


def check_translate_config(cfg: Any) -> None:
    """The numbers and flags of src/translate.py's config."""
    check_config(cfg, TRANSLATE_RULES)
