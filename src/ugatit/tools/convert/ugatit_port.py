"""Import of U-GAT-IT PyTorch-port checkpoints: generators and both discriminator sets."""

from __future__ import annotations

import copy
import math
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
from ugatit.tools.convert.spectral_norm import normalise_spectral_norm
from ugatit.tools.convert.writing import (
    SEED,
    build_module,
    check_paths,
    checkpoint_dict,
    save_atomic,
)

UGATIT_SOURCE = "ugatit-pytorch"


UGATIT_GENERATORS = {"generator_ab": "genA2B", "generator_ba": "genB2A"}


# Per domain: (global, local) official discriminators -> discriminators.0 / .1 of the set.
UGATIT_DISCRIMINATORS = {
    "discriminator_a": ("disGA", "disLA"),
    "discriminator_b": ("disGB", "disLB"),
}


UGATIT_KEYS = ("genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB")


UGATIT_FORMATS = (
    "the U-GAT-IT PyTorch port's save() file (a dict with genA2B, genB2A, disGA, disGB, disLA, "
    "disLB state dicts) or a dict holding only genA2B and/or genB2A"
)


def infer_ugatit_generator(sd: StateDict, where: str) -> dict[str, Any]:
    """Generator config (a Hydra ``_target_`` dict) from a port generator state dict's shapes."""
    what = "a U-GAT-IT generator of the PyTorch port"
    first = require_tensor(sd, "DownBlock.1.weight", where, 4, what)
    ngf, in_channels = int(first.shape[0]), int(first.shape[1])
    dim = 4 * ngf
    n_res = count_indexed(sd, lambda i: f"DownBlock.{12 + i}.conv_block.1.weight")
    n_up = count_indexed(sd, lambda i: f"UpBlock1_{i + 1}.conv1.weight")
    if n_res == 0 or n_res != n_up:
        raise ConversionError(
            f"{where} does not fit one U-GAT-IT generator: {n_res} encoder residual blocks "
            f"(DownBlock.N.conv_block) but {n_up} decoder blocks (UpBlock1_N); both must be equal "
            "and at least 1."
        )
    if "UpBlock1_1.norm1.rho" not in sd:
        raise ConversionError(
            f"{where} has no AdaLIN parameters (UpBlock1_1.norm1.rho); only the port's AdaLIN "
            "generator can be converted."
        )
    fc_in = int(require_tensor(sd, "FC.0.weight", where, 2, what).shape[1])
    out_channels = int(require_tensor(sd, "UpBlock2.11.weight", where, 4, what).shape[0])
    light, img_size = _light_or_full(fc_in, dim, where)
    return {
        "_target_": "ugatit.nets.ugatit.UgatitGenerator",
        "in_channels": in_channels,
        "out_channels": out_channels,
        "ngf": ngf,
        "n_res": n_res,
        "img_size": img_size,
        "light": light,
        "norm": "adalin",
        "use_cam": "gap_fc.weight" in sd,
        "rho_init": 0.9,
        "rho_offset": 0.0,
        "unbiased_variance": True,
    }


def _light_or_full(fc_in: int, dim: int, where: str) -> tuple[bool, int]:
    """Light: FC.0 takes the pooled 4ngf vector. Full: the flat (img_size/4)^2 * 4ngf map."""
    if fc_in == dim:
        return True, 256
    cells = fc_in // dim
    side = math.isqrt(cells)
    if fc_in % dim or side * side != cells:
        raise ConversionError(
            f"{where}: FC.0.weight takes {fc_in} inputs, which is neither 4*ngf = {dim} (light "
            f"mode) nor (img_size/4)^2 * {dim} for a square image (full mode); the generator's "
            "shapes do not fit one U-GAT-IT architecture."
        )
    return False, 4 * side


def infer_ugatit_discriminator(sd: StateDict, where: str) -> dict[str, Any]:
    """in_channels, ndf, n_layers and use_cam of one port discriminator state dict."""
    what = "a U-GAT-IT discriminator of the PyTorch port"
    first = require_tensor(sd, "model.1.weight_orig", where, 4, what)
    n_convs = count_indexed(sd, lambda i: f"model.{1 + 3 * i}.weight_orig")
    if n_convs < 2:
        raise ConversionError(
            f"{where} has {n_convs} spectral-normed convs under model.N; a U-GAT-IT discriminator "
            "has at least 2 (n_layers >= 3)."
        )
    return {
        "in_channels": int(first.shape[1]),
        "ndf": int(first.shape[0]),
        "n_layers": n_convs + 1,
        "use_cam": "gap_fc.weight_orig" in sd,
    }


