"""conf/data/*.yaml compose with Hydra and instantiate the data module with the intended values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from ugatit.data.datamodule import UnpairedDataModule
from ugatit.data.download import CYCLEGAN_BASE_URL

CONF = Path(__file__).resolve().parents[2] / "conf"
CYCLEGAN = [
    "apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo",
    "ukiyoe2photo", "vangogh2photo", "maps", "facades", "iphone2dslr_flower",
]  # fmt: skip


def _data_config(name: str, *overrides: str) -> DictConfig:
    # composed through train.yaml: data=shapes also selects the quick-start model there
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "train", overrides=[f"data={name}", "paths.data_dir=/datasets", "seed=17", *overrides]
        )
    return cfg.data


@pytest.mark.parametrize("name", CYCLEGAN)
def test_cyclegan_datasets(name: str) -> None:
    module = instantiate(_data_config(name))
    assert isinstance(module, UnpairedDataModule)
    assert module.root == Path("/datasets") / name and module.name == name
    assert module.download["base_url"] == CYCLEGAN_BASE_URL
    assert (module.crop_size, module.load_size, module.batch_size, module.seed) == (256, 286, 1, 17)
    assert (module.num_workers, module.pin_memory, module.persistent_workers) == (4, True, True)
    counts = module.download["expected_counts"]
    if name == "horse2zebra":
        assert dict(counts) == {"trainA": 1067, "trainB": 1334, "testA": 120, "testB": 140}
    else:
        assert counts is None


def test_shapes_selfie_and_folder() -> None:
    shapes = instantiate(_data_config("shapes"))
    assert (shapes.name, shapes.download, shapes.crop_size, shapes.load_size) == (
        "shapes", None, 64, 72
    )  # fmt: skip
    assert (shapes.num_workers, shapes.persistent_workers, shapes.val_samples) == (0, False, 4)
    assert shapes.root == Path("/datasets/shapes/round_rect") and shapes.pair == "round_rect"

    selfie = instantiate(_data_config("selfie2anime"))
    assert selfie.name == "selfie2anime" and selfie.download is None

    folder_cfg = _data_config("folder", "data.root=/my/pairs")
    folder = instantiate(folder_cfg)
    assert folder.root == Path("/my/pairs") and folder.name is None and folder.download is None
    with pytest.raises(Exception, match="data.root is not set.*data.root=/path/to/ROOT"):
        instantiate(_data_config("folder"))  # root is required
