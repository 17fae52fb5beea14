"""Convert official checkpoints into this project's format.

    python src/convert.py ugatit INPUT OUTPUT
    python src/convert.py cyclegan [--a2b FILE] [--b2a FILE] OUTPUT
    python src/convert.py cut latest_net_G.pth OUTPUT

An existing OUTPUT is replaced only with --overwrite.

INPUT is a U-GAT-IT PyTorch-port ``save()`` file; --a2b/--b2a are official CycleGAN generators
(latest_net_G_A.pth is A->B, latest_net_G_B.pth is B->A); a CUT INPUT is latest_net_G.pth (A->B).
The logic lives in ugatit.tools.convert.
"""

from __future__ import annotations

import argparse
import sys

from ugatit.errors import UserError
from ugatit.tools.convert import convert_cut, convert_cyclegan, convert_ugatit, describe


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="convert.py", description="Convert official U-GAT-IT, CycleGAN or CUT checkpoints."
    )
    formats = parser.add_subparsers(dest="format", required=True)
    ugatit = formats.add_parser("ugatit", help="U-GAT-IT PyTorch port checkpoint (genA2B, ...)")
    ugatit.add_argument("input", help="the port's saved params file (*.pt)")
    ugatit.add_argument("output", help="converted Lightning checkpoint to write (*.ckpt)")
    cyclegan = formats.add_parser("cyclegan", help="official CycleGAN generator state dicts")
    cyclegan.add_argument("--a2b", help="A->B generator (latest_net_G_A.pth or NAME.pth)")
    cyclegan.add_argument("--b2a", help="B->A generator (latest_net_G_B.pth)")
    cyclegan.add_argument("output", help="converted Lightning checkpoint to write (*.ckpt)")
    cut = formats.add_parser("cut", help="official CUT / FastCUT generator state dict")
    cut.add_argument("input", help="the generator (latest_net_G.pth)")
    cut.add_argument("output", help="converted Lightning checkpoint to write (*.ckpt)")
    for command in (ugatit, cyclegan, cut):
        command.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one conversion; a user-fixable problem prints its one message and returns 1."""
    args = parse_args(argv)
    try:
        if args.format == "ugatit":
            result = convert_ugatit(args.input, args.output, args.overwrite)
        elif args.format == "cut":
            result = convert_cut(args.input, args.output, args.overwrite)
        else:
            result = convert_cyclegan(args.output, args.a2b, args.b2a, args.overwrite)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(describe(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
