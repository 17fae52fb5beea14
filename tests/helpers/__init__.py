"""Small in-memory data and model builders shared by the tests (no files, no downloads)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from torch.utils.data import DataLoader, Dataset

from ugatit.training.cycle import CycleTranslation

TINY_CYCLEGAN = {
    "generator": {"_target_": "ugatit.nets.cyclegan.ResnetGenerator", "ngf": 8, "n_blocks": 1},
    "discriminator": {"_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator", "ndf": 8},
    "loss": {"identity_weight": 5.0, "cam_weight": 0.0, "d_loss_scale": 0.5},
    "optimizer": {"lr": 2e-4, "weight_decay": 0.0},
    "pool_size": 4,
}


class FixedPairs(Dataset):
    """``n`` deterministic random image pairs of ``size`` px in [-1, 1]."""

    def __init__(self, n: int = 4, size: int = 32) -> None:
        self.n, self.size = n, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(index)
        a = torch.rand(3, self.size, self.size, generator=g) * 2 - 1
        b = torch.rand(3, self.size, self.size, generator=g) * 2 - 1
        return {"a": a, "b": b, "a_path": f"a{index}", "b_path": f"b{index}"}


class FixedPairsDataModule(pl.LightningDataModule):
    def __init__(self, n: int = 4, size: int = 32, batch_size: int = 1) -> None:
        super().__init__()
        self.n, self.size, self.batch_size = n, size, batch_size

    def setup(self, stage: str | None = None) -> None:
        self.train_dataset = FixedPairs(self.n, self.size)
        self.val_dataset = FixedPairs(2, self.size)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_dataset, batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_dataset, batch_size=2)


def tiny_module(**overrides: Any) -> CycleTranslation:
    config = {**TINY_CYCLEGAN, "schedule": {"max_iterations": 4}}
    for key, value in overrides.items():
        # a dict with its own _target_ replaces the network; other dicts update the section
        if (
            isinstance(value, dict)
            and isinstance(config.get(key), dict)
            and "_target_" not in value
        ):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return CycleTranslation(**config)


def fit(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule | None = None,
    ckpt_path: str | Path | None = None,
    **trainer_kwargs: Any,
) -> pl.Trainer:
    options = {
        "accelerator": "cpu",
        "max_epochs": -1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "use_distributed_sampler": False,
        **trainer_kwargs,
    }
    trainer = pl.Trainer(**options)
    trainer.fit(
        module,
        datamodule=datamodule or FixedPairsDataModule(),
        ckpt_path=None if ckpt_path is None else str(ckpt_path),
    )
    return trainer


ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"

# overrides that make any composed training run tiny
FAST = [
    "model.schedule.max_iterations=4",
    "callbacks.sample_grid.every_n_iterations=2",
    "callbacks.progress_bar=null",
    "data.val_samples=2",
    # the shape metric has its own tests (tests/shape_metric); "++" works for any data
    "++callbacks.shape_metric=null",
]


def compose_config(name: str, tmp_path: Path, data_dir: Path, overrides: list[str]) -> DictConfig:
    """Compose ``conf/<name>.yaml`` like the entry point would, with outputs under ``tmp_path``."""
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
        HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
        cfg.paths.log_dir = str(tmp_path / "logs")
        cfg.paths.data_dir = str(data_dir)
    return cfg


QUICKSTART = "experiment=quickstart"


def compose_train(tmp_path: Path, data_dir: Path, overrides: list[str]) -> DictConfig:
    """conf/train.yaml with the quick start's settings (what most tests train, on the built-in
    shapes), unless the overrides name another experiment."""
    if not any(o.startswith("experiment=") for o in overrides):
        overrides = [QUICKSTART, *overrides]
    return compose_config("train", tmp_path, data_dir, overrides)


# The smallest U-GAT-IT that runs at 32 px (the 5-layer global discriminator needs 24 px).
TINY_UGATIT_NETS = {
    "generator": {
        "_target_": "ugatit.nets.ugatit.UgatitGenerator",
        "ngf": 8,
        "n_res": 1,
        "img_size": 32,
        "light": True,
    },
    "discriminator": {
        "_target_": "ugatit.nets.ugatit.UgatitDiscriminatorSet",
        "ndf": 8,
        "global_layers": 5,
        "local_layers": 4,
    },
}
