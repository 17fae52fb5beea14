"""Import of official checkpoints into this project's Lightning checkpoint format.

Two sources:

- U-GAT-IT PyTorch port: the dict its ``save()`` writes (state dicts ``genA2B, genB2A, disGA,
  disGB, disLA, disLB``), or one holding only generators. Key names equal this project's (see
  :mod:`ugatit.nets.ugatit`); only the containers are renamed and spectral-norm layouts normalised.
- CycleGAN: official generator state dicts (``latest_net_G_A.pth``, ``horse2zebra.pth``), whose
  ``model.N`` keys equal :class:`ugatit.nets.cyclegan.ResnetGenerator`'s.

The architecture is inferred from the weights' shapes, the module is built from those settings
(with the port's numerics for U-GAT-IT: unbiased variance, raw CAM weight in D, rho offset 0) and
the paper's training hparams, the weights are loaded strictly, and a checkpoint is written that
``CycleTranslation.load_from_checkpoint`` loads and ``trainer.fit(ckpt_path=...)`` resumes from
(fresh Adam state, iteration 0). Files are read with ``weights_only=True`` only: a downloaded
pickle could otherwise run arbitrary code.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from ugatit.checkpoints.files import (
    CheckpointError,
    CheckpointWriteError,
    load_checkpoint_file,
    write_checkpoint_file,
)
from ugatit.errors import UserError
from ugatit.training.cycle import CycleTranslation

StateDict = dict[str, Tensor]
PathLike = str | os.PathLike

UGATIT_SOURCE = "ugatit-pytorch"
CYCLEGAN_SOURCE = "cyclegan"
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
CYCLEGAN_FORMATS = (
    "an official CycleGAN generator state dict (latest_net_G_A.pth, or a pretrained NAME.pth) "
    "with keys model.1.weight, model.1.bias, ..."
)
RUNNING_STAT_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")
SEED = 0  # fixed seed for the networks that stay freshly initialised, so conversions repeat

# Paper training settings (REFERENCE.md sections 4, 5 and 7).
UGATIT_TRAINING: dict[str, Any] = {
    "loss": {
        "gan_mode": "lsgan",
        "adv_weight": 1.0,
        "cycle_weight": 10.0,
        "identity_weight": 10.0,
        "cam_weight": 1000.0,
        "d_loss_scale": 1.0,
    },
    "optimizer": {"lr": 1e-4, "betas": [0.5, 0.999], "weight_decay": 1e-4},
    "schedule": {"max_iterations": 1_000_000, "decay_start": 0.5},
    "pool_size": 0,
}
CYCLEGAN_TRAINING: dict[str, Any] = {
    "loss": {
        "gan_mode": "lsgan",
        "adv_weight": 1.0,
        "cycle_weight": 10.0,
        "identity_weight": 5.0,
        "cam_weight": 0.0,
        "d_loss_scale": 0.5,
    },
    "optimizer": {"lr": 2e-4, "betas": [0.5, 0.999], "weight_decay": 0.0},
    "schedule": {"max_iterations": None, "max_epochs": 200, "decay_start": 0.5},
    "pool_size": 50,
}


class ConversionError(UserError, ValueError):
    """An input file that cannot be converted; the message names the file and what was expected."""


@dataclasses.dataclass(frozen=True)
class Conversion:
    """What a conversion wrote: output path, the module's hparams and the ``converted`` record."""

    output: Path
    hparams: dict[str, Any]
    converted: dict[str, Any]


# ============================================================================ reading files
def load_official(path: PathLike, role: str = "checkpoint") -> Any:
    """The shared safe loader (``weights_only=True``, CPU); its one message as a ConversionError."""
    try:
        return load_checkpoint_file(path, f"{role} file {Path(path)}", mmap=False)
    except CheckpointError as error:
        raise ConversionError(str(error)) from None


def _describe_keys(keys: Iterable[Any], limit: int = 8) -> str:
    keys = [str(k) for k in keys]
    shown = ", ".join(keys[:limit])
    more = f", ... ({len(keys)} keys)" if len(keys) > limit else ""
    return f"[{shown}{more}]" if keys else "no keys"


