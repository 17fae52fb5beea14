"""Non-finite losses are skipped, counted, and end the run with a checkpoint when they persist."""

import pytest
import torch

from helpers import fit, tiny_module
from ugatit.nets.cyclegan import ResnetGenerator
from ugatit.nets.outputs import GeneratorOutput
from ugatit.registry import register_network, rules_of
from ugatit.training.base import NonFiniteLossError
from ugatit.training.cycle import CycleTranslation


@register_network(**rules_of(ResnetGenerator))
class FlakyGenerator(ResnetGenerator):
    """Returns NaN images while the iteration counter is in ``bad``."""

    bad: set[int] = set()
    module = None

    def forward(self, x):
        out = super().forward(x)
        if (
            FlakyGenerator.module is not None
            and FlakyGenerator.module.iteration in FlakyGenerator.bad
        ):
            return GeneratorOutput(out.image * float("nan"))
        return out


def flaky_module(bad, **kwargs):
    FlakyGenerator.bad = set(bad)
    module = tiny_module(
        generator={"_target_": f"{__name__}.FlakyGenerator", "ngf": 8, "n_blocks": 1}, **kwargs
    )
    FlakyGenerator.module = module
    return module


def test_nonfinite_steps_are_skipped_and_training_goes_on():
    module = flaky_module({1, 2}, schedule={"max_iterations": 5})
    trainer = fit(module)
    assert module.iteration == 5
    assert module.skipped_steps == 2
    assert trainer.callback_metrics["train/skipped_steps"] == 2
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_persistent_nonfinite_losses_stop_with_a_checkpoint_and_a_clear_message(tmp_path):
    module = flaky_module(
        set(range(2, 100)), schedule={"max_iterations": 50}, max_nonfinite_steps=3
    )
    with pytest.raises(NonFiniteLossError) as error:
        fit(module, default_root_dir=str(tmp_path))
    message = str(error.value)
    assert "iteration 5" in message and "train/g_total" in message and "ckpt_path" in message
    path = tmp_path / "checkpoints" / "nonfinite_iter_0000005.ckpt"
    assert path.exists()
    state = torch.load(path, weights_only=False)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.parametrize("fused", [False, True])
def test_a_skipped_step_leaves_weights_and_adam_state_untouched(fused):
    """The device-side skip (fused Adam's found_inf, used on GPUs) and the host-side one."""
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([weight], lr=0.1, fused=fused)
    weight.grad = torch.ones(3)
    CycleTranslation._step_unless(optimizer, torch.tensor(True))
    stepped = weight.detach().clone()
    state = {k: v.clone() for k, v in optimizer.state[weight].items()}
    assert not torch.equal(stepped, torch.ones(3))
    weight.grad = torch.full((3,), float("nan"))
    CycleTranslation._step_unless(optimizer, torch.tensor(False))
    assert torch.equal(weight.detach(), stepped)
    for key, value in optimizer.state[weight].items():
        assert torch.equal(value, state[key]), key
    assert not hasattr(optimizer, "found_inf")
