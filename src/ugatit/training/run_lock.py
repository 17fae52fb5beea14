"""One training process per run folder.

Two trainings started into the same folder (``hydra.run.dir=...`` twice, a job requeued while the
old one still runs) used to both run to the end: ``last.ckpt`` and ``last-v1.ckpt``, every step
several times in one metrics.csv, one shared sample grid. The first process holds an exclusive
``flock`` on ``RUN/.run.lock`` for its whole life; the kernel releases it when the process ends
in any way (kill -9 included), so a lock left by a dead process is simply taken over (with a
note naming it). The other ranks of a DDP run (``LOCAL_RANK``, ``NODE_RANK``, ``RANK``,
``SLURM_PROCID`` non-zero) belong to the holder's run and take no lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from ugatit.errors import UserError

log = logging.getLogger(__name__)

LOCK_NAME = ".run.lock"
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "GROUP_RANK")
_held: dict[Path, IO[str]] = {}  # open lock files: the lock lasts as long as the handle


class RunFolderBusy(UserError):
    """Another live process trains in this run folder."""


def is_secondary_rank() -> bool:
    """True in the processes a distributed launcher started besides the first one."""
    return any(os.environ.get(name, "0").strip() not in ("", "0") for name in _RANK_VARIABLES)


def _holder(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    pid = holder.get("pid", "unknown")
    host = holder.get("host", "this machine")
    since = holder.get("started")
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "unknown"
    command = holder.get("command", "")
    return f"PID {pid} on {host}, started {started}" + (f": {command}" if command else "")


def hold_run_folder(folder: str | os.PathLike) -> Path | None:
    """Lock ``folder`` for this process (until it exits), or raise :class:`RunFolderBusy`
    naming the live holder; None in a secondary rank, whose run holds the lock already."""
    folder = Path(folder).absolute()
    if is_secondary_rank():
        return None
    if folder in _held:
        return folder / LOCK_NAME
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = open(path, "a+")  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = _describe(_holder(handle.read()))
        handle.close()
        raise RunFolderBusy(
            f"The run folder '{folder}' is in use by another training process ({holder}). Two "
            "runs in one folder would mix their checkpoints, metrics and sample grids, so this "
            "one did not start. Let that run finish (or stop it), or start this one in another "
            "folder (leave hydra.run.dir unset for a new one)."
        ) from None
    handle.seek(0)
    previous = _holder(handle.read())
    if previous.get("pid") not in (None, os.getpid()):
        log.info(
            "Run folder %s: took over the lock left by %s, which is no longer running.",
            folder,
            _describe(previous),
        )
    handle.seek(0)
    handle.truncate()
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "command": " ".join(sys.argv),
    }
    handle.write(json.dumps(record))
    handle.flush()
    _held[folder] = handle
    return path


def release_run_folder(folder: str | os.PathLike) -> None:
    """Give the lock back before the process ends (a multirun's next job in the same process)."""
    handle = _held.pop(Path(folder).absolute(), None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
