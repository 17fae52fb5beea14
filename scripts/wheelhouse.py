"""make wheelhouse: the wheels of every dependency but torch, for machines without network.

python scripts/wheelhouse.py [--out wheelhouse] [--python 3.11 --python 3.12] [--only NAME ...]
(see ugatit.tools.wheelhouse)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ugatit.errors import UserError
from ugatit.tools.wheelhouse import PYTHONS, build

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wheelhouse.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "wheelhouse"), help="output folder")
    parser.add_argument(
        "--python", action="append", help=f"CPython version (repeatable; default {PYTHONS})"
    )
    parser.add_argument("--only", action="append", default=[], help="only these packages")
    args = parser.parse_args(argv)
    try:
        for line in build(Path(args.out), args.python or PYTHONS, args.only):
            print(line)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
