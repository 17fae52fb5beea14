"""The offline GPU check rehearsed up to the CUDA refusal, as on a lent machine without network:
a fresh Python environment that has torch (with torchvision and their own requirements) and
nothing else gets the GPU check's wheels from `scripts/wheelhouse.py`, installed by
`scripts/offline_gpu_check.sh` into a scratch folder; every import and configuration of the
check's commands must pass, the refusal must come, and the report must be on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

from helpers import ROOT
from ugatit.tools.wheelhouse import GPU_CHECK, GPU_CHECK_LIMIT_MB, requirement_closure

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"
# what the lent machines bring besides torch (its pip list): the check may rely on these
MACHINE_PACKAGES = ("torch", "torchvision", "numpy", "pillow")


def _torch_only_site(folder: Path) -> Path:
    """Links to the venv's torch, torchvision and their requirements, and nothing else."""
    folder.mkdir()
    for name in requirement_closure(MACHINE_PACKAGES):
        dist = metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            source = Path(dist.locate_file(top))
            if top not in ("..", "bin") and source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


@pytest.mark.skipif(torch.cuda.is_available(), reason="the rehearsal ends at the CUDA refusal")
def test_offline_gpu_check_installs_imports_and_reports_up_to_the_refusal(tmp_path):
    wheels = tmp_path / "wheelhouse"
    built = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "wheelhouse.py"), "--out", str(wheels)]
        + ["--python", PYTHON]
        + [arg for name in GPU_CHECK for arg in ("--only", name)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    subset = wheels / f"gpu-check-{TAG}"
    assert len(list(subset.glob("*.whl"))) == len(GPU_CHECK)
    size = sum(p.stat().st_size for p in subset.glob("*.whl")) / 2**20
    assert size < GPU_CHECK_LIMIT_MB

    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    site = _torch_only_site(tmp_path / "torch_only")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "torch_only.pth").write_text(f"{site}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    bare = subprocess.run(
        [
            python,
            "-c",
            "import torch, torchvision\ntry:\n import hydra\nexcept ImportError:\n"
            " print('no hydra')",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bare.stdout.strip() == "no hydra", bare.stderr  # torch alone, as on the lent machine

    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "offline_gpu_check.sh"), str(out)],
        capture_output=True,
        text=True,
        env={**env, "PYTHON": str(python), "WHEELS": str(subset)},
        timeout=600,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "make gpu-check measures a CUDA GPU" in result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads((out / "gpu_check.json").read_text())
    failed = [row for row in report["rows"] if not row["ok"] and row["what"] != "cuda"]
    assert failed == [], [(row["setting"], row["note"]) for row in failed]
    assert {row["setting"] for row in report["rows"] if row["what"] == "import"} == {
        "train.py",
        "benchmark.py",
        "translate.py",
        "eval.py",
    }
    configs = {row["setting"]: row["figures"] for row in report["rows"] if row["what"] == "config"}
    assert configs["train"]["ngf"] == 64 and configs["benchmark 00"]["ngf"] == 64
    assert report["refused"].startswith("make gpu-check measures a CUDA GPU")
    assert "Refused: make gpu-check" in (out / "gpu_check.md").read_text()
