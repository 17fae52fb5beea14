"""Loss terms of the one training loop: adversarial (lsgan, vanilla, hinge), cycle, identity, CAM.

Adversarial terms act on every discriminator head, on its patch logits and (when present) on its
CAM logits, as both official U-GAT-IT codes do. A method without CAM simply has no CAM logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ugatit.nets.outputs import DiscriminatorHead

GAN_MODES = ("lsgan", "vanilla", "hinge")


def check_gan_mode(mode: str) -> str:
    if mode not in GAN_MODES:
        raise ValueError(
            f"Unknown adversarial loss model.loss.gan_mode={mode!r}; choose one of {GAN_MODES}."
        )
    return mode


def _head_logits(head: DiscriminatorHead) -> list[Tensor]:
    return [logit for logit in (head.patch_logit, head.cam_logit) if logit is not None]


def discriminator_adv_loss(
    real_heads: Sequence[DiscriminatorHead], fake_heads: Sequence[DiscriminatorHead], mode: str
) -> Tensor:
    """Sum over heads and logit kinds of the discriminator's real-vs-fake loss."""
    total = torch.zeros((), device=real_heads[0].patch_logit.device)
    for real_head, fake_head in zip(real_heads, fake_heads, strict=True):
        for real, fake in zip(_head_logits(real_head), _head_logits(fake_head), strict=True):
            if mode == "lsgan":
                total = total + F.mse_loss(real, torch.ones_like(real))
                total = total + F.mse_loss(fake, torch.zeros_like(fake))
            elif mode == "vanilla":
                total = total + F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                total = total + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            else:  # hinge
                total = total + F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    return total


def generator_adv_loss(fake_heads: Sequence[DiscriminatorHead], mode: str) -> Tensor:
    """Sum over heads and logit kinds of the generator's "make the fakes pass as real" loss."""
    total = torch.zeros((), device=fake_heads[0].patch_logit.device)
    for head in fake_heads:
        for fake in _head_logits(head):
            if mode == "lsgan":
                total = total + F.mse_loss(fake, torch.ones_like(fake))
            elif mode == "vanilla":
                total = total + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
            else:  # hinge
                total = total - fake.mean()
    return total


def l1(output: Tensor, target: Tensor) -> Tensor:
    """Cycle-consistency and identity losses are both mean absolute error."""
    return F.l1_loss(output, target)


def generator_cam_loss(source_logit: Tensor, other_logit: Tensor) -> Tensor:
    """U-GAT-IT's auxiliary classifier loss: the generator's CAM tells its own source domain
    (logit on a source image -> 1) from the other domain (logit on a target image -> 0)."""
    return F.binary_cross_entropy_with_logits(
        source_logit, torch.ones_like(source_logit)
    ) + F.binary_cross_entropy_with_logits(other_logit, torch.zeros_like(other_logit))
