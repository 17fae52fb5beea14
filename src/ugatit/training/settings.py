"""Typed settings: every key of a method's config section with its default, rule and doc, once.

A method's settings are one frozen dataclass (``CycleTranslation.Settings``,
``ContrastiveTranslation.Settings``) whose fields are made by :func:`setting` (a value) or
:func:`section` (a nested block such as ``loss``). From it come, with nothing written twice:

- the defaults: :func:`store_defaults` registers each class's defaults with Hydra, and the model
  configs under conf/model/ start from them and hold only what differs (the papers, the small
  variants), so ``model.loss.cycle_weight=5`` overrides a key no YAML file needs to list;
- the checks: :meth:`Settings.parse` judges every value by its rule (:mod:`ugatit.rules`) and
  names unknown keys, for a composed config, a Hydra override and a checkpoint alike, with one
  error class (:class:`~ugatit.errors.ConfigError`);
- the hyper-parameters a checkpoint stores (:meth:`Settings.to_config`);
- the docs: :func:`describe` lists key, default, rule and doc.

Adding a loss weight touches two places: a :func:`setting` in the method's ``Loss`` class and
the line of the loss that uses it (tests/training/test_settings.py shows it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf

from ugatit.errors import ConfigError
from ugatit.rules import COUNT, FLAG, OPTIONAL_POSITIVE_INT, WEIGHT, Number, OneOf, Pair, Rule
from ugatit.training.discriminator_views import VIEWS
from ugatit.training.losses import GAN_MODES

S = TypeVar("S", bound="Settings")

_RULE, _DOC, _SECTION = "rule", "doc", "section"


def setting(default: Any, rule: Rule, doc: str) -> Any:
    """A field: its default, the rule its value must meet, and one line on what it does."""
    return dataclasses.field(default=default, metadata={_RULE: rule, _DOC: doc})


def section(cls: type[Settings], doc: str, **defaults: Any) -> Any:
    """A nested block of settings (``loss``, ``optimizer``), with ``defaults`` replacing those
    of ``cls`` for this method (CUT's learning rate is not U-GAT-IT's)."""
    return dataclasses.field(
        default_factory=lambda: cls(**defaults), metadata={_SECTION: cls, _DOC: doc}
    )


def _plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every settings class; subclasses are frozen dataclasses of :func:`setting` and
    :func:`section` fields."""

    def validate(self, where: str) -> None:
        """Checks across fields (each field's own rule has passed); override where needed."""

    @classmethod
    def parse(cls: type[S], values: Mapping[str, Any] | None, where: str) -> S:
        """``values`` (a config section, a checkpoint's hyper-parameters) over the defaults,
        each checked by its rule; ``where`` is the section's key (``model``, ``model.loss``)."""
        return cls._parse(cls(), values, where)

    @classmethod
    def _parse(cls: type[S], base: S, values: Any, where: str) -> S:
        values = _plain(values)
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where}={values!r} is invalid: it must be a block of settings.")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(map(str, values)) - set(fields))
        if unknown:
            raise ConfigError(f"Unknown key(s) {unknown} in {where}; valid keys: {sorted(fields)}.")
        changes = {}
        for name, value in values.items():
            field, key = fields[name], f"{where}.{name}"
            nested = field.metadata.get(_SECTION)
            if nested is not None:
                changes[name] = nested._parse(getattr(base, name), value, key)
                continue
            value = _plain(value)
            field.metadata[_RULE].check(key, value)
            changes[name] = tuple(value) if isinstance(value, list) else value
        parsed = dataclasses.replace(base, **changes)
        parsed.validate(where)
        return parsed

    def to_config(self) -> dict[str, Any]:
        """Plain containers (a checkpoint must load with ``weights_only=True``)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Settings):
                value = value.to_config()
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out


def describe(settings: Settings, where: str = "model") -> list[tuple[str, Any, str, str]]:
    """(key, default, rule, doc) of every setting of ``settings`` (e.g. ``CycleSettings()``),
    nested blocks flattened."""
    rows = []
    for field in dataclasses.fields(settings):
        key, value = f"{where}.{field.name}", getattr(settings, field.name)
        if isinstance(value, Settings):
            rows += describe(value, key)
        else:
            rule = field.metadata[_RULE]
            rows.append((key, value, rule.describe(), field.metadata[_DOC]))
    return rows


# ------------------------------------------------------------------------- shared sections
@dataclasses.dataclass(frozen=True)
class AdversarialLoss(Settings):
    """The adversarial terms every method has; a method's loss block adds its own terms."""

    gan_mode: str = setting("lsgan", OneOf(GAN_MODES), "adversarial loss")
    adv_weight: float = setting(1.0, WEIGHT, "the generators' adversarial term")
    d_loss_scale: float = setting(1.0, WEIGHT, "the discriminators' loss factor")