def ugatit_hparams(
    generator: Mapping[str, Any], discriminator: Mapping[str, Any]
) -> dict[str, Any]:
    """CycleTranslation arguments: the inferred networks; every other setting is the U-GAT-IT
    paper's (the defaults of ugatit.training.cycle.CycleSettings)."""
    return {
        "generator": dict(generator),
        "discriminator": {
            "_target_": "ugatit.nets.ugatit.UgatitDiscriminatorSet",
            **discriminator,
            "cam_weight": "raw",
        },
        "seed": SEED,
    }


def convert_ugatit(
    input_path: PathLike, output_path: PathLike, overwrite: bool = False
) -> Conversion:
    """Convert a U-GAT-IT PyTorch-port checkpoint; see the module docstring."""
    path = Path(input_path)
    output = check_paths(output_path, [path], overwrite)
    obj = load_official(path, "U-GAT-IT")
    if not isinstance(obj, Mapping) or not any(k in obj for k in UGATIT_KEYS[:2]):
        found = describe_keys(obj) if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
        hint = format_hint(obj) if isinstance(obj, Mapping) else ""
        raise ConversionError(
            f"{path} is not a U-GAT-IT checkpoint: found {found}, expected {UGATIT_FORMATS}.{hint}"
        )

    generators = {
        name: as_state_dict(obj[key], f"{key} in {path}")
        for name, key in UGATIT_GENERATORS.items()
        if key in obj
    }
    g_settings = {
        f"{UGATIT_GENERATORS[name]} in {path}": infer_ugatit_generator(
            sd, f"{UGATIT_GENERATORS[name]} in {path}"
        )
        for name, sd in generators.items()
    }
    generator = next(iter(g_settings.values()))
    require_same(g_settings, generator.keys(), "generator")

    layouts: dict[str, str] = {}
    discriminators: dict[str, StateDict] = {}
    d_settings: dict[str, dict[str, Any]] = {}
    for name, (global_key, local_key) in UGATIT_DISCRIMINATORS.items():
        present = [k for k in (global_key, local_key) if k in obj]
        if not present:
            continue
        if len(present) == 1:
            missing = local_key if present[0] == global_key else global_key
            raise ConversionError(
                f"{path} holds {present[0]} but not {missing}; a domain's global and local "
                "discriminators are converted together (or leave out both)."
            )
        merged: StateDict = {}
        for index, key in enumerate((global_key, local_key)):
            where = f"{key} in {path}"
            sd, layouts[key] = normalise_spectral_norm(as_state_dict(obj[key], where), where)
            d_settings[where] = infer_ugatit_discriminator(sd, where)
            merged.update({f"discriminators.{index}.{k}": v for k, v in sd.items()})
        discriminators[name] = merged
    discriminator = _ugatit_discriminator_config(d_settings, generator)

    hparams = ugatit_hparams(generator, discriminator)
    weights = {
        name: (sd, f"{UGATIT_GENERATORS[name]} in {path}") for name, sd in generators.items()
    }
    weights.update(
        {
            name: (sd, f"{' + '.join(UGATIT_DISCRIMINATORS[name])} in {path}")
            for name, sd in discriminators.items()
        }
    )
    module = build_module(hparams, weights)
    loaded = [name for name in (*UGATIT_GENERATORS, *UGATIT_DISCRIMINATORS) if name in weights]
    converted = {
        "source": UGATIT_SOURCE,
        "files": {"input": str(path)},
        "directions": [
            d for d, n in (("a2b", "generator_ab"), ("b2a", "generator_ba")) if n in weights
        ],
        "loaded": loaded,
        "initialised": [
            n for n in (*UGATIT_GENERATORS, *UGATIT_DISCRIMINATORS) if n not in weights
        ],
        "spectral_norm_layouts": layouts,
    }
    save_atomic(checkpoint_dict(module, converted), output)
    return Conversion(output, copy.deepcopy(dict(module.hparams)), converted)


def _ugatit_discriminator_config(
    d_settings: Mapping[str, Mapping[str, Any]], generator: Mapping[str, Any]
) -> dict[str, Any]:
    """One discriminator-set config; without discriminators in the file, the port's defaults."""
    if not d_settings:
        return {
            "in_channels": generator["in_channels"],
            "ndf": generator["ngf"],
            "global_layers": 7,
            "local_layers": 5,
            "use_cam": generator["use_cam"],
        }
    require_same(d_settings, ("in_channels", "ndf", "use_cam"), "discriminator (global and local)")
    globals_ = {k: v for k, v in d_settings.items() if k.startswith("disG")}
    locals_ = {k: v for k, v in d_settings.items() if k.startswith("disL")}
    require_same(globals_, ("n_layers",), "global discriminator")
    require_same(locals_, ("n_layers",), "local discriminator")
    first = next(iter(d_settings.values()))
    return {
        "in_channels": first["in_channels"],
        "ndf": first["ndf"],
        "global_layers": next(iter(globals_.values()))["n_layers"],
        "local_layers": next(iter(locals_.values()))["n_layers"],
        "use_cam": first["use_cam"],
    }
