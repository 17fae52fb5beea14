"""make gpu-check on a machine without a GPU: the preflight, one clear refusal and the report on
disk; with a stand-in for the GPU and the commands: the rows it runs, the budget that drops the
last ones, and the report rewritten after every row."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

from helpers import ROOT
from ugatit.tools import gpu_check
from ugatit.tools.gpu_check import GpuCheckError, Measurement, render_markdown


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal needs a machine without CUDA")
def test_without_a_gpu_it_refuses_with_one_message_after_the_preflight(tmp_path):
    with pytest.raises(GpuCheckError, match="finds none on this machine"):
        gpu_check.run_gpu_check(ROOT, tmp_path / "out")
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert report["refused"].startswith("make gpu-check measures a CUDA GPU")
    assert all(row["ok"] for row in report["rows"] if row["what"] in ("import", "config"))
    assert not (tmp_path / "out" / "train").exists()  # nothing ran after the refusal
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: make gpu-check measures a CUDA GPU")
    assert "Report so far:" in result.stderr and "Traceback" not in result.stderr


def _stand_in(out, seen_rows):
    """A fake `_run`: benchmarks print a summary line, trainings write a checkpoint; every call
    records how many rows the report on disk held when it started."""

    def run(command, timeout):
        report = out / "gpu_check.json"
        seen_rows.append(len(json.loads(report.read_text())["rows"]) if report.exists() else 0)
        script = command[1].rsplit("/", 1)[-1]
        if script == "train.py":
            folder = next(a for a in command if a.startswith("hydra.run.dir=")).split("=", 1)[1]
            iterations = int(re.search(r"max_iterations=(\d+)", " ".join(command)).group(1))
            path = gpu_check.Path(folder) / "checkpoints" / "last.ckpt"
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"iteration": iterations, "state_dict": {"w": torch.ones(2)}}, path)
            return 0, "", 1.0
        if script == "benchmark.py":
            if "model.compile=true" in command:
                return 1, "Traceback ...\nRuntimeError: out of memory", 1.0
            summary = {"ours": {"it_per_s": 12.5, "peak_mem_mb": 9000.0}, "speedup": 3.1}
            return 0, "timing ...\n" + json.dumps({**summary, "speedup_vs_plain": 3.4}), 2.0
        return 0, "", 1.0

    return run


def test_rows_are_written_one_by_one_and_failures_are_named(tmp_path):
    out, seen = tmp_path / "out", []
    report = gpu_check.run_gpu_check(
        ROOT, out, run=_stand_in(out, seen), gpu=lambda: "Stand-in GPU", budget=10_000
    )
    rows = report["rows"]
    measured = [r for r in rows if r["what"] not in ("import", "config")]
    names = [r["what"] for r in measured]
    assert names[:2] == ["train 30 + resume 10", "translate"]
    assert measured[0]["ok"] and measured[0]["figures"]["iteration_after_resume"] == 40
    assert sum(n.startswith("step ") for n in names) == len(gpu_check.BENCHMARKS)
    compiled = [r for r in measured if "compile" in r["setting"]]
    assert len(compiled) == 1 and not compiled[0]["ok"] and "out of memory" in compiled[0]["note"]
    step = next(r for r in measured if r["what"] == "step ugatit full")
    assert step["figures"]["it_per_s"] == 12.5 and step["figures"]["speedup_vs_plain"] == 3.4
    # each command started after the rows before it were on disk (two runs in the training row)
    assert seen == sorted(seen) and seen[-1] == len(rows) - 1
    on_disk = json.loads((out / "gpu_check.json").read_text())
    assert on_disk["gpu"] == "Stand-in GPU" and len(on_disk["rows"]) == len(rows)


def test_a_short_budget_skips_the_last_rows_and_says_so(tmp_path):
    out, seen, now, train_timeouts = tmp_path / "out", [], [0.0], []
    stand_in = _stand_in(out, seen)

    def slow_run(command, timeout):
        now[0] += 50.0  # each command takes 50 s of a pretend clock
        if command[1].endswith("train.py"):
            train_timeouts.append(timeout)
        return stand_in(command, timeout)

    report = gpu_check.run_gpu_check(
        ROOT, out, run=slow_run, gpu=lambda: "Stand-in GPU", budget=300, clock=lambda: now[0]
    )
    measured = [r for r in report["rows"] if r["what"] not in ("import", "config")]
    ran = [r for r in measured if not r["note"].startswith("skipped: ")]
    # train (2 commands), translate, eval, then steps while their estimate fits what is left
    assert 0 < len(ran) < len(measured) == 3 + len(gpu_check.BENCHMARKS)
    assert measured[-1]["note"].startswith("skipped: ") and "300 s budget" in measured[-1]["note"]
    assert len(seen) * 50.0 <= 300
    # the resume gets what the first training run (1 s by the stand-in) left of the row's time
    assert train_timeouts == [240.0, 239.0]


def test_the_markdown_report_names_the_gpu_versions_and_every_row():
    report = {
        "gpu": "NVIDIA H200",
        "torch": "2.11.0",
        "cuda": "13.0",
        "python": "3.12.3",
        "date": "2026-12-03",
        "seconds": 412.0,
        "rows": [
            Measurement(
                "step ugatit full",
                "bf16-mixed, compile",
                True,
                {
                    "it_per_s": 25.0,
                    "peak_mem_mb": 11000.0,
                    "speedup_vs_reference": 3.2,
                    "speedup_vs_plain": 3.5,
                },
            ).__dict__,
            Measurement("train 30 + resume 10", "bf16-mixed", False, {}, "loss NaN").__dict__,
        ],
    }
    table = render_markdown(report)
    assert table.startswith(
        "GPU: NVIDIA H200; torch 2.11.0, CUDA 13.0; Python 3.12.3; 2026-12-03; 412 s"
    )
    assert (
        "| step ugatit full | bf16-mixed, compile | yes | 25.00 | 11000.00 | 3.20 | 3.50 |" in table
    )
    assert "| train 30 + resume 10 | bf16-mixed | NO | - | - | - | - | loss NaN |" in table
