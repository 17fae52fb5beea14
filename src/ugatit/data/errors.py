"""The one exception type for data problems a user can cause and fix."""

from __future__ import annotations

from ugatit.errors import UserError

_WORKER_PREFIX = "Caught DataError in DataLoader worker"
_ORIGINAL = "DataError: "


class DataError(UserError):
    """A data problem the user can fix: a missing folder, a corrupt image, a failed download.

    The message is one paragraph that names the path or URL at fault and says what to do, so the
    entry points can print it as is instead of a traceback.
    """

    def __init__(self, message: str = "") -> None:
        super().__init__(_without_worker_traceback(message))


def _without_worker_traceback(message: str) -> str:
    """A DataLoader worker's error is raised again in the main process with the worker's whole
    traceback as its message ("Caught DataError in DataLoader worker process 0. Original
    Traceback ..."); keep only the original paragraph, the part that names the fix."""
    if isinstance(message, str) and message.startswith(_WORKER_PREFIX) and _ORIGINAL in message:
        return message.rsplit(_ORIGINAL, 1)[1].strip()
    return message
