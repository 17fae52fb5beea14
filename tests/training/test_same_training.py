"""U-GAT-IT trains exactly as before the one-loop redesign: a seeded short quick-start run
(``model=ugatit_small`` on the built-in shapes, 30 iterations, seed 3) translates the first four
test images of each domain as the code before the redesign did (commit f1acbd1).

The run uses portable arithmetic (``PORTABLE``: ATen's plain kernels, oneDNN off, MKL's
conditional reproducibility), so every x86 machine computes the same numbers; with the kernels
each CPU picks for itself, two machines (AVX-512 and AVX2) ended the same 30 iterations up to
113/255 apart. Hence the training runs in a subprocess that sets them before torch is imported.

The stored figures (``data/quickstart_seed3_30it.pt``, uint8 translations) were computed with
portable arithmetic by commit abf77ad, whose training equals the redesign's first commit
(which reproduced f1acbd1 exactly). Portable arithmetic is not the same on every CPU after all:
on an Intel Xeon with AMX (2026-12-06) abf77ad's training code, as landed in 0a56a72, ends 104/255
away from them, and the code of that day equals 0a56a72 there bit for bit (all 284 tensors).
``data/quickstart_seed3_30it_amx.pt`` holds 0a56a72's figures from that machine; a run must
match one of the stored sets, each made by the known-good code. They depend on the shapes generator's version: when only the
generator changes on purpose, regenerate them with ``python
tests/training/test_same_training.py OUT.pt`` in the commit that changes it, and check that the
previous commit still passes with the previous figures, so the training code is known unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

if __name__ == "__main__":  # run as a script: the tests' helpers package beside this folder
    sys.path.insert(0, str(Path(__file__).parents[1]))

from helpers import compose_train  # noqa: E402
from ugatit.data.shapes import GENERATOR_VERSION  # noqa: E402
from ugatit.inference.translation import load_checkpoint  # noqa: E402
from ugatit.training.pipeline import train  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

# the known-good code's figures, one set per kind of CPU it was run on (docstring)
STORED = [
    Path(__file__).with_name("data") / name
    for name in ("quickstart_seed3_30it.pt", "quickstart_seed3_30it_amx.pt")
]
STORED_WITH_GENERATOR = 6  # shapes GENERATOR_VERSION the stored figures were made with
OVERRIDES = [
    "trainer=cpu",
    "logger=csv",
    "model.schedule.max_iterations=30",
    "callbacks.progress_bar=null",
    "++callbacks.shape_metric=null",
    "callbacks.sample_grid=null",
    "data.val_samples=2",
    "seed=3",
    # the unbatched step, as before the redesign; tests/training/test_batched_step.py checks
    # that the batched one computes the same losses and gradients
    "model.batch_generator_calls=false",
    "model.batch_discriminator_calls=false",
    # the joint step; tests/training/test_parallel_directions.py checks the parted one
    "model.parallel_directions=false",
    # the quick-start recipe when the figures were stored (cycle 5 and EMA 0.997 came later)
    "model.loss.cycle_weight=10",
    "model.ema_decay=0.99",
    # and before the colour-blind terms and the figure-ground discriminators (section 6)
    "model.loss.cycle_colour=true",
    "model.discriminator_input=image",
    "model.generator.colour_relative=false",
    "flush_denormal=false",
]


def _run(tmp_path: Path, data_dir: Path) -> dict[str, torch.Tensor]:
    train(compose_train(tmp_path, data_dir, OVERRIDES))
    loaded = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    pair = data_dir / "shapes" / "round_rect"
    result = {}
    for direction, folder in (("a2b", "testA"), ("b2a", "testB")):
        files = sorted((pair / folder).iterdir())[:4]
        images = [np.array(Image.open(f).convert("RGB")) for f in files]
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
        with torch.no_grad():
            y = loaded.module(x, direction).image
        result[direction] = ((y.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return result


# read before torch is imported: the same arithmetic on every x86 CPU (docstring)
PORTABLE = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "UGATIT_NO_MKLDNN": "1"}


def _run_portably(tmp_path: Path, data_dir: Path) -> dict[str, torch.Tensor]:
    """``_run`` in a fresh interpreter with ``PORTABLE`` arithmetic (one thread)."""
    out = tmp_path / "translations.pt"
    env = {**os.environ, **PORTABLE, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, __file__, str(out), str(tmp_path / "run"), str(data_dir)],
        env=env,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    return torch.load(out, weights_only=True)


def test_quick_start_translations_equal_the_code_before_the_redesign(tmp_path, shapes_dir):
    assert GENERATOR_VERSION == STORED_WITH_GENERATOR, "regenerate the stored figures (docstring)"
    now = _run_portably(tmp_path, shapes_dir)
    apart = []
    for path in STORED:
        stored = torch.load(path, weights_only=True)
        apart.append(
            max((now[d].int() - stored[d].int()).abs().max().item() for d in ("a2b", "b2a"))
        )
    assert min(apart) <= 2, f"{apart}/255 apart from the stored sets {[p.name for p in STORED]}"
    for direction in ("a2b", "b2a"):
        # the run trained: its translations are not the inputs' flat background
        assert now[direction].float().std() > 10


if __name__ == "__main__":  # the subprocess of _run_portably: OUT [RUN_DIR DATA_DIR]
    import tempfile

    torch.set_num_threads(1)
    if os.environ.get("UGATIT_NO_MKLDNN"):
        torch.backends.mkldnn.enabled = False
    target = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(scratch) / "run"
        data_dir = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(scratch) / "data"
        run_dir.mkdir(parents=True, exist_ok=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        torch.save(_run(run_dir, data_dir), target)
