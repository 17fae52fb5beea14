"""Stops from outside (SIGTERM, Ctrl+C) in the commands that write many files (translate, eval).

Python ends a process at SIGTERM without unwinding: no ``finally`` runs, so a file being written
stays half-written. Inside :func:`signals_raise` SIGTERM raises :class:`Terminated` instead, as
Ctrl+C raises ``KeyboardInterrupt``; the command then stops like any error (atomic writes remove
their temporary files) and ends with :func:`stopped`'s message and status 128 + the signal.
Training keeps Lightning's own handling (it saves a checkpoint first: ugatit.training.interruptions).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from ugatit.errors import RunStopped


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, like KeyboardInterrupt: ``except Exception`` lets it by)."""


STOPS = (KeyboardInterrupt, Terminated)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stopped(stop: BaseException, what: str) -> RunStopped:
    """The error a command ends with after ``stop``: ``what`` says what was left and how to go on."""
    signum = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
    return RunStopped(f"Stopped by {signal.Signals(signum).name}: {what}", 128 + signum)
