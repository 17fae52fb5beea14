"""The batched generator step (each generator's reconstruction and identity passes in one call)
computes the same losses and gradients as one call per pass, for U-GAT-IT (light and full) and
CycleGAN. Compared on one step's gradients, not on trained weights: Adam's first update turns the
rounding noise in the zero gradients of biases before instance norm into full-size steps, so two
runs that differ only in rounding drift apart whatever the step does."""

from __future__ import annotations

import copy

import pytest
import torch

from helpers import TINY_CYCLEGAN, TINY_UGATIT_NETS
from ugatit.training.cycle import CycleTranslation

pytestmark = pytest.mark.usefixtures("one_thread")

FULL = {
    **TINY_UGATIT_NETS,
    "generator": {**TINY_UGATIT_NETS["generator"], "light": False, "img_size": 32},
}
CASES = {
    "ugatit_light": {**TINY_UGATIT_NETS, "loss": {"cam_weight": 10.0}},
    # the official port's discriminators reweight CAM features by the raw weight
    "ugatit_raw_cam": {
        **TINY_UGATIT_NETS,
        "discriminator": {**TINY_UGATIT_NETS["discriminator"], "cam_weight": "raw"},
    },
    "ugatit_full": {**FULL, "loss": {"cam_weight": 10.0}},
    "cyclegan": TINY_CYCLEGAN,
}


def _gradients(module: CycleTranslation, real_a, real_b) -> tuple[dict, dict]:
    state = module.forward_pass(real_a, real_b)
    loss, terms = module._generator_step(state)
    module.zero_grad()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in terms.items()}, grads


@pytest.mark.parametrize("name", sorted(CASES))
def test_batched_and_separate_calls_give_the_same_losses_and_gradients(name):
    torch.manual_seed(0)
    batched = CycleTranslation(**CASES[name], schedule={"max_iterations": 1})
    separate = copy.deepcopy(batched)
    separate.batch_generator_calls = False
    assert batched.batch_generator_calls
    real_a, real_b = torch.rand(2, 1, 3, 32, 32) * 2 - 1
    terms_b, grads_b = _gradients(batched, real_a, real_b)
    terms_s, grads_s = _gradients(separate, real_a, real_b)
    assert terms_b.keys() == terms_s.keys() and {"g_cycle", "g_identity"} <= terms_b.keys()
    for key in terms_b:
        torch.testing.assert_close(terms_b[key], terms_s[key], rtol=1e-5, atol=1e-6, msg=key)
    assert grads_b.keys() == grads_s.keys()
    # against the largest gradient: biases before instance norm have mathematically zero
    # gradients, whose rounding noise differs between any two ways of computing them
    scale = max(g.abs().max().item() for g in grads_s.values())
    for key, grad in grads_s.items():
        torch.testing.assert_close(grads_b[key], grad, rtol=1e-3, atol=1e-5 * scale, msg=key)


def _discriminator_step(module: CycleTranslation, real_a, real_b) -> tuple[dict, dict, int]:
    calls = []
    hooks = [
        net.register_forward_pre_hook(lambda *_: calls.append(1))
        for net in (module.discriminator_a, module.discriminator_b)
    ]
    state = module.forward_pass(real_a, real_b)
    loss, terms = module._discriminator_step(state)
    module.zero_grad()
    loss.backward()
    for hook in hooks:
        hook.remove()
    grads = {
        n: p.grad.clone()
        for n, p in module.named_parameters()
        if p.grad is not None and n.startswith("discriminator")
    }
    return {k: v.detach() for k, v in terms.items()}, grads, len(calls)


def _spectral_buffers(module: CycleTranslation) -> dict:
    return {n: b.clone() for n, b in module.named_buffers() if n.endswith(("_u", "_v"))}


@pytest.mark.parametrize("name", sorted(CASES))
def test_batched_discriminator_calls_judge_real_and_fake_in_one_call(name):
    """One call per discriminator instead of two, with the same losses and gradients. For
    U-GAT-IT's spectral norm the one call runs a power iteration per group (real, fake), as the
    two calls do: the vectors left in the buffers are the same too, over two steps."""
    torch.manual_seed(0)
    batched = CycleTranslation(
        **CASES[name], schedule={"max_iterations": 1}, batch_discriminator_calls=True
    )
    separate = copy.deepcopy(batched)
    separate.batch_discriminator_calls = False
    buffers_before = _spectral_buffers(batched)
    assert (len(buffers_before) > 0) == name.startswith("ugatit")
    for _ in range(2):
        real_a, real_b = torch.rand(2, 1, 3, 32, 32) * 2 - 1
        terms_b, grads_b, calls_b = _discriminator_step(batched, real_a, real_b)
        terms_s, grads_s, calls_s = _discriminator_step(separate, real_a, real_b)
        assert (calls_b, calls_s) == (2, 4)
        for key in ("d_a", "d_b", "d_total"):
            torch.testing.assert_close(terms_b[key], terms_s[key], rtol=1e-5, atol=1e-6, msg=key)
        scale = max(g.abs().max().item() for g in grads_s.values())
        for key, grad in grads_s.items():
            torch.testing.assert_close(grads_b[key], grad, rtol=1e-3, atol=1e-5 * scale, msg=key)
        buffers_b, buffers_s = _spectral_buffers(batched), _spectral_buffers(separate)
        for key, value in buffers_s.items():
            torch.testing.assert_close(buffers_b[key], value, rtol=1e-5, atol=1e-6, msg=key)
            # the power iterations moved the conv layers' vectors (the CAM classifiers' 1-row
            # weights converge in one iteration): what is compared is not stale
            if ".model." in key:
                assert not torch.equal(value, buffers_before[key]), key
        buffers_before = buffers_s
