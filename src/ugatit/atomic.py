"""Every file written for a user appears whole or not at all.

A kill, a full disk or Ctrl+C during a write used to leave a truncated PNG, report or model file
under its real name, which a rerun then took for a finished output. Each writer here writes to a
hidden temporary file in the same folder (``.NAME.partial-XXXX.EXT``: the same filesystem, so the
final rename is atomic, and the real extension last, so format detection by name still works),
flushes it to disk and renames it onto the name; on any failure the temporary file is removed and
an existing file of that name is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PARTIAL_MARK = ".partial-"  # hidden temporary files: .<name>.partial-XXXX<suffix>


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_current_umask()  # mkstemp creates 0600; give what open() would


def temporary_beside(path: Path) -> tuple[int, Path]:
    """An open descriptor and the path of a new hidden file in ``path``'s folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}{PARTIAL_MARK}", suffix=path.suffix, dir=path.parent
    )
    return fd, Path(name)


def sync_folder(folder: Path) -> None:
    """Make a rename durable (best effort: not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(temporary: Path, path: Path) -> None:
    """fsync ``temporary``, give it the usual permissions and rename it onto ``path``."""
    with open(temporary, "rb+") as file:
        os.fsync(file.fileno())
    os.chmod(temporary, FILE_MODE)
    os.replace(temporary, path)
    sync_folder(path.parent)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; renamed onto ``path`` when the block
    ends normally, deleted when it raises (KeyboardInterrupt and SystemExit included)."""
    path = Path(path)
    fd, temporary = temporary_beside(path)
    os.close(fd)
    try:
        yield temporary
        publish(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def save_image(picture: Any, path: str | os.PathLike, **options: Any) -> Path:
    """``picture.save`` (a PIL image; PNG unless ``format`` says otherwise) through a temporary
    file."""
    options.setdefault("format", "PNG")
    with atomic_path(path) as temporary:
        picture.save(temporary, **options)
    return Path(path)


def check_writable(folder: str | os.PathLike, what: str, error: type[Exception]) -> Path:
    """Create ``folder`` if needed and write one temporary file there, so a read-only or full
    destination is one ``error`` naming ``what`` goes there, before any work is done."""
    folder = Path(folder)
    try:
        fd, probe = temporary_beside(folder / ".write-test")
        os.close(fd)
        probe.unlink()
    except OSError as failure:
        reason = failure.strerror or str(failure)
        raise error(
            f"Cannot write {what} into '{folder}' ({reason}); choose a folder you can write to "
            "(or free space there)."
        ) from None
    return folder
