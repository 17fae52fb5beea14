"""TrainingMonitor: throughput and rho statistics reach the loggers during a tiny fit."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from pytorch_lightning.loggers.logger import Logger

from helpers import TINY_UGATIT_NETS, FixedPairsDataModule, fit, tiny_module
from ugatit.errors import ConfigError
from ugatit.nets.norms import LIN, AdaLIN
from ugatit.nets.ugatit import UgatitDiscriminatorSet
from ugatit.training.cycle import CycleTranslation
from ugatit.training.monitoring import TrainingMonitor, rho_statistics

pytestmark = pytest.mark.usefixtures("one_thread")

CONF = Path(__file__).resolve().parents[2] / "conf"


TINY_UGATIT = {
    **TINY_UGATIT_NETS,
    "loss": {"identity_weight": 10.0, "cam_weight": 1000.0, "d_loss_scale": 1.0},
    "optimizer": {"lr": 1e-3},
    "pool_size": 0,
}


class RecordingLogger(Logger):
    """Keeps every (step, metrics) pair it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[int, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> str:
        return "0"

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        self.records.append((step, dict(metrics)))


def perf_records(logger: RecordingLogger) -> list[tuple[int, dict[str, float]]]:
    return [(step, m) for step, m in logger.records if "perf/it_per_s" in m]


def expected_rho(module) -> dict[str, float]:
    """Statistics computed here by norm type (AdaLIN: decoder blocks, LIN: up-sampling)."""
    groups = {"decoder_res": AdaLIN, "upsample": LIN}
    out = {}
    for group, kind in groups.items():
        values = torch.cat(
            [
                m.rho.detach().reshape(-1)
                for g in (module.generator_ab, module.generator_ba)
                for m in g.modules()
                if isinstance(m, kind)
            ]
        )
        out.update(
            {
                f"rho/{group}_mean": values.mean().item(),
                f"rho/{group}_min": values.min().item(),
                f"rho/{group}_max": values.max().item(),
            }
        )
    return out


def test_the_tiny_ugatit_discriminators_fit_32px_and_a_deeper_one_refuses_it():
    image = torch.zeros(1, 3, 32, 32)
    heads = UgatitDiscriminatorSet(ndf=8, global_layers=5, local_layers=4)(image)
    assert len(heads) == 2
    with pytest.raises(ValueError, match="48x48"):
        UgatitDiscriminatorSet(ndf=8, global_layers=6, local_layers=4)(image)


def test_ugatit_fit_logs_throughput_and_the_models_rho_statistics():
    module = CycleTranslation(**TINY_UGATIT, schedule={"max_iterations": 4})
    initial = rho_statistics([module.generator_ab, module.generator_ba])
    monitor = TrainingMonitor(every_n_iterations=2)
    logger = RecordingLogger()
    fit(
        module,
        FixedPairsDataModule(n=8, size=32, batch_size=2),
        callbacks=[monitor],
        logger=logger,
        log_every_n_steps=2,
    )
    records = perf_records(logger)
    assert len(records) == 2  # iterations 2 and 4
    for _, metrics in records:
        assert metrics["perf/it_per_s"] > 0
        # two images per batch: the image rate is twice the iteration rate
        assert metrics["perf/img_per_s"] == pytest.approx(2 * metrics["perf/it_per_s"])
    # logged at the step Lightning used for the same iteration's train/* metrics
    lightning_steps = {
        m["train/iteration"]: step for step, m in logger.records if "train/iteration" in m
    }
    assert records[0][0] == lightning_steps[2.0]
    # the last point is the final model: its rho statistics are the model's, not the initial ones
    final = records[-1][1]
    expected = expected_rho(module)
    assert {k for k in final if k.startswith("rho/")} == set(expected)
    for key, value in expected.items():
        assert final[key] == pytest.approx(value, abs=1e-7), key
    assert final["rho/decoder_res_mean"] != pytest.approx(initial["rho/decoder_res_mean"], abs=1e-6)
    assert monitor.last_metrics == final


def test_models_without_rho_log_throughput_only():
    monitor = TrainingMonitor(every_n_iterations=2)
    logger = RecordingLogger()
    fit(tiny_module(schedule={"max_iterations": 2}), callbacks=[monitor], logger=logger)
    records = perf_records(logger)
    assert len(records) == 1
    assert set(records[0][1]) == {"perf/it_per_s", "perf/img_per_s"}


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_period_is_refused_with_the_config_key(bad):
    with pytest.raises(ConfigError, match="callbacks.training_monitor.every_n_iterations"):
        TrainingMonitor(every_n_iterations=bad)


def test_config_adds_the_monitor_to_the_default_callbacks():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["callbacks=[default,training_monitor]"])
    assert cfg.callbacks.training_monitor._target_ == "ugatit.training.monitoring.TrainingMonitor"
    assert "model_checkpoint" in cfg.callbacks and "sample_grid" in cfg.callbacks
    from hydra.utils import instantiate

    monitor = instantiate(cfg.callbacks.training_monitor)
    assert isinstance(monitor, TrainingMonitor) and monitor.every_n_iterations == 50
