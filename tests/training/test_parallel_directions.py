"""``model.parallel_directions``: each discriminator's loss and each source domain's generator
chain back-propagated on its own, the two directions side by side on a CPU.

Same maths as the joint step (losses and one step's gradients agree to rounding); side by side
and one after the other train bit for bit alike (the threads change when work runs, not what it
computes); Lightning's backward hooks still run once per step; the pair runner really overlaps
its two halves, waits for both and restores the thread count."""

from __future__ import annotations

import copy
import threading

import pytest
import pytorch_lightning as pl
import torch

from helpers import TINY_CYCLEGAN, TINY_UGATIT_NETS, fit, tiny_module
from ugatit.errors import ConfigError
from ugatit.training import two_threads
from ugatit.training.cycle import CycleTranslation

pytestmark = pytest.mark.usefixtures("one_thread")

CASES = {
    "ugatit": {**TINY_UGATIT_NETS, "loss": {"cam_weight": 10.0}},
    "cyclegan": TINY_CYCLEGAN,
}


def _step_gradients(module: CycleTranslation, step: str, real_a, real_b) -> tuple[dict, dict]:
    """One step's terms and the gradients of the parameters it trains (its parts' sum)."""
    state = module.forward_pass(real_a, real_b)
    loss, terms = getattr(module, f"_{step}_step")(state)
    module.zero_grad()
    for part in loss if isinstance(loss, list) else [loss]:
        part.backward(retain_graph=True)
    network = "generator" if step == "generator" else "discriminator"
    grads = {
        n: p.grad.clone()
        for n, p in module.named_parameters()
        if p.grad is not None and n.startswith(network)
    }
    return {k: v.detach() for k, v in terms.items()}, grads


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("step", ["discriminator", "generator"])
def test_parts_compute_the_joint_steps_losses_and_gradients(name, step):
    torch.manual_seed(0)
    joint = CycleTranslation(**CASES[name], schedule={"max_iterations": 1})
    parted = copy.deepcopy(joint)
    parted.parallel_directions = True
    real_a, real_b = torch.rand(2, 1, 3, 32, 32) * 2 - 1
    terms_j, grads_j = _step_gradients(joint, step, real_a, real_b)
    terms_p, grads_p = _step_gradients(parted, step, real_a, real_b)
    assert terms_p.keys() == terms_j.keys()
    for key in terms_j:
        torch.testing.assert_close(terms_p[key], terms_j[key], rtol=1e-5, atol=1e-6, msg=key)
    assert grads_p.keys() == grads_j.keys() and grads_j
    # against the largest gradient: mathematically zero gradients (biases before instance
    # norm) differ in rounding noise between any two ways of computing them
    scale = max(g.abs().max().item() for g in grads_j.values())
    for key, grad in grads_j.items():
        torch.testing.assert_close(grads_p[key], grad, rtol=1e-3, atol=1e-5 * scale, msg=key)


def _trained_weights(monkeypatch, in_two_threads: bool, **settings) -> dict:
    torch.manual_seed(0)
    module = tiny_module(**settings, parallel_directions=True, ema_decay=0.9)
    if not in_two_threads:
        # the same parts, one after the other in the calling thread
        monkeypatch.setattr(module, "run_pair", lambda first, second: (first(), second()))
    fit(module)
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_threads_train_bit_for_bit_as_one_after_the_other(monkeypatch, name):
    together = _trained_weights(monkeypatch, True, **CASES[name])
    with monkeypatch.context() as patch:
        apart = _trained_weights(patch, False, **CASES[name])
    assert together.keys() == apart.keys()
    changed = 0
    for key, value in together.items():
        assert torch.equal(value, apart[key]), key
        changed += key.endswith("weight")
    assert changed > 0


def test_parallel_directions_train_as_the_joint_step_on_average():
    """The first update of every weight moves it the same way as the joint step's."""
    weights = {}
    for parallel in (False, True):
        torch.manual_seed(0)
        module = tiny_module(
            **CASES["ugatit"], parallel_directions=parallel, schedule={"max_iterations": 1}
        )
        before = {k: v.clone() for k, v in module.state_dict().items()}
        fit(module)
        weights[parallel] = {k: v - before[k] for k, v in module.state_dict().items()}
    moved = [k for k, v in weights[False].items() if v.abs().max() > 1e-6]
    assert len(moved) > 10
    for key in moved:
        # Adam's first step is lr * sign(gradient) where the gradient is not ~0
        agree = (weights[True][key].sign() == weights[False][key].sign()).float().mean()
        assert agree > 0.95, key


class _BackwardCounter(pl.Callback):
    def __init__(self) -> None:
        self.before: list[float] = []
        self.after = 0

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        self.before.append(float(loss))

    def on_after_backward(self, trainer, pl_module) -> None:
        self.after += 1


def test_backward_hooks_run_once_per_step_with_the_steps_total():
    torch.manual_seed(0)
    module = tiny_module(parallel_directions=True)
    counter = _BackwardCounter()
    fit(module, callbacks=[counter])
    # 4 iterations of a discriminator and a generator step
    assert len(counter.before) == 8 and counter.after == 8
    logged = module.trainer.callback_metrics
    assert counter.before[-1] == pytest.approx(float(logged["train/g_total"]), rel=1e-6)


def test_diff_augment_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="diff_augment=null or model.parallel_directions=false"):
        tiny_module(parallel_directions=True, diff_augment="translation")


def test_the_pair_runs_at_once_and_restores_the_thread_count():
    started = threading.Event()

    def first() -> str:
        # only returns if the second half runs at the same time
        assert started.wait(timeout=20), "the second half did not start"
        return "first"

    def second() -> tuple[str, int, bool, bool, torch.dtype]:
        started.set()
        return (
            "second",
            torch.get_num_threads(),
            torch.is_grad_enabled(),
            torch.is_autocast_enabled("cpu"),
            torch.get_autocast_dtype("cpu"),
        )

    torch.set_num_threads(2)
    # grad mode and autocast are per thread: the helper runs under the caller's
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        result = two_threads.run_pair(first, second, in_two_threads=True)
    assert result == ("first", ("second", 1, False, True, torch.bfloat16))
    assert torch.get_num_threads() == 2


def test_a_failing_half_is_raised_after_both_have_finished():
    finished = []

    def slow_first() -> None:
        threading.Event().wait(0.2)
        finished.append("first")

    def failing_second() -> None:
        raise ValueError("second half failed")

    with pytest.raises(ValueError, match="second half failed"):
        two_threads.run_pair(slow_first, failing_second, in_two_threads=True)
    assert finished == ["first"]

    def failing_first() -> None:
        raise KeyError("first half failed")

    def slow_second() -> None:
        threading.Event().wait(0.2)
        finished.append("second")

    with pytest.raises(KeyError, match="first half failed"):
        two_threads.run_pair(failing_first, slow_second, in_two_threads=True)
    assert finished == ["first", "second"]


def _pair_in_child(connection) -> None:
    result = two_threads.run_pair(lambda: 1, lambda: 2, in_two_threads=True)
    connection.send(result)


def test_a_forked_process_runs_pairs_with_its_own_helper_thread():
    """A process forked after the helper thread started (a dataloader worker, a forked DDP rank)
    does not wait on the parent's thread, which it does not have."""
    import multiprocessing

    assert two_threads.run_pair(lambda: 1, lambda: 2, in_two_threads=True) == (1, 2)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_pair_in_child, args=(sender,))
    child.start()
    try:
        assert receiver.poll(timeout=30), "the forked process hung on the parent's helper"
        assert receiver.recv() == (1, 2)
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
