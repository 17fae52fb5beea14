"""What this project does on your GPU, in one command (``make gpu-check``): speed and memory of
the training step in each precision, short real training runs that save and resume, eval and
translate on CUDA. Writes ``gpu_check.json`` and ``gpu_check.md`` (a Markdown table with the GPU
name and the torch / CUDA versions) into the output folder.

Every measurement is a run of the project's own entry points (``src/benchmark.py``,
``src/train.py``, ``src/eval.py``, ``src/translate.py``) in a fresh process, so the check
measures what a user's command does. A machine without a CUDA GPU is refused up front.
"""

from __future__ import annotations

import dataclasses
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

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
# (label, model overrides): U-GAT-IT at 256 px in full and light mode, the paper's networks
MODES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ugatit full", ("model=ugatit",)),
    ("ugatit light", ("model=ugatit_light",)),
)
BASELINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cyclegan", ("model=cyclegan", "model.schedule.max_epochs=null")),
    ("cut", ("model=cut", "model.schedule.max_epochs=null")),
)
# the memory goals for small cards: full mode with the residual blocks checkpointed
MEMORY_SAVERS: tuple[tuple[str, tuple[str, ...], str], ...] = tuple(
    ("ugatit full", ("model=ugatit", "model.generator.checkpoint_blocks=true"), precision)
    for precision in ("32-true", "bf16-mixed")
)
DATA_256 = ("data=shapes", "data.crop_size=256", "data.load_size=286")
TRAIN_ITERATIONS = 30


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


def benchmark_settings() -> list[tuple[str, tuple[str, ...], str, bool, str]]:
    """(label, model overrides, precision, compile, note) of every benchmark row."""
    return [
        (label, model, precision, compiled, "")
        for label, model in MODES
        for precision in PRECISIONS
        for compiled in (False, True)
    ] + [
        (label, model, precision, False, "checkpointed blocks")
        for label, model, precision in MEMORY_SAVERS
    ]


def benchmark_rows(
    root: Path, out: Path, timeout: float, run: Callable = _run
) -> list[Measurement]:
    """The training step of U-GAT-IT full and light at 256 px, batch 1, in every precision,
    with and without compile, against the official ordering and the plain official loop; and
    full mode with activation checkpointing (the small-card memory goals)."""
    rows = []
    for index, (label, model, precision, compiled, extra) in enumerate(benchmark_settings()):
        command = [
            sys.executable,
            str(root / "src" / "benchmark.py"),
            *model,
            *DATA_256,
            "trainer=gpu",
            f"trainer.precision={precision}",
            f"model.compile={str(compiled).lower()}",
            "benchmark.iterations=20",
            "benchmark.warmup=5",
            f"hydra.run.dir={out}/benchmark/{index:02d}_{label.replace(' ', '_')}_{precision}",
        ]
        code, output, seconds = run(command, timeout)
        summary = _last_json_line(output) if code == 0 else None
        setting = ", ".join(
            part for part in (precision, "compile" if compiled else "", extra) if part
        )
        if summary is None:
            rows.append(Measurement(f"step {label}", setting, False, {}, _tail(output)))
            continue
        figures = {
            "it_per_s": summary["ours"]["it_per_s"],
            "peak_mem_mb": summary["ours"]["peak_mem_mb"],
            "speedup_vs_reference": summary.get("speedup"),
            "speedup_vs_plain": summary.get("speedup_vs_plain"),
            "seconds": seconds,
        }
        rows.append(Measurement(f"step {label}", setting, True, figures))
    return rows


