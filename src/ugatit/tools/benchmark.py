"""Training-speed benchmark: the project's training step against the official code's ordering.

The official U-GAT-IT PyTorch code runs both generators once for the discriminator step without
detaching the fakes (so the D loss back-propagates through the generators, whose gradients are
then thrown away) and runs them again for the generator step. :class:`CycleTranslation` generates
once, detaches for the D step and reuses the fakes for the G step. Both are mathematically the same
training, so the benchmark times them through the same Lightning Trainer, on the same data, with
the same seed, and reports speed and peak memory of each.

Each variant runs in a fresh Python process: a process's peak resident memory (VmHWM) cannot be
attributed to one of two runs sharing it, and a fresh process also keeps allocator caches, cuDNN
autotuning and warm-up effects of one variant away from the other.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ugatit import atomic, registry
from ugatit.config_checks import check_discriminator_size
from ugatit.errors import ConfigError, UserError
from ugatit.rules import COUNT, OPTIONAL_POSITIVE_INT, POSITIVE_INT
from ugatit.training.base import TranslationMethod
from ugatit.training.cycle import CycleTranslation, Side

DATA_KINDS: tuple[str, ...] = ("random", "builtin")
VARIANTS: tuple[str, ...] = ("ours", "reference", "plain")
_MB = 2**20


class BenchmarkError(UserError):
    """A benchmark run that failed (out of memory, bad model config): its output names why."""


# ---------------------------------------------------------------------------------- the reference
class ReferenceOrderModule(CycleTranslation):
    """The same networks, losses and weights, in the official code's order: the D step runs the
    generators and keeps their graph (fakes not detached), the G step runs them again.

    Optimizer steps go through the module's own ``_optimizer_step`` (same zero_grad, non-finite
    check and step), so the two variants differ in the ordering alone. Single device only (no
    DDP gradient hand-over). Kept for benchmarking and for checking that both orderings train
    identically; train with :class:`CycleTranslation`, which gets the same result with less work.
    """

    def __init__(self, **settings: Any) -> None:
        # one call per pass, as the official code
        super().__init__(
            **{**settings, "batch_generator_calls": False, "batch_discriminator_calls": False}
        )

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        real_a, real_b = self.prepare_input(batch["a"]), self.prepare_input(batch["b"])
        optimizers = self._named_optimizers()
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]

        # D step. The D loss back-propagates into the generators too, as in the official code;
        # those gradients are discarded by the G step's zero_grad. A configured image pool
        # detaches as CycleGAN's code does; without one (U-GAT-IT) the fakes keep their graph.
        fake_b = self.generator_ab(real_a).image
        fake_a = self.generator_ba(real_b).image
        d_loss, d_terms = self.discriminator_loss([("a", real_a, fake_a), ("b", real_b, fake_b)])
        d_finite = self._optimizer_step([opt_d], d_loss)

        # G step: the generators run again (same weights, so the same fakes).
        fake_b_out = self.generator_ab(real_a)
        fake_a_out = self.generator_ba(real_b)
        g_loss, g_terms = self.generator_loss(
            [Side("a", real_a, fake_b_out), Side("b", real_b, fake_a_out)]
        )
        g_finite = self._optimizer_step([opt_g], g_loss)
        self.after_generator_step()
        totals = {"d": d_loss, "g": g_loss}
        self._finish_iteration(optimizers, {**g_terms, **d_terms}, totals, d_finite and g_finite)


# ---------------------------------------------------------------------------------- settings, data
@dataclasses.dataclass(frozen=True)
class BenchmarkSettings:
    """The ``benchmark`` section of conf/benchmark.yaml."""

    iterations: int = 20
    warmup: int = 3
    data: str = "random"
    batch_size: int | None = None  # None: the data config's batch size
    threads: int | None = None  # CPU threads (torch.set_num_threads); None: PyTorch's default

    def __post_init__(self) -> None:
        POSITIVE_INT.check("benchmark.iterations", self.iterations)
        COUNT.check("benchmark.warmup", self.warmup)
        OPTIONAL_POSITIVE_INT.check("benchmark.batch_size", self.batch_size)
        OPTIONAL_POSITIVE_INT.check("benchmark.threads", self.threads)
        if self.data not in DATA_KINDS:
            raise ConfigError(
                f"benchmark.data={self.data!r} is invalid: choose 'random' (random tensors of the "
                "data's crop size) or 'builtin' (the configured data set)."
            )

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | None) -> BenchmarkSettings:
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Unknown key(s) {unknown} in benchmark; valid keys: {sorted(known)}."
            )
        return cls(**values)


class RandomPairs(Dataset):
    """Uniform random A/B images in [-1, 1]; image ``i`` is the same in every process."""

    def __init__(self, length: int, size: int, seed: int) -> None:
        self.length, self.size, self.seed = length, size, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        a, b = torch.rand(2, 3, self.size, self.size, generator=generator) * 2 - 1
        return {"a": a, "b": b}


class RandomPairsDataModule(pl.LightningDataModule):
    """Training batches only: the benchmark times training steps, nothing else."""

    def __init__(self, batches: int, size: int, batch_size: int, seed: int) -> None:
        super().__init__()
        self.dataset = RandomPairs(batches * batch_size, size, seed)
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=False)


# ---------------------------------------------------------------------------------- measuring
def _proc_status_mb(field: str) -> float | None:
    """A memory line of /proc/self/status (Linux) in MiB; None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024  # reported in kB
    except OSError:
        return None
    return None


