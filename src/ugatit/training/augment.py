"""Differentiable augmentation of the discriminators' inputs (DiffAugment, Zhao et al., NeurIPS
2020): real and fake images are augmented alike, in both the discriminator and the generator step,
so the discriminator cannot memorise a small training set while the generator still receives
gradients through the augmentation.

Policies (comma-separated, applied in this order): ``color`` (brightness, saturation, contrast),
``translation`` (shift by up to 1/8 of the side, zero-filled), ``cutout`` (a zeroed square of half
the side). Images are in [-1, 1]; each image of a batch draws its own parameters.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ugatit.errors import ConfigError, UserError

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """``"color,translation"`` -> ("color", "translation"); None or "" -> () (off)."""
    if not policy:
        return ()
    parts = tuple(p.strip() for p in str(policy).split(",") if p.strip())
    unknown = [p for p in parts if p not in POLICIES]
    if unknown:
        raise ConfigError(
            f"model.diff_augment={policy!r} names unknown policies {unknown}; use a "
            f"comma-separated subset of {','.join(POLICIES)}, or null to turn it off."
        )
    return parts


class PolicyRule:
    """The rule of ``model.diff_augment``: null, or a comma-separated subset of the policies."""

    def describe(self) -> str:
        return f"null or a comma-separated subset of {','.join(POLICIES)}"

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if value is not None and not isinstance(value, str):
            raise error(f"{key}={value!r} is invalid: it must be {self.describe()}.")
        parse_policy(value)


def _rand(x: Tensor) -> Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def color(x: Tensor) -> Tensor:
    x = x + (_rand(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x) + 0.5) + mean


def _shift_grid(x: Tensor, shift: Tensor) -> Tensor:
    """Sampling grid that moves each image by ``shift`` [B, 2] pixels (x, y)."""
    b, _, h, w = x.shape
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * shift[:, 0] / w
    theta[:, 1, 2] = -2 * shift[:, 1] / h
    return F.affine_grid(theta, list(x.shape), align_corners=False)


def translation(x: Tensor) -> Tensor:
    b, _, h, w = x.shape
    limit = torch.tensor([w, h], device=x.device) * TRANSLATION_RATIO
    limit = (limit + 0.5).long()
    shift = torch.stack(
        [torch.randint(-int(m), int(m) + 1, (b,), device=x.device) for m in limit], dim=1
    ).to(x.dtype)
    return F.grid_sample(
        x, _shift_grid(x, shift), mode="nearest", padding_mode="zeros", align_corners=False
    )


def cutout(x: Tensor) -> Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    top = torch.randint(0, h - ch + 1, (b, 1, 1), device=x.device)
    left = torch.randint(0, w - cw + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: Tensor, policy: tuple[str, ...]) -> Tensor:
    """``x`` augmented by each policy in order (identity for an empty policy)."""
    for name in policy:
        x = _OPS[name](x)
    return x.contiguous()
