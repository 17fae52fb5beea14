"""make gpu-check: what this project does on your GPU (see ugatit.tools.gpu_check).

python scripts/gpu_check.py [--out logs/gpu_check] [--timeout 240] [--budget 420]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ugatit.errors import UserError
from ugatit.tools.gpu_check import BUDGET_S, render_markdown, run_gpu_check

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "logs" / "gpu_check"), help="output folder")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per command")
    parser.add_argument(
        "--budget", type=float, default=BUDGET_S, help="seconds in all; later rows are skipped"
    )
    args = parser.parse_args(argv)
    try:
        report = run_gpu_check(ROOT, Path(args.out), args.timeout, args.budget)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        if (Path(args.out) / "gpu_check.json").is_file():
            print(f"Report so far: {Path(args.out) / 'gpu_check.md'}", file=sys.stderr)
        return 1
    print(render_markdown(report))
    print(f"Written: {Path(args.out) / 'gpu_check.json'} and gpu_check.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
