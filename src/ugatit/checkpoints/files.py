"""Reading and writing checkpoint files: nothing read can run code, nothing written is left half.

Reading: every checkpoint a user hands in (train's ``ckpt_path``, eval, translate, convert, the
notebook) goes through :func:`load_checkpoint_file`: ``torch.load(weights_only=True)`` on the CPU,
memory-mapped where the format allows. A pickle is a program; ``weights_only`` lets through only
tensors and plain containers, so a file carrying a ``__reduce__`` payload is refused unexecuted.
The project's own checkpoints (Lightning's loops, callback, optimizer and LambdaLR states, the
image pools' generator states as byte tensors) hold nothing else: no extra safe globals needed.
Every failure becomes one :class:`CheckpointError` saying which kind of file it is.

Writing: :func:`write_checkpoint_file` saves to a hidden temporary file in the *same* folder
(``.last.ckpt.partial-XXXX``), fsyncs it and renames it onto the name, so a kill or a full disk
never leaves a truncated file under a real name and the previous file stays until the new one is
complete. (Lightning's own save goes through fsspec, whose temporary file is in ``$TMPDIR``: on
another filesystem its final move is a copy, and a kill during it truncates ``last.ckpt``.)
:class:`AtomicCheckpointIO` makes Lightning save and load through these two functions.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from ugatit.atomic import FILE_MODE, PARTIAL_MARK, sync_folder, temporary_beside
from ugatit.errors import UserError

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default (zip) format
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # pickle protocol 2 + torch magic
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, unreadable, unsafe or not a checkpoint of this project."""


class CheckpointWriteError(UserError):
    """A checkpoint could not be written (full disk, no permission); the old file is intact."""


