"""The table of docs/quality.md from finished training runs on the built-in shapes data.

    python scripts/quality_table.py logs/quality/*          # one Markdown row per run folder

Each row: the run's command-line overrides (.hydra/overrides.yaml), its last iteration, its wall
time in minutes (first to last line of train.log), and the shape metric at the last iteration it
was measured (csv/metrics.csv): success A->B and B->A, centroid error and size ratio per
direction. Runs: folders made with the command in docs/quality.md ("How each run was made").
"""

from __future__ import annotations

import argparse
import csv
import math
import re
from datetime import datetime
from pathlib import Path

import yaml

HEADER = (
    "| run | overrides | iterations | minutes | success A->B | success B->A | "
    "centroid error A->B / B->A | size ratio A->B / B->A |"
)
SKIPPED = ("trainer=cpu", "logger=csv")  # the same in every run of the table
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+\]")


def overrides(run: Path) -> str:
    path = run / ".hydra" / "overrides.yaml"
    items = yaml.safe_load(path.read_text()) if path.is_file() else []
    kept = [item for item in items or [] if item not in SKIPPED]
    return " ".join(f"`{item}`" for item in kept) or "(quick start as shipped)"


def minutes(run: Path) -> float:
    stamps = [
        datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
        for line in (run / "train.log").read_text().splitlines()
        if (m := _STAMP.match(line))
    ]
    return (stamps[-1] - stamps[0]).total_seconds() / 60 if len(stamps) > 1 else math.nan


def last_shape_row(run: Path) -> dict[str, str]:
    rows = list(csv.DictReader((run / "csv" / "metrics.csv").open()))
    measured = [r for r in rows if r.get("val/shape_success_a2b")]
    if not measured:
        return {}
    last = measured[-1]
    # the iteration of that row: the latest train/iteration logged at or before its step
    steps = [r for r in rows if r.get("train/iteration") and int(r["step"]) <= int(last["step"])]
    last["iteration"] = str(int(float(steps[-1]["train/iteration"]))) if steps else "?"
    return last


def row(run: Path) -> str:
    m = last_shape_row(run)
    if not m:
        return f"| {run.name} | {overrides(run)} | - | - | no shape metric logged | | | |"

    def f(key: str, digits: int = 2) -> str:
        """The value, or "-" for a direction the model does not have (one-sided CUT)."""
        return f"{float(m[key]):.{digits}f}" if m.get(key) not in (None, "") else "-"

    return (
        f"| {run.name} | {overrides(run)} | {m['iteration']} | {minutes(run):.1f} | "
        f"{f('val/shape_success_a2b')} | {f('val/shape_success_b2a')} | "
        f"{f('val/shape_centroid_error_a2b', 3)} / {f('val/shape_centroid_error_b2a', 3)} | "
        f"{f('val/shape_size_ratio_a2b')} / {f('val/shape_size_ratio_b2a')} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (hydra.run.dir)")
    args = parser.parse_args(argv)
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    for run in args.runs:
        if (run / "csv" / "metrics.csv").is_file():
            print(row(run))


if __name__ == "__main__":
    main()
