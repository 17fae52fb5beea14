"""What a checkpoint's networks are, in words, and whether its weights fit the model a run builds.

A checkpoint of another architecture (light vs full U-GAT-IT, another image size, CycleGAN vs
U-GAT-IT, other widths) would otherwise fail deep inside Lightning with ``size mismatch for
generator_ab.FC.0.weight``; :func:`check_weights_fit` compares names and shapes up front (free
with a memory-mapped checkpoint) and says in words what the checkpoint holds, what the config
builds and which overrides make them agree.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from ugatit import registry
from ugatit.checkpoints.files import CheckpointError

log = logging.getLogger(__name__)

NETWORKS = ("generator", "discriminator")
_MODEL_CONFIGS = {  # the model configs (conf/model/) of each known generator class
    "UgatitGenerator": "model=ugatit, model=ugatit_light or model=ugatit_small",
    "ResnetGenerator": "model=cyclegan or model=cyclegan_small",
}
_SHOWN = 3  # mismatched tensors named when the settings alone do not explain them


# ============================================================================ words
def _short(target: Any) -> str:
    return str(target).rsplit(".", 1)[-1]


def effective(config: Mapping[str, Any]) -> dict[str, Any]:
    """A network config with the class's defaults filled in (checkpoints store what was given)."""
    values = {k: v for k, v in config.items() if k != "_target_"}
    target = config.get("_target_")
    entry = registry.NETWORKS.get(target) if isinstance(target, str) else None
    if entry is None:  # described by its stored keywords alone; nothing is imported
        return {"_target_": target, **values}
    signature = inspect.signature(entry.cls)
    defaults = {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    return {"_target_": config.get("_target_"), **defaults, **values}


def _count(n: Any, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def describe_network(config: Mapping[str, Any]) -> str:
    """``a light-mode U-GAT-IT generator (ngf 16, 4 residual blocks)`` and the like."""
    c = effective(config)
    name = _short(c["_target_"])
    if name == "UgatitGenerator":
        size = "" if c.get("light") else f"{c.get('img_size')}x{c.get('img_size')} px, "
        extra = "" if c.get("norm", "adalin") == "adalin" else f", {c.get('norm')} norm"
        extra += "" if c.get("use_cam", True) else ", no CAM"
        mode = "light" if c.get("light") else "full"
        blocks = _count(c.get("n_res"), "residual block")
        return f"a {mode}-mode U-GAT-IT generator ({size}ngf {c.get('ngf')}, {blocks}{extra})"
    if name == "ResnetGenerator":
        blocks = _count(c.get("n_blocks"), "residual block")
        return f"a CycleGAN ResNet generator (ngf {c.get('ngf')}, {blocks})"
    if name == "UgatitDiscriminatorSet":
        return (
            f"U-GAT-IT discriminators (ndf {c.get('ndf')}, {c.get('global_layers')} global and "
            f"{c.get('local_layers')} local layers{'' if c.get('use_cam', True) else ', no CAM'})"
        )
    if name == "PatchGANDiscriminator":
        return f"a PatchGAN discriminator (ndf {c.get('ndf')}, {c.get('n_layers')} layers)"
    settings = ", ".join(f"{k} {v}" for k, v in c.items() if k != "_target_")
    return f"a {name}" + (f" ({settings})" if settings else "")


def _override(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


def _fixes(network: str, saved: Mapping[str, Any], built: Mapping[str, Any]) -> list[str]:
    """The overrides (or the model config) that make the run build the checkpoint's network."""
    if saved["_target_"] != built["_target_"]:
        configs = _MODEL_CONFIGS.get(_short(saved["_target_"]))
        return [configs or f"model.{network}._target_={saved['_target_']}"]
    keys = [k for k in saved if k != "_target_" and saved.get(k) != built.get(k)]
    full_mode = _short(saved["_target_"]) == "UgatitGenerator" and not saved.get("light")
    if not full_mode and "img_size" in keys:
        keys.remove("img_size")  # light mode and CycleGAN take any size
    fixes = [f"model.{network}.{key}={_override(saved[key])}" for key in keys]
    if full_mode and "img_size" in keys:
        fixes.append(f"data.crop_size={saved['img_size']}")
    return fixes


def _differences(network: str, saved: Mapping[str, Any], built: Mapping[str, Any]) -> list[str]:
    return [
        f"model.{network}.{key}: {_override(saved.get(key))} in the checkpoint, "
        f"{_override(built.get(key))} here"
        for key in sorted(set(saved) | set(built))
        if saved.get(key) != built.get(key)
    ]


# ============================================================================ fit
AVERAGE_SUFFIX = "_ema"  # generator_ab_ema.* holds the weight average of generator_ab.*


def align_average_weights(saved: dict[str, Any], own_keys: Iterable[str]) -> str | None:
    """Make a checkpoint's weights fit a model that keeps (or does not keep) a weight average.

    A checkpoint trained without ``model.ema_decay`` continued with it: the average starts from
    the checkpoint's live generator weights. The other way round the average is dropped. Returns
    what was done, in words, or None.
    """
    own = set(own_keys)
    added, dropped = 0, 0
    for key in own - set(saved):
        network, _, rest = key.partition(".")
        live = f"{network.removesuffix(AVERAGE_SUFFIX)}.{rest}"
        if network.endswith(AVERAGE_SUFFIX) and live in saved:
            saved[key] = saved[live].clone()
            added += 1
    for key in set(saved) - own:
        if key.partition(".")[0].endswith(AVERAGE_SUFFIX):
            del saved[key]
            dropped += 1
    if added:
        return "the checkpoint has no weight average: it starts from the checkpoint's generators"
    if dropped:
        return "the checkpoint's weight average is not used (model.ema_decay is 0 here)"
    return None


def _shape_mismatches(saved: Mapping[str, Any], own: Mapping[str, Any]) -> list[str]:
    problems = [
        f"{name} is {tuple(saved[name].shape)} in the checkpoint but {tuple(own[name].shape)} here"
        for name in own
        if name in saved and tuple(getattr(saved[name], "shape", ())) != tuple(own[name].shape)
    ]
    problems += [f"{name} is missing from the checkpoint" for name in own if name not in saved]
    problems += [f"{name} is not in this model" for name in saved if name not in own]
    return problems


def check_weights_fit(checkpoint: Mapping[str, Any], module: nn.Module, label: str) -> None:
    """Raise one :class:`CheckpointError` in words when the checkpoint's weights do not fit
    ``module`` (names and shapes, what a strict ``load_state_dict`` would refuse).

    Settings that differ without changing any shape (numerics such as ``unbiased_variance``) are
    allowed, with a warning that the run's own settings are used.
    """
    saved_hp = checkpoint.get("hyper_parameters") or {}
    built_hp = getattr(module, "hparams", {}) or {}
    configs = {
        network: (effective(saved_hp.get(network) or {}), effective(built_hp.get(network) or {}))
        for network in NETWORKS
    }
    own = module.state_dict()
    note = align_average_weights(checkpoint["state_dict"], own.keys())
    if note:
        log.info("%s: %s.", label, note)
    problems = _shape_mismatches(checkpoint["state_dict"], own)
    if not problems:
        differences = [d for n, (s, b) in configs.items() for d in _differences(n, s, b)]
        if differences:
            log.warning(
                "%s was trained with other settings that do not change the weights' shapes (%s); "
                "this run uses its own.",
                label,
                "; ".join(differences),
            )
        return
    sentences, fixes = [], []
    for network, (saved, built) in configs.items():
        if saved != built:
            sentences.append(
                f"the checkpoint holds {describe_network(saved)} but the config builds "
                f"{describe_network(built)}"
            )
            fixes += _fixes(network, saved, built)
    generators = configs["generator"]
    if generators[0]["_target_"] != generators[1]["_target_"]:
        fixes = _fixes("generator", *generators)  # another method: its model config sets both
    if not sentences:
        shown = "; ".join(problems[:_SHOWN])
        more = f" and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise CheckpointError(
            f"{label} holds weights that do not fit the networks its settings describe "
            f"({shown}{more}); it was written by another version of the code."
        )
    raise CheckpointError(
        f"{label} does not fit the model this run builds: {'; and '.join(sentences)}. Pass the "
        f"model config it was trained with: {' '.join(dict.fromkeys(fixes))}."
    )
