"""Loss terms of the training methods: adversarial (lsgan, vanilla, hinge), cycle, identity, CAM,
PatchNCE.

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


def standardized(images: Tensor, eps: float = 1e-5) -> Tensor:
    """Each image's channels with their own mean and spread removed: what an instance norm
    leaves of an image (its colours' layout, not the colours themselves)."""
    mean = images.mean(dim=(2, 3), keepdim=True)
    spread = images.std(dim=(2, 3), keepdim=True, unbiased=False)
    return (images - mean) / (spread + eps)


def reconstruction_l1(output: Tensor, target: Tensor, colour: bool = True) -> Tensor:
    """The cycle and identity terms: L1 of the images, or with ``colour=False`` of their
    standardized channels (no term asks for colours the generator cannot see)."""
    if colour:
        return l1(output, target)
    return l1(standardized(output), standardized(target))


def generator_cam_loss(source_logit: Tensor, other_logit: Tensor) -> Tensor:
    """U-GAT-IT's auxiliary classifier loss: the generator's CAM tells its own source domain
    (logit on a source image -> 1) from the other domain (logit on a target image -> 0)."""
    return F.binary_cross_entropy_with_logits(
        source_logit, torch.ones_like(source_logit)
    ) + F.binary_cross_entropy_with_logits(other_logit, torch.zeros_like(other_logit))


def patch_nce_loss(queries: Tensor, keys: Tensor, batch: int, temperature: float) -> Tensor:
    """CUT's PatchNCE per patch, [B * P]: each query must pick its own key among the other
    positions of the same image. ``queries`` and ``keys`` are [B * P, C], L2-normalised; keys
    are detached; the diagonal of the negatives is masked with -10, as in the official code."""
    keys = keys.detach()
    positive = (queries * keys).sum(dim=1, keepdim=True)
    channels = queries.shape[1]
    q = queries.reshape(batch, -1, channels)
    k = keys.reshape(batch, -1, channels)
    patches = q.shape[1]
    negatives = torch.bmm(q, k.transpose(2, 1))
    diagonal = torch.eye(patches, dtype=torch.bool, device=queries.device)[None]
    negatives = negatives.masked_fill(diagonal, -10.0).reshape(-1, patches)
    logits = torch.cat([positive, negatives], dim=1) / temperature
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=queries.device)
    return F.cross_entropy(logits, target, reduction="none")
