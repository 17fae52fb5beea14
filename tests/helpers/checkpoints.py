"""Tiny trained checkpoints of every model kind, trained once per test session and shared by the
eval, translate and export tests (2 iterations on the session's shapes data)."""

from __future__ import annotations

from pathlib import Path

from helpers import compose_train
from ugatit.training.pipeline import train

# CUT narrowed to 4 channels, one block, four NCE layers of 16 patches
TINY_CUT = [
    "model.generator.ngf=4",
    "model.generator.n_blocks=1",
    "model.discriminator.ndf=4",
    "model.nce.layers=[0,4,8,12]",
    "model.nce.num_patches=16",
    "model.nce.mlp_channels=8",
]
TINY_MODELS = {
    # U-GAT-IT light (the quick-start model, which compose_train chooses), narrowed further
    "light": ["model.generator.ngf=8", "model.discriminator.ndf=8"],
    # full mode at 32 px: the generator only accepts 32x32
    "full": [
        "model=ugatit",
        "data.crop_size=32",
        "data.load_size=36",
        "model.generator.ngf=8",
        "model.generator.n_res=2",
        "model.discriminator.ndf=8",
        "model.discriminator.global_layers=5",
        "model.discriminator.local_layers=4",
    ],
    "cyclegan": [
        "model=cyclegan_small",
        "model.generator.ngf=8",
        "model.generator.n_blocks=1",
        "model.discriminator.ndf=8",
    ],
    "cut": ["model=cut_small", *TINY_CUT],
}


def session_dir(tmp_path_factory, name: str) -> Path:
    path = tmp_path_factory.getbasetemp() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def trained_checkpoint(tmp_path_factory, shapes_dir: Path, model: str) -> Path:
    """last.ckpt of a 2-iteration run of a tiny model on the shapes data, trained once a session."""
    run_dir = session_dir(tmp_path_factory, f"eval_ckpt_{model}")
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    if not checkpoint.exists():
        overrides = [
            *TINY_MODELS[model],
            "model.schedule.max_iterations=2",
            "callbacks.sample_grid=null",
            "callbacks.progress_bar=null",
            "~logger",
            "data.val_samples=0",
        ]
        train(compose_train(run_dir, shapes_dir, overrides))
    assert checkpoint.exists()
    return checkpoint
