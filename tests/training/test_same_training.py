"""U-GAT-IT trains exactly as before the one-loop redesign: a seeded short quick-start run
(``model=ugatit_small`` on the built-in shapes, 30 iterations, seed 3) translates the first four
test images of each domain as the code before the redesign did (commit f1acbd1).

The stored figures (``data/quickstart_seed3_30it.pt``, uint8 translations) were first computed by
that commit with the same overrides; the redesign reproduced them exactly (0/255 apart). They depend
on the shapes generator's version: when only the generator changes on purpose (as in version 6),
regenerate them with ``_run`` below in the commit that changes it, and check that the previous
commit still passes with the previous figures, so the training code is known unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import compose_train
from ugatit.data.shapes import GENERATOR_VERSION
from ugatit.inference.translation import load_checkpoint
from ugatit.training.pipeline import train

pytestmark = pytest.mark.usefixtures("one_thread")

STORED = Path(__file__).with_name("data") / "quickstart_seed3_30it.pt"
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


def test_quick_start_translations_equal_the_code_before_the_redesign(tmp_path, shapes_dir):
    assert GENERATOR_VERSION == STORED_WITH_GENERATOR, "regenerate the stored figures (docstring)"
    stored = torch.load(STORED, weights_only=True)
    now = _run(tmp_path, shapes_dir)
    for direction in ("a2b", "b2a"):
        difference = (now[direction].int() - stored[direction].int()).abs().max().item()
        assert difference <= 2, f"{direction}: {difference}/255 apart"
        # the run trained: its translations are not the inputs' flat background
        assert now[direction].float().std() > 10
