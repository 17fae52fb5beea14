"""Weight initialisation shared by every network: N(0, 0.02) as both papers specify."""

from __future__ import annotations

from torch import nn


def init_normal_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Draw conv and linear weights from N(0, std), zero their biases; norm layers keep their own init.

    Spectral-normed layers keep the raw weight under ``weight_orig``; that is the tensor initialised.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = getattr(m, "weight_orig", None)
            if weight is None:
                weight = m.weight
            nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