def training_rows(root: Path, out: Path, timeout: float, run: Callable = _run) -> list[Measurement]:
    """30 iterations of src/train.py at 256 px in every precision, then a resume that continues
    to 40: finite losses, a checkpoint, the resumed iteration count."""
    rows = []
    for precision in PRECISIONS:
        folder = out / "train" / precision
        common = [
            sys.executable,
            str(root / "src" / "train.py"),
            "model=ugatit_light",
            *DATA_256,
            "trainer=gpu",
            f"trainer.precision={precision}",
            "callbacks.progress_bar=null",
            "logger=csv",
            f"hydra.run.dir={folder}",
        ]
        code, output, seconds = run(
            [*common, f"model.schedule.max_iterations={TRAIN_ITERATIONS}"], timeout
        )
        checkpoint = folder / "checkpoints" / "last.ckpt"
        ok = code == 0 and checkpoint.is_file()
        figures: dict[str, Any] = {"seconds": seconds}
        note = "" if ok else _tail(output)
        if ok:
            resumed_code, resumed_output, _ = run(
                [*common, f"model.schedule.max_iterations={TRAIN_ITERATIONS + 10}"], timeout
            )
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
            figures["iteration_after_resume"] = int(saved.get("iteration", -1))
            finite = all(
                torch.isfinite(v).all()
                for v in saved["state_dict"].values()
                if v.is_floating_point()
            )
            ok = (
                resumed_code == 0
                and finite
                and figures["iteration_after_resume"] == TRAIN_ITERATIONS + 10
            )
            note = "" if ok else _tail(resumed_output)
        rows.append(Measurement("train 30 + resume 10", precision, ok, figures, note))
    return rows


def usage_rows(root: Path, out: Path, timeout: float, run: Callable = _run) -> list[Measurement]:
    """eval and translate on CUDA with the 32-true checkpoint; CycleGAN and CUT steps."""
    rows = []
    checkpoint = out / "train" / "32-true" / "checkpoints" / "last.ckpt"
    for what, command in (
        (
            "eval",
            [
                sys.executable,
                str(root / "src" / "eval.py"),
                f"ckpt_path={checkpoint}",
                *DATA_256,
                "device=cuda",
                "max_images=20",
                f"hydra.run.dir={out}/eval",
            ],
        ),
        (
            "translate",
            [
                sys.executable,
                str(root / "src" / "translate.py"),
                f"ckpt_path={checkpoint}",
                f"input={root / 'data' / 'shapes' / 'round_rect' / 'testA'}",
                f"output={out}/translate",
                "device=cuda",
                "overwrite=true",
            ],
        ),
    ):
        code, output, seconds = run(command, timeout)
        rows.append(
            Measurement(
                what, "cuda", code == 0, {"seconds": seconds}, "" if code == 0 else _tail(output)
            )
        )
    for label, model in BASELINES:
        command = [
            sys.executable,
            str(root / "src" / "benchmark.py"),
            *model,
            *DATA_256,
            "trainer=gpu",
            "benchmark.iterations=20",
            "benchmark.warmup=5",
            f"hydra.run.dir={out}/benchmark/{label}",
        ]
        code, output, seconds = run(command, timeout)
        summary = _last_json_line(output) if code == 0 else None
        figures = (
            {}
            if summary is None
            else {
                "it_per_s": summary["ours"]["it_per_s"],
                "peak_mem_mb": summary["ours"]["peak_mem_mb"],
                "seconds": seconds,
            }
        )
        rows.append(
            Measurement(
                f"step {label}",
                "32-true",
                summary is not None,
                figures,
                "" if summary else _tail(output),
            )
        )
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def render_markdown(report: Mapping[str, Any]) -> str:
    """The Markdown table of a report (also what the README shows)."""
    lines = [
        f"GPU: {report['gpu']}; torch {report['torch']}, CUDA {report['cuda']}; "
        f"{report['date']}; {report['seconds']:.0f} s in all.",
        "",
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


def run_gpu_check(root: Path, out: Path, timeout: float = 240.0) -> dict[str, Any]:
    """Every measurement; writes gpu_check.json and gpu_check.md into ``out``."""
    gpu = require_gpu()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = [
        *training_rows(root, out, timeout),
        *usage_rows(root, out, timeout),
        *benchmark_rows(root, out, timeout),
    ]
    report = {
        "gpu": gpu,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": time.perf_counter() - start,
        "rows": [dataclasses.asdict(r) for r in rows],
    }
    atomic.write_text(out / "gpu_check.json", json.dumps(report, indent=1))
    atomic.write_text(out / "gpu_check.md", render_markdown(report))
    return report
