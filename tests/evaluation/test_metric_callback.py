"""FidKidCallback: FID/KID of both directions during a tiny fit, readable by monitors and loggers."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.loggers import CSVLogger
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from helpers import FixedPairsDataModule, compose_train, fit, tiny_module
from ugatit.data import UnpairedDataModule
from ugatit.errors import ConfigError
from ugatit.evaluation.fid_kid import inception_features, scores_from_features
from ugatit.evaluation.fid_kid_callback import FidKidCallback
from ugatit.evaluation.inception_weights import InceptionWeightsError, inception_weights_path
from ugatit.training.callbacks import IterationCheckpoint
from ugatit.training.contrastive import ContrastiveTranslation
from ugatit.training.pipeline import train

KEYS = [f"val/{m}_{d}" for m in ("fid", "kid") for d in ("a2b", "b2a", "mean")]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Inception and tiny networks on 2 shared cores: one thread avoids contention stalls."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weights() -> Path:
    try:
        return inception_weights_path()
    except InceptionWeightsError as error:
        pytest.skip(str(error))


def logged_rows(path: Path, key: str) -> list[float]:
    with path.open() as handle:
        return [float(row[key]) for row in csv.DictReader(handle) if row.get(key)]


@pytest.fixture(scope="module")
def fitted(weights, tmp_path_factory):
    """4 iterations of a tiny CycleGAN on 2 validation pairs; FID/KID after iterations 2 and 4,
    and a checkpoint that keeps the iteration with the lowest mean FID."""
    root = tmp_path_factory.mktemp("fid_callback")
    callback = FidKidCallback(every_n_iterations=2, device="cpu")
    best = IterationCheckpoint(
        every_n_iterations=2,
        dirpath=root / "ckpt",
        filename="best",
        monitor="val/fid_mean",
        mode="min",
        save_top_k=1,
    )
    module = tiny_module()
    trainer = fit(
        module,
        FixedPairsDataModule(n=4, size=32),
        callbacks=[callback, best],
        logger=CSVLogger(root, name="csv", version=0),
        log_every_n_steps=50,  # far apart: the callback must still reach the logger
        enable_checkpointing=True,
    )
    return trainer, module, callback, best, root / "csv" / "version_0" / "metrics.csv"


def test_every_key_is_logged_at_each_evaluation_and_the_monitor_keeps_the_best(fitted):
    trainer, module, callback, best, metrics_csv = fitted
    assert module.iteration == 4
    for key in KEYS:
        assert key in trainer.callback_metrics
        assert len(logged_rows(metrics_csv, key)) == 2  # iterations 2 and 4
    fid_means = logged_rows(metrics_csv, "val/fid_mean")
    assert float(best.best_model_score) == pytest.approx(min(fid_means), rel=1e-6)
    assert Path(best.best_model_path).exists()
    values = {k: float(trainer.callback_metrics[k]) for k in KEYS}
    assert values["val/fid_mean"] == pytest.approx(
        (values["val/fid_a2b"] + values["val/fid_b2a"]) / 2
    )
    assert values["val/fid_mean"] == pytest.approx(fid_means[-1], rel=1e-6)


def test_logged_values_are_fid_kid_of_the_final_translations(fitted):
    trainer, module, callback, _, _ = fitted
    batch = next(iter(trainer.datamodule.val_dataloader()))
    module.eval()
    with torch.no_grad():
        fake_b = module(batch["a"], "a2b").image
    module.train()
    expected = scores_from_features(inception_features(batch["b"]), inception_features(fake_b), 2)
    assert float(trainer.callback_metrics["val/fid_a2b"]) == pytest.approx(
        expected["fid"], rel=1e-5
    )
    assert float(trainer.callback_metrics["val/kid_a2b"]) == pytest.approx(
        expected["kid_mean"], rel=1e-5, abs=1e-7
    )
    # compute() puts the module back in the mode it found it in
    callback.compute(trainer, module)
    assert module.training


def test_inception_never_becomes_part_of_the_module_or_its_checkpoint(fitted):
    _, module, _, best, _ = fitted
    assert not any(isinstance(m, FeatureExtractorInceptionV3) for m in module.modules())
    checkpoint = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
    assert set(checkpoint["state_dict"]) == set(module.state_dict())


def test_hydra_callbacks_group_adds_the_metrics_callback(weights, tmp_path, shapes_dir):
    overrides = [
        "callbacks=[default,metrics]",
        "callbacks.fid_kid.every_n_iterations=5",  # never reached: only at_train_end scores
        "callbacks.fid_kid.device=cpu",
        "callbacks.sample_grid=null",
        "callbacks.progress_bar=null",
        "model.generator.ngf=8",
        "model.discriminator.ndf=8",
        "model.schedule.max_iterations=2",
        "data.val_samples=2",
    ]
    cfg = compose_train(tmp_path, shapes_dir, overrides)
    metrics = train(cfg)
    for key in KEYS:
        assert key in metrics
    # one evaluation: after the last iteration (at_train_end), none from the period of 5
    assert len(logged_rows(tmp_path / "csv" / "metrics.csv", "val/fid_mean")) == 1
    # the default callbacks do not compute FID
    default = compose_train(tmp_path, tmp_path, [])
    assert "fid_kid" not in default.callbacks


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every_n_iterations": None}, r"needs every_n_iterations or every_n_epochs"),
        ({"every_n_iterations": 0}, r"every_n_iterations=0 is invalid"),
        ({"split": "train"}, r"split='train' is invalid; use val or test"),
        ({"max_images": 1}, r"max_images=1 is invalid"),
        ({"kid_subset_size": 1}, r"kid_subset_size=1 is invalid: it must be an integer >= 2"),
    ],
)
def test_bad_settings_are_refused_at_construction(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        FidKidCallback(**kwargs)


def test_too_few_validation_images_is_a_clear_error():
    class OneValPair(FixedPairsDataModule):
        def val_dataloader(self):
            subset = torch.utils.data.Subset(super().val_dataloader().dataset, [0])
            return torch.utils.data.DataLoader(subset, batch_size=1)

    datamodule = OneValPair(n=2, size=32)
    datamodule.setup("fit")
    trainer = SimpleNamespace(
        datamodule=datamodule, is_global_zero=True, global_rank=0, world_size=1
    )
    callback = FidKidCallback(every_n_iterations=1)
    with pytest.raises(ConfigError, match=r"has 1 image\(s\) of domain A; FID/KID need at least 2"):
        callback.compute(trainer, tiny_module())


def test_test_split_scores_the_first_test_images(weights, shapes_dir):
    datamodule = UnpairedDataModule(
        str(shapes_dir / "shapes" / "round_rect"),
        name="shapes",
        download=None,
        crop_size=32,
        num_workers=0,
    )
    datamodule.prepare_data()
    trainer = SimpleNamespace(
        datamodule=datamodule, is_global_zero=True, global_rank=0, world_size=1
    )
    callback = FidKidCallback(every_n_iterations=1, split="test", max_images=2, device="cpu")
    metrics = callback.compute(trainer, tiny_module())
    assert sorted(metrics) == sorted(KEYS)
    first_a = torch.stack([datamodule.test_datasets["a"][i]["image"] for i in range(2)])
    assert torch.equal(callback._images["a"], first_a)
    assert len(callback._real["b"]) == 2


def test_a_one_sided_model_is_scored_in_its_one_direction(weights):
    datamodule = FixedPairsDataModule(n=2, size=32)
    datamodule.setup("fit")
    trainer = SimpleNamespace(
        datamodule=datamodule, is_global_zero=True, global_rank=0, world_size=1
    )
    module = ContrastiveTranslation(
        generator={"_target_": "ugatit.nets.cut.CutGenerator", "ngf": 4, "n_blocks": 1},
        discriminator={"_target_": "ugatit.nets.cyclegan.PatchGANDiscriminator", "ndf": 4},
        nce={"layers": [0, 4, 8, 12], "num_patches": 8, "mlp_channels": 8},
        schedule={"max_iterations": 1},
    )
    metrics = FidKidCallback(every_n_iterations=1, device="cpu").compute(trainer, module)
    assert sorted(metrics) == ["val/fid_a2b", "val/fid_mean", "val/kid_a2b", "val/kid_mean"]
    assert metrics["val/fid_mean"] == metrics["val/fid_a2b"]