def _format_hint(obj: Mapping[str, Any]) -> str:
    """Point a user who passed the other kind of file to the right command."""
    keys = [str(k) for k in obj]
    if "state_dict" in obj and "pytorch-lightning_version" in obj:
        return (
            " It is already a Lightning checkpoint: load it with "
            "CycleTranslation.load_from_checkpoint, no conversion needed."
        )
    if any(k.startswith("model.") for k in keys) and any(k.endswith(".weight") for k in keys):
        return (
            " It looks like a CycleGAN generator: use "
            "`python src/convert.py cyclegan --a2b FILE OUTPUT`."
        )
    if any(k.startswith("DownBlock.") for k in keys):
        return (
            " It looks like one bare U-GAT-IT generator state dict: wrap it as "
            "torch.save({'genA2B': state_dict}, path) (or 'genB2A') and convert that file."
        )
    if any(k.startswith("genA2B") or k.startswith("genB2A") for k in keys):
        return " It looks like a flattened state dict: save the networks as separate dict entries."
    return ""


def _state_dict(obj: Any, where: str) -> StateDict:
    """A mapping of names to tensors, with a DataParallel ``module.`` prefix removed."""
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ConversionError(f"{where} is not a state dict (a mapping of names to tensors).")
    sd = {str(k): v for k, v in obj.items()}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def _tensor(sd: StateDict, key: str, where: str, ndim: int, what: str) -> Tensor:
    value = sd.get(key)
    if value is None or value.dim() != ndim:
        found = "missing" if value is None else f"of shape {tuple(value.shape)}"
        raise ConversionError(
            f"{where} is not {what}: its {key} is {found} (expected a {ndim}-d tensor); "
            f"its keys are {_describe_keys(sd)}."
        )
    return value


# ============================================================================ spectral norm
def _spectral_prefixes(sd: StateDict) -> list[str]:
    return [k[: -len("_orig")] for k in sd if k.endswith("_orig")]


def normalise_spectral_norm(sd: StateDict, where: str) -> tuple[StateDict, str]:
    """Rewrite every spectral-normed entry to the modern layout (``_orig``, ``_u``, ``_v``).

    The PyTorch 0.4 layout stores the normalised weight W / sigma instead of ``_v``. Like torch's
    SpectralNormLoadStateDictPreHook we take sigma = |W_orig| / |W| and v = W^+ u (the minimum-norm
    solution of W v = u) rescaled so that u . W v = sigma; only sigma matters for the eval-mode
    weight, and training's power iteration recomputes v from u first. W^+ u is solved through the
    Gram matrix of the reshaped weight's smaller side (torch's hook inverts W^T W, which for the
    global discriminator's 16384-wide layers is slow and, in float32, numerically fragile).
    Returns the new dict and the layout found: "modern", "legacy" or "none".
    """
    prefixes = _spectral_prefixes(sd)
    if not prefixes:
        return dict(sd), "none"
    out = dict(sd)
    layouts = set()
    for prefix in prefixes:
        if prefix + "_u" not in sd:
            raise ConversionError(
                f"{where}: spectral-normed {prefix} has {prefix}_orig but no {prefix}_u; the file "
                "is incomplete."
            )
        if prefix + "_v" in sd:
            layouts.add("modern")
            out.pop(prefix, None)
            continue
        if prefix not in sd:
            raise ConversionError(
                f"{where}: spectral-normed {prefix} has neither {prefix}_v (modern layout) nor "
                f"{prefix} (PyTorch 0.4 layout); the file is incomplete."
            )
        layouts.add("legacy")
        weight_orig, weight, u = sd[prefix + "_orig"], out.pop(prefix), sd[prefix + "_u"]
        out[prefix + "_v"] = _solve_v(weight_orig, weight, u).to(weight_orig.dtype)
    return out, "+".join(sorted(layouts))


def _solve_v(weight_orig: Tensor, weight: Tensor, u: Tensor) -> Tensor:
    mat = weight_orig.reshape(weight_orig.shape[0], -1).double()
    u = u.double()
    sigma = weight_orig.double().norm() / weight.double().norm()
    if mat.shape[0] <= mat.shape[1]:
        v = mat.t() @ _solve_psd(mat @ mat.t(), u)
    else:
        v = _solve_psd(mat.t() @ mat, mat.t() @ u)
    return v * (sigma / torch.dot(u, mat @ v))


