"""Test-only reference of the official networks, written from the facts and raw state dicts.

It deliberately imports nothing from ``ugatit``: the converted project networks are checked against
these functional forward passes, so a shared mistake cannot hide. It also builds checkpoints in the
official formats (the U-GAT-IT PyTorch port's ``save()`` dict, CycleGAN's ``model.N`` generator
state dicts) with random weights, in both spectral-norm layouts:

- modern: ``weight_orig``, ``weight_u``, ``weight_v`` (eval-mode weight = W / (u . W v));
- legacy (PyTorch 0.4): ``weight_orig``, ``weight_u`` and the normalised ``weight`` itself.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-5
StateDict = dict[str, Tensor]


# ---------------------------------------------------------------------------- building blocks
def reflect_conv(
    x: Tensor, weight: Tensor, pad: int, stride: int = 1, bias: Tensor | None = None
) -> Tensor:
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), weight, bias, stride)


def instance_norm(x: Tensor) -> Tensor:
    """nn.InstanceNorm2d without affine: biased variance over H, W."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS)


def port_iln(x: Tensor, rho: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """The port's adaILN / ILN: torch.var's default (unbiased) estimator, no clipping of rho."""
    in_mean = x.mean(dim=(2, 3), keepdim=True)
    in_var = x.var(dim=(2, 3), keepdim=True)
    ln_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    ln_var = x.var(dim=(1, 2, 3), keepdim=True)
    out_in = (x - in_mean) / torch.sqrt(in_var + EPS)
    out_ln = (x - ln_mean) / torch.sqrt(ln_var + EPS)
    return (rho * out_in + (1 - rho) * out_ln) * gamma + beta


def cam(
    x: Tensor, gap_w: Tensor, gmp_w: Tensor, gap_scale: Tensor, gmp_scale: Tensor
) -> tuple[Tensor, Tensor]:
    """Logits from avg/max pools with ``*_w``; the map reweighted channel-wise by ``*_scale``."""
    gap_logit = x.mean(dim=(2, 3)) @ gap_w.t()
    gmp_logit = x.amax(dim=(2, 3)) @ gmp_w.t()
    weighted = torch.cat(
        [x * gap_scale.reshape(1, -1, 1, 1), x * gmp_scale.reshape(1, -1, 1, 1)], 1
    )
    return weighted, torch.cat([gap_logit, gmp_logit], 1)


# ---------------------------------------------------------------------------- U-GAT-IT generator
def port_generator(sd: StateDict, x: Tensor, light: bool) -> tuple[Tensor, Tensor, Tensor]:
    """The port's ResnetGenerator forward: (image, cam_logit, heatmap)."""
    h = F.relu(instance_norm(reflect_conv(x, sd["DownBlock.1.weight"], 3)))
    h = F.relu(instance_norm(reflect_conv(h, sd["DownBlock.5.weight"], 1, 2)))
    h = F.relu(instance_norm(reflect_conv(h, sd["DownBlock.9.weight"], 1, 2)))
    i = 12
    while f"DownBlock.{i}.conv_block.1.weight" in sd:
        p = f"DownBlock.{i}.conv_block."
        r = F.relu(instance_norm(reflect_conv(h, sd[p + "1.weight"], 1)))
        h = h + instance_norm(reflect_conv(r, sd[p + "5.weight"], 1))
        i += 1
    n_res = i - 12

    gap_w, gmp_w = sd["gap_fc.weight"], sd["gmp_fc.weight"]
    weighted, cam_logit = cam(h, gap_w, gmp_w, gap_w, gmp_w)
    h = F.relu(F.conv2d(weighted, sd["conv1x1.weight"], sd["conv1x1.bias"]))
    heatmap = h.sum(dim=1, keepdim=True)

    style = h.mean(dim=(2, 3)) if light else h.reshape(h.shape[0], -1)
    style = F.relu(F.relu(style @ sd["FC.0.weight"].t()) @ sd["FC.2.weight"].t())
    gamma = (style @ sd["gamma.weight"].t())[:, :, None, None]
    beta = (style @ sd["beta.weight"].t())[:, :, None, None]

    for k in range(1, n_res + 1):
        p = f"UpBlock1_{k}."
        r = reflect_conv(h, sd[p + "conv1.weight"], 1)
        r = F.relu(port_iln(r, sd[p + "norm1.rho"], gamma, beta))
        r = reflect_conv(r, sd[p + "conv2.weight"], 1)
        h = h + port_iln(r, sd[p + "norm2.rho"], gamma, beta)

    for conv, norm in ((2, 3), (7, 8)):
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = reflect_conv(h, sd[f"UpBlock2.{conv}.weight"], 1)
        p = f"UpBlock2.{norm}."
        h = F.relu(port_iln(h, sd[p + "rho"], sd[p + "gamma"], sd[p + "beta"]))
    image = torch.tanh(reflect_conv(h, sd["UpBlock2.11.weight"], 3))
    return image, cam_logit, heatmap


def _normal(shape: tuple[int, ...], g: torch.Generator, std: float | None = None) -> Tensor:
    """Fan-in scaled weights so activations stay O(1) through the tiny networks."""
    if std is None:
        fan_in = 1
        for s in shape[1:]:
            fan_in *= s
        std = fan_in**-0.5
    return torch.randn(shape, generator=g) * std


def port_generator_state(
    ngf: int, n_res: int, light: bool, img_size: int = 32, seed: int = 0, channels: int = 3
) -> StateDict:
    """A genA2B/genB2A state dict with the port's key names and shapes, random weights.

    rho, ILN gamma/beta and the 1x1 bias are random too (not their init values), so a converter
    that drops them would be caught.
    """
    g = torch.Generator().manual_seed(seed)
    dim = 4 * ngf
    sd: StateDict = {
        "DownBlock.1.weight": _normal((ngf, channels, 7, 7), g),
        "DownBlock.5.weight": _normal((2 * ngf, ngf, 3, 3), g),
        "DownBlock.9.weight": _normal((dim, 2 * ngf, 3, 3), g),
    }
    for i in range(n_res):
        for j in (1, 5):
            sd[f"DownBlock.{12 + i}.conv_block.{j}.weight"] = _normal((dim, dim, 3, 3), g)
    sd["gap_fc.weight"] = _normal((1, dim), g)
    sd["gmp_fc.weight"] = _normal((1, dim), g)
    sd["conv1x1.weight"] = _normal((dim, 2 * dim, 1, 1), g)
    sd["conv1x1.bias"] = _normal((dim,), g, 0.1)
    mlp_in = dim if light else (img_size // 4) ** 2 * dim
    sd["FC.0.weight"] = _normal((dim, mlp_in), g)
    sd["FC.2.weight"] = _normal((dim, dim), g)
    sd["gamma.weight"] = _normal((dim, dim), g)
    sd["beta.weight"] = _normal((dim, dim), g, 0.1 * dim**-0.5)
    for k in range(1, n_res + 1):
        for j in (1, 2):
            sd[f"UpBlock1_{k}.conv{j}.weight"] = _normal((dim, dim, 3, 3), g)
            sd[f"UpBlock1_{k}.norm{j}.rho"] = torch.rand((1, dim, 1, 1), generator=g)
    for conv, norm, c in ((2, 3, dim), (7, 8, dim // 2)):
        sd[f"UpBlock2.{conv}.weight"] = _normal((c // 2, c, 3, 3), g)
        sd[f"UpBlock2.{norm}.rho"] = torch.rand((1, c // 2, 1, 1), generator=g)
        sd[f"UpBlock2.{norm}.gamma"] = 1 + _normal((1, c // 2, 1, 1), g, 0.1)
        sd[f"UpBlock2.{norm}.beta"] = _normal((1, c // 2, 1, 1), g, 0.1)
    sd["UpBlock2.11.weight"] = _normal((channels, ngf, 7, 7), g)
    return sd


# ------------------------------------------------------------------------ U-GAT-IT discriminator
def sn_weight(sd: StateDict, key: str) -> Tensor:
    """Eval-mode spectral-normed weight: stored ``weight`` (legacy) or W / (u . W v) (modern)."""
    if key in sd:
        return sd[key]
    w = sd[key + "_orig"]
    sigma = torch.dot(sd[key + "_u"], w.reshape(w.shape[0], -1) @ sd[key + "_v"])
    return w / sigma


def port_discriminator(sd: StateDict, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The port's Discriminator forward in eval mode: (patch_logit, cam_logit, heatmap).

    Its quirk: CAM logits use the normalised classifier weight, the map is reweighted by the raw
    ``weight_orig`` (``list(fc.parameters())[0]``).
    """
    idx = 1
    h = x
    while f"model.{idx}.weight_orig" in sd:
        stride = 2 if f"model.{idx + 3}.weight_orig" in sd else 1
        w = sn_weight(sd, f"model.{idx}.weight")
        h = F.leaky_relu(reflect_conv(h, w, 1, stride, sd[f"model.{idx}.bias"]), 0.2)
        idx += 3
    weighted, cam_logit = cam(
        h,
        sn_weight(sd, "gap_fc.weight"),
        sn_weight(sd, "gmp_fc.weight"),
        sd["gap_fc.weight_orig"],
        sd["gmp_fc.weight_orig"],
    )
    h = F.leaky_relu(F.conv2d(weighted, sd["conv1x1.weight"], sd["conv1x1.bias"]), 0.2)
    heatmap = h.sum(dim=1, keepdim=True)
    return reflect_conv(h, sn_weight(sd, "conv.weight"), 1), cam_logit, heatmap


def _spectral_entries(key: str, weight: Tensor, g: torch.Generator, layout: str) -> StateDict:
    """What a trained spectral-normed layer stores: a few power iterations from a random u."""
    mat = weight.reshape(weight.shape[0], -1)
    u = F.normalize(torch.randn(mat.shape[0], generator=g), dim=0)
    for _ in range(3):
        v = F.normalize(mat.t() @ u, dim=0)
        u = F.normalize(mat @ v, dim=0)
    entries = {key + "_orig": weight, key + "_u": u}
    if layout == "modern":
        entries[key + "_v"] = v
    elif layout == "legacy":
        entries[key] = weight / torch.dot(u, mat @ v)
    else:
        raise ValueError(layout)
    return entries


def port_discriminator_state(
    ndf: int, n_layers: int, layout: str = "modern", seed: int = 0, channels: int = 3
) -> StateDict:
    """A disGA/disLA/... state dict with the port's keys and shapes in one spectral-norm layout."""
    g = torch.Generator().manual_seed(seed)
    sd: StateDict = {}
    shapes = [(ndf, channels)]
    for i in range(1, n_layers - 2):
        c = ndf * 2 ** (i - 1)
        shapes.append((2 * c, c))
    c = ndf * 2 ** (n_layers - 3)
    shapes.append((2 * c, c))
    for n, (c_out, c_in) in enumerate(shapes):
        idx = 1 + 3 * n
        sd.update(
            _spectral_entries(f"model.{idx}.weight", _normal((c_out, c_in, 4, 4), g), g, layout)
        )
        sd[f"model.{idx}.bias"] = _normal((c_out,), g, 0.1)
    dim = shapes[-1][0]
    sd.update(_spectral_entries("gap_fc.weight", _normal((1, dim), g), g, layout))
    sd.update(_spectral_entries("gmp_fc.weight", _normal((1, dim), g), g, layout))
    sd["conv1x1.weight"] = _normal((dim, 2 * dim, 1, 1), g)
    sd["conv1x1.bias"] = _normal((dim,), g, 0.1)
    sd.update(_spectral_entries("conv.weight", _normal((1, dim, 4, 4), g), g, layout))
    return sd


def port_save_dict(
    ngf: int,
    n_res: int,
    light: bool,
    img_size: int,
    ndf: int,
    global_layers: int,
    local_layers: int,
    layout: str = "modern",
) -> dict[str, StateDict]:
    """What the port's ``save()`` writes: six state dicts, each network with its own weights."""
    return {
        "genA2B": port_generator_state(ngf, n_res, light, img_size, seed=1),
        "genB2A": port_generator_state(ngf, n_res, light, img_size, seed=2),
        "disGA": port_discriminator_state(ndf, global_layers, layout, seed=3),
        "disGB": port_discriminator_state(ndf, global_layers, layout, seed=4),
        "disLA": port_discriminator_state(ndf, local_layers, layout, seed=5),
        "disLB": port_discriminator_state(ndf, local_layers, layout, seed=6),
    }


# ---------------------------------------------------------------------------- CycleGAN generator
def cyclegan_generator(sd: StateDict, x: Tensor) -> Tensor:
    """The official CycleGAN ResnetGenerator (instance norm, no dropout) from ``model.N`` keys."""

    def w(i: int | str) -> Tensor:
        return sd[f"model.{i}.weight"]

    def b(i: int | str) -> Tensor:
        return sd[f"model.{i}.bias"]

    h = F.relu(instance_norm(reflect_conv(x, w(1), 3, 1, b(1))))
    h = F.relu(instance_norm(F.conv2d(h, w(4), b(4), stride=2, padding=1)))
    h = F.relu(instance_norm(F.conv2d(h, w(7), b(7), stride=2, padding=1)))
    i = 10
    while f"model.{i}.conv_block.1.weight" in sd:
        r = F.relu(
            instance_norm(reflect_conv(h, w(f"{i}.conv_block.1"), 1, 1, b(f"{i}.conv_block.1")))
        )
        h = h + instance_norm(reflect_conv(r, w(f"{i}.conv_block.5"), 1, 1, b(f"{i}.conv_block.5")))
        i += 1
    for j in (i, i + 3):
        up = F.conv_transpose2d(h, w(j), b(j), stride=2, padding=1, output_padding=1)
        h = F.relu(instance_norm(up))
    return torch.tanh(reflect_conv(h, w(i + 7), 3, 1, b(i + 7)))


def cyclegan_generator_state(
    ngf: int, n_blocks: int, running_stats: bool = False, seed: int = 0, channels: int = 3
) -> StateDict:
    """``latest_net_G_A.pth`` layout; ``running_stats`` adds the old InstanceNorm buffers."""
    g = torch.Generator().manual_seed(seed)
    sd: StateDict = {}
    norms: list[tuple[str, int]] = []

    def conv(prefix: str, c_out: int, c_in: int, k: int, transposed: bool = False) -> None:
        shape = (c_in, c_out, k, k) if transposed else (c_out, c_in, k, k)
        sd[prefix + ".weight"] = _normal(shape, g, (c_in * k * k) ** -0.5)
        sd[prefix + ".bias"] = _normal((c_out,), g, 0.1)

    conv("model.1", ngf, channels, 7)
    norms.append(("model.2", ngf))
    conv("model.4", 2 * ngf, ngf, 3)
    norms.append(("model.5", 2 * ngf))
    conv("model.7", 4 * ngf, 2 * ngf, 3)
    norms.append(("model.8", 4 * ngf))
    for n in range(n_blocks):
        p = f"model.{10 + n}.conv_block"
        conv(p + ".1", 4 * ngf, 4 * ngf, 3)
        conv(p + ".5", 4 * ngf, 4 * ngf, 3)
        norms += [(p + ".2", 4 * ngf), (p + ".6", 4 * ngf)]
    i = 10 + n_blocks
    conv(f"model.{i}", 2 * ngf, 4 * ngf, 3, transposed=True)
    norms.append((f"model.{i + 1}", 2 * ngf))
    conv(f"model.{i + 3}", ngf, 2 * ngf, 3, transposed=True)
    norms.append((f"model.{i + 4}", ngf))
    conv(f"model.{i + 7}", channels, ngf, 7)
    if running_stats:
        for prefix, c in norms:
            sd[prefix + ".running_mean"] = torch.randn(c, generator=g)
            sd[prefix + ".running_var"] = torch.rand(c, generator=g) + 0.5
            sd[prefix + ".num_batches_tracked"] = torch.tensor(1000)
    return sd


# ---------------------------------------------------------------------------------- CUT
def _cut_filter(taps: list[float]) -> Tensor:
    """The official get_filter: outer product of binomial taps, normalised to sum 1 (numpy)."""
    a = np.array(taps)
    filt = torch.Tensor(a[:, None] * a[None, :])
    return filt / torch.sum(filt)


def cut_downsample(x: Tensor) -> Tensor:
    """The official Downsample(filt_size=3, reflect, stride 2), written from its code."""
    filt = _cut_filter([1.0, 2.0, 1.0])[None, None].repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="reflect"), filt, stride=2, groups=x.shape[1])


def cut_upsample(x: Tensor) -> Tensor:
    """The official Upsample(filt_size=4, replicate, stride 2): transposed conv with padding
    1 + 1, crop [1:, 1:], then (even filter) [:-1, :-1]."""
    filt = (_cut_filter([1.0, 3.0, 3.0, 1.0]) * 4)[None, None].repeat(x.shape[1], 1, 1, 1)
    padded = F.pad(x, [1, 1, 1, 1], mode="replicate")
    out = F.conv_transpose2d(padded, filt, stride=2, padding=2, groups=x.shape[1])[:, :, 1:, 1:]
    return out[:, :, :-1, :-1]


def cut_generator(sd: StateDict, x: Tensor) -> Tensor:
    """The official anti-aliased CUT ResnetGenerator (instance norm, no dropout), ``model.N`` keys."""

    def w(i: int | str) -> Tensor:
        return sd[f"model.{i}.weight"]

    def b(i: int | str) -> Tensor:
        return sd[f"model.{i}.bias"]

    h = F.relu(instance_norm(reflect_conv(x, w(1), 3, 1, b(1))))
    h = cut_downsample(F.relu(instance_norm(F.conv2d(h, w(4), b(4), padding=1))))
    h = cut_downsample(F.relu(instance_norm(F.conv2d(h, w(8), b(8), padding=1))))
    i = 12
    while f"model.{i}.conv_block.1.weight" in sd:
        r = F.relu(
            instance_norm(reflect_conv(h, w(f"{i}.conv_block.1"), 1, 1, b(f"{i}.conv_block.1")))
        )
        h = h + instance_norm(reflect_conv(r, w(f"{i}.conv_block.5"), 1, 1, b(f"{i}.conv_block.5")))
        i += 1
    for j in (i + 1, i + 5):
        h = F.relu(instance_norm(F.conv2d(cut_upsample(h), w(j), b(j), padding=1)))
    return torch.tanh(reflect_conv(h, w(i + 9), 3, 1, b(i + 9)))


def cut_generator_state(ngf: int, n_blocks: int, seed: int = 0, channels: int = 3) -> StateDict:
    """``latest_net_G.pth`` layout of the official CUT generator, blur filters included."""
    g = torch.Generator().manual_seed(seed)
    sd: StateDict = {}

    def conv(prefix: str, c_out: int, c_in: int, k: int) -> None:
        sd[prefix + ".weight"] = _normal((c_out, c_in, k, k), g, (c_in * k * k) ** -0.5)
        sd[prefix + ".bias"] = _normal((c_out,), g, 0.1)

    conv("model.1", ngf, channels, 7)
    conv("model.4", 2 * ngf, ngf, 3)
    sd["model.7.filt"] = _cut_filter([1.0, 2.0, 1.0])[None, None].repeat(2 * ngf, 1, 1, 1)
    conv("model.8", 4 * ngf, 2 * ngf, 3)
    sd["model.11.filt"] = _cut_filter([1.0, 2.0, 1.0])[None, None].repeat(4 * ngf, 1, 1, 1)
    for n in range(n_blocks):
        p = f"model.{12 + n}.conv_block"
        conv(p + ".1", 4 * ngf, 4 * ngf, 3)
        conv(p + ".5", 4 * ngf, 4 * ngf, 3)
    i = 12 + n_blocks
    sd[f"model.{i}.filt"] = (_cut_filter([1.0, 3.0, 3.0, 1.0]) * 4)[None, None].repeat(
        4 * ngf, 1, 1, 1
    )
    conv(f"model.{i + 1}", 2 * ngf, 4 * ngf, 3)
    sd[f"model.{i + 4}.filt"] = (_cut_filter([1.0, 3.0, 3.0, 1.0]) * 4)[None, None].repeat(
        2 * ngf, 1, 1, 1
    )
    conv(f"model.{i + 5}", ngf, 2 * ngf, 3)
    conv(f"model.{i + 9}", channels, ngf, 7)
    return sd
