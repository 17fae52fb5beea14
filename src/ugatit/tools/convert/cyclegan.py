"""Import of official CycleGAN generators (one or both directions)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ugatit.tools.convert.reading import (
    Conversion,
    ConversionError,
    PathLike,
    StateDict,
    as_state_dict,
    count_indexed,
    describe_keys,
    format_hint,
    load_official,
    require_same,
    require_tensor,
)
from ugatit.tools.convert.ugatit_port import UGATIT_KEYS
from ugatit.tools.convert.writing import (
    SEED,
    build_module,
    check_paths,
    checkpoint_dict,
    save_atomic,
)
from ugatit.training.cycle import CYCLEGAN_PAPER

CYCLEGAN_SOURCE = "cyclegan"


CYCLEGAN_FORMATS = (
    "an official CycleGAN generator state dict (latest_net_G_A.pth, or a pretrained NAME.pth) "
    "with keys model.1.weight, model.1.bias, ..."
)


RUNNING_STAT_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


def cyclegan_hparams(generator: Mapping[str, Any]) -> dict[str, Any]:
    """CycleTranslation arguments: inferred generator, the paper's PatchGAN and settings."""
    return {
        "generator": dict(generator),
        "discriminator": {
            "_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator",
            "in_channels": generator["in_channels"],
            "ndf": 64,
            "n_layers": 3,
        },
        **copy.deepcopy(CYCLEGAN_PAPER),
        "seed": SEED,
    }


def infer_cyclegan_generator(sd: StateDict, where: str) -> dict[str, Any]:
    """Generator config from an official CycleGAN ResNet generator state dict's shapes."""
    what = "an official CycleGAN ResNet generator"
    first = require_tensor(sd, "model.1.weight", where, 4, what)
    if any(re.fullmatch(r"model\.\d+\.conv_block\.6\.weight", k) for k in sd):
        raise ConversionError(
            f"{where} is a CycleGAN generator trained with dropout (conv_block.6 keys); this "
            "project's ResnetGenerator has no dropout, so it cannot be converted."
        )
    n_blocks = count_indexed(sd, lambda i: f"model.{10 + i}.conv_block.1.weight")
    last = require_tensor(sd, f"model.{17 + n_blocks}.weight", where, 4, what)
    return {
        "_target_": "ugatit.nets.cyclegan.ResnetGenerator",
        "in_channels": int(first.shape[1]),
        "out_channels": int(last.shape[0]),
        "ngf": int(first.shape[0]),
        "n_blocks": n_blocks,
    }


def drop_running_stats(sd: StateDict) -> tuple[StateDict, int]:
    """Remove InstanceNorm running statistics that old CycleGAN checkpoints carry."""
    kept = {k: v for k, v in sd.items() if not k.endswith(RUNNING_STAT_SUFFIXES)}
    return kept, len(sd) - len(kept)


def convert_cyclegan(
    output_path: PathLike,
    a2b: PathLike | None = None,
    b2a: PathLike | None = None,
    overwrite: bool = False,
) -> Conversion:
    """Convert official CycleGAN generators (A->B and/or B->A); a missing direction stays fresh."""
    if a2b is None and b2a is None:
        raise ConversionError(
            "Give at least one generator: --a2b FILE (latest_net_G_A.pth, A->B) and/or "
            "--b2a FILE (latest_net_G_B.pth, B->A)."
        )
    output = check_paths(output_path, [a2b, b2a], overwrite)
    files = {"a2b": a2b, "b2a": b2a}
    names = {"a2b": "generator_ab", "b2a": "generator_ba"}
    weights: dict[str, tuple[StateDict, str]] = {}
    settings: dict[str, dict[str, Any]] = {}
    dropped: dict[str, int] = {}
    for direction, file in files.items():
        if file is None:
            continue
        path = Path(file)
        obj = load_official(path, f"CycleGAN {direction}")
        if not isinstance(obj, Mapping) or "model.1.weight" not in obj:
            found = describe_keys(obj) if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
            hint = format_hint(obj) if isinstance(obj, Mapping) else ""
            if isinstance(obj, Mapping) and any(k in obj for k in UGATIT_KEYS):
                hint = (
                    " It looks like a U-GAT-IT checkpoint: use "
                    "`python src/convert.py ugatit INPUT OUTPUT`."
                )
            raise ConversionError(
                f"{path} is not a CycleGAN generator: found {found}, "
                f"expected {CYCLEGAN_FORMATS}.{hint}"
            )
        sd, dropped[direction] = drop_running_stats(as_state_dict(obj, str(path)))
        settings[f"{direction} generator {path}"] = infer_cyclegan_generator(sd, str(path))
        weights[names[direction]] = (sd, str(path))
    require_same(settings, ("in_channels", "out_channels", "ngf", "n_blocks"), "generator")
    generator = next(iter(settings.values()))

    hparams = cyclegan_hparams(generator)
    module = build_module(hparams, weights)
    directions = [d for d in files if names[d] in weights]
    converted = {
        "source": CYCLEGAN_SOURCE,
        "files": {d: str(files[d]) for d in directions},
        "directions": directions,
        "loaded": [names[d] for d in directions],
        "initialised": [
            n
            for n in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")
            if n not in weights
        ],
        "dropped_running_stats": dropped,
    }
    save_atomic(checkpoint_dict(module, converted), output)
    return Conversion(output, copy.deepcopy(dict(module.hparams)), converted)
