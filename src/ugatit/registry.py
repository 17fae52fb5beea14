"""The classes a config or a checkpoint may name: this project's networks and training methods.

A checkpoint's hyper-parameters name the networks and the method that rebuild it. Building what a
file names runs code its author chose: ``builtins.open``, or a library class whose constructor
unpickles a file (torch-fidelity's feature extractors are ``nn.Module`` subclasses too), and
merely importing a module can run code (``this``, ``venv.__main__``). So a name is matched as a
string against this registry before anything is imported or called. Each network and method joins
it where it is defined (:func:`register_network` with the rules its keywords must meet,
:func:`register_method`); a network's keywords are checked against those rules, Hydra directives
(``_convert_``, ``_partial_``, ...) are refused, and a network described by a file has its size
counted on the meta device (no memory) before a tensor is made.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

from ugatit.errors import ConfigError, UserError
from ugatit.rules import Rule

T = TypeVar("T", bound=type)

TARGET = "_target_"
_DIRECTIVE = re.compile(r"^_.+_$")  # Hydra's _target_, _convert_, _partial_, _args_, ...


@dataclasses.dataclass(frozen=True)
class NetworkEntry:
    """A registered network class and the rule of each of its constructor's keywords."""

    cls: type
    rules: Mapping[str, Rule]

    @property
    def short_name(self) -> str:
        return self.cls.__name__


NETWORKS: dict[str, NetworkEntry] = {}
METHODS: dict[str, type] = {}


def qualified_name(cls: type) -> str:
    """The import path a config's ``_target_`` (or a checkpoint's ``method``) gives for ``cls``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _keywords(cls: type) -> list[str]:
    parameters = list(inspect.signature(cls).parameters.values())
    variadic = [p.name for p in parameters if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if variadic:
        raise TypeError(f"{qualified_name(cls)} takes *{variadic[0]}: list its keywords instead.")
    return [p.name for p in parameters]


def register_network(**rules: Rule) -> Callable[[T], T]:
    """Class decorator: ``cls`` may be named as a network ``_target_``; every keyword of its
    constructor has a rule (a missing or extra rule is a programming error, raised at import)."""

    def register(cls: T) -> T:
        keywords = _keywords(cls)
        if set(keywords) != set(rules):
            raise TypeError(
                f"register_network({cls.__name__}): rules for {sorted(rules)} but the constructor "
                f"takes {sorted(keywords)}."
            )
        NETWORKS[qualified_name(cls)] = NetworkEntry(cls, dict(rules))
        return cls

    return register


def rules_of(cls: type) -> dict[str, Rule]:
    """The keyword rules a registered network joined with (a subclass registers with them)."""
    return dict(NETWORKS[qualified_name(cls)].rules)


def method_keywords(cls: type) -> list[str]:
    """A method's keywords: its networks, then every field of its ``Settings`` dataclass (the
    constructor takes those as ``**settings``)."""
    parameters = list(inspect.signature(cls).parameters.values())
    named = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        raise TypeError(f"{qualified_name(cls)} takes *args: list its keywords instead.")
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        settings = getattr(cls, "Settings", None)
        if not dataclasses.is_dataclass(settings):
            raise TypeError(
                f"{qualified_name(cls)} takes **settings but declares no Settings dataclass."
            )
        named += [f.name for f in dataclasses.fields(settings)]
    return named


def register_method(cls: T) -> T:
    """Class decorator: ``cls`` (a training method) may be named by a checkpoint's ``method``."""
    method_keywords(cls)
    METHODS[qualified_name(cls)] = cls
    return cls


def is_directive(key: Any) -> bool:
    """``_target_``, ``_recursive_``, ``_convert_``, ...: a Hydra directive, not a setting."""
    return isinstance(key, str) and bool(_DIRECTIVE.match(key))


def _names(registry: Mapping[str, Any]) -> str:
    return ", ".join(sorted(registry)) or "none registered"


