"""CUT and FastCUT training: the PatchNCE loss against a hand computation, runs through the
pipeline with their loss terms, the order D then G+F, an overfit run whose NCE falls, and the
notebook helpers on a one-sided model."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from helpers import FAST, FixedPairsDataModule, compose_train, fit
from helpers.checkpoints import TINY_CUT
from ugatit import analysis as nu
from ugatit.training.base import DirectionError
from ugatit.training.contrastive import ContrastiveTranslation
from ugatit.training.losses import patch_nce_loss
from ugatit.training.pipeline import train

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = {
    "generator": {"_target_": "ugatit.nets.cut.CutGenerator", "ngf": 4, "n_blocks": 1},
    "discriminator": {"_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator", "ndf": 4},
    "nce": {"layers": [0, 4, 8, 12], "num_patches": 32, "mlp_channels": 16},
    "optimizer": {"lr": 2e-3, "weight_decay": 0.0},
    "schedule": {"max_iterations": 1},
}


def test_patch_nce_equals_the_cross_entropy_written_out():
    torch.manual_seed(0)
    batch, patches, channels, t = 2, 5, 3, 0.07
    q = F.normalize(torch.randn(batch * patches, channels), dim=1)
    k = F.normalize(torch.randn(batch * patches, channels), dim=1)
    got = patch_nce_loss(q, k, batch, t)
    expected = []
    for b in range(batch):
        for i in range(patches):
            query = q[b * patches + i]
            logits = [query @ k[b * patches + i]]  # the positive: the same position
            for j in range(patches):  # negatives: every position of the same image
                logits.append(torch.tensor(-10.0) if j == i else query @ k[b * patches + j])
            logits = torch.stack(logits) / t
            expected.append(-torch.log_softmax(logits, 0)[0])
    torch.testing.assert_close(got, torch.stack(expected))
    # keys are detached: only the queries receive gradients
    q.requires_grad_(True), k.requires_grad_(True)
    patch_nce_loss(q, k, batch, t).mean().backward()
    assert q.grad is not None and k.grad is None


@pytest.mark.parametrize(("model", "identity"), [("cut_small", True), ("fastcut", False)])
def test_cut_and_fastcut_train_through_the_pipeline(tmp_path, shapes_dir, model, identity):
    overrides = [f"model={model}", *FAST, *TINY_CUT]
    metrics = train(compose_train(tmp_path, shapes_dir, overrides))
    assert metrics["train/iteration"] == 4.0
    for key in ("train/g_adv", "train/g_nce", "train/d_b", "lr/patch_sampler"):
        assert math.isfinite(metrics[key]), key
    assert ("train/g_nce_identity" in metrics) == identity
    assert "val/identity_l1" in metrics and "train/g_cycle" not in metrics
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["method"] == "ugatit.training.contrastive.ContrastiveTranslation"
    networks = {k.split(".")[0] for k in checkpoint["state_dict"]}
    assert networks == {"generator_ab", "discriminator_b", "patch_sampler"}
    assert len(checkpoint["optimizer_states"]) == 3  # G, D and F
    assert sorted((tmp_path / "samples").glob("*.png"))


class LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.nce: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.nce.append(float(trainer.callback_metrics["train/g_nce"]))


def test_the_nce_loss_falls_on_an_overfit_run():
    torch.manual_seed(0)
    # the NCE term alone on one image pair: the generator can only get better at it
    settings = {**MODEL, "schedule": {"max_iterations": 60, "decay_start": 1.0}}
    settings["loss"] = {"adv_weight": 0.0}
    module = ContrastiveTranslation(**settings)
    recorder = LossRecorder()
    fit(module, FixedPairsDataModule(n=1, size=32), callbacks=[recorder])
    assert module.iteration == 60 and module.skipped_steps == 0
    first, last = sum(recorder.nce[:5]) / 5, sum(recorder.nce[-5:]) / 5
    assert last < 0.8 * first, (first, last)


def test_fastcut_flips_half_of_the_inputs_and_maps_features_back():
    module = ContrastiveTranslation(
        **MODEL, loss={"flip_equivariance": True, "nce_identity": False}, seed=1
    )
    real = torch.rand(1, 3, 32, 32) * 2 - 1
    flips = [module.forward_pass(real, real)["flipped"] for _ in range(200)]
    assert 70 < sum(flips) < 130
    state = module.forward_pass(real, real)
    assert state["identity_b"] is None  # FastCUT has no identity NCE
    # flipped=True compares the output's features flipped back with the input's, at the same
    # positions: the same as unflipped queries of a mirrored output
    source = torch.rand(1, 3, 32, 32) * 2 - 1
    output = module.generator_ab(real).image.detach()
    rng = module.sampling.get_state()
    flipped = module.nce_loss(source, torch.flip(output, [3]), flipped=True)
    module.sampling.set_state(rng)
    layers = module.nce_settings.layers
    queries = [
        torch.flip(f, [3]) for f in module.generator_ab.encode(torch.flip(output, [3]), layers)
    ]
    keys = module.generator_ab.encode(source, layers)
    positions = module._positions(keys)
    q, k = module.patch_sampler(queries, positions), module.patch_sampler(keys, positions)
    expected = torch.stack(
        [patch_nce_loss(a, b, 1, 0.07).mean() for a, b in zip(q, k, strict=True)]
    ).mean()
    torch.testing.assert_close(flipped, expected)
    module.sampling.set_state(rng)
    assert not torch.allclose(flipped, module.nce_loss(source, torch.flip(output, [3])))


def test_the_notebook_helpers_ask_the_model_for_what_it_has():
    module = ContrastiveTranslation(**MODEL)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert nu.rho_table(module) == [] and not nu.has_attention(module)
    assert len(nu.discriminator_heatmaps(module, images, "b")) == 1
    with pytest.raises(DirectionError, match="no discriminator for domain 'a'"):
        nu.discriminator_heatmaps(module, images, "a")
    with pytest.raises(DirectionError, match="translates a2b only"):
        module(images, "b2a")
