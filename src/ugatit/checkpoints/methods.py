"""What a checkpoint's settings may build, checked before anything is imported or allocated.

A checkpoint names its method (``method``) and its networks (``hyper_parameters.generator`` and
``.discriminator``, each a ``_target_`` with keywords). Only registered names are accepted
(:mod:`ugatit.registry`), every keyword passes its rule, no Hydra directive is accepted, and each
network's size is counted on the meta device against a bound before a tensor is made. Checkpoints
written before methods were named (and converted official weights) hold the cycle family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ugatit import registry
from ugatit.checkpoints.files import CheckpointError
from ugatit.nets.sizes import PAPER_GENERATOR_PARAMETERS

METHOD_KEY = "method"  # checkpoint entry: the import path of the method class that wrote it
DEFAULT_METHOD = "ugatit.training.cycle.CycleTranslation"
# a network described by a file may be twice the paper's largest, or as large as the weights the
# file itself holds (a legitimately bigger model); a larger description is refused unbuilt
MAX_PARAMETERS = 2 * PAPER_GENERATOR_PARAMETERS


def _stored_elements(state_dict: Any) -> int:
    if not isinstance(state_dict, Mapping):
        return 0
    return sum(int(getattr(t, "numel", lambda: 0)()) for t in state_dict.values())


def check_stored_settings(checkpoint: Mapping[str, Any], label: str) -> type:
    """The registered method class of ``checkpoint`` once its settings passed every check;
    otherwise one :class:`CheckpointError` naming what was found and what is allowed."""
    cls = registry.method_class(
        checkpoint.get(METHOD_KEY) or DEFAULT_METHOD,
        f"{label}: its entry '{METHOD_KEY}'",
        CheckpointError,
    )
    settings = checkpoint.get("hyper_parameters")
    where = f"{label}: hyper_parameters"
    if not isinstance(settings, Mapping):
        raise CheckpointError(
            f"{where} is not a mapping of settings; {label} is not a checkpoint of this project."
        )
    registry.check_method_keywords(cls, settings, where, CheckpointError)
    limit = max(MAX_PARAMETERS, _stored_elements(checkpoint.get("state_dict")))
    for key, value in settings.items():
        if isinstance(value, Mapping) and registry.TARGET in value:
            registry.check_network(value, f"{where}.{key}", CheckpointError, limit)
        else:
            registry.refuse_directives(value, f"{where}.{key}", CheckpointError, allow_target=False)
    return cls


def build_method(checkpoint: Mapping[str, Any], label: str) -> Any:
    """The checkpoint's method built from its checked settings (weights not loaded yet)."""
    cls = check_stored_settings(checkpoint, label)
    return cls(**checkpoint["hyper_parameters"])