def _solve_psd(gram: Tensor, b: Tensor) -> Tensor:
    """gram^+ b for a symmetric positive semi-definite gram: Cholesky, pinv when singular."""
    factor, info = torch.linalg.cholesky_ex(gram)
    if int(info) == 0:
        return torch.cholesky_solve(b[:, None], factor)[:, 0]
    return torch.linalg.pinv(gram, hermitian=True) @ b


# ============================================================================ inference: U-GAT-IT
def infer_ugatit_generator(sd: StateDict, where: str) -> dict[str, Any]:
    """Generator config (a Hydra ``_target_`` dict) from a port generator state dict's shapes."""
    what = "a U-GAT-IT generator of the PyTorch port"
    first = _tensor(sd, "DownBlock.1.weight", where, 4, what)
    ngf, in_channels = int(first.shape[0]), int(first.shape[1])
    dim = 4 * ngf
    n_res = _count(sd, lambda i: f"DownBlock.{12 + i}.conv_block.1.weight")
    n_up = _count(sd, lambda i: f"UpBlock1_{i + 1}.conv1.weight")
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
    fc_in = int(_tensor(sd, "FC.0.weight", where, 2, what).shape[1])
    out_channels = int(_tensor(sd, "UpBlock2.11.weight", where, 4, what).shape[0])
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
    first = _tensor(sd, "model.1.weight_orig", where, 4, what)
    n_convs = _count(sd, lambda i: f"model.{1 + 3 * i}.weight_orig")
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


def _count(sd: StateDict, key: Any) -> int:
    n = 0
    while key(n) in sd:
        n += 1
    return n


def _same(settings: Mapping[str, Mapping[str, Any]], keys: Iterable[str], what: str) -> None:
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


# ============================================================================ hparams
def ugatit_hparams(
    generator: Mapping[str, Any], discriminator: Mapping[str, Any]
) -> dict[str, Any]:
    """CycleTranslation arguments: inferred networks plus the U-GAT-IT paper's settings."""
    return {
        "generator": dict(generator),
        "discriminator": {
            "_target_": "ugatit.nets.ugatit.UgatitDiscriminatorSet",
            **discriminator,
            "cam_weight": "raw",
        },
        **copy.deepcopy(UGATIT_TRAINING),
        "seed": SEED,
    }


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
        **copy.deepcopy(CYCLEGAN_TRAINING),
        "seed": SEED,
    }


# ============================================================================ inference: CycleGAN
def infer_cyclegan_generator(sd: StateDict, where: str) -> dict[str, Any]:
    """Generator config from an official CycleGAN ResNet generator state dict's shapes."""
    what = "an official CycleGAN ResNet generator"
    first = _tensor(sd, "model.1.weight", where, 4, what)
    if any(re.fullmatch(r"model\.\d+\.conv_block\.6\.weight", k) for k in sd):
        raise ConversionError(
            f"{where} is a CycleGAN generator trained with dropout (conv_block.6 keys); this "
            "project's ResnetGenerator has no dropout, so it cannot be converted."
        )
    n_blocks = _count(sd, lambda i: f"model.{10 + i}.conv_block.1.weight")
    last = _tensor(sd, f"model.{17 + n_blocks}.weight", where, 4, what)
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


