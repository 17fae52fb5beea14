"""Each method's update order against an independent plain-PyTorch recomputation of one iteration.

U-GAT-IT's official code updates the discriminators first and then the generators against the
updated discriminators; CycleGAN's updates the generators first, against the discriminators as
they were at the start of the iteration, then the discriminators on the detached fakes.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import TINY_CYCLEGAN, TINY_UGATIT_NETS, FixedPairs, fit
from ugatit.training.cycle import CycleTranslation

pytestmark = pytest.mark.usefixtures("one_thread")

LR, BETAS, WEIGHT_DECAY = 2e-4, (0.5, 0.999), 1e-4


def _lsgan_d(real_heads, fake_heads) -> torch.Tensor:
    total = 0.0
    for real, fake in zip(real_heads, fake_heads, strict=True):
        for r, f in ((real.patch_logit, fake.patch_logit), (real.cam_logit, fake.cam_logit)):
            if r is not None:
                total = total + ((r - 1) ** 2).mean() + (f**2).mean()
    return total


def _lsgan_g(fake_heads) -> torch.Tensor:
    total = 0.0
    for head in fake_heads:
        for f in (head.patch_logit, head.cam_logit):
            if f is not None:
                total = total + ((f - 1) ** 2).mean()
    return total


def _bce(logit: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logit, torch.full_like(logit, target))


def reference_iteration(nets: dict[str, nn.Module], real_a, real_b, w: dict, order: str) -> None:
    """One iteration written out by hand from the papers' losses, in ``order``."""
    g_ab, g_ba, d_a, d_b = (nets[k] for k in ("g_ab", "g_ba", "d_a", "d_b"))
    gen_params = [*g_ab.parameters(), *g_ba.parameters()]
    dis_params = [*d_a.parameters(), *d_b.parameters()]
    opt_g = torch.optim.Adam(gen_params, lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    opt_d = torch.optim.Adam(dis_params, lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)

    def d_step() -> None:
        loss = _lsgan_d(d_a(real_a), d_a(fake_a.image.detach())) + _lsgan_d(
            d_b(real_b), d_b(fake_b.image.detach())
        )
        opt_d.zero_grad()
        (w["d_loss_scale"] * loss).backward()
        opt_d.step()

    def g_step() -> None:
        for p in dis_params:
            p.requires_grad_(False)
        loss = _lsgan_g(d_a(fake_a.image)) + _lsgan_g(d_b(fake_b.image))
        cycle = (g_ba(fake_b.image).image - real_a).abs().mean()
        cycle = cycle + (g_ab(fake_a.image).image - real_b).abs().mean()
        id_a, id_b = g_ba(real_a), g_ab(real_b)
        identity = (id_a.image - real_a).abs().mean() + (id_b.image - real_b).abs().mean()
        loss = loss + w["cycle"] * cycle + w["identity"] * identity
        if fake_b.cam_logit is not None:
            cam = _bce(fake_b.cam_logit, 1) + _bce(id_b.cam_logit, 0)
            cam = cam + _bce(fake_a.cam_logit, 1) + _bce(id_a.cam_logit, 0)
            loss = loss + w["cam"] * cam
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        for p in dis_params:
            p.requires_grad_(True)
        with torch.no_grad():  # U-GAT-IT clips rho after each generator step
            for name, p in [*g_ab.named_parameters(), *g_ba.named_parameters()]:
                if name.endswith("rho"):
                    p.clamp_(0, 1)

    steps = (d_step, g_step) if order == "discriminator_first" else (g_step, d_step)
    for step in steps:
        step()


CASES = {
    "ugatit": (
        {**TINY_UGATIT_NETS, "loss": {"cam_weight": 10.0}},
        {"d_loss_scale": 1.0, "cycle": 10.0, "identity": 10.0, "cam": 10.0},
        "discriminator_first",
    ),
    "cyclegan": (
        {**TINY_CYCLEGAN, "update_order": "generator_first"},
        {"d_loss_scale": 0.5, "cycle": 10.0, "identity": 5.0, "cam": 0.0},
        "generator_first",
    ),
}


def _module(config: dict) -> CycleTranslation:
    torch.manual_seed(0)
    optimizer = {"lr": LR, "betas": list(BETAS), "weight_decay": WEIGHT_DECAY}
    # one call per pass, as written out by hand: Adam's first step turns the rounding noise in
    # the (mathematically zero) gradients of biases before instance norm into full-size steps,
    # so only the same arithmetic compares at this tolerance
    settings = {**config, "optimizer": optimizer, "schedule": {"max_iterations": 1}}
    return CycleTranslation(
        **settings, batch_generator_calls=False, batch_discriminator_calls=False
    )


def _reference(module: CycleTranslation, weights: dict, order: str) -> dict[str, torch.Tensor]:
    nets = {
        "g_ab": module.generator_ab,
        "g_ba": module.generator_ba,
        "d_a": module.discriminator_a,
        "d_b": module.discriminator_b,
    }
    nets = {k: copy.deepcopy(v) for k, v in nets.items()}
    pair = FixedPairs()[0]
    reference_iteration(nets, pair["a"][None], pair["b"][None], weights, order)
    names = {"g_ab": "generator_ab", "g_ba": "generator_ba"}
    names |= {"d_a": "discriminator_a", "d_b": "discriminator_b"}
    return {
        f"{names[k]}.{n}": p.detach().clone()
        for k, net in nets.items()
        for n, p in net.named_parameters()
    }


@pytest.mark.parametrize("method", sorted(CASES))
def test_one_iteration_matches_the_official_order(method):
    config, weights, order = CASES[method]
    module = _module(config)
    assert module.update_order == order
    expected = _reference(module, weights, order)
    other = "generator_first" if order == "discriminator_first" else "discriminator_first"
    wrong = _reference(module, weights, other)

    fit(module, max_epochs=1, limit_train_batches=1)
    assert module.iteration == 1
    got = dict(module.named_parameters())
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6, msg=name)
    # the other order trains the generators differently: the check above tells them apart
    moved = max((wrong[n] - expected[n]).abs().max().item() for n in expected if "generator" in n)
    assert moved > 1e-4
