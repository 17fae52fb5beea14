"""logger=wandb, offline: the run folder holds the logged keys and the resolved run config."""

import json
import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from ugatit.training.loggers import continue_wandb_run
from ugatit.training.pipeline import train

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

CONF = Path(__file__).resolve().parents[2] / "conf"
_BLOCK = 32 * 1024  # the .wandb file is a LevelDB-style log of 32 KiB blocks
_FULL, _FIRST, _LAST = 1, 2, 4


def wandb_records(path: Path):
    """The protobuf records of a run's ``run-<id>.wandb`` file (offline runs keep all there)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    position, pending = 7, b""
    while position + 7 <= len(data):
        left = _BLOCK - position % _BLOCK
        length = int.from_bytes(data[position + 4 : position + 6], "little")
        kind = data[position + 6]
        if left < 7 or kind == 0:  # block trailer / padding
            position += left
            continue
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        pending = chunk if kind in (_FULL, _FIRST) else pending + chunk
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """wandb's own folders in tmp; WANDB_MODE unset before and after (Lightning sets it)."""
    for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb_home"))
    monkeypatch.setenv("WANDB_MODE", "unset-by-the-test")
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    yield
    os.environ.pop("WANDB_MODE", None)


def compose_wandb_run(tmp_path: Path, run: str, extra: list[str], data_dir: Path):
    overrides = [
        "experiment=quickstart",
        "logger=wandb",
        "logger.wandb.offline=true",
        "callbacks=[default,training_monitor]",
        "callbacks.training_monitor.every_n_iterations=1",
        "callbacks.progress_bar=null",
        "callbacks.sample_grid.every_n_iterations=1",
        "model.schedule.max_iterations=2",
        "model.generator.ngf=8",
        "model.generator.n_res=1",
        "model.discriminator.ndf=8",
        "data.val_samples=1",
        "trainer.log_every_n_steps=1",
        "++callbacks.shape_metric=null",
        *extra,
    ]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / run)
        cfg.paths.log_dir = str(tmp_path / "logs")
        cfg.paths.data_dir = str(data_dir)
    return cfg


def train_and_finish(cfg) -> None:
    try:
        train(cfg)
    finally:
        wandb.finish()


def run_id(run_folder: Path) -> str:
    """The id of the run's offline wandb folder, ``offline-run-<time>-<id>`` (wandb names the
    folder after the run before it writes the run's records, which a fast test may outrun)."""
    (offline,) = (run_folder / "wandb").glob("offline-run-*")
    return offline.name.rsplit("-", 1)[1]


def test_a_resumed_run_continues_the_same_wandb_run(tmp_path, wandb_env, shapes_dir):
    train_and_finish(compose_wandb_run(tmp_path, "first", [], shapes_dir))
    checkpoint = tmp_path / "first" / "checkpoints" / "last.ckpt"
    first = run_id(tmp_path / "first")
    assert torch.load(checkpoint, weights_only=True)["wandb_run_id"] == first
    resumed = [f"ckpt_path={checkpoint}", "model.schedule.max_iterations=3"]
    train_and_finish(compose_wandb_run(tmp_path, "second", resumed, shapes_dir))
    assert run_id(tmp_path / "second") == first
    # without a checkpoint, or with another id chosen, nothing is continued
    fresh = compose_wandb_run(tmp_path, "third", [], shapes_dir)
    continue_wandb_run(fresh.logger, None)
    assert fresh.logger.wandb.id is None and fresh.logger.wandb.resume is None
    chosen = compose_wandb_run(tmp_path, "fourth", ["logger.wandb.id=mine"], shapes_dir)
    continue_wandb_run(chosen.logger, str(checkpoint))
    assert chosen.logger.wandb.id == "mine" and chosen.logger.wandb.resume is None


def test_offline_wandb_run_holds_metrics_samples_and_the_run_config(
    tmp_path, wandb_env, shapes_dir
):
    cfg = compose_wandb_run(
        tmp_path, "run", ["model.loss.cycle_weight=7.5", "tags=[scale_test]"], shapes_dir
    )
    train_and_finish(cfg)

    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    (log_file,) = runs[0].glob("run-*.wandb")
    history: set[str] = set()
    config: dict[str, object] = {}
    run_info = None
    for record in wandb_records(log_file):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history |= {item.key or "/".join(item.nested_key) for item in record.history.item}
        elif kind == "config":
            for update in record.config.update:
                config[update.key] = json.loads(update.value_json)
        elif kind == "run":
            run_info = record.run
    for key in ("train/g_total", "lr/generator", "perf/it_per_s", "rho/decoder_res_mean"):
        assert key in history, key
    assert any(key.startswith("samples") for key in history)  # the sample grid image
    # the resolved config is the run config
    assert config["model"]["loss"]["cycle_weight"] == 7.5
    assert config["model"]["generator"]["img_size"] == 64  # ${data.crop_size}, resolved
    assert config["task_name"] == "train"
    assert run_info.project == "ugatit"
    assert run_info.display_name.startswith("train_")
    assert list(run_info.tags) == ["scale_test"]