# ============================================================================ building and writing
def build_module(
    hparams: Mapping[str, Any], weights: Mapping[str, tuple[StateDict, str]]
) -> CycleTranslation:
    """Build the module with a fixed seed and load each network (``name -> (state dict, origin)``).

    Every given network is loaded with strict=True; the others keep their fresh initialisation.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        try:
            module = CycleTranslation(**copy.deepcopy(dict(hparams)))
        except Exception as error:  # Hydra wraps the networks' ValueErrors
            raise ConversionError(
                f"The inferred settings do not build a model ({error}); the weights do not fit "
                "one architecture."
            ) from None
    for name, (sd, origin) in weights.items():
        try:
            getattr(module, name).load_state_dict(sd, strict=True)
        except RuntimeError as error:
            detail = " ".join(str(error).split())
            raise ConversionError(
                f"{origin} does not fit the inferred architecture ({_settings_text(hparams, name)}): "
                f"{detail[:600]}"
            ) from None
    return module


def _settings_text(hparams: Mapping[str, Any], network: str) -> str:
    config = hparams["generator" if network.startswith("generator") else "discriminator"]
    return ", ".join(f"{k}={v}" for k, v in config.items() if k != "_target_")


def _optimizers_and_schedulers(config: Any) -> tuple[list[Any], list[Any]]:
    """Normalise the shapes configure_optimizers may return (Lightning's accepted forms)."""
    if isinstance(config, torch.optim.Optimizer):
        return [config], []
    if isinstance(config, Mapping):
        config = [config]
    if isinstance(config, tuple) and len(config) == 2 and all(isinstance(c, list) for c in config):
        optimizers, schedulers = config
    else:
        optimizers, schedulers = [], []
        for item in config:
            if isinstance(item, Mapping):
                optimizers.append(item["optimizer"])
                if item.get("lr_scheduler") is not None:
                    schedulers.append(item["lr_scheduler"])
            else:
                optimizers.append(item)
    schedulers = [s["scheduler"] if isinstance(s, Mapping) else s for s in schedulers]
    return list(optimizers), schedulers


def checkpoint_dict(module: CycleTranslation, converted: Mapping[str, Any]) -> dict[str, Any]:
    """A Lightning checkpoint at iteration 0 with the module's own fresh optimizer states."""
    optimizers, schedulers = _optimizers_and_schedulers(module.configure_optimizers())
    checkpoint: dict[str, Any] = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": pl.__version__,
        "state_dict": module.state_dict(),
        "hyper_parameters": copy.deepcopy(dict(module.hparams)),
        "optimizer_states": [optimizer.state_dict() for optimizer in optimizers],
        "lr_schedulers": [scheduler.state_dict() for scheduler in schedulers],
    }
    module.on_save_checkpoint(checkpoint)  # the module's own extra state (iteration, pools)
    checkpoint["iteration"] = 0
    checkpoint["converted"] = copy.deepcopy(dict(converted))
    return checkpoint


def save_atomic(obj: Any, path: PathLike) -> Path:
    """The shared atomic write (temporary file beside ``path``, fsync, rename)."""
    try:
        return write_checkpoint_file(obj, path, role="output")
    except CheckpointWriteError as error:
        raise ConversionError(str(error)) from None


def _check_paths(output: PathLike, inputs: Iterable[PathLike | None]) -> Path:
    output = Path(output)
    for source in inputs:
        if source is not None and Path(source).resolve() == output.resolve():
            raise ConversionError(
                f"Output {output} is the input file; give a different output path so the "
                "original weights are kept."
            )
    return output


