"""The README's picture of the demo page, taken in headless Chromium as the browser test drives it.

    python scripts/demo_screenshot.py --ckpt RUN/checkpoints/last.ckpt [--image FILE] [--out PNG]

It starts ``src/demo.py`` on a free local port, uploads ``--image`` (default: the first test
image of domain A of the built-in shapes data), presses Translate and saves the page as
``docs/demo.png``; it prints the round trip from the click to the translation on the page.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ugatit.tools.demo_browser import ROOT, browser_page, running_demo, upload_and_translate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint to show")
    default_image = ROOT / "data" / "shapes" / "round_rect" / "testA"
    parser.add_argument("--image", type=Path, help=f"image to upload (default: {default_image})")
    parser.add_argument("--direction", default="a2b", choices=["a2b", "b2a"])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "demo.png")
    args = parser.parse_args()
    image = args.image or sorted(default_image.glob("*.png"))[0]
    with tempfile.TemporaryDirectory() as run_dir:
        with running_demo([args.ckpt.resolve()], Path(run_dir)) as url:
            with browser_page(width=1100, height=660) as page:
                shown = upload_and_translate(page, url, image.resolve(), args.direction)
                page.screenshot(path=str(args.out))
    print(f"{args.out}: {shown.status}; {shown.seconds:.2f} s from the click to the picture")


if __name__ == "__main__":
    main()