LEARNING_RATE = Number(low=0, low_open=True)


@dataclasses.dataclass(frozen=True)
class OptimizerSettings(Settings):
    """Adam for both generators together and for all discriminators together."""

    lr: float = setting(1e-4, LEARNING_RATE, "Adam's learning rate")
    betas: tuple[float, float] = setting(
        (0.5, 0.999), Pair(Number(low=0, high=1, high_open=True)), "Adam's betas"
    )
    weight_decay: float = setting(1e-4, WEIGHT, "Adam's L2 weight decay")
    d_lr: float | None = setting(
        None, Number(low=0, low_open=True, optional=True), "the discriminators' rate (null: lr)"
    )


@dataclasses.dataclass(frozen=True)
class ScheduleSettings(Settings):
    """Training length in iterations (batches); the lr is constant, then decays linearly to 0."""

    max_iterations: int | None = setting(
        1_000_000, OPTIONAL_POSITIVE_INT, "training length in iterations; wins over max_epochs"
    )
    max_epochs: int | None = setting(
        None, OPTIONAL_POSITIVE_INT, "training length in epochs when max_iterations is null"
    )
    decay_start: float = setting(
        0.5, Number(low=0, high=1), "fraction of training after which the lr decays to 0"
    )

    def validate(self, where: str) -> None:
        if not self.max_iterations and not self.max_epochs:
            raise ConfigError(
                f"Set the training length: {where}.max_iterations=N (iterations) or "
                f"{where}.max_epochs=N."
            )

    def total_iterations(self, batches_per_epoch: int) -> int:
        if self.max_iterations:
            return int(self.max_iterations)
        return int(self.max_epochs) * int(batches_per_epoch)


@dataclasses.dataclass(frozen=True)
class MethodSettings(Settings):
    """What every method has besides its networks and its loss."""

    optimizer: OptimizerSettings = section(OptimizerSettings, "Adam")
    schedule: ScheduleSettings = section(ScheduleSettings, "length and learning-rate decay")
    seed: int | None = setting(
        0,
        Number(integer=True, low=0, high=2**32 - 1, optional=True),
        "seeds what the method draws itself (image pools, patch positions; null: 0)",
    )
    max_nonfinite_steps: int = setting(
        10, COUNT, "iterations in a row with a non-finite loss before the run stops (0: never)"
    )
    channels_last: bool = setting(False, FLAG, "channels-last memory format (a speed option)")
    compile: bool = setting(False, FLAG, "torch.compile the networks (a speed option)")
    ema_decay: float = setting(
        0.0,
        Number(low=0, high=1, high_open=True, why="0 turns the average off"),
        "moving average of the generators' weights for samples, eval and translate (0: off)",
    )
    discriminator_input: str = setting(
        "image",
        OneOf(
            VIEWS,
            why="image: the papers; figure_ground: where each image differs from its own "
            "border, blind to its colours",
        ),
        "what the discriminators judge, real and fake alike",
    )


# ------------------------------------------------------------------------- Hydra defaults
SETTINGS_GROUP = "settings"  # conf/model/*.yaml: defaults: [/settings/<name>@_here_, _self_]


def store_defaults(name: str, settings: Settings) -> None:
    """Register ``settings`` (a class's defaults, or a paper's values parsed over them) as the
    Hydra config ``/settings/<name>`` that model configs start from; called where the method is
    defined, so importing :mod:`ugatit.training` makes them available to every config."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group=SETTINGS_GROUP, name=name, node=settings.to_config())


__all__ = [
    "AdversarialLoss",
    "MethodSettings",
    "OptimizerSettings",
    "ScheduleSettings",
    "Settings",
    "describe",
    "section",
    "setting",
    "store_defaults",
]
