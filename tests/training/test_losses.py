import pytest
import torch
import torch.nn.functional as F

from ugatit.nets.outputs import DiscriminatorHead
from ugatit.training.losses import (
    discriminator_adv_loss,
    generator_adv_loss,
    generator_cam_loss,
)


def heads(*pairs):
    return [DiscriminatorHead(patch, cam) for patch, cam in pairs]


def test_lsgan_sums_patch_and_cam_terms_over_heads():
    torch.manual_seed(0)
    p1, c1, p2, c2 = (
        torch.randn(2, 1, 4, 4),
        torch.randn(2, 2),
        torch.randn(2, 1, 2, 2),
        torch.randn(2, 2),
    )
    q1, d1, q2, d2 = (
        torch.randn(2, 1, 4, 4),
        torch.randn(2, 2),
        torch.randn(2, 1, 2, 2),
        torch.randn(2, 2),
    )
    real, fake = heads((p1, c1), (p2, c2)), heads((q1, d1), (q2, d2))
    expected = sum(((x - 1) ** 2).mean() for x in (p1, c1, p2, c2)) + sum(
        (y**2).mean() for y in (q1, d1, q2, d2)
    )
    assert torch.allclose(discriminator_adv_loss(real, fake, "lsgan"), expected)
    expected_g = sum(((y - 1) ** 2).mean() for y in (q1, d1, q2, d2))
    assert torch.allclose(generator_adv_loss(fake, "lsgan"), expected_g)


def test_heads_without_cam_use_patch_logits_only():
    p, q = torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3)
    loss = discriminator_adv_loss(heads((p, None)), heads((q, None)), "lsgan")
    assert torch.allclose(loss, ((p - 1) ** 2).mean() + (q**2).mean())


@pytest.mark.parametrize("mode", ["vanilla", "hinge"])
def test_other_gan_modes(mode):
    p, q = torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3)
    d = discriminator_adv_loss(heads((p, None)), heads((q, None)), mode)
    g = generator_adv_loss(heads((q, None)), mode)
    if mode == "vanilla":
        assert torch.allclose(d, F.softplus(-p).mean() + F.softplus(q).mean())
        assert torch.allclose(g, F.softplus(-q).mean())
    else:
        assert torch.allclose(d, F.relu(1 - p).mean() + F.relu(1 + q).mean())
        assert torch.allclose(g, -q.mean())


def test_generator_cam_loss_wants_source_one_and_other_zero():
    confident = generator_cam_loss(torch.full((1, 2), 20.0), torch.full((1, 2), -20.0))
    wrong = generator_cam_loss(torch.full((1, 2), -20.0), torch.full((1, 2), 20.0))
    assert confident < 1e-6 < 10 < wrong
