"""SIGTERM during a data set download removes the partial files, as Ctrl+C already did.

A subprocess downloads from a local server (127.0.0.1) that sends its body slowly and never
finishes; once the hidden ``.part`` file holds data, the test sends SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ugatit.data.download import ensure_dataset
from ugatit.data.errors import DataError


class _Trickle(BaseHTTPRequestHandler):
    """Announces a 1 GiB zip and sends it slowly (about 6 MB/s) until the client goes away."""

    def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(1 << 30))
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"\0" * 65536)
                self.wfile.flush()
                time.sleep(0.01)
        except OSError:  # the client was stopped
            return

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.daemon = True
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/datasets"
    server.shutdown()
    server.server_close()


DOWNLOAD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ugatit.data.download import ensure_dataset

    ensure_dataset(Path(sys.argv[1]), "toy", sys.argv[2])
    """
)


def _started(data_dir: Path) -> bool:
    return any(p.stat().st_size > 0 for p in data_dir.glob(".toy-*.zip.part"))


def test_rel_sigterm_during_a_download_leaves_no_partial_file(tmp_path, slow_url):
    """The default SIGTERM action ended the process at once and left the hidden .part file."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    command = [sys.executable, "-c", DOWNLOAD, str(data_dir / "toy"), slow_url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _started(data_dir):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGTERM, stderr[-2000:]  # still ended by SIGTERM
    assert list(data_dir.iterdir()) == []  # no .part file, no extraction folder, no data set


def test_rel_sigterm_with_a_handler_of_its_own_runs_it_and_cleans_up(tmp_path, slow_url):
    """An earlier SIGTERM handler (a trainer's, say) is restored and called; the download then
    ends in one message instead of going on."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    calls = []

    def previous(signum: int, frame: object) -> None:
        calls.append(signum)

    def terminate_once_started() -> None:
        deadline = time.monotonic() + 60
        while not _started(data_dir) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    original = signal.signal(signal.SIGTERM, previous)
    try:
        threading.Thread(target=terminate_once_started, daemon=True).start()
        with pytest.raises(DataError) as info:
            ensure_dataset(data_dir / "toy", "toy", slow_url)
        assert signal.getsignal(signal.SIGTERM) is previous  # restored
    finally:
        signal.signal(signal.SIGTERM, original)
    assert calls == [signal.SIGTERM]
    assert str(info.value) == (
        "The download was stopped by SIGTERM; its partial files were removed. Run again to "
        "download the data set."
    )
    assert list(data_dir.iterdir()) == []
