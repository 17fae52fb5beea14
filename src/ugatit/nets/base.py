"""What every generator declares to the code around it, so callers ask instead of guessing.

The training loop, translate, export, monitoring and the contrastive loss read these attributes
and methods; they never look for private layer names.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ugatit.nets.outputs import GeneratorOutput


class Generator(nn.Module):
    """Base of every generator: ``forward(x) -> GeneratorOutput`` plus declared capabilities."""

    def forward(self, x: Tensor) -> GeneratorOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def fixed_size(self) -> int | None:
        """The only square input side the network accepts, or None when it takes any size
        whose sides are multiples of ``ugatit.nets.sizes.SIZE_MULTIPLE``."""
        return None

    @property
    def has_attention(self) -> bool:
        """True when the outputs carry CAM logits and an attention heatmap (U-GAT-IT)."""
        return False

    def after_optimizer_step(self) -> None:
        """Called by the training loop after each optimizer step of this generator."""

    def encode(self, x: Tensor, layers: Sequence[int]) -> list[Tensor]:
        """Encoder features at ``layers`` (contrastive losses); generators without them refuse."""
        raise NotImplementedError(
            f"{type(self).__name__} does not expose encoder features; the contrastive methods "
            "(model=cut, model=fastcut) need a generator that does, such as CutGenerator."
        )

    def feature_channels(self, layers: Sequence[int]) -> list[int]:
        """Channels of the features ``encode`` returns at ``layers`` (to build heads up front)."""
        raise NotImplementedError(f"{type(self).__name__} does not expose encoder features.")

    def rho_group(self, module_name: str) -> str | None:
        """The monitoring group of a rho-carrying norm named ``module_name`` (AdaLIN models)."""
        return None
