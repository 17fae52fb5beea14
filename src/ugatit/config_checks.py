"""Checks of a composed config's values (type, finiteness, range), run before anything is built.

Hydra takes every override as given: ``model.loss.cycle_weight=abc`` used to end in a TypeError
deep inside, ``=nan`` silently dropped the loss term (``nan > 0`` is false), and a crop size the
generators cannot take failed only at the first step, under a long traceback. Each rule below
names the key, the value and what is allowed, in one message. The same :class:`Number` check
serves the typed model settings, the data module and the entry points' own options, so every
number in the project is judged one way.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, Protocol

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from ugatit.errors import ConfigError, UserError
from ugatit.nets.sizes import MIN_SIZE, SIZE_MULTIPLE


class Rule(Protocol):
    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None: ...


def _number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclasses.dataclass(frozen=True)
class Number:
    """An integer (``integer=True``) or a finite float within an optional range.

    Booleans and strings are refused (YAML ``true`` is not a number, ``'abc'`` not a weight), and
    so are NaN and infinity: a NaN compares false with everything, so range checks let it through.
    """

    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the value must be > low (else >= low)
    high_open: bool = False  # True: the value must be < high (else <= high)
    multiple_of: int | None = None
    optional: bool = False  # null allowed
    why: str = ""  # appended to the message in parentheses

    def describe(self) -> str:
        text = "an integer" if self.integer else "a finite number"
        if self.low is not None and self.high is not None:
            opening, closing = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text += f" in {opening}{_number_text(self.low)}, {_number_text(self.high)}{closing}"
        elif self.low is not None:
            text += f" {'>' if self.low_open else '>='} {_number_text(self.low)}"
        elif self.high is not None:
            text += f" {'<' if self.high_open else '<='} {_number_text(self.high)}"
        if self.multiple_of:
            text += f" and a multiple of {self.multiple_of}"
        if self.optional:
            text += ", or null"
        return text

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return not (self.multiple_of and value % self.multiple_of)

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if not self.accepts(value):
            why = f" ({self.why})" if self.why else ""
            raise error(f"{key}={value!r} is invalid: it must be {self.describe()}{why}.")


@dataclasses.dataclass(frozen=True)
class Flag:
    """true or false; a string such as 'no' would otherwise count as true."""

    optional: bool = False

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if not (isinstance(value, bool) or (value is None and self.optional)):
            null = ", or null" if self.optional else ""
            raise error(f"{key}={value!r} is invalid: it must be true or false{null}.")


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two values, each checked by ``item`` (Adam's betas)."""

    item: Number

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if not isinstance(value, (list, tuple, ListConfig)) or len(value) != 2:
            raise error(
                f"{key}={value!r} is invalid: it must be two values [x, y], each "
                f"{self.item.describe()}."
            )
        for index, item in enumerate(value):
            self.item.check(f"{key}[{index}]", item, error)


_DEVICE_LIST = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*,?\s*$")


@dataclasses.dataclass(frozen=True)
class Devices:
    """What Lightning's ``devices`` takes: a count >= 1, -1 (all), auto, or device indices."""

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if isinstance(value, bool):
            ok = False
        elif isinstance(value, int):
            ok = value >= 1 or value == -1
        elif isinstance(value, str):
            ok = value.strip() in ("auto", "-1") or bool(_DEVICE_LIST.match(value))
        elif isinstance(value, (list, tuple, ListConfig)):
            ok = bool(value) and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
            )
        else:
            ok = False
        if not ok:
            raise error(
                f"{key}={value!r} is invalid: it must be a number of devices >= 1, -1 (all), "
                "auto, or a list of device indices such as [0,1]."
            )


POSITIVE_INT = Number(integer=True, low=1)
OPTIONAL_POSITIVE_INT = Number(integer=True, low=1, optional=True)
COUNT = Number(integer=True, low=0)  # 0 allowed
WEIGHT = Number(low=0)
FLAG = Flag()
CROP_SIZE = Number(
    integer=True,
    low=MIN_SIZE,
    multiple_of=SIZE_MULTIPLE,
    why=f"the generators downsample twice by 2, so both sides must divide by {SIZE_MULTIPLE}",
)
FID_COUNT = Number(integer=True, low=2, optional=True, why="FID/KID need at least 2 images")

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

MODEL_RULES: dict[str, Rule] = {
    **{
        f"model.loss.{name}": WEIGHT
        for name in ("adv_weight", "cycle_weight", "identity_weight", "cam_weight", "d_loss_scale")
    },
    "model.loss.nce_weight": WEIGHT,
    "model.loss.nce_identity": FLAG,
    "model.loss.flip_equivariance": FLAG,
    "model.nce.num_patches": POSITIVE_INT,
    "model.nce.temperature": Number(low=0, low_open=True),
    "model.nce.mlp_channels": POSITIVE_INT,
    "model.optimizer.lr": Number(low=0, low_open=True),
    "model.optimizer.d_lr": Number(low=0, low_open=True, optional=True),
    "model.optimizer.weight_decay": WEIGHT,
    "model.optimizer.betas": Pair(Number(low=0, high=1, high_open=True)),
    "model.schedule.max_iterations": OPTIONAL_POSITIVE_INT,
    "model.schedule.max_epochs": OPTIONAL_POSITIVE_INT,
    "model.schedule.decay_start": Number(low=0, high=1),
    "model.pool_size": COUNT,
    "model.max_nonfinite_steps": COUNT,
    "model.channels_last": FLAG,
    "model.batch_generator_calls": FLAG,
    "model.batch_discriminator_calls": FLAG,
    "model.parallel_directions": FLAG,
    "model.compile": FLAG,
    "model.ema_decay": Number(low=0, high=1, high_open=True, why="0 turns the average off"),
    "model.generator.ngf": POSITIVE_INT,
    "model.generator.n_res": POSITIVE_INT,
    "model.generator.n_blocks": POSITIVE_INT,
    "model.discriminator.ndf": POSITIVE_INT,
    "model.discriminator.n_layers": POSITIVE_INT,
    "model.discriminator.global_layers": POSITIVE_INT,
    "model.discriminator.local_layers": POSITIVE_INT,
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
    **MODEL_RULES,
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


def check_load_size(crop_size: Any, load_size: Any, error: type[UserError] = ConfigError) -> None:
    """Images are resized to load_size and then cropped, so load_size cannot be smaller."""
    sizes = (crop_size, load_size)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in sizes) and crop_size > load_size:
        raise error(
            f"data.crop_size={crop_size} is larger than data.load_size={load_size}: images are "
            "resized to load_size and then cropped to crop_size. Set load_size >= crop_size, or "
            "load_size=null for crop_size + 30."
        )


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


def check_train_config(cfg: Any) -> None:
    """Every check of a training run's composed config; :func:`ugatit.training.pipeline.build` runs it
    first, so a bad value stops the run before data, networks or folders are made."""
    check_config(cfg, TRAIN_RULES)
    check_load_size(_select(cfg, "data.crop_size"), _select(cfg, "data.load_size"))
    check_accelerator(cfg)


def check_eval_config(cfg: Any) -> None:
    """The numbers and flags of src/eval.py's config (its own keys and the data section)."""
    check_config(cfg, EVAL_RULES)
    check_load_size(_select(cfg, "data.crop_size"), _select(cfg, "data.load_size"))


def check_translate_config(cfg: Any) -> None:
    """The numbers and flags of src/translate.py's config."""
    check_config(cfg, TRANSLATE_RULES)
