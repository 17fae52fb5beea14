"""The colour-blind options of the cycle methods (not in the papers, off by default).

``model.loss.cycle_colour=false`` compares standardized channels in the cycle and identity terms,
``model.discriminator_colour=false`` shows the discriminators standardized channels: neither may
then tell an image from the same image recoloured channel by channel (a positive scale and a
shift per channel, what the encoders' instance norms remove), and both must still see layout.
"""

from __future__ import annotations

import pytest
import torch

from helpers import TINY_UGATIT_NETS
from ugatit.training.cycle import CycleTranslation
from ugatit.training.losses import reconstruction_l1

pytestmark = pytest.mark.usefixtures("one_thread")


def _recoloured(images: torch.Tensor) -> torch.Tensor:
    scale = torch.tensor([0.3, 0.7, 0.5]).view(1, 3, 1, 1)
    shift = torch.tensor([0.4, -0.2, 0.1]).view(1, 3, 1, 1)
    return images * scale + shift


def test_colour_blind_reconstruction_ignores_a_recolouring_but_not_a_moved_shape() -> None:
    torch.manual_seed(0)
    output, target = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    blind = reconstruction_l1(output, target, colour=False)
    assert reconstruction_l1(output, _recoloured(target), colour=False) == pytest.approx(
        blind.item(), abs=1e-4
    )
    assert reconstruction_l1(target, _recoloured(target), colour=True) > 0.1
    assert reconstruction_l1(target, _recoloured(target), colour=False) < 1e-4
    moved = torch.roll(target, shifts=4, dims=3)
    assert reconstruction_l1(target, moved, colour=False) > 0.5


@pytest.mark.parametrize("colour", [True, False])
def test_discriminators_see_colours_only_when_asked(colour: bool) -> None:
    torch.manual_seed(0)
    module = CycleTranslation(
        **TINY_UGATIT_NETS, discriminator_colour=colour, schedule={"max_iterations": 1}
    )
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    seen = module._discriminator_input(images)
    seen_recoloured = module._discriminator_input(_recoloured(images))
    assert torch.allclose(seen, seen_recoloured, atol=1e-4) is (not colour)
    module.eval()  # spectral norm's power iteration would move between the two calls
    heads = module._judge(module.discriminator_a, images)
    heads_recoloured = module._judge(module.discriminator_a, _recoloured(images))
    # relative: an untrained spectral norm's first estimate leaves the logits large
    same = all(
        torch.allclose(a.patch_logit, b.patch_logit, atol=1e-3 * a.patch_logit.abs().max().item())
        for a, b in zip(heads, heads_recoloured, strict=True)
    )
    assert same is (not colour)
    if not colour:  # what is left is the layout: each channel has mean 0 and spread 1
        assert seen.mean(dim=(2, 3)).abs().max() < 1e-5
        assert torch.allclose(seen.std(dim=(2, 3), unbiased=False), torch.ones(2, 3), atol=1e-3)