# ============================================================================ the two conversions
def convert_ugatit(input_path: PathLike, output_path: PathLike) -> Conversion:
    """Convert a U-GAT-IT PyTorch-port checkpoint; see the module docstring."""
    path = Path(input_path)
    output = _check_paths(output_path, [path])
    obj = load_official(path, "U-GAT-IT")
    if not isinstance(obj, Mapping) or not any(k in obj for k in UGATIT_KEYS[:2]):
        found = _describe_keys(obj) if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
        hint = _format_hint(obj) if isinstance(obj, Mapping) else ""
        raise ConversionError(
            f"{path} is not a U-GAT-IT checkpoint: found {found}, expected {UGATIT_FORMATS}.{hint}"
        )

    generators = {
        name: _state_dict(obj[key], f"{key} in {path}")
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
    _same(g_settings, generator.keys(), "generator")

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
            sd, layouts[key] = normalise_spectral_norm(_state_dict(obj[key], where), where)
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
    _same(d_settings, ("in_channels", "ndf", "use_cam"), "discriminator (global and local)")
    globals_ = {k: v for k, v in d_settings.items() if k.startswith("disG")}
    locals_ = {k: v for k, v in d_settings.items() if k.startswith("disL")}
    _same(globals_, ("n_layers",), "global discriminator")
    _same(locals_, ("n_layers",), "local discriminator")
    first = next(iter(d_settings.values()))
    return {
        "in_channels": first["in_channels"],
        "ndf": first["ndf"],
        "global_layers": next(iter(globals_.values()))["n_layers"],
        "local_layers": next(iter(locals_.values()))["n_layers"],
        "use_cam": first["use_cam"],
    }


def convert_cyclegan(
    output_path: PathLike, a2b: PathLike | None = None, b2a: PathLike | None = None
) -> Conversion:
    """Convert official CycleGAN generators (A->B and/or B->A); a missing direction stays fresh."""
    if a2b is None and b2a is None:
        raise ConversionError(
            "Give at least one generator: --a2b FILE (latest_net_G_A.pth, A->B) and/or "
            "--b2a FILE (latest_net_G_B.pth, B->A)."
        )
    output = _check_paths(output_path, [a2b, b2a])
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
            found = _describe_keys(obj) if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
            hint = _format_hint(obj) if isinstance(obj, Mapping) else ""
            if isinstance(obj, Mapping) and any(k in obj for k in UGATIT_KEYS):
                hint = (
                    " It looks like a U-GAT-IT checkpoint: use "
                    "`python src/convert.py ugatit INPUT OUTPUT`."
                )
            raise ConversionError(
                f"{path} is not a CycleGAN generator: found {found}, "
                f"expected {CYCLEGAN_FORMATS}.{hint}"
            )
        sd, dropped[direction] = drop_running_stats(_state_dict(obj, str(path)))
        settings[f"{direction} generator {path}"] = infer_cyclegan_generator(sd, str(path))
        weights[names[direction]] = (sd, str(path))
    _same(settings, ("in_channels", "out_channels", "ngf", "n_blocks"), "generator")
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


# ============================================================================ report
def describe(conversion: Conversion) -> str:
    """What was inferred and written, for the command's output."""
    c, h = conversion.converted, conversion.hparams
    g, d = h["generator"], h["discriminator"]
    lines: list[str] = []
    if c["source"] == UGATIT_SOURCE:
        size = (
            "light mode: any image size divisible by 4"
            if g["light"]
            else (f"full mode: image size {g['img_size']}x{g['img_size']} px")
        )
        lines += [
            f"Converted U-GAT-IT (PyTorch port) checkpoint {c['files']['input']}",
            f"  generators: ngf={g['ngf']}, {g['n_res']} residual blocks, {size}, "
            f"CAM {'on' if g['use_cam'] else 'off'}",
            f"  discriminators: ndf={d['ndf']}, global {d['global_layers']} layers, "
            f"local {d['local_layers']} layers",
            "  port numerics: unbiased variance in AdaLIN/LIN, raw CAM weight in D, rho offset 0",
        ]
        if c["spectral_norm_layouts"]:
            layouts = sorted(set(c["spectral_norm_layouts"].values()))
            lines.append(f"  spectral norm layout: {', '.join(layouts)} (written as modern)")
    else:
        lines += [
            "Converted CycleGAN generator(s): "
            + ", ".join(f"{k}={v}" for k, v in c["files"].items()),
            f"  generators: ngf={g['ngf']}, {g['n_blocks']} residual blocks "
            "(fully convolutional: any image size divisible by 4)",
            f"  discriminators: 70x70 PatchGAN, ndf={d['ndf']} (freshly initialised)",
        ]
        dropped = sum(c["dropped_running_stats"].values())
        if dropped:
            lines.append(f"  dropped {dropped} InstanceNorm running-statistics entries")
    lines.append(f"  directions converted: {', '.join(c['directions'])}")
    if c["initialised"]:
        lines.append(f"  freshly initialised (seed {SEED}): {', '.join(c['initialised'])}")
    lines.append(f"Wrote {conversion.output}")
    lines.append(
        "  load: CycleTranslation.load_from_checkpoint(path); fine-tune: "
        "trainer.fit(module, datamodule, ckpt_path=path)"
    )
    return "\n".join(lines)
