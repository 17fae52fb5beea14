"""Fetching the CycleGAN data sets: download, verify, extract safely, move into place atomically.

Either the finished folder appears complete or nothing at all is left behind, so a failed or
interrupted download (an error, Ctrl+C, or SIGTERM from ``kill``, SLURM or Docker) never looks like
a data set.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path, PurePosixPath

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ugatit.data.errors import DataError
from ugatit.data.images import list_images

CYCLEGAN_BASE_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets"
SPLITS = ("trainA", "trainB", "testA", "testB")
LAYOUT = "ROOT/{trainA,trainB,testA,testB} with the images inside each folder (subfolders count)"

# Data sets without a stable URL: where to get them by hand.
MANUAL_SOURCES = {
    "selfie2anime": (
        "the Google Drive link under 'Dataset' in the official U-GAT-IT README "
        "(https://github.com/taki0112/UGATIT)"
    ),
    "cat2dog": (
        "the DRIT project (https://github.com/HsinYingLee/DRIT, 'Datasets': cat2dog), "
        "renaming its cat/dog folders to trainA/trainB and testA/testB"
    ),
    "photo2portrait": (
        "the DRIT project (https://github.com/HsinYingLee/DRIT, 'Datasets': portrait), "
        "with photos as domain A and portraits as domain B"
    ),
}

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_DRIVE = re.compile(r"^[A-Za-z]:")


def has_layout(root: Path) -> bool:
    """True when ``root`` holds the four split folders, each with at least one image."""
    return all((root / s).is_dir() and list_images(root / s, recursive=True) for s in SPLITS)


def _by_hand(url: str, root: Path) -> str:
    return (
        f"Alternatively download {url} yourself, unzip it and arrange the folders as {LAYOUT}, "
        f"with ROOT = '{root}'."
    )


def _manual_error(root: Path, name: str) -> DataError:
    return DataError(
        f"The data set '{name}' cannot be downloaded automatically and '{root}' does not hold it. "
        f"Download it by hand from {MANUAL_SOURCES[name]}, unzip it and arrange the folders as "
        f"{LAYOUT}, with ROOT = '{root}' (or set data.root to where you put it)."
    )


def _fetch(url: str, target: Path) -> None:
    """Stream ``url`` into ``target`` with a progress bar that stays silent off a terminal."""
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with ExitStack() as stack:
        response = stack.enter_context(urllib.request.urlopen(url, timeout=_TIMEOUT_S))
        size = response.headers.get("Content-Length")
        progress = stack.enter_context(
            Progress(*columns, console=console, disable=not console.is_terminal, transient=True)
        )
        task = progress.add_task(
            f"download {url.rsplit('/', 1)[-1]}", total=int(size) if size else None
        )
        with open(target, "wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                progress.advance(task, len(chunk))


class _Terminated(BaseException):
    """SIGTERM inside a download: unwinds like Ctrl+C, so the cleanup below removes partial files."""


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While partial files exist, SIGTERM raises instead of ending the process on the spot.

    Ctrl+C already raises KeyboardInterrupt; SIGTERM's default action ended the process at once and
    left the hidden ``.part`` file behind. After the cleanup, the previous handler gets the signal
    (the default one then ends the process as before: status 143); if it returns, the download
    ends in a :class:`DataError`. Only the main thread can set handlers; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_IGN, None):  # ignored, or a handler set outside Python
        yield
        return
    received = []

    def unwind(signum: int, frame: object) -> None:
        if not received:  # a second SIGTERM must not interrupt the cleanup itself
            received.append(signum)
            raise _Terminated

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, previous)
        signal.raise_signal(signal.SIGTERM)
        raise DataError(
            "The download was stopped by SIGTERM; its partial files were removed. Run again to "
            "download the data set."
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _unsafe_reason(member: str) -> str | None:
    if member.startswith(("/", "\\")) or _DRIVE.match(member):
        return "an absolute path"
    if ".." in PurePosixPath(member.replace("\\", "/")).parts:
        return "a '..' component"
    return None


def _extract(archive: Path, target: Path, max_bytes: int) -> None:
    """Check every member before writing anything, then extract."""
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            reason = _unsafe_reason(info.filename)
            if reason:
                raise DataError(f"the archive member '{info.filename}' has {reason}; refusing it")
        total = sum(info.file_size for info in members)
        if total > max_bytes:
            raise DataError(
                f"the archive would unpack to {total / 2**30:.1f} GiB, above the limit of "
                f"{max_bytes / 2**30:.1f} GiB (max_extracted_bytes)"
            )
        zf.extractall(target)


def _find_layout(folder: Path) -> Path | None:
    """The folder holding the four splits: the extraction folder itself or one level below."""
    candidates = [folder] + sorted(p for p in folder.iterdir() if p.is_dir())
    for candidate in candidates:
        if all((candidate / s).is_dir() for s in SPLITS):
            return candidate
    return None


def _check_contents(folder: Path, expected_counts: dict[str, int] | None) -> None:
    for split in SPLITS:
        count = len(list_images(folder / split, recursive=True))
        if count == 0:
            raise DataError(f"the folder '{split}' in the archive holds no images")
        wanted = (expected_counts or {}).get(split)
        if wanted is not None and count != int(wanted):
            raise DataError(f"'{split}' in the archive holds {count} images, expected {wanted}")


def ensure_dataset(
    root: Path,
    name: str,
    base_url: str,
    expected_counts: dict[str, int] | None = None,
    max_extracted_bytes: int = 20 * 2**30,
) -> Path:
    """Return ``root`` holding NAME's four split folders, downloading ``{base_url}/{name}.zip``.

    Nothing touches the network when the folders are already there.
    """
    root = Path(root).expanduser()
    if has_layout(root):
        return root
    if name in MANUAL_SOURCES:
        raise _manual_error(root, name)
    url = f"{base_url.rstrip('/')}/{name}.zip"
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise DataError(
            f"'{root}' exists but does not hold the data set '{name}' in the layout {LAYOUT}. "
            "Delete or empty it so the download can fill it, or complete the layout by hand. "
            + _by_hand(url, root)
        )
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"Cannot create '{root.parent}' for the data set: {error}. "
            "Set data.root (paths.data_dir) to a writable folder."
        ) from error
    with _sigterm_unwinds():
        archive = extracted = None
        try:
            handle, archive_name = tempfile.mkstemp(
                prefix=f".{name}-", suffix=".zip.part", dir=root.parent
            )
            os.close(handle)
            archive = Path(archive_name)
            _fetch(url, archive)
            if not zipfile.is_zipfile(archive):
                raise DataError("the downloaded file is not a valid zip archive")
            extracted = Path(tempfile.mkdtemp(prefix=f".{name}-extract-", dir=root.parent))
            _extract(archive, extracted, max_extracted_bytes)
            found = _find_layout(extracted)
            if found is None:
                raise DataError(f"the archive does not contain the folders {', '.join(SPLITS)}")
            _check_contents(found, expected_counts)
            os.replace(found, root)
        except urllib.error.HTTPError as error:
            raise _download_error(
                url, root, f"the server answered HTTP {error.code} {error.reason}"
            ) from error
        except urllib.error.URLError as error:
            raise _download_error(url, root, f"it could not be reached ({error.reason})") from error
        except TimeoutError as error:
            raise _download_error(url, root, "the connection timed out") from error
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
            raise _download_error(url, root, f"the archive is corrupt ({error})") from error
        except DataError as error:
            raise _download_error(url, root, str(error)) from error
        except OSError as error:
            raise _download_error(url, root, f"writing next to it failed ({error})") from error
        finally:
            if archive is not None:
                archive.unlink(missing_ok=True)
            if extracted is not None:
                shutil.rmtree(extracted, ignore_errors=True)
    return root


def _download_error(url: str, root: Path, reason: str) -> DataError:
    return DataError(
        f"Downloading the data set from {url} into '{root}' failed: {reason}. Nothing was left "
        f"behind; retry later or check the network and data.download.base_url. {_by_hand(url, root)}"
    )
