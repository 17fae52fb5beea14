"""Train the same seeded run with the batched and the separate step; compare the translations.

python scripts/step_equivalence.py [--iterations 30] [--threads 2] [--out DIR] [OVERRIDE ...]

OVERRIDE: Hydra overrides for both runs (default: the quick start, data=shapes), e.g.
trainer.precision=64-true. See ugatit.tools.step_equivalence.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ugatit.errors import UserError
from ugatit.tools.step_equivalence import compare

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="step_equivalence.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for both runs")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-root", default=str(ROOT / "data" / "shapes" / "round_rect"))
    parser.add_argument("--out", default=str(ROOT / "logs" / "step_equivalence"))
    args = parser.parse_args(argv)
    try:
        report = compare(
            ROOT,
            Path(args.out),
            Path(args.data_root),
            args.iterations,
            args.overrides,
            args.threads,
        )
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
