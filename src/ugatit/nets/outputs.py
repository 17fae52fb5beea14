"""The two output structures shared by every method, so one training step serves them all."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class GeneratorOutput(NamedTuple):
    """What a generator returns.

    image: translated image in [-1, 1], shape [B, 3, H, W].
    cam_logit: auxiliary classifier logits [B, 2] (U-GAT-IT), None for methods without CAM.
    heatmap: attention map [B, 1, h, w] (U-GAT-IT), None for methods without CAM.
    """

    image: Tensor
    cam_logit: Tensor | None = None
    heatmap: Tensor | None = None


class DiscriminatorHead(NamedTuple):
    """One discriminator's verdict: patch logits [B, 1, h, w], CAM logits [B, 2] or None, heatmap or None."""

    patch_logit: Tensor
    cam_logit: Tensor | None = None
    heatmap: Tensor | None = None
