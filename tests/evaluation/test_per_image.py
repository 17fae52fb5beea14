"""The translation metrics' per-image values are gathered across DDP ranks (torchmetrics): each
rank scores its share and every rank reduces the same values, in image order, to the numbers one
process scoring every image gets."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ugatit.evaluation.per_image import reduce_values, share
from ugatit.tools.demo_browser import free_port

WORKER = Path(__file__).parents[1] / "helpers" / "gather_worker.py"
sys.path.insert(0, str(WORKER.parent))
from gather_worker import values  # noqa: E402


def test_the_shares_cover_every_image_once_in_order():
    for count in (0, 1, 5, 50):
        for world in (1, 2, 3, 8):
            indices = [i for r in range(world) for i in range(count)[share(count, r, world)]]
            assert indices == list(range(count))


def test_the_reduction_takes_means_medians_and_skips_what_does_not_apply():
    scores = reduce_values(values(10), medians=("size_ratio",))
    assert scores["success"] == pytest.approx(0.4) and scores["n"] == 10
    finite = [i**2 / 7 for i in range(10) if i != 3]
    assert scores["size_ratio"] == pytest.approx(sorted(finite)[(len(finite) - 1) // 2])
    assert math.isnan(reduce_values({"x": torch.tensor([math.nan])})["x"])


@pytest.mark.parametrize("count", [9, 1])  # uneven shares; a rank with no image at all
def test_two_ranks_gather_what_one_process_scores(tmp_path, count):
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outs = [tmp_path / f"rank{r}.json" for r in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(r), "2", str(port), str(count), str(outs[r])],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
    reports = [json.loads(out.read_text()) for out in outs]
    assert sum(r["mine"] for r in reports) == count
    expected = values(count)
    single = reduce_values(expected, medians=("size_ratio",))
    for report in reports:
        gathered = {k: torch.tensor(v) for k, v in report["gathered"].items()}
        assert torch.equal(gathered["success"], expected["success"])
        assert torch.allclose(gathered["size_ratio"], expected["size_ratio"], equal_nan=True)
        assert report["scores"] == pytest.approx(single, nan_ok=True)
