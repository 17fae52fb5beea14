"""Dataset download against a local HTTP server: success, caching, and clean failures."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from ugatit.data.download import ensure_dataset
from ugatit.data.errors import DataError
from ugatit.data.images import list_images

COUNTS = {"trainA": 3, "trainB": 2, "testA": 1, "testB": 2}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 99, 199)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _dataset_members(top: str = "toy/", counts: dict[str, int] = COUNTS) -> dict[str, bytes]:
    image = _png()
    return {f"{top}{split}/{i}.png": image for split, n in counts.items() for i in range(n)}


class _Server:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: list[str] = []
        recorder = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                recorder.append(self.path)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/datasets"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def serve(self, name: str, data: bytes) -> None:
        (self.folder / "datasets").mkdir(exist_ok=True)
        (self.folder / "datasets" / name).write_bytes(data)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    (tmp_path / "www").mkdir()
    running = _Server(tmp_path / "www")
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


def _data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_download_extracts_checks_and_caches(tmp_path: Path, server: _Server) -> None:
    server.serve("toy.zip", _zip(_dataset_members()))
    root = _data_dir(tmp_path) / "toy"
    assert ensure_dataset(root, "toy", server.url, expected_counts=COUNTS) == root
    assert {s: len(list_images(root / s)) for s in COUNTS} == COUNTS
    assert [p.name for p in root.parent.iterdir()] == ["toy"]  # temporary files removed
    assert server.requests == ["/datasets/toy.zip"]

    ensure_dataset(root, "toy", server.url, expected_counts=COUNTS)
    assert len(server.requests) == 1  # already present: no request


def test_archive_without_top_folder_is_accepted(tmp_path: Path, server: _Server) -> None:
    server.serve("flat.zip", _zip(_dataset_members(top="")))
    root = _data_dir(tmp_path) / "flat"
    ensure_dataset(root, "flat", server.url)
    assert len(list_images(root / "trainA")) == 3


def _assert_clean_failure(tmp_path: Path, url: str, name: str, match: str, **kwargs) -> None:
    root = _data_dir(tmp_path) / name
    with pytest.raises(DataError, match=match) as info:
        ensure_dataset(root, name, url, **kwargs)
    message = str(info.value)
    assert f"{url}/{name}.zip" in message and str(root) in message
    assert "trainA,trainB,testA,testB" in message  # the layout to build by hand
    assert not root.exists()
    assert list(root.parent.iterdir()) == []  # no partial download or extraction left


def test_http_404(tmp_path: Path, server: _Server) -> None:
    _assert_clean_failure(tmp_path, server.url, "missing", "HTTP 404")


def test_unreachable_server(tmp_path: Path, server: _Server) -> None:
    port = server.httpd.server_address[1]
    server.httpd.shutdown()
    server.httpd.server_close()
    _assert_clean_failure(tmp_path, f"http://127.0.0.1:{port}/x", "toy", "could not be reached")


def test_corrupt_zip(tmp_path: Path, server: _Server) -> None:
    server.serve("broken.zip", b"PK\x03\x04 this is not really a zip file" * 50)
    _assert_clean_failure(tmp_path, server.url, "broken", "not a valid zip")


def test_truncated_zip(tmp_path: Path, server: _Server) -> None:
    data = _zip(_dataset_members())
    server.serve("cut.zip", data[: len(data) // 2])
    _assert_clean_failure(tmp_path, server.url, "cut", "not a valid zip")


@pytest.mark.parametrize("member", ["../evil.png", "/etc/evil.png", "C:/evil.png", "a\\..\\b.png"])
def test_unsafe_member_path(tmp_path: Path, server: _Server, member: str) -> None:
    server.serve("evil.zip", _zip({**_dataset_members(), member: b"x"}))
    _assert_clean_failure(tmp_path, server.url, "evil", "refusing")
    assert not (tmp_path / "evil.png").exists()


def test_too_large_when_extracted(tmp_path: Path, server: _Server) -> None:
    server.serve("big.zip", _zip({**_dataset_members(), "toy/pad.bin": b"\0" * 100_000}))
    _assert_clean_failure(
        tmp_path, server.url, "big", "above the limit", max_extracted_bytes=50_000
    )


def test_wrong_layout(tmp_path: Path, server: _Server) -> None:
    members = _dataset_members(counts={"trainA": 1, "trainB": 1, "testA": 1})
    server.serve("partial.zip", _zip(members))
    _assert_clean_failure(tmp_path, server.url, "partial", "does not contain the folders")


def test_wrong_counts(tmp_path: Path, server: _Server) -> None:
    server.serve("toy.zip", _zip(_dataset_members()))
    wrong = {**COUNTS, "trainB": 5}
    _assert_clean_failure(
        tmp_path,
        server.url,
        "toy",
        "'trainB' in the archive holds 2 images, expected 5",
        expected_counts=wrong,
    )


def test_manual_dataset_explains_where_to_get_it(tmp_path: Path) -> None:
    root = tmp_path / "selfie2anime"
    with pytest.raises(DataError, match="by hand") as info:
        ensure_dataset(root, "selfie2anime", "http://127.0.0.1:9/unused")
    assert "UGATIT" in str(info.value) and str(root) in str(info.value)
    assert "trainA,trainB,testA,testB" in str(info.value)


def test_non_empty_foreign_root_is_not_overwritten(tmp_path: Path, server: _Server) -> None:
    root = _data_dir(tmp_path) / "toy"
    root.mkdir(parents=True)
    (root / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="exists but does not hold"):
        ensure_dataset(root, "toy", server.url)
    assert server.requests == [] and (root / "keep.txt").read_text() == "mine"
