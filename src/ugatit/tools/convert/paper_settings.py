"""The papers' training settings written into converted checkpoints (REFERENCE.md sections 4, 5, 7
and 11). conf/model/{ugatit,cyclegan,cut}.yaml state the same values for training;
tests/tools/test_paper_settings.py checks that the two agree."""

from __future__ import annotations

from typing import Any

UGATIT_TRAINING: dict[str, Any] = {
    "loss": {
        "gan_mode": "lsgan",
        "adv_weight": 1.0,
        "cycle_weight": 10.0,
        "identity_weight": 10.0,
        "cam_weight": 1000.0,
        "d_loss_scale": 1.0,
    },
    "optimizer": {"lr": 1e-4, "betas": [0.5, 0.999], "weight_decay": 1e-4},
    "schedule": {"max_iterations": 1_000_000, "decay_start": 0.5},
    "pool_size": 0,
    "update_order": "discriminator_first",
}


CYCLEGAN_TRAINING: dict[str, Any] = {
    "loss": {
        "gan_mode": "lsgan",
        "adv_weight": 1.0,
        "cycle_weight": 10.0,
        "identity_weight": 5.0,
        "cam_weight": 0.0,
        "d_loss_scale": 0.5,
    },
    "optimizer": {"lr": 2e-4, "betas": [0.5, 0.999], "weight_decay": 0.0},
    "schedule": {"max_iterations": None, "max_epochs": 200, "decay_start": 0.5},
    "pool_size": 50,
    "update_order": "generator_first",
}


CUT_TRAINING: dict[str, Any] = {
    "loss": {
        "gan_mode": "lsgan",
        "adv_weight": 1.0,
        "nce_weight": 1.0,
        "nce_identity": True,
        "flip_equivariance": False,
        "d_loss_scale": 0.5,
    },
    "nce": {
        "layers": [0, 4, 8, 12, 16],
        "num_patches": 256,
        "temperature": 0.07,
        "mlp_channels": 256,
    },
    "optimizer": {"lr": 2e-4, "betas": [0.5, 0.999], "weight_decay": 0.0},
    "schedule": {"max_iterations": None, "max_epochs": 400, "decay_start": 0.5},
}
