"""Shared behaviour of the command-line entry points."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ugatit.errors import UserError

log = logging.getLogger("ugatit")
T = TypeVar("T")


def run_guarded(function: Callable[..., T], *args: Any) -> T:
    """Run an entry point; a user-fixable error ends in its one message and a non-zero exit status
    (1, or the error's own ``exit_code``, e.g. 143 for a run stopped by SIGTERM)."""
    try:
        return function(*args)
    except Exception as error:
        user_error = _user_error(error)
        if user_error is None:
            raise
        log.error("%s", user_error)
        print(f"\nError: {user_error}", file=sys.stderr)
        sys.exit(getattr(user_error, "exit_code", 1))


def _user_error(error: BaseException) -> UserError | None:
    """The user-fixable error itself, also when Hydra's instantiate wrapped it (a data module or
    network refusing its settings), so the user reads its one message, not Hydra's wrapping."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, UserError):
            return seen
        seen = seen.__cause__
    return None
