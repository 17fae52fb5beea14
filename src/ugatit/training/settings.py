"""Typed views of the model's config sections, so a typo in a key fails at start-up, clearly."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from ugatit.config_checks import MODEL_RULES
from ugatit.errors import ConfigError
from ugatit.training.losses import GAN_MODES

T = TypeVar("T")


def _check(key: str, value: Any) -> None:
    """The rule the composed-config check applies to the same key (type, finiteness, range)."""
    MODEL_RULES[key].check(key, value)


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """Weights of the loss terms; a weight of 0 skips the term (and its forward passes)."""

    gan_mode: str = "lsgan"
    adv_weight: float = 1.0
    cycle_weight: float = 10.0
    identity_weight: float = 10.0
    cam_weight: float = 1000.0
    d_loss_scale: float = 1.0
    # false: the cycle and identity terms compare per-image standardized channels (not in the
    # papers: the generator's instance norms hide each image's colours)
    cycle_colour: bool = True

    def __post_init__(self) -> None:
        if self.gan_mode not in GAN_MODES:
            raise ConfigError(
                f"model.loss.gan_mode={self.gan_mode!r} is not supported; choose one of {GAN_MODES}."
            )
        for name in ("adv_weight", "cycle_weight", "identity_weight", "cam_weight", "d_loss_scale"):
            _check(f"model.loss.{name}", getattr(self, name))
        _check("model.loss.cycle_colour", self.cycle_colour)


@dataclasses.dataclass(frozen=True)
class ContrastiveLossSettings:
    """CUT / FastCUT weights: lambda_GAN, lambda_NCE, the identity NCE on B (CUT) and the
    flip-equivariance of FastCUT; the discriminator loss is halved as in the official code."""

    gan_mode: str = "lsgan"
    adv_weight: float = 1.0
    nce_weight: float = 1.0
    nce_identity: bool = True
    flip_equivariance: bool = False
    d_loss_scale: float = 0.5

    def __post_init__(self) -> None:
        if self.gan_mode not in GAN_MODES:
            raise ConfigError(
                f"model.loss.gan_mode={self.gan_mode!r} is not supported; choose one of {GAN_MODES}."
            )
        for name in ("adv_weight", "nce_weight", "d_loss_scale"):
            _check(f"model.loss.{name}", getattr(self, name))
        for name in ("nce_identity", "flip_equivariance"):
            _check(f"model.loss.{name}", getattr(self, name))


@dataclasses.dataclass(frozen=True)
class NceSettings:
    """PatchNCE: the generator layers whose features are compared, patches per layer, the
    temperature and the width of the patch sampler's MLPs."""

    layers: tuple[int, ...] = (0, 4, 8, 12, 16)
    num_patches: int = 256
    temperature: float = 0.07
    mlp_channels: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        for name in ("num_patches", "temperature", "mlp_channels"):
            _check(f"model.nce.{name}", getattr(self, name))
        if not self.layers or any(
            isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in self.layers
        ):
            raise ConfigError(
                f"model.nce.layers={list(self.layers)} must be a non-empty list of generator layer "
                "indices, e.g. [0,4,8,12,16] (the official default)."
            )


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
    """Adam for both generators together and for all discriminators together."""

    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-4
    d_lr: float | None = None  # None: the same as lr

    def __post_init__(self) -> None:
        for name in ("lr", "d_lr", "weight_decay", "betas"):
            _check(f"model.optimizer.{name}", getattr(self, name))
        object.__setattr__(self, "betas", tuple(self.betas))


@dataclasses.dataclass(frozen=True)
class ScheduleSettings:
    """Training length in iterations (batches); the lr is constant, then decays linearly to 0.

    ``max_iterations`` wins; otherwise ``max_epochs`` times the batches per epoch.
    ``decay_start`` is the fraction of training after which the decay begins (0.5 in both papers).
    """

    max_iterations: int | None = None
    max_epochs: int | None = None
    decay_start: float = 0.5

    def __post_init__(self) -> None:
        if not self.max_iterations and not self.max_epochs:
            raise ConfigError(
                "Set the training length: model.schedule.max_iterations=N (iterations) or "
                "model.schedule.max_epochs=N."
            )
        for name in ("max_iterations", "max_epochs", "decay_start"):
            _check(f"model.schedule.{name}", getattr(self, name))

    def total_iterations(self, batches_per_epoch: int) -> int:
        if self.max_iterations:
            return int(self.max_iterations)
        return int(self.max_epochs) * int(batches_per_epoch)


def parse_settings(cls: type[T], values: Mapping[str, Any] | None, section: str) -> T:
    """Build ``cls`` from a config mapping, naming unknown keys and the valid ones."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {unknown} in model.{section}; valid keys: {sorted(known)}."
        )
    return cls(**values)
