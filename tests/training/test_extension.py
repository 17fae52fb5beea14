"""Adding to the template: a generator by config only, and a whole one-sided method as a new module
(tests/training/test_extension.py defines it here, touching neither the base nor the other methods)."""

import dataclasses

import pytest
import torch
from omegaconf import OmegaConf, open_dict
from torch import nn

from helpers import FAST, compose_train, fit
from ugatit.inference.translation import TranslationError, load_checkpoint
from ugatit.nets.base import Generator
from ugatit.nets.outputs import GeneratorOutput
from ugatit.registry import register_method, register_network
from ugatit.rules import POSITIVE_INT, WEIGHT
from ugatit.training.base import (
    OptimizerSpec,
    Step,
    TranslationMethod,
    build_generator,
    build_network,
)
from ugatit.training.losses import discriminator_adv_loss, generator_adv_loss
from ugatit.training.pipeline import train
from ugatit.training.settings import MethodSettings, setting
from ugatit.visualize import Visual


@register_network(channels=POSITIVE_INT)
class TinyAttentionGenerator(Generator):
    """A deliberately small generator with its own CAM-like head: image, logits and heatmap."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(), nn.Conv2d(channels, 3, 3, padding=1)
        )
        self.classifier = nn.Linear(channels, 2)
        self.steps = 0

    def forward(self, x: torch.Tensor) -> GeneratorOutput:
        features = self.body[1](self.body[0](x))
        logits = self.classifier(features.mean(dim=(2, 3)))
        heatmap = features.sum(dim=1, keepdim=True)
        return GeneratorOutput(torch.tanh(self.body[2](features)), logits, heatmap)

    def after_optimizer_step(self) -> None:
        self.steps += 1


def test_a_generator_added_by_config_only_trains_with_every_loss_term(tmp_path, shapes_dir):
    cfg = compose_train(
        tmp_path, shapes_dir, ["model=cyclegan_small", *FAST, "model.loss.cam_weight=10"]
    )
    with open_dict(cfg):
        cfg.model.generator = OmegaConf.create(
            {"_target_": f"{__name__}.TinyAttentionGenerator", "channels": 8}
        )
    metrics = train(cfg)
    assert metrics["train/iteration"] == 4.0
    # its CAM logits switch on the generator CAM term without any change to the module
    assert "train/g_cam" in metrics and "train/g_cycle" in metrics
    samples = sorted((tmp_path / "samples").glob("*.png"))
    assert samples  # and the sample grid renders its heatmap


@dataclasses.dataclass(frozen=True)
class ToySettings(MethodSettings):
    """The toy's settings: the shared ones (optimizer, schedule, seed, ...) and its one weight."""

    l1_weight: float = setting(1.0, WEIGHT, "how close the output stays to its input (L1)")


@register_method
class ToyOneSided(TranslationMethod):
    """A one-sided method written against the base alone: G (A->B) learns to fool D (B) and to
    stay close to its input in L1, with a step order of its own (G first, then D). Nothing in
    the base, the other methods, the callbacks, eval or translate knows about it."""

    directions = ("a2b",)
    Settings = ToySettings

    def __init__(self, generator: dict, discriminator: dict, **settings) -> None:
        super().__init__()
        parsed = self.setup_common(generator, discriminator, settings)
        self.generator_ab = build_generator(generator)
        self.discriminator_b = build_network(discriminator, "model.discriminator")
        self.add_weight_averages()
        self.l1_weight = parsed.l1_weight
        self.order: list[str] = []

    def optimizer_specs(self) -> list[OptimizerSpec]:
        lr = self.optimizer_settings.lr
        return [
            OptimizerSpec("generator", ("generator_ab",), lr),
            OptimizerSpec("discriminator", ("discriminator_b",), lr),
        ]

    def forward_pass(self, real_a, real_b):
        return {"real_a": real_a, "real_b": real_b, "fake_b": self.generator_ab(real_a).image}

    def training_steps(self) -> list[Step]:
        return [
            Step("g", ("generator",), self._g, self.after_generator_step),
            Step("d", ("discriminator",), self._d),
        ]

    def _g(self, state):
        self.order.append("g")
        adv = generator_adv_loss(self.discriminator_b(state["fake_b"]), "lsgan")
        total = adv + self.l1_weight * (state["fake_b"] - state["real_a"]).abs().mean()
        return total, {"g_adv": adv, "g_total": total}

    def _d(self, state):
        self.order.append("d")
        net = self.discriminator_b
        d = discriminator_adv_loss(net(state["real_b"]), net(state["fake_b"].detach()), "lsgan")
        return d, {"d_b": d, "d_total": d}

    def validation_step(self, batch, batch_idx):
        fake = self(batch["a"], "a2b").image
        self.log("val/l1", (fake - batch["a"]).abs().mean(), batch_size=batch["a"].shape[0])

    def visuals(self, real_a, real_b):
        with torch.no_grad():
            return {"a2b": [Visual("input", real_a), Visual("translation", self(real_a).image)]}


def test_a_one_sided_method_added_as_a_module_trains_saves_and_translates(tmp_path, shapes_dir):
    cfg = compose_train(tmp_path, shapes_dir, ["model=cyclegan_small", *FAST])
    with open_dict(cfg):
        cfg.model = OmegaConf.create(
            {
                "_target_": f"{__name__}.ToyOneSided",
                "_recursive_": False,
                "generator": {"_target_": f"{__name__}.TinyAttentionGenerator", "channels": 4},
                "discriminator": {
                    "_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator",
                    "ndf": 4,
                },
                "l1_weight": 2.0,
                "optimizer": {"lr": 1e-3},
                "schedule": {"max_iterations": 4},
                "seed": 0,
            }
        )
    metrics = train(cfg)
    assert metrics["train/iteration"] == 4.0
    assert {"train/g_adv", "train/d_b", "lr/generator", "lr/discriminator"} <= set(metrics)
    assert sorted((tmp_path / "samples").glob("*.png"))
    # the checkpoint rebuilds the toy method, which translates its one direction only
    loaded = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert type(loaded.module).__name__ == "ToyOneSided" and loaded.directions == ("a2b",)
    assert loaded.module.generator_ab.steps == 0  # fresh module: the hook ran during training
    with pytest.raises(TranslationError, match="one-sided method"):
        loaded.require_direction("b2a")


def test_the_base_runs_a_methods_steps_in_its_declared_order():
    module = ToyOneSided(
        {"_target_": f"{__name__}.TinyAttentionGenerator", "channels": 4},
        {"_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator", "ndf": 4},
        schedule={"max_iterations": 2},
    )
    fit(module)
    assert module.order == ["g", "d", "g", "d"]
    assert module.generator_ab.steps == 2  # the post-step hook of the G step