# ------------------------------------------------------------------------------------ checks
def refuse_directives(
    config: Any, where: str, error: type[UserError] = ConfigError, allow_target: bool = True
) -> None:
    """Hydra directives (``_convert_``, ``_partial_``, ``_args_``, ``_recursive_``, ...) change
    what gets built and how: refused anywhere in ``config``; ``_target_`` too unless allowed (a
    network config's own, checked by :func:`network_entry`)."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            name = f"{where}.{key}"
            if isinstance(key, str) and _DIRECTIVE.match(key):
                if not (key == TARGET and allow_target):
                    raise error(
                        f"{name} is a Hydra directive; settings may carry none but a network's "
                        "_target_, so nothing was imported or built."
                    )
            refuse_directives(value, name, error, allow_target)
    elif isinstance(config, (list, tuple)):
        for index, value in enumerate(config):
            refuse_directives(value, f"{where}[{index}]", error, allow_target)


def network_entry(target: Any, where: str, error: type[UserError] = ConfigError) -> NetworkEntry:
    """The registered network ``target`` names; anything else is refused without importing it."""
    entry = NETWORKS.get(target) if isinstance(target, str) else None
    if entry is None:
        raise error(
            f"{where}._target_ is {target!r}, which is not a network of this project; allowed: "
            f"{_names(NETWORKS)}. Nothing was imported or built (a name from a file could run "
            "code). A network of your own joins with the decorator "
            "@ugatit.registry.register_network(...) where it is defined."
        )
    return entry


def check_network(
    config: Any,
    where: str,
    error: type[UserError] = ConfigError,
    max_parameters: int | None = None,
) -> tuple[NetworkEntry, dict[str, Any]]:
    """The registered class and keywords of a network config, every keyword checked against its
    rule; with ``max_parameters``, also the size it would have (counted on the meta device)."""
    if not isinstance(config, Mapping):
        raise error(
            f"{where} is {config!r}; it must be a network config: a mapping with _target_ and "
            "the network's keywords."
        )
    entry = network_entry(config.get(TARGET), where, error)
    refuse_directives({k: v for k, v in config.items() if k != TARGET}, where, error, False)
    keywords = {str(k): v for k, v in config.items() if k != TARGET}
    unknown = sorted(set(keywords) - set(entry.rules))
    if unknown:
        raise error(
            f"{where} has key(s) {unknown} that {entry.short_name} does not take; valid keys: "
            f"{sorted(entry.rules)}."
        )
    for key, value in keywords.items():
        entry.rules[key].check(f"{where}.{key}", value, error)
    if max_parameters is not None:
        count = parameter_count(entry.cls, keywords)
        if count > max_parameters:
            raise error(
                f"{where} describes a {entry.short_name} of {count:,} parameters "
                f"({4 * count / 2**30:.1f} GiB in float32), more than the {max_parameters:,} "
                "allowed here; it was not built. Check its sizes (ngf, ndf, img_size, ...)."
            )
    return entry, keywords


def build_network(
    config: Any,
    where: str,
    error: type[UserError] = ConfigError,
    max_parameters: int | None = None,
) -> torch.nn.Module:
    """A registered network built from its config after :func:`check_network`."""
    entry, keywords = check_network(config, where, error, max_parameters)
    return entry.cls(**keywords)


def parameter_count(cls: type, keywords: Mapping[str, Any]) -> int:
    """Parameters and buffers of ``cls(**keywords)``, built on the meta device: shapes only."""
    with torch.device("meta"):
        network = cls(**keywords)
    tensors = [*network.parameters(), *network.buffers()]
    return sum(t.numel() for t in tensors)


def method_class(name: Any, where: str, error: type[UserError] = ConfigError) -> type:
    """The registered training method ``name`` names; anything else is refused unimported."""
    found = METHODS.get(name) if isinstance(name, str) else None
    if found is None:
        raise error(
            f"{where} names the method {name!r}, which is not a training method of this project; "
            f"allowed: {_names(METHODS)}. Nothing was imported or built (it was written by "
            "another project, or a version with other methods)."
        )
    return found


def check_method_keywords(
    cls: type, keywords: Mapping[str, Any], where: str, error: type[UserError] = ConfigError
) -> None:
    """Every keyword is one the method's constructor takes (a file may not add others)."""
    refuse_directives(dict.fromkeys(keywords), where, error, allow_target=False)
    valid = method_keywords(cls)
    unknown = sorted(set(map(str, keywords)) - set(valid))
    if unknown:
        raise error(
            f"{where} has key(s) {unknown} that {cls.__name__} does not take; valid keys: "
            f"{sorted(valid)}."
        )
