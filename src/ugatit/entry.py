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
    except UserError as error:
        log.error("%s", error)
        print(f"\nError: {error}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 1))
