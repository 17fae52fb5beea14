"""Which method class rebuilds a checkpoint: the one it names, if it is a method at all.

Checkpoints written before methods were named (and converted official weights) hold the cycle
family (U-GAT-IT, CycleGAN). A named class must be a :class:`TranslationMethod` subclass;
nothing else is imported as a method, so a checkpoint cannot make this project call arbitrary
code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hydra

from ugatit.checkpoints.files import CheckpointError
from ugatit.training.base import METHOD_KEY, TranslationMethod

DEFAULT_METHOD = "ugatit.training.cycle.CycleTranslation"


def import_method(name: str) -> type[TranslationMethod] | None:
    """The class at import path ``name`` if it is a TranslationMethod subclass, else None."""
    try:
        found = hydra.utils.get_class(name)
    except Exception:
        return None
    return found if isinstance(found, type) and issubclass(found, TranslationMethod) else None


def method_class(checkpoint: Mapping[str, Any], label: str) -> type[TranslationMethod]:
    """The TranslationMethod subclass named by ``checkpoint`` (the cycle family by default)."""
    name = str(checkpoint.get(METHOD_KEY) or DEFAULT_METHOD)
    found = import_method(name)
    if found is None:
        raise CheckpointError(
            f"{label} names the method {name!r}, which is not a training method of this "
            "project (a subclass of ugatit.training.base.TranslationMethod) that can be "
            "imported here; it was written by another project or a version with other methods."
        )
    return found


def build_method(checkpoint: Mapping[str, Any], label: str) -> TranslationMethod:
    """The checkpoint's method built from its hyper-parameters (weights not loaded yet)."""
    cls = method_class(checkpoint, label)
    return cls(**checkpoint["hyper_parameters"])
