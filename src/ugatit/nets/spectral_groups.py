"""One call of a spectral-normed layer that stands for several calls in a row.

The official U-GAT-IT code calls each discriminator twice per discriminator step, on the real
and then on the fake images. In training, each call of a spectral-normed layer runs one power
iteration and divides the weight by the new estimate σ of its largest singular value, so the two
calls use two different σ. Judging both batches in one call keeps that exactly: the layer runs
the same power iterations one after another, one per group of samples, and since
conv(x, W/σ) = conv(x, W)/σ (likewise for a linear layer), each group's output of the raw
weight is divided by its own σ before the bias is added. The losses, gradients (through σ as
well) and the power-iteration vectors left in the buffers equal those of the separate calls, up
to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.spectral_norm import SpectralNorm


def spectral_norm_of(module: nn.Module) -> SpectralNorm | None:
    """The spectral-norm hook of ``module`` (``nn.utils.spectral_norm``), or None."""
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, SpectralNorm):
            return hook
    return None


def _next_sigma(module: nn.Module, hook: SpectralNorm) -> Tensor:
    """σ of one training call: the hook's power iteration (in place on the buffers, as
    ``SpectralNorm.compute_weight``), then uᵀWv with gradient to W."""
    weight_mat = hook.reshape_weight_to_matrix(getattr(module, hook.name + "_orig"))
    u, v = getattr(module, hook.name + "_u"), getattr(module, hook.name + "_v")
    with torch.no_grad():
        for _ in range(hook.n_power_iterations):
            v = F.normalize(torch.mv(weight_mat.t(), u), dim=0, eps=hook.eps, out=v)
            u = F.normalize(torch.mv(weight_mat, v), dim=0, eps=hook.eps, out=u)
        if hook.n_power_iterations > 0:
            u = u.clone(memory_format=torch.contiguous_format)
            v = v.clone(memory_format=torch.contiguous_format)
    return torch.dot(u, torch.mv(weight_mat, v))


def group_scales(module: nn.Module, sizes: Sequence[int] | None) -> Tensor | None:
    """Per-sample factors 1/σ, one σ per group of ``sizes`` samples, as consecutive calls on the
    groups would compute them; None where one call is the same as separate calls (no spectral
    norm, evaluation mode: no power iteration, or a single group)."""
    if sizes is None or len(sizes) < 2 or not module.training:
        return None  # checked first: this runs for every layer of every discriminator call
    hook = spectral_norm_of(module)
    if hook is None:
        return None
    sigmas = [_next_sigma(module, hook) for _ in sizes]
    # what the last separate call would have left on the module
    setattr(module, hook.name, getattr(module, hook.name + "_orig") / sigmas[-1])
    return torch.cat([(1 / s).expand(n) for s, n in zip(sigmas, sizes, strict=True)])


def call_grouped(module: nn.Module, x: Tensor, sizes: Sequence[int] | None) -> Tensor:
    """``module(x)`` where ``x`` concatenates groups of ``sizes`` samples that the official code
    passes in separate calls; layers without spectral norm are simply called."""
    scales = group_scales(module, sizes)
    if scales is None:
        return module(x)
    return apply_scaled(module, x, scales)


def apply_scaled(module: nn.Module, x: Tensor, scales: Tensor) -> Tensor:
    """A spectral-normed Conv2d or Linear with the raw weight, each sample's output times its
    factor from :func:`group_scales`, then the bias."""
    hook = spectral_norm_of(module)
    assert hook is not None
    weight = getattr(module, hook.name + "_orig")
    if isinstance(module, nn.Conv2d):
        y = module._conv_forward(x, weight, None)
    elif isinstance(module, nn.Linear):
        y = F.linear(x, weight)
    else:
        raise TypeError(f"grouped spectral norm supports Conv2d and Linear, not {type(module)}")
    y = y * scales.reshape(-1, *[1] * (y.dim() - 1))
    if module.bias is not None:
        y = y + module.bias.reshape(1, -1, *[1] * (y.dim() - 2))
    return y
