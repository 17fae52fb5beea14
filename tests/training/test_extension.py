"""Adding a method: a new generator class plus config, and the one loop trains it unchanged."""

import torch
from omegaconf import OmegaConf, open_dict
from torch import nn

from helpers import FAST, compose_train
from ugatit.nets.base import Generator
from ugatit.nets.outputs import GeneratorOutput
from ugatit.training.pipeline import train


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
