"""The colour-blind options of the cycle methods (not in the papers, off by default).

``model.loss.cycle_colour=false`` compares standardized channels in the cycle and identity terms,
``model.discriminator_input=figure_ground`` shows the discriminators where each image differs from
its border: neither may then tell an image from the same image recoloured channel by channel (a
scale and a shift per channel; the figure-ground map also ignores which of two colours is the
brighter), and both must still see the layout.
"""

from __future__ import annotations

import pytest
import torch

from helpers import TINY_UGATIT_NETS
from ugatit.errors import ConfigError
from ugatit.training.cycle import CycleTranslation
from ugatit.training.discriminator_views import figure_ground
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


def _two_colour_square(fill, ground) -> torch.Tensor:
    image = torch.tensor(ground).view(1, 3, 1, 1).expand(1, 3, 32, 32).clone()
    image[:, :, 8:20, 10:24] = torch.tensor(fill).view(1, 3, 1, 1)
    return image


def test_the_figure_ground_map_is_the_same_for_any_two_colours_and_moves_with_the_shape() -> None:
    dark_on_pale = figure_ground(_two_colour_square((-0.8, -0.6, 0.2), (0.9, 0.8, 0.7)))
    # another fill and ground, and one whose channels are brighter inside in two of the three
    pale_on_dark = figure_ground(_two_colour_square((0.9, -0.9, 0.5), (-0.5, 0.7, -0.9)))
    assert torch.allclose(dark_on_pale, pale_on_dark, atol=1e-4)
    assert dark_on_pale[0, 0, 12, 15] > 0 > dark_on_pale[0, 0, 0, 0]  # figure above the ground
    assert torch.equal(dark_on_pale[:, 0], dark_on_pale[:, 2])  # one map in every channel
    moved = figure_ground(_two_colour_square((-0.8, -0.6, 0.2), (0.9, 0.8, 0.7)).roll(5, dims=3))
    assert (moved - dark_on_pale).abs().mean() > 0.3


@pytest.mark.parametrize("view", ["image", "figure_ground"])
def test_discriminators_see_colours_only_through_the_image_view(view: str) -> None:
    torch.manual_seed(0)
    module = CycleTranslation(
        **TINY_UGATIT_NETS, discriminator_input=view, schedule={"max_iterations": 1}
    )
    colour = view == "image"
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


def test_an_unknown_view_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"one of image, figure_ground \(image: the papers"):
        CycleTranslation(
            **TINY_UGATIT_NETS, discriminator_input="grey", schedule={"max_iterations": 1}
        )


def _logits(heads) -> torch.Tensor:
    parts = heads if isinstance(heads, (list, tuple)) else [heads]
    return torch.cat([getattr(h, "patch_logit", h).flatten() for h in parts])


def test_cut_judges_through_the_configured_view() -> None:
    from ugatit.training.contrastive import ContrastiveTranslation

    torch.manual_seed(0)
    module = ContrastiveTranslation(
        generator={"_target_": "ugatit.nets.cut.CutGenerator", "ngf": 4, "n_blocks": 1},
        discriminator={"_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator", "ndf": 4},
        nce={"layers": [0, 4, 8, 12], "num_patches": 8, "mlp_channels": 8},
        schedule={"max_iterations": 1},
        discriminator_input="figure_ground",
    )
    module.eval()
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    seen, seen_recoloured = (
        _logits(module._judge(images)),
        _logits(module._judge(_recoloured(images))),
    )
    assert torch.allclose(seen, seen_recoloured, atol=1e-3 * seen.abs().max().item())
    direct = _logits(module.discriminator_b(_recoloured(images)))
    assert not torch.allclose(seen, direct, atol=1e-3 * seen.abs().max().item())