# ============================================================================ reading
def load_checkpoint_file(
    path: str | os.PathLike,
    label: str | None = None,
    *,
    expected: str = "",
    mmap: bool = True,
    map_location: Any = "cpu",
) -> Any:
    """``torch.load(weights_only=True)``; every failure is one :class:`CheckpointError`.

    ``label`` names the file in messages (default ``checkpoint file PATH``); ``expected`` is
    appended to "missing" and "not a checkpoint" messages (what the caller wants instead).
    ``mmap`` reads only the tensors that are used (zip format only; legacy files are read whole).
    """
    path = Path(path).expanduser()
    label = label or f"checkpoint file {path}"
    hint = f" {expected}" if expected else ""
    if not path.exists():
        raise CheckpointError(f"{label} does not exist; check the path.{hint}")
    if path.is_dir():
        raise CheckpointError(f"{label} is a folder, not a checkpoint file; {_folder_hint(path)}")
    try:
        with path.open("rb") as f:
            head = f.read(len(LEGACY_TORCH_MAGIC))
    except OSError as error:
        raise CheckpointError(f"{label} cannot be read ({error.strerror or error}).") from None
    if not head:
        raise CheckpointError(
            f"{label} is empty (0 bytes): an interrupted copy or download. Copy it again."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(
                path,
                map_location=map_location,
                weights_only=True,
                mmap=mmap and head.startswith(ZIP_MAGIC),
            )
    except Exception as error:  # torch raises many types (UnpicklingError, RuntimeError, ...)
        raise describe_load_error(label, head, error, expected) from None


def describe_load_error(
    label: str, head: bytes, error: BaseException, expected: str = ""
) -> CheckpointError:
    """Tell apart a pickle holding more than weights, a truncated file and a foreign file."""
    text = str(error)
    is_torch = head.startswith(ZIP_MAGIC) or head.startswith(LEGACY_TORCH_MAGIC)
    unsupported = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if is_torch and ("Weights only load failed" in text or unsupported):
        found = f" ({unsupported.group(1)})" if unsupported else ""
        return CheckpointError(
            f"{label} holds Python objects besides tensors{found}, e.g. a whole pickled model or "
            "code that would run on loading. For safety only plain weights are loaded (torch.load "
            "weights_only=True) and nothing in the file was run. If you trust its source, re-save "
            "its weights with torch.save(model.state_dict(), path)."
        )
    if is_torch:
        first_line = text.splitlines()[0] if text else "no details"
        return CheckpointError(
            f"{label} cannot be read as a checkpoint: it is a PyTorch file but truncated or "
            f"corrupted ({type(error).__name__}: {first_line}). Copy or download it again."
        )
    hint = f" {expected}" if expected else ""
    return CheckpointError(
        f"{label} is not a PyTorch checkpoint (a file written by torch.save); check that you "
        f"passed the .ckpt/.pt/.pth weights file, not an image, archive or text file.{hint}"
    )


def _folder_hint(folder: Path) -> str:
    for candidate in (folder / "last.ckpt", folder / "checkpoints" / "last.ckpt"):
        if candidate.is_file():
            return f"did you mean {candidate}?"
    found = sorted(folder.glob("*.ckpt"))
    if found:
        return f"pass one of the files in it, e.g. {found[-1]}."
    return "pass the checkpoint file itself, e.g. <run folder>/checkpoints/last.ckpt."


def require_entries(checkpoint: Any, label: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The checkpoint as a dict holding ``keys``; else one message saying what it is instead."""
    if isinstance(checkpoint, dict) and set(keys) <= set(checkpoint):
        return checkpoint
    found = (
        f"a dict with keys [{', '.join(map(str, list(checkpoint)[:8]))}]"
        if isinstance(checkpoint, dict)
        else f"a {type(checkpoint).__name__}"
    )
    raise CheckpointError(
        f"{label} is not a checkpoint of this project (it holds {found}, not "
        f"{', '.join(keys)}); pass a .ckpt written by src/train.py, or convert official "
        "weights first with src/convert.py."
    )


# ============================================================================ writing
class _RecordingSink:
    """The file object torch.save writes to; it remembers an OSError that torch would turn into
    ``RuntimeError: unexpected pos`` (the zip writer swallows the reason)."""

    def __init__(self, file: Any) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return _write_chunk(self.file, data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.file.flush()


def _write_chunk(file: Any, data: Any) -> int:
    """The one low-level write of checkpoint bytes (a test fakes a full disk here)."""
    return file.write(data)


def write_checkpoint_file(obj: Any, path: str | os.PathLike, role: str = "checkpoint") -> Path:
    """``torch.save`` to a hidden file beside ``path``, fsync, rename: all of it or nothing.

    On failure the temporary file is removed, ``path`` keeps its previous content and a
    :class:`CheckpointWriteError` says why (a full disk by name, naming the folder).
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise CheckpointWriteError(
            f"Cannot write {role} {path}: it is a folder; give a file path such as "
            f"{path / 'model.ckpt'}."
        )
    try:
        fd, tmp = temporary_beside(path)
    except OSError as error:
        raise _write_error(path, role, error) from None
    sink = None
    try:
        with os.fdopen(fd, "wb") as file:
            sink = _RecordingSink(file)
            torch.save(obj, sink)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        cause = error if isinstance(error, OSError) else getattr(sink, "error", None)
        if cause is not None and not isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise _write_error(path, role, cause) from None
        raise
    sync_folder(folder)
    return path


def _write_error(path: Path, role: str, error: OSError) -> CheckpointWriteError:
    previous = (
        f"the previous {path.name} is intact"
        if path.is_file()
        else f"no earlier {path.name} was there"
    )
    reason = error.strerror or str(error)
    if error.errno in _FULL_DISK:
        return CheckpointWriteError(
            f"Cannot write {role} {path}: the disk holding {path.parent} is full ({reason}). "
            f"The partial file was removed and {previous}. Free space there (or write to another "
            "disk, e.g. hydra.run.dir=...), then run again: a training run resumes from its last "
            "checkpoint."
        )
    return CheckpointWriteError(
        f"Cannot write {role} {path} ({reason}); the partial file was removed and {previous}. "
        "Check that the folder is writable."
    )


def remove_unfinished_writes(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed save left in ``folder`` (they never hold a real
    checkpoint: only a complete file is renamed onto a name) and say so in the log."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(p for p in folder.glob(f".*{PARTIAL_MARK}*") if p.is_file())
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if stale:
        log.warning(
            "Removed %d unfinished checkpoint file(s) left in %s by an interrupted save: %s",
            len(stale),
            folder,
            ", ".join(p.name for p in stale),
        )
    return stale


# ============================================================================ Lightning
def _is_remote(path: Any) -> bool:
    return "://" in str(path)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO through :func:`write_checkpoint_file` and
    :func:`load_checkpoint_file` (remote ``s3://``-style paths keep Lightning's fsspec code)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or _is_remote(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        write_checkpoint_file(checkpoint, path)
        return None

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        if _is_remote(path):
            return super().load_checkpoint(path, map_location, weights_only=True)
        checkpoint = load_checkpoint_file(
            path, f"ckpt_path '{path}'", mmap=False, map_location=map_location or "cpu"
        )
        return require_entries(checkpoint, f"ckpt_path '{path}'", ("state_dict",))


def use_atomic_checkpoint_io(trainer: Any) -> None:
    """Give a trainer built elsewhere (a script, a test) this IO when it has Lightning's plain one."""
    strategy = trainer.strategy
    if type(strategy.checkpoint_io) is TorchCheckpointIO:
        strategy.checkpoint_io = AtomicCheckpointIO()