def _reset_peak_rss() -> None:
    """Lower VmHWM to the current RSS (Linux >= 4.0) so import-time peaks do not count."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class IterationTimer(pl.Callback):
    """Times iterations ``warmup + 1`` to ``warmup + iterations`` (perf_counter, device synced)
    and, on a GPU, the peak memory allocated during them."""

    def __init__(self, warmup: int, iterations: int) -> None:
        self.warmup, self.iterations = warmup, iterations
        self.start: float | None = None
        self.seconds: float | None = None
        self.gpu_peak_mb: float | None = None
        self.device: torch.device | None = None  # read during training: fit ends on the CPU

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.iteration == self.warmup and self.start is None:
            self.device = pl_module.device
            _synchronize(pl_module.device)
            if pl_module.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.start is not None and pl_module.iteration == self.warmup + self.iterations:
            _synchronize(pl_module.device)
            self.seconds = time.perf_counter() - self.start
            if pl_module.device.type == "cuda":
                self.gpu_peak_mb = torch.cuda.max_memory_allocated(pl_module.device) / _MB


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def _fit_timed(
    spec: Mapping[str, Any], module: Any, datamodule: Any, timer: IterationTimer
) -> None:
    """A variant through a Lightning Trainer built from the run's trainer config."""
    with tempfile.TemporaryDirectory() as root:
        trainer = hydra.utils.instantiate(
            {**spec["trainer"], "default_root_dir": root},
            callbacks=[timer],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            max_epochs=-1,
        )
        trainer.fit(module, datamodule=datamodule)


def plain_official_loop(
    module: CycleTranslation, loader: Any, warmup: int, iterations: int, device: torch.device
) -> tuple[float, float | None]:
    """What a user of the official U-GAT-IT code runs: a plain PyTorch loop (no Lightning, no
    logging, no checks) in its order, over the same networks and losses. The D step runs the
    generators and back-propagates into them (fakes not detached); the G step runs them again,
    one call per pass. Returns (seconds of the timed iterations, GPU peak MB or None)."""
    module.to(device).train()
    s = module.optimizer_settings
    generators = [*module.generator_ab.parameters(), *module.generator_ba.parameters()]
    discriminators = [*module.discriminator_a.parameters(), *module.discriminator_b.parameters()]
    opt_g = torch.optim.Adam(generators, lr=s.lr, betas=s.betas, weight_decay=s.weight_decay)
    opt_d = torch.optim.Adam(
        discriminators, lr=s.d_lr or s.lr, betas=s.betas, weight_decay=s.weight_decay
    )
    start, done = None, 0
    while done < warmup + iterations:
        for batch in loader:
            if done == warmup:
                _synchronize(device)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                start = time.perf_counter()
            real_a, real_b = batch["a"].to(device), batch["b"].to(device)
            fake_b, fake_a = module.generator_ab(real_a).image, module.generator_ba(real_b).image
            d_loss, _ = module.discriminator_loss([("a", real_a, fake_a), ("b", real_b, fake_b)])
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            fake_b_out, fake_a_out = module.generator_ab(real_a), module.generator_ba(real_b)
            sides = [Side("a", real_a, fake_b_out), Side("b", real_b, fake_a_out)]
            g_loss, _ = module.generator_loss(sides)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            module.generator_ab.after_optimizer_step()
            module.generator_ba.after_optimizer_step()
            done += 1
            if done == warmup + iterations:
                break
    _synchronize(device)
    seconds = time.perf_counter() - (start if start is not None else time.perf_counter())
    peak = torch.cuda.max_memory_allocated(device) / _MB if device.type == "cuda" else None
    return seconds, peak


