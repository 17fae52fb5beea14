"""Looking inside a model: translations with CAM heatmaps, discriminator attention and rho per
layer. Models without attention or rho (CycleGAN, CUT) give None heatmaps and an empty rho table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ugatit.directions import GENERATOR_NAMES
from ugatit.nets.norms import clip_unit
from ugatit.nets.outputs import GeneratorOutput


# ------------------------------------------------------------------------------ looking inside
def _first_parameter(module: nn.Module) -> Tensor:
    return next(module.parameters())


@torch.no_grad()
def translate(module: nn.Module, images: Tensor, direction: str) -> GeneratorOutput:
    """The module's generator output for ``images`` (eval mode, no gradients)."""
    module.eval()
    return module(images.to(_first_parameter(module).device), direction)


@torch.no_grad()
def discriminator_heatmaps(module: nn.Module, images: Tensor, domain: str) -> list[Tensor | None]:
    """Attention heatmaps [B, 1, h, w] of domain ``domain``'s discriminators, one per head.

    U-GAT-IT has two heads (global, local); CycleGAN's PatchGAN one, whose heatmap is None.
    """
    module.eval()
    discriminator = module.discriminator(domain)
    heads = discriminator(images.to(_first_parameter(module).device))
    return [head.heatmap for head in heads]


def has_attention(module: nn.Module) -> bool:
    """True when the generators produce CAM heatmaps (U-GAT-IT with use_cam)."""
    return module.generator(module.directions[0]).has_attention


@dataclass(frozen=True)
class RhoRow:
    """rho of one norm layer as the forward pass uses it: clip(rho - rho_offset, 0, 1)."""

    generator: str
    layer: str
    kind: str
    group: str
    channels: int
    mean: float
    min: float
    max: float


@torch.no_grad()
def rho_table(module: nn.Module) -> list[RhoRow]:
    """One row per rho-carrying norm (AdaLIN in the decoder blocks, LIN in the up-sampling
    blocks) of both generators, in network order; [] for models without rho (CycleGAN)."""
    rows = []
    for direction in module.directions:
        generator_name = GENERATOR_NAMES[direction]
        generator = module.generator(direction)
        for layer, norm in generator.named_modules():
            rho = getattr(norm, "rho", None)
            if not isinstance(rho, nn.Parameter):
                continue
            values = clip_unit(rho.detach().float() - getattr(norm, "rho_offset", 0.0)).flatten()
            rows.append(
                RhoRow(
                    generator=generator_name,
                    layer=layer,
                    kind=type(norm).__name__,
                    group=generator.rho_group(layer) or layer.split(".", 1)[0].lower(),
                    channels=values.numel(),
                    mean=values.mean().item(),
                    min=values.min().item(),
                    max=values.max().item(),
                )
            )
    return rows


def format_rho_table(rows: Sequence[RhoRow]) -> str:
    """A Markdown table of ``rows`` (for ``IPython.display.Markdown``)."""
    lines = [
        "| generator | layer | norm | group | channels | mean | min | max |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.generator} | {r.layer} | {r.kind} | {r.group} | {r.channels} | "
            f"{r.mean:.3f} | {r.min:.3f} | {r.max:.3f} |"
        )
    return "\n".join(lines)
