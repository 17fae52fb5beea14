"""Normalisation layers of U-GAT-IT: AdaLIN, LIN and the paper's ablation norms (Table 1).

Every decoder norm is called as ``norm(x, gamma, beta)`` so the residual decoder blocks are written
once for all kinds; the up-sampling norms are called as ``norm(x)``. The kinds:

======  ====================================  ======================  ==============
kind    residual decoder norm                 up-sampling norm        gamma/beta MLP
======  ====================================  ======================  ==============
adalin  AdaLIN (learned rho, MLP gamma/beta)  LIN                     built
adain   AdaIN (MLP gamma/beta, no rho)        affine IN               built
in      affine IN, ignores gamma/beta         affine IN               not built
ln      LN, ignores gamma/beta                LN                      not built
gn      GN, ignores gamma/beta                GN                      not built
======  ====================================  ======================  ==============

Choices, and why:

- The plain kinds are ``nn.GroupNorm`` with per-channel affine weights: C groups is exactly an
  affine instance norm, 1 group is the layer norm of the TF code (statistics over C, H, W, one
  scale and offset per channel), and ``gn`` uses ``gcd(groups, C)`` groups (32 by default, as in
  the GroupNorm paper) so that narrow test networks still divide evenly. They use PyTorch's biased
  variance; ``unbiased_variance`` only concerns the hand-written AdaLIN, LIN and AdaIN.
- rho: the forward pass uses ``clip(rho - rho_offset, 0, 1)`` with TF's clip gradient (passed on
  inside the closed interval, boundaries included; ``torch.clamp`` would block it at exactly 0 or
  1 and freeze a rho clipped there). With the PyTorch port's settings (rho_init 0.9, offset 0) and
  rho kept in [0, 1] by :func:`clip_rho_` after every step, that clip changes neither value nor
  gradient, so one formula serves both official codes (the TF code: rho_init 1.0, offset 0.1).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

NORM_KINDS: tuple[str, ...] = ("adalin", "adain", "in", "ln", "gn")
ADAPTIVE_KINDS: tuple[str, ...] = ("adalin", "adain")
EPS = 1e-5


def check_norm_kind(kind: str) -> None:
    """Fail early with the allowed values; a config typo would otherwise surface late."""
    if kind not in NORM_KINDS:
        raise ValueError(
            f"Unknown norm kind {kind!r} (config key model.generator.norm); "
            f"choose one of: {', '.join(NORM_KINDS)}."
        )


def is_adaptive(kind: str) -> bool:
    """True when the kind takes gamma and beta from the generator's MLP."""
    check_norm_kind(kind)
    return kind in ADAPTIVE_KINDS


def standardise(x: Tensor, dims: tuple[int, ...], unbiased: bool, eps: float = EPS) -> Tensor:
    """(x - mean) / sqrt(var + eps) over ``dims``; the variance estimator is chosen explicitly.

    The statistics are computed in float32 whatever the input dtype: under 16-bit mixed precision
    a half-precision variance overflows or loses the small differences that matter here.
    """
    x32 = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    mean = x32.mean(dim=dims, keepdim=True)
    var = x32.var(dim=dims, keepdim=True, correction=1 if unbiased else 0)
    return ((x32 - mean) / torch.sqrt(var + eps)).to(x.dtype)


def _layer_instance_mix(x: Tensor, rho: Tensor, unbiased: bool, eps: float) -> Tensor:
    """rho * instance-normalised + (1 - rho) * layer-normalised input."""
    x_in = standardise(x, (2, 3), unbiased, eps)
    x_ln = standardise(x, (1, 2, 3), unbiased, eps)
    return rho * x_in + (1.0 - rho) * x_ln


def clip_unit(r: Tensor) -> Tensor:
    """Clip to [0, 1]; gradient 1 inside the closed interval, 0 strictly outside (TF's clip)."""
    inside = (r >= 0.0) & (r <= 1.0)
    return torch.where(inside, r, r.detach().clamp(0.0, 1.0))


def _as_map(v: Tensor) -> Tensor:
    """[B, C] style vector -> [B, C, 1, 1] so it broadcasts over the feature map."""
    return v.reshape(v.shape[0], v.shape[1], 1, 1)


