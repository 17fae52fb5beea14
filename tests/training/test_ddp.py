"""DDP with the two manual steps: 2 CPU processes (gloo) train in lockstep on different images."""

import json
import os
import subprocess
import sys
from pathlib import Path

from ugatit.data.shapes import ensure_shapes

WORKER = Path(__file__).parents[1] / "helpers" / "ddp_worker.py"


def test_two_process_ddp_keeps_ranks_identical_and_splits_the_data(tmp_path):
    root = ensure_shapes(tmp_path / "shapes", image_size=32, n_train=8, n_test=2)
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, str(WORKER), str(root), str(out)],
        capture_output=True,
        # two processes on two cores: one thread each, or they fight over the cores
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # the validation metrics are reduced across ranks, so Lightning has nothing to warn about
    assert "sync_dist" not in result.stderr
    ranks = json.loads(out.read_text())
    assert len(ranks) == 2
    assert [r["iteration"] for r in ranks] == [3, 3]
    # gradients are averaged before every step, so the weights never diverge
    assert ranks[0]["checksum"] == ranks[1]["checksum"]
    # each rank draws its own slice of the epoch
    assert len(ranks[0]["paths"]) == 3 and not set(ranks[0]["paths"]) & set(ranks[1]["paths"])
