"""Run by tests/training/test_ddp.py as `python tests/helpers/ddp_worker.py DATA_ROOT OUT.json`: a 2-process gloo
DDP fit of a tiny U-GAT-IT; rank 0 writes what every rank saw and its final weights' checksum."""

import json
import sys

import pytorch_lightning as pl
import torch
import torch.distributed as dist

from ugatit.data.datamodule import UnpairedDataModule
from ugatit.training.cycle import CycleTranslation


class Report(pl.Callback):
    def __init__(self) -> None:
        self.paths: list[str] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.paths.extend(batch["a_path"])

    def on_train_end(self, trainer, pl_module):
        checksum = torch.stack([p.detach().double().sum() for p in pl_module.parameters()]).tolist()
        everything = [None] * dist.get_world_size()
        dist.all_gather_object(
            everything,
            {"paths": self.paths, "checksum": checksum, "iteration": pl_module.iteration},
        )
        if trainer.is_global_zero:
            with open(sys.argv[2], "w") as f:
                json.dump(everything, f)


def main() -> None:
    module = CycleTranslation(
        generator={
            "_target_": "ugatit.nets.ugatit.UgatitGenerator",
            "ngf": 4,
            "n_res": 1,
            "img_size": 32,
            "light": True,
        },
        discriminator={
            "_target_": "ugatit.nets.ugatit.UgatitDiscriminatorSet",
            "ndf": 4,
            "global_layers": 5,
            "local_layers": 4,
        },
        schedule={"max_iterations": 3},
        pool_size=2,
    )
    data = UnpairedDataModule(root=sys.argv[1], crop_size=32, load_size=36, val_samples=2, seed=3)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[Report()],
    )
    trainer.fit(module, datamodule=data)


if __name__ == "__main__":
    main()
