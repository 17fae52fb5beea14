"""Exact resume: N iterations straight equal N/2, stop, resume from last.ckpt, N/2 more."""

import os
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from ugatit.data.datamodule import UnpairedDataModule
from ugatit.data.shapes import ensure_shapes
from ugatit.training.callbacks import IterationCheckpoint
from ugatit.training.contrastive import ContrastiveTranslation
from ugatit.training.cycle import CycleTranslation

TOTAL = 8  # iterations; 5 batches per epoch, so the run crosses an epoch boundary

MODEL = {
    "generator": {
        "_target_": "ugatit.nets.ugatit.UgatitGenerator",
        "ngf": 4,
        "n_res": 1,
        "img_size": 32,
        "light": True,
    },
    "discriminator": {
        "_target_": "ugatit.nets.ugatit.UgatitDiscriminatorSet",
        "ndf": 4,
        "global_layers": 5,
        "local_layers": 4,
    },
    "loss": {"cam_weight": 10.0},
    "optimizer": {"lr": 1e-3},
    "schedule": {"max_iterations": TOTAL, "decay_start": 0.25},
    "pool_size": 3,  # exercised although U-GAT-IT's paper setting has none
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return ensure_shapes(
        tmp_path_factory.mktemp("shapes") / "shapes", image_size=32, n_train=5, n_test=2
    )


class Recorder(pl.Callback):
    """Per iteration: the learning rate in force and the images of the batch; stops the run at
    ``stop_at`` by setting should_stop or by sending this process SIGTERM."""

    def __init__(self, stop_at: int | None = None, signal_stop: bool = False) -> None:
        self.stop_at = stop_at
        self.signal_stop = signal_stop
        self.lrs: dict[int, float] = {}
        self.batches: dict[int, torch.Tensor] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs[pl_module.iteration] = trainer.optimizers[0].param_groups[0]["lr"]
        self.batches[pl_module.iteration] = batch["b"].clone()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.stop_at is not None and pl_module.iteration == self.stop_at:
            if self.signal_stop:
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                trainer.should_stop = True


def run(
    data_root: Path,
    checkpoints: Path,
    stop_at=None,
    ckpt_path=None,
    signal_stop=False,
    every_n_iterations=1,
    build=lambda: CycleTranslation(**MODEL, seed=0),
):
    torch.manual_seed(0)
    module = build()
    datamodule = UnpairedDataModule(
        root=str(data_root),
        crop_size=32,
        load_size=36,
        num_workers=0,
        val_samples=0,
        seed=7,
    )
    recorder = Recorder(stop_at, signal_stop)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        deterministic=True,
        callbacks=[
            recorder,
            IterationCheckpoint(
                dirpath=str(checkpoints),
                every_n_iterations=every_n_iterations,
                save_top_k=0,
                save_last=True,
            ),
        ],
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    return module, recorder


@pytest.mark.parametrize("stop_at", [3, 5])  # mid-epoch, and exactly at the epoch's end
def test_resume_reproduces_the_uninterrupted_run(tmp_path, data_root, stop_at):
    straight, straight_record = run(data_root, tmp_path / "a")
    assert straight.iteration == TOTAL

    first, first_record = run(data_root, tmp_path / "b", stop_at=stop_at)
    assert first.iteration == stop_at
    resumed, resumed_record = run(
        data_root, tmp_path / "c", ckpt_path=str(tmp_path / "b" / "last.ckpt")
    )
    assert resumed.iteration == TOTAL

    lrs = {**first_record.lrs, **resumed_record.lrs}
    assert lrs == straight_record.lrs  # the same learning rate at every iteration
    batches = {**first_record.batches, **resumed_record.batches}
    assert sorted(batches) == list(range(TOTAL))
    for i in range(TOTAL):  # the same images in the same order, across the epoch boundary
        assert torch.equal(batches[i], straight_record.batches[i]), i
    for (name, p), q in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert len(resumed.pool_a.images) == len(straight.pool_a.images)


CUT_MODEL = {
    "generator": {"_target_": "ugatit.nets.cut.CutGenerator", "ngf": 4, "n_blocks": 1},
    "discriminator": {
        "_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator",
        "ndf": 4,
        "antialias": True,
        "init": "xavier",
    },
    "nce": {"layers": [0, 4, 8, 12], "num_patches": 16, "mlp_channels": 8},
    "optimizer": {"lr": 1e-3, "weight_decay": 0.0},
    "schedule": {"max_iterations": TOTAL, "decay_start": 0.25},
    "ema_decay": 0.5,
}


@pytest.mark.parametrize("method", ["cut", "fastcut"])
def test_a_contrastive_run_resumes_exactly(tmp_path, data_root, method):
    """Patch positions and FastCUT's flips are drawn from the module's own saved generator."""
    loss = {"nce_identity": False, "flip_equivariance": True} if method == "fastcut" else {}

    def build():
        return ContrastiveTranslation(**CUT_MODEL, loss=loss, seed=0)

    straight, _ = run(data_root, tmp_path / "a", build=build)
    first, _ = run(data_root, tmp_path / "b", stop_at=3, build=build)
    resumed, _ = run(data_root, tmp_path / "c", ckpt_path=tmp_path / "b" / "last.ckpt", build=build)
    assert (first.iteration, resumed.iteration) == (3, TOTAL)
    assert straight.skipped_steps == 0 and resumed.skipped_steps == 0
    for (name, p), q in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert torch.equal(straight.sampling.get_state(), resumed.sampling.get_state())
    # the patch sampler trained (it is in the checkpoint and its optimizer stepped)
    fresh = ContrastiveTranslation(**CUT_MODEL, loss=loss, seed=0)
    assert not torch.equal(
        fresh.patch_sampler.mlp_0[0].weight, resumed.patch_sampler.mlp_0[0].weight
    )


def test_sigterm_saves_a_checkpoint_that_resumes_exactly(tmp_path, data_root):
    straight, straight_record = run(data_root, tmp_path / "a")
    # checkpoints every 100 iterations: only the signal handler can have written last.ckpt
    with pytest.raises(SIGTERMException):
        run(data_root, tmp_path / "b", stop_at=3, signal_stop=True, every_n_iterations=100)
    checkpoint = torch.load(tmp_path / "b" / "last.ckpt", weights_only=False)
    assert checkpoint["iteration"] == 3
    resumed, resumed_record = run(
        data_root, tmp_path / "c", ckpt_path=str(tmp_path / "b" / "last.ckpt")
    )
    assert resumed.iteration == TOTAL
    assert sorted(resumed_record.batches) == list(range(3, TOTAL))
    for i in range(3, TOTAL):
        assert torch.equal(resumed_record.batches[i], straight_record.batches[i]), i
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
