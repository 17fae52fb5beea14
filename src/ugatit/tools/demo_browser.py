"""Driving the demo page in a real headless Chromium, as a user would: start ``src/demo.py``,
upload an image, press Translate, read the pictures the page shows.

The demo's browser test and ``scripts/demo_screenshot.py`` (the README's picture) use it. It needs
Playwright (the dev extra) and a Chromium binary: Debian's ``chromium`` package, which ``make
test`` installs when it is missing, or ``CHROMIUM=/path/to/chrome``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urljoin

from PIL import Image

from ugatit.inference.demo import DIRECTION_LABELS

ROOT = Path(__file__).resolve().parents[3]


class BrowserUnavailable(RuntimeError):
    """No Chromium to drive."""


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    raise BrowserUnavailable(
        "No Chromium found: install Debian's package (apt-get install chromium) or set "
        "CHROMIUM=/path/to/chrome."
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_demo(
    checkpoints: Sequence[Path],
    run_dir: Path,
    extra: Sequence[str] = (),
    timeout_s: float = 120,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """``src/demo.py`` serving ``checkpoints`` on a free local port (``env`` added to its
    environment); yields its URL."""
    port = free_port()
    listed = ",".join(str(p) for p in checkpoints)
    command = [
        sys.executable,
        str(ROOT / "src" / "demo.py"),
        f"ckpt_path=[{listed}]",
        f"port={port}",
        "device=cpu",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]
    log_file = (Path(run_dir) / "server.log").open("w") if Path(run_dir).is_dir() else None
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=log_file or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"src/demo.py stopped with status {server.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"src/demo.py did not answer on {url} in {timeout_s:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        if log_file:
            log_file.close()


@dataclasses.dataclass
class PageResult:
    translation: Image.Image
    heatmap: Image.Image | None
    status: str
    seconds: float  # from the click to the translation on the page


@contextlib.contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def _picture(page, base_url: str, selector: str) -> Image.Image | None:
    found = page.locator(f"{selector} img")
    if found.count() == 0:
        return None
    source = found.first.get_attribute("src")
    body = page.request.get(urljoin(base_url, source)).body()
    return Image.open(io.BytesIO(body)).convert("RGB")


def _open_and_upload(page, url: str, path: Path, timeout_s: float, choose=None, tries: int = 3):
    """Open the page, make the choices (``choose(page)``), choose ``path`` in the upload box and
    wait until the page names it. On a loaded machine the page can take the file before its
    scripts listen (CI once waited 60 s for a name that never came), so the page is opened again,
    up to ``tries`` times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        page.goto(url)
        page.wait_for_load_state("load")
        page.locator("#translate").wait_for(timeout=timeout_s * 1000)
        if choose is not None:
            choose(page)
        page.locator("#upload input[type=file]").set_input_files(str(path))
        shown = page.locator("#upload").get_by_text(Path(path).name).first
        try:
            shown.wait_for(timeout=timeout_s * 1000 / tries)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def upload_and_translate(
    page,
    url: str,
    image: Path,
    direction: str = "a2b",
    checkpoint: str | None = None,
    timeout_s: float = 60,
) -> PageResult:
    """Open the page, choose, upload ``image``, press Translate; the pictures shown."""

    def choose(page) -> None:
        if checkpoint is not None:
            page.locator("#checkpoint input").fill(checkpoint)
            page.keyboard.press("Enter")
        page.get_by_label(DIRECTION_LABELS[direction]).check()

    _open_and_upload(page, url, image, timeout_s, choose)
    start = time.monotonic()
    page.locator("#translate").click()
    page.locator("#translation img").wait_for(timeout=timeout_s * 1000)
    seconds = time.monotonic() - start
    status = page.locator("#status").inner_text()
    return PageResult(
        _picture(page, url, "#translation"), _picture(page, url, "#heatmap"), status, seconds
    )


def page_error(page, url: str, upload: Path, timeout_s: float = 30) -> str:
    """Upload a file the demo must refuse and press Translate: the message the page shows."""
    _open_and_upload(page, url, upload, timeout_s)
    page.locator("#translate").click()
    toast = page.locator(".toast-body")
    toast.first.wait_for(timeout=timeout_s * 1000)
    return toast.first.inner_text()


def upload_refusal(page, url: str, upload: Path, timeout_s: float = 30) -> str:
    """Upload a file the page refuses on arrival (over the byte limit): the message shown."""
    page.goto(url)
    page.locator("#upload input[type=file]").set_input_files(str(upload))
    toast = page.locator(".toast-body")
    toast.first.wait_for(timeout=timeout_s * 1000)
    return toast.first.inner_text()
