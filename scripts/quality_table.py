"""The table of docs/quality.md from finished training runs on the built-in shapes or glyphs.

    python scripts/quality_table.py logs/quality/*          # one Markdown row per run folder

Each row: the run's command-line overrides (.hydra/overrides.yaml), its last iteration, its wall
time in minutes (first to last line of train.log), and the shape or glyph metric at the last
iteration it was measured (csv/metrics.csv): shape success (glyph joint) A->B and B->A, centroid
error, and size ratio (glyph style and letter) per direction. Runs: folders made with the command in docs/quality.md ("How each run was made").
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
    "| run | overrides | iterations | minutes | measure | A->B | B->A | "
    "centroid error A->B / B->A | detail A->B / B->A |"
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


# metric prefix -> (headline key, the detail keys shown after the centroid error)
METRICS = {
    "shape": ("success", ("size_ratio",)),
    "glyph": ("joint", ("style", "letter")),
}


def last_measured_row(run: Path) -> tuple[str, dict[str, str]]:
    """The metric the run logged (shape or glyph) and its last measured row."""
    rows = list(csv.DictReader((run / "csv" / "metrics.csv").open()))
    for prefix, (headline, _) in METRICS.items():
        measured = [r for r in rows if r.get(f"val/{prefix}_{headline}_a2b")]
        if not measured:
            continue
        last = measured[-1]
        # the iteration of that row: the latest train/iteration logged at or before its step
        steps = [
            r for r in rows if r.get("train/iteration") and int(r["step"]) <= int(last["step"])
        ]
        last["iteration"] = str(int(float(steps[-1]["train/iteration"]))) if steps else "?"
        return prefix, last
    return "", {}


def row(run: Path) -> str:
    prefix, m = last_measured_row(run)
    if not m:
        return (
            f"| {run.name} | {overrides(run)} | - | - | no shape or glyph metric logged | | | | |"
        )
    headline, details = METRICS[prefix]

    def f(name: str, direction: str, digits: int = 2) -> str:
        """The value, or "-" for a direction the model does not have (one-sided CUT)."""
        value = m.get(f"val/{prefix}_{name}_{direction}")
        return f"{float(value):.{digits}f}" if value not in (None, "") else "-"

    detail = ", ".join(f"{name} {f(name, 'a2b')} / {f(name, 'b2a')}" for name in details)
    return (
        f"| {run.name} | {overrides(run)} | {m['iteration']} | {minutes(run):.1f} | "
        f"{prefix} {headline} | {f(headline, 'a2b')} | {f(headline, 'b2a')} | "
        f"{f('centroid_error', 'a2b', 3)} / {f('centroid_error', 'b2a', 3)} | {detail} |"
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
