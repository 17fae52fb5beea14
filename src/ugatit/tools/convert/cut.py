"""Import of official CUT / FastCUT generators (``latest_net_G.pth``): one direction, A->B.

The official anti-aliased generator's ``model.N`` keys, fixed blur filters (``model.N.filt``)
included, equal :class:`ugatit.nets.cut.CutGenerator`'s. The discriminator and the patch sampler
are not part of a released model and stay freshly initialised (seed 0).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ugatit.tools.convert.cyclegan import drop_running_stats
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
    require_tensor,
)
from ugatit.tools.convert.writing import (
    SEED,
    build_module,
    check_paths,
    checkpoint_dict,
    save_atomic,
)
from ugatit.training.contrastive import ContrastiveTranslation

CUT_SOURCE = "cut"
CUT_FORMATS = (
    "an official CUT or FastCUT generator state dict (latest_net_G.pth) with keys model.1.weight, "
    "model.7.filt, ..."
)


def infer_cut_generator(sd: StateDict, where: str) -> dict[str, Any]:
    """Generator config from an official anti-aliased CUT generator's shapes."""
    what = "an official CUT generator"
    first = require_tensor(sd, "model.1.weight", where, 4, what)
    if "model.7.filt" not in sd:
        raise ConversionError(
            f"{where} has no model.7.filt blur filter: it is a CUT generator trained with "
            "--no_antialias (or a CycleGAN generator: use `python src/convert.py cyclegan "
            "--a2b FILE OUTPUT`). Only the official default, anti-aliased down- and up-sampling, "
            "is imported."
        )
    if any(re.fullmatch(r"model\.\d+\.conv_block\.6\.weight", k) for k in sd):
        raise ConversionError(
            f"{where} is a CUT generator trained with dropout (conv_block.6 keys); this "
            "project's CutGenerator has no dropout, so it cannot be converted."
        )
    n_blocks = count_indexed(sd, lambda i: f"model.{12 + i}.conv_block.1.weight")
    if f"model.{12 + n_blocks}.filt" not in sd:
        raise ConversionError(
            f"{where} has no blur filter at model.{12 + n_blocks}.filt: it was trained with "
            "--no_antialias_up, which is not imported (only the official default)."
        )
    last = require_tensor(sd, f"model.{21 + n_blocks}.weight", where, 4, what)
    return {
        "_target_": "ugatit.nets.cut.CutGenerator",
        "in_channels": int(first.shape[1]),
        "out_channels": int(last.shape[0]),
        "ngf": int(first.shape[0]),
        "n_blocks": n_blocks,
        "antialias": True,
        "antialias_up": True,
    }


def cut_hparams(generator: Mapping[str, Any]) -> dict[str, Any]:
    """ContrastiveTranslation arguments: the inferred generator, CUT's PatchGAN and settings.

    The official NCE layers end at 16 (the fifth residual block); a generator with fewer than
    five blocks ends them at its last block instead."""
    settings: dict[str, Any] = {}  # the paper's: the defaults of ContrastiveSettings
    n_blocks = int(generator["n_blocks"])
    if n_blocks < 5:
        layers = [0, 4, 8, 12, 11 + max(1, n_blocks)][: 4 + (n_blocks > 1)]
        settings["nce"] = {"layers": layers}
    return {
        "generator": dict(generator),
        "discriminator": {
            "_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator",
            "in_channels": generator["out_channels"],
            "ndf": 64,
            "n_layers": 3,
            "antialias": True,
            "init": "xavier",
        },
        **settings,
        "seed": SEED,
    }


def convert_cut(input_path: PathLike, output_path: PathLike, overwrite: bool = False) -> Conversion:
    """Convert an official CUT / FastCUT generator into a one-direction (a2b) checkpoint."""
    path = Path(input_path)
    output = check_paths(output_path, [path], overwrite)
    obj = load_official(path, "CUT generator")
    if not isinstance(obj, Mapping) or "model.1.weight" not in obj:
        found = describe_keys(obj) if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
        hint = format_hint(obj) if isinstance(obj, Mapping) else ""
        raise ConversionError(
            f"{path} is not a CUT generator: found {found}, expected {CUT_FORMATS}.{hint}"
        )
    sd, dropped = drop_running_stats(as_state_dict(obj, str(path)))
    generator = infer_cut_generator(sd, str(path))
    module = build_module(
        cut_hparams(generator), {"generator_ab": (sd, str(path))}, ContrastiveTranslation
    )
    converted = {
        "source": CUT_SOURCE,
        "files": {"a2b": str(path)},
        "directions": ["a2b"],
        "loaded": ["generator_ab"],
        "initialised": ["discriminator_b", "patch_sampler"],
        "dropped_running_stats": {"a2b": dropped},
    }
    save_atomic(checkpoint_dict(module, converted), output)
    return Conversion(output, copy.deepcopy(dict(module.hparams)), converted)