def _trainer_device(trainer_config: Mapping[str, Any]) -> torch.device:
    accelerator = str(trainer_config.get("accelerator", "cpu"))
    return torch.device("cuda" if accelerator in ("gpu", "cuda") else "cpu")


def run_variant(spec: Mapping[str, Any], variant: str) -> dict[str, Any]:
    """Train ``variant`` for warm-up + timed iterations in this process; speed and memory.

    ``spec`` holds the resolved ``model``, ``data`` and ``trainer`` configs, ``seed`` and the
    ``benchmark`` settings. Run it in a fresh process (see the module docstring).
    """
    if variant not in VARIANTS:
        raise ConfigError(f"Unknown benchmark variant {variant!r}; choose one of {VARIANTS}.")
    settings = BenchmarkSettings.from_config(spec["benchmark"])
    seed = int(spec["seed"])
    _reset_peak_rss()
    rss_before = _proc_status_mb("VmRSS")

    if settings.threads:
        torch.set_num_threads(settings.threads)
    pl.seed_everything(seed, workers=True)
    data = dict(spec["data"])
    batch_size = settings.batch_size or int(data.get("batch_size") or 1)
    total = settings.warmup + settings.iterations
    if settings.data == "random":
        datamodule = RandomPairsDataModule(total + 1, int(data["crop_size"]), batch_size, seed)
    else:
        datamodule = hydra.utils.instantiate({**data, "batch_size": batch_size})

    model = {k: v for k, v in spec["model"].items() if not k.startswith("_")}
    model["schedule"] = {**(model.get("schedule") or {}), "max_iterations": total}
    model["schedule"]["max_epochs"] = None
    module_class = ReferenceOrderModule if variant != "ours" else method_class(spec)
    module = module_class(**model)

    timer = IterationTimer(settings.warmup, settings.iterations)
    if variant == "plain":
        datamodule.setup("fit")
        timer.device = _trainer_device(spec["trainer"])
        timer.seconds, timer.gpu_peak_mb = plain_official_loop(
            module,
            datamodule.train_dataloader(),
            settings.warmup,
            settings.iterations,
            timer.device,
        )
    else:
        _fit_timed(spec, module, datamodule, timer)
    if timer.seconds is None:
        raise BenchmarkError(
            f"The {variant!r} run stopped after {module.iteration} of {total} iterations, before "
            "the timed ones ended; check the trainer config (max_steps, max_time, fast_dev_run)."
        )

    if timer.gpu_peak_mb is not None:
        peak = timer.gpu_peak_mb
    else:
        # The kernel updates VmHWM lazily, so it can lag the current RSS by a few pages.
        hwm, rss_now = _proc_status_mb("VmHWM"), _proc_status_mb("VmRSS")
        if hwm is None or rss_now is None or rss_before is None:
            peak = None
        else:
            peak = max(0.0, max(hwm, rss_now) - rss_before)
    return {
        "device": _device_name(timer.device),
        "it_per_s": settings.iterations / timer.seconds,
        "img_per_s": settings.iterations * batch_size / timer.seconds,
        "peak_mem_mb": peak,
        "seconds": timer.seconds,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
    }


def run_child(spec_path: str, variant: str, result_path: str) -> None:
    """Entry of a variant's fresh process: read the spec, run, write the result as JSON."""
    spec = json.loads(Path(spec_path).read_text())
    Path(result_path).write_text(json.dumps(run_variant(spec, variant)))


_CHILD = "import sys; from ugatit.tools.benchmark import run_child; run_child(*sys.argv[1:])"


def _run_in_fresh_process(spec_path: Path, variant: str, folder: Path) -> dict[str, Any]:
    result_path = folder / f"{variant}.json"
    command = [sys.executable, "-c", _CHILD, str(spec_path), variant, str(result_path)]
    process = subprocess.run(command, capture_output=True, text=True)
    if process.returncode != 0 or not result_path.exists():
        output = (process.stdout + process.stderr).strip()
        print(output[-6000:], file=sys.stderr)
        last = output.splitlines()[-1] if output else "no output"
        hint = ""
        if "out of memory" in output.lower():
            hint = " Lower benchmark.batch_size or use a smaller model."
        raise BenchmarkError(
            f"The {variant!r} benchmark run failed (exit status {process.returncode}): {last}{hint}"
        )
    return json.loads(result_path.read_text())


# ---------------------------------------------------------------------------------- orchestration
def method_class(spec: Mapping[str, Any]) -> type[TranslationMethod]:
    """The model config's training method (its ``_target_``), one of the registered methods."""
    return registry.method_class(spec["model"].get("_target_"), "model._target_")


