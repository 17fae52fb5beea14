"""DiffAugment of the discriminators' inputs: each policy does what it says, gradients flow
through it, and the module applies it to real and fake images in both steps."""

import pytest
import torch

from helpers import tiny_module
from ugatit.errors import ConfigError
from ugatit.training import augment
from ugatit.training.cycle import Side


def test_policy_parsing_and_refusal():
    assert augment.parse_policy(None) == ()
    assert augment.parse_policy("") == ()
    assert augment.parse_policy("color, cutout") == ("color", "cutout")
    with pytest.raises(ConfigError, match="model.diff_augment.*'flip'"):
        augment.parse_policy("color,flip")


def test_translation_moves_content_by_whole_pixels_and_fills_with_zero():
    torch.manual_seed(0)
    image = torch.zeros(16, 1, 32, 32)
    image[:, :, 12:20, 12:20] = 1.0
    moved = augment.translation(image)
    for one in moved:
        ys, xs = torch.nonzero(one[0], as_tuple=True)
        assert len(ys) == 64  # the square moved whole (shift <= 4 px keeps it inside)
        assert set(one.unique().tolist()) <= {0.0, 1.0}
        dy, dx = int(ys.min()) - 12, int(xs.min()) - 12
        assert abs(dy) <= 4 and abs(dx) <= 4
    shifts = {(int(torch.nonzero(o[0])[0, 0]), int(torch.nonzero(o[0])[0, 1])) for o in moved}
    assert len(shifts) > 1  # each image draws its own shift


def test_cutout_zeroes_one_square_of_half_the_side():
    torch.manual_seed(0)
    image = torch.ones(8, 3, 32, 32)
    cut = augment.cutout(image)
    for one in cut:
        zero = one[0] == 0
        assert int(zero.sum()) == 16 * 16
        ys, xs = torch.nonzero(zero, as_tuple=True)
        assert int(ys.max() - ys.min()) == 15 and int(xs.max() - xs.min()) == 15
        assert torch.equal(one[0], one[1])


def test_color_changes_values_but_keeps_shape_and_passes_gradients():
    torch.manual_seed(0)
    image = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = augment.diff_augment(image, ("color", "translation", "cutout"))
    assert out.shape == image.shape
    assert not torch.allclose(out, image)
    out.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_empty_policy_is_the_identity():
    image = torch.rand(2, 3, 8, 8)
    assert torch.equal(augment.diff_augment(image, ()), image)


def test_module_augments_what_the_discriminators_see(monkeypatch):
    seen = []

    def spy(images, policy):
        seen.append(policy)
        return images

    monkeypatch.setattr("ugatit.training.cycle.diff_augment", spy)
    module = tiny_module(diff_augment="translation,cutout")
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    fake_b, fake_a = module.generator_ab(a), module.generator_ba(b)
    module.discriminator_loss([("a", a, fake_a.image), ("b", b, fake_b.image)])
    assert len(seen) == 4  # real and fake of each domain
    module.generator_loss([Side("a", a, fake_b), Side("b", b, fake_a)])
    assert len(seen) == 6  # the fakes again in the generator step
    assert set(seen) == {("translation", "cutout")}
