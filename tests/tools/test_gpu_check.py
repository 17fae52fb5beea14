"""make gpu-check on a machine without a GPU: one clear refusal; its report format and the way
it reads the entry points' output, with a stand-in for the commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from helpers import ROOT
from ugatit.tools import gpu_check
from ugatit.tools.gpu_check import GpuCheckError, Measurement, render_markdown


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal needs a machine without CUDA")
def test_without_a_gpu_it_refuses_with_one_message(tmp_path):
    with pytest.raises(GpuCheckError, match="finds none on this machine"):
        gpu_check.run_gpu_check(ROOT, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: make gpu-check measures a CUDA GPU")
    assert "Traceback" not in result.stderr


def test_benchmark_rows_read_the_json_line_and_name_failures(tmp_path):
    calls = []

    def fake_run(command, timeout):
        calls.append(command)
        if "trainer.precision=16-mixed" in command and "model.compile=true" in command:
            return 1, "Traceback ...\nRuntimeError: out of memory", 1.0
        summary = {"ours": {"it_per_s": 12.5, "peak_mem_mb": 9000.0}, "speedup": 3.1}
        summary["speedup_vs_plain"] = 3.4
        return 0, "benchmark: timing ...\n" + json.dumps(summary), 2.0

    rows = gpu_check.benchmark_rows(ROOT, tmp_path, 10, run=fake_run)
    expected = len(gpu_check.MODES) * len(gpu_check.PRECISIONS) * 2 + len(gpu_check.MEMORY_SAVERS)
    assert len(rows) == expected == len(calls)
    saving = [r for r in rows if "checkpointed blocks" in r.setting]
    assert [r.setting for r in saving] == [
        "32-true, checkpointed blocks",
        "bf16-mixed, checkpointed blocks",
    ]
    assert sum("model.generator.checkpoint_blocks=true" in c for c in calls) == 2
    failed = [r for r in rows if not r.ok]
    assert len(failed) == 2 and all("out of memory" in r.note for r in failed)
    good = rows[0]
    assert good.figures["it_per_s"] == 12.5 and good.figures["speedup_vs_plain"] == 3.4
    assert all("data.crop_size=256" in c and "trainer=gpu" in c for c in calls)


def test_the_markdown_report_names_the_gpu_versions_and_every_row():
    report = {
        "gpu": "NVIDIA H200",
        "torch": "2.14.1",
        "cuda": "12.8",
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
            Measurement("train 30 + resume 10", "16-mixed", False, {}, "loss NaN").__dict__,
        ],
    }
    table = render_markdown(report)
    assert table.startswith("GPU: NVIDIA H200; torch 2.14.1, CUDA 12.8; 2026-12-03; 412 s")
    assert (
        "| step ugatit full | bf16-mixed, compile | yes | 25.00 | 11000.00 | 3.20 | 3.50 |" in table
    )
    assert "| train 30 + resume 10 | 16-mixed | NO | - | - | - | - | loss NaN |" in table