def variants_for(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The reference ordering exists for U-GAT-IT's order (D first) only; CycleGAN's official
    order is the project's own step, and one-sided methods have a single ordering."""
    method = method_class(spec)
    order = spec["model"].get("update_order", "discriminator_first")
    if issubclass(method, CycleTranslation) and order == "discriminator_first":
        return VARIANTS
    return ("ours",)


def _model_name(cfg: DictConfig) -> str:
    """The model config's name (``model=...``), else the generator class."""
    if HydraConfig.initialized():
        name = HydraConfig.get().runtime.choices.get("model")
        if name:
            return str(name)
    return str(cfg.model.generator.get("_target_", "model")).rsplit(".", 1)[-1]


def benchmark_spec(cfg: DictConfig) -> dict[str, Any]:
    """The resolved configs a variant's process needs (plain JSON-able values)."""
    with open_dict(cfg):
        # the run folder is a Hydra interpolation and each variant writes nowhere
        cfg.trainer.default_root_dir = None
    return {
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "trainer": OmegaConf.to_container(cfg.trainer, resolve=True),
        "seed": int(cfg.get("seed") or 0),
        "benchmark": OmegaConf.to_container(cfg.benchmark, resolve=True),
    }


def _check_one_device(trainer: Mapping[str, Any]) -> None:
    """Both variants are timed on one device (the reference ordering has no DDP hand-over)."""
    devices = trainer.get("devices", 1)
    count = len(devices) if isinstance(devices, (list, tuple)) else devices
    if str(count) != "1" or int(trainer.get("num_nodes") or 1) != 1:
        raise ConfigError(
            f"The benchmark times one device, but trainer.devices={devices!r} and "
            f"trainer.num_nodes={trainer.get('num_nodes', 1)!r}; use trainer=gpu (or cpu), or "
            "set trainer.devices=1 trainer.num_nodes=1."
        )


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _save_next_to_the_run(cfg: DictConfig, line: str) -> None:
    """Keep the result in the Hydra run folder too (``benchmark.json``), when there is one."""
    try:
        output_dir = OmegaConf.select(cfg, "paths.output_dir")
    except (ValueError, OmegaConfBaseException):  # outside a Hydra run: no such folder
        return
    if not output_dir:
        return
    try:
        atomic.write_text(Path(str(output_dir)) / "benchmark.json", line + "\n")
    except OSError as error:
        print(f"benchmark: could not write benchmark.json: {error}", file=sys.stderr)


def run_benchmark(cfg: DictConfig) -> dict[str, Any]:
    """Time both variants, each in a fresh process; print the result as one JSON line."""
    settings = BenchmarkSettings.from_config(cfg.get("benchmark"))
    spec = benchmark_spec(cfg)
    _check_one_device(spec["trainer"])
    check_discriminator_size(cfg)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ugatit-benchmark-") as folder:
        spec_path = Path(folder) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        for variant in variants_for(spec):
            print(f"benchmark: timing {variant!r} ...", file=sys.stderr, flush=True)
            results[variant] = _run_in_fresh_process(spec_path, variant, Path(folder))
    ours = results["ours"]
    empty = dict.fromkeys(("it_per_s", "img_per_s", "peak_mem_mb"))
    reference = results.get("reference") or empty
    plain = results.get("plain") or empty
    on_gpu = ours["device"] != "cpu"
    summary = {
        "model": _model_name(cfg),
        "device": ours["device"],
        "image_size": int(spec["data"]["crop_size"]),
        "batch_size": ours["batch_size"],
        "iterations": settings.iterations,
        "warmup": settings.warmup,
        "data": settings.data,
        "cpu_threads": ours["threads"],
        "ours": {k: ours[k] for k in ("it_per_s", "img_per_s", "peak_mem_mb")},
        "reference": {k: reference[k] for k in ("it_per_s", "img_per_s", "peak_mem_mb")},
        "plain": {k: plain[k] for k in ("it_per_s", "img_per_s", "peak_mem_mb")},
        "speedup": _ratio(ours["it_per_s"], reference["it_per_s"]),
        "mem_ratio": _ratio(ours["peak_mem_mb"], reference["peak_mem_mb"]),
        "speedup_vs_plain": _ratio(ours["it_per_s"], plain["it_per_s"]),
        "mem_ratio_vs_plain": _ratio(ours["peak_mem_mb"], plain["peak_mem_mb"]),
        "memory": (
            "torch.cuda.max_memory_allocated over the timed iterations"
            if on_gpu
            else "peak RSS (VmHWM) above the process's RSS before the model was built"
        ),
    }
    line = json.dumps(summary)
    _save_next_to_the_run(cfg, line)
    print(line, flush=True)
    return summary