class _LayerInstanceNorm(nn.Module):
    """The rho-weighted mix of instance and layer normalisation shared by AdaLIN and LIN."""

    def __init__(
        self,
        channels: int,
        eps: float,
        rho_init: float,
        rho_offset: float,
        unbiased_variance: bool,
    ) -> None:
        super().__init__()
        self.eps = eps
        self.rho_offset = rho_offset
        self.unbiased_variance = unbiased_variance
        self.rho = nn.Parameter(torch.full((1, channels, 1, 1), float(rho_init)))

    def _mix(self, x: Tensor) -> Tensor:
        rho = clip_unit(self.rho - self.rho_offset)
        return _layer_instance_mix(x, rho, self.unbiased_variance, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.rho.shape[1]}, eps={self.eps}, rho_offset={self.rho_offset}, "
            f"unbiased_variance={self.unbiased_variance}"
        )


class AdaLIN(_LayerInstanceNorm):
    """Adaptive layer-instance norm: the generator's MLP supplies gamma and beta, rho is learned."""

    def __init__(
        self,
        channels: int,
        eps: float = EPS,
        rho_init: float = 0.9,
        rho_offset: float = 0.0,
        unbiased_variance: bool = False,
    ) -> None:
        super().__init__(channels, eps, rho_init, rho_offset, unbiased_variance)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        return self._mix(x) * _as_map(gamma) + _as_map(beta)


class LIN(_LayerInstanceNorm):
    """Layer-instance norm with learned per-channel gamma (init 1) and beta (init 0)."""

    def __init__(
        self,
        channels: int,
        eps: float = EPS,
        rho_init: float = 0.0,
        rho_offset: float = 0.0,
        unbiased_variance: bool = False,
    ) -> None:
        super().__init__(channels, eps, rho_init, rho_offset, unbiased_variance)
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self._mix(x) * self.gamma + self.beta


class AdaIN(nn.Module):
    """Adaptive instance norm (the paper's AdaIN ablation): gamma * IN(x) + beta, no rho."""

    def __init__(self, channels: int, eps: float = EPS, unbiased_variance: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.unbiased_variance = unbiased_variance

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        out = standardise(x, (2, 3), self.unbiased_variance, self.eps)
        return out * _as_map(gamma) + _as_map(beta)

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}, unbiased_variance={self.unbiased_variance}"


class StylelessGroupNorm(nn.GroupNorm):
    """An affine GroupNorm callable as ``norm(x, gamma, beta)``; the style vectors are ignored."""

    def forward(self, x: Tensor, gamma: Tensor | None = None, beta: Tensor | None = None) -> Tensor:
        return super().forward(x)


def _plain_groups(kind: str, channels: int, groups: int) -> int:
    """Number of GroupNorm groups that realises IN, LN or GN for ``channels``."""
    if kind == "in":
        return channels
    if kind == "ln":
        return 1
    return math.gcd(groups, channels)


def make_decoder_norm(
    kind: str,
    channels: int,
    *,
    eps: float = EPS,
    rho_init: float = 0.9,
    rho_offset: float = 0.0,
    unbiased_variance: bool = False,
    groups: int = 32,
) -> nn.Module:
    """Norm for the residual decoder blocks, always called as ``norm(x, gamma, beta)``."""
    check_norm_kind(kind)
    if kind == "adalin":
        return AdaLIN(channels, eps, rho_init, rho_offset, unbiased_variance)
    if kind == "adain":
        return AdaIN(channels, eps, unbiased_variance)
    return StylelessGroupNorm(_plain_groups(kind, channels, groups), channels, eps=eps)


def make_upsample_norm(
    kind: str,
    channels: int,
    *,
    eps: float = EPS,
    unbiased_variance: bool = False,
    groups: int = 32,
) -> nn.Module:
    """Norm for the up-sampling blocks, called as ``norm(x)``: LIN for adalin, else a plain norm."""
    check_norm_kind(kind)
    if kind == "adalin":
        return LIN(channels, eps, unbiased_variance=unbiased_variance)
    plain = "in" if kind == "adain" else kind
    return nn.GroupNorm(_plain_groups(plain, channels, groups), channels, eps=eps)


@torch.no_grad()
def clip_rho_(module: nn.Module) -> nn.Module:
    """Clamp every parameter named ``rho`` in the tree to [0, 1] in place (the paper's rho clip)."""
    for name, param in module.named_parameters():
        if name.rsplit(".", 1)[-1] == "rho":
            param.clamp_(0.0, 1.0)
    return module
