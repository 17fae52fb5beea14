"""The end-of-training summary: where everything is, how it went, and the next commands with the
real paths filled in, so nobody digs a run folder name out of the log to follow the README."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from ugatit.training.callbacks import SampleGrid, last_checkpoint_path
from ugatit.training.progress import bar_values, format_value


def shown_path(path: str | Path) -> str:
    """Relative to the working directory when inside it (shorter, and what the user typed from),
    quoted for the shell when needed."""
    path = Path(path)
    try:
        path = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    return shlex.quote(str(path))


def _callback(trainer: pl.Trainer, kind: type) -> Any:
    return next((c for c in trainer.callbacks if isinstance(c, kind)), None)


def _hydra_run() -> Any:
    """The running Hydra job's config, or None when no Hydra run started this process (a test
    composing the config)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get()
    except ValueError:
        return None


def run_overrides() -> list[str]:
    """This run's own command-line choices (experiment, model, data, ...), so that a command that
    continues it composes the same configuration; the checkpoint and length are left to it."""
    hydra_cfg = _hydra_run()
    if hydra_cfg is None:
        return []
    dropped = ("ckpt_path", "model.schedule.max_iterations", "hydra.", "resume")
    return [
        shlex.quote(o) for o in hydra_cfg.overrides.task if not o.lstrip("+~").startswith(dropped)
    ]


def data_overrides(cfg: DictConfig) -> list[str]:
    """The command-line choices that select this run's data (and where it lies), so eval scores
    the same test sets."""
    hydra_cfg = _hydra_run()
    if hydra_cfg is None:
        return []
    overrides = list(hydra_cfg.overrides.task)
    keys = ("data", "paths.data_dir")
    chosen = [o for o in overrides if o.split("=", 1)[0].lstrip("+~").startswith(keys)]
    data_choice = hydra_cfg.runtime.choices.get("data")
    if data_choice and not any(o.startswith("data=") for o in chosen):
        chosen.insert(0, f"data={data_choice}")
    return [shlex.quote(o) for o in chosen]


def figures(trainer: pl.Trainer) -> list[str]:
    """The last losses shown on the progress bar and the quality metrics computed during the run."""
    lines = []
    losses = bar_values(trainer)
    if losses:
        lines.append(
            "last losses: " + ", ".join(f"{k} {format_value(v)}" for k, v in losses.items())
        )
    for callback in trainer.callbacks:  # the metric callbacks say their own results
        lines += getattr(callback, "summary_lines", list)()
    return lines


def next_commands(
    cfg: DictConfig,
    checkpoint: str,
    directions: tuple[str, ...],
    data_root: str | Path | None = None,
    metric_name: str = "",
) -> list[str]:
    """The commands that score, use and continue the run; ``data_root`` is where the data module
    read its images (``data.colours=random`` reads beside ``data.root``)."""
    ckpt = shown_path(checkpoint)
    run_dir = Path(str(cfg.paths.output_dir))
    eval_command = " ".join(["python src/eval.py", f"ckpt_path={ckpt}", *data_overrides(cfg)])
    root = data_root or cfg.data.get("root")
    test_a = Path(str(root or "")) / "testA"
    images = shown_path(test_a) if root and test_a.is_dir() else "YOUR_IMAGES"
    direction = directions[0]
    return [
        f"score it (FID/KID{f', {metric_name}' if metric_name else ''}):",
        f"  {eval_command}",
        "translate images:",
        f"  python src/translate.py ckpt_path={ckpt} input={images} "
        f"output={shown_path(run_dir / 'translated')} direction={direction}",
        "export the generator (ONNX; format=torchscript also works):",
        f"  python src/export.py ckpt_path={ckpt} direction={direction} "
        f"output={shown_path(run_dir / f'generator_{direction}.onnx')}",
        "train longer from here:",
        " ".join(
            [
                "  python src/train.py",
                *run_overrides(),
                f"ckpt_path={ckpt}",
                "model.schedule.max_iterations=N",
            ]
        ),
    ]


def run_summary(cfg: DictConfig, trainer: pl.Trainer, module: pl.LightningModule) -> str:
    """The text printed when training ends (rank zero)."""
    iteration = int(getattr(module, "iteration", 0))
    total = int(getattr(module, "total_iterations", iteration))
    lines = [
        "",
        f"Training finished at iteration {iteration}/{total}.",
        f"run folder:  {shown_path(cfg.paths.output_dir)}",
    ]
    checkpoint = last_checkpoint_path(trainer)
    if checkpoint:
        lines.append(f"checkpoint:  {shown_path(checkpoint)}")
    grid = _callback(trainer, SampleGrid)
    if grid is not None and grid.last_saved is not None:
        lines.append(f"samples:     {shown_path(grid.last_saved)}")
    lines += figures(trainer)
    if checkpoint:
        metric_names = [getattr(c, "metric_name", "") for c in trainer.callbacks]
        lines += ["", "Next:"]
        lines += next_commands(
            cfg,
            checkpoint,
            tuple(getattr(module, "directions", ("a2b",))),
            getattr(trainer.datamodule, "root", None),
            next((name for name in metric_names if name), ""),
        )
    return "\n".join(lines)
