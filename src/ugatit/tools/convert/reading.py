"""Reading official weight files safely and checking what they hold, for every importer."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ugatit.checkpoints.files import (
    CheckpointError,
    load_checkpoint_file,
)
from ugatit.errors import UserError

StateDict = dict[str, Tensor]


PathLike = str | os.PathLike


class ConversionError(UserError, ValueError):
    """An input file that cannot be converted; the message names the file and what was expected."""


@dataclasses.dataclass(frozen=True)
class Conversion:
    """What a conversion wrote: output path, the module's hparams and the ``converted`` record."""

    output: Path
    hparams: dict[str, Any]
    converted: dict[str, Any]


def load_official(path: PathLike, role: str = "checkpoint") -> Any:
    """The shared safe loader (``weights_only=True``, CPU); its one message as a ConversionError."""
    try:
        return load_checkpoint_file(path, f"{role} file {Path(path)}", mmap=False)
    except CheckpointError as error:
        raise ConversionError(str(error)) from None


def describe_keys(keys: Iterable[Any], limit: int = 8) -> str:
    keys = [str(k) for k in keys]
    shown = ", ".join(keys[:limit])
    more = f", ... ({len(keys)} keys)" if len(keys) > limit else ""
    return f"[{shown}{more}]" if keys else "no keys"


def format_hint(obj: Mapping[str, Any]) -> str:
    """Point a user who passed the other kind of file to the right command."""
    keys = [str(k) for k in obj]
    if "state_dict" in obj and "pytorch-lightning_version" in obj:
        return (
            " It is already a Lightning checkpoint: load it with "
            "CycleTranslation.load_from_checkpoint, no conversion needed."
        )
    if any(k.startswith("model.") for k in keys) and any(k.endswith(".filt") for k in keys):
        return (
            " It looks like a CUT / FastCUT generator (anti-aliasing filters): use "
            "`python src/convert.py cut FILE OUTPUT`."
        )
    if any(k.startswith("model.") for k in keys) and any(k.endswith(".weight") for k in keys):
        return (
            " It looks like a CycleGAN generator: use "
            "`python src/convert.py cyclegan --a2b FILE OUTPUT` (or `convert.py cut FILE OUTPUT` "
            "for a CUT generator trained without anti-aliasing)."
        )
    if any(k.startswith("DownBlock.") for k in keys):
        return (
            " It looks like one bare U-GAT-IT generator state dict: wrap it as "
            "torch.save({'genA2B': state_dict}, path) (or 'genB2A') and convert that file."
        )
    if any(k in ("genA2B", "genB2A") and isinstance(obj[k], Mapping) for k in keys):
        return (
            " It looks like a U-GAT-IT PyTorch-port file: use "
            "`python src/convert.py ugatit FILE OUTPUT`."
        )
    if any(k.startswith(("genA2B.", "genB2A.")) for k in keys):
        return " It looks like a flattened state dict: save the networks as separate dict entries."
    return ""


def as_state_dict(obj: Any, where: str) -> StateDict:
    """A mapping of names to tensors, with a DataParallel ``module.`` prefix removed."""
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ConversionError(f"{where} is not a state dict (a mapping of names to tensors).")
    sd = {str(k): v for k, v in obj.items()}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def require_tensor(sd: StateDict, key: str, where: str, ndim: int, what: str) -> Tensor:
    value = sd.get(key)
    if value is None or value.dim() != ndim:
        found = "missing" if value is None else f"of shape {tuple(value.shape)}"
        raise ConversionError(
            f"{where} is not {what}: its {key} is {found} (expected a {ndim}-d tensor); "
            f"its keys are {describe_keys(sd)}."
        )
    return value


def count_indexed(sd: StateDict, key: Any) -> int:
    n = 0
    while key(n) in sd:
        n += 1
    return n


def require_same(settings: Mapping[str, Mapping[str, Any]], keys: Iterable[str], what: str) -> None:
    """Networks built from one config must agree on ``keys``; names say where each came from."""
    keys = list(keys)
    items = list(settings.items())
    name0, first = items[0]
    for name, other in items[1:]:
        diff = [k for k in keys if other[k] != first[k]]
        if diff:
            detail = ", ".join(f"{k}: {first[k]} vs {other[k]}" for k in diff)
            raise ConversionError(
                f"{name0} and {name} differ ({detail}); this project builds every {what} from "
                "one config, so their shapes must fit one architecture."
            )
