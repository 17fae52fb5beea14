"""A callback the cluster tests add from the command line (``+callbacks.rank_report``): at the end
of training every rank writes ``OUT/rank<N>.json`` with its iteration, the images it drew and a
checksum of its weights, so the test can compare the ranks of a multi-process run."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl


class RankReport(pl.Callback):
    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.paths: list[str] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.paths.extend(batch["a_path"])

    def on_train_end(self, trainer, pl_module) -> None:
        checksum = sum(p.detach().double().sum().item() for p in pl_module.parameters())
        self.out.mkdir(parents=True, exist_ok=True)
        report = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "num_nodes": trainer.num_nodes,
            "iteration": pl_module.iteration,
            "paths": self.paths,
            "checksum": checksum,
        }
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))
