"""Shared behaviour of the command-line entry points."""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from ugatit.errors import UserError

log = logging.getLogger("ugatit")
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class FailedJob:
    number: int
    overrides: str
    message: str


# the jobs of this process's multirun that ended in a user error (reported at the end)
failed_jobs: list[FailedJob] = []


def _multirun_job() -> tuple[int, str] | None:
    """(job number, its overrides) inside a multirun job; None otherwise."""
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN:
        return None
    return int(hydra.job.num), " ".join(hydra.overrides.task)


def run_guarded(function: Callable[..., T], *args: Any) -> T | None:
    """Run an entry point; a user-fixable error ends in its one message and a non-zero exit status
    (1, or the error's own ``exit_code``, e.g. 143 for a run stopped by SIGTERM).

    In a multirun a job's error does not end the sweep: it is printed, recorded and the job
    returns None (a sweeper counts it as failed); :class:`SweepReport` names every failed job
    when the sweep ends and exits 1. A stop signal still ends the whole sweep."""
    try:
        return function(*args)
    except Exception as error:
        user_error = _user_error(error)
        if user_error is None:
            raise
        log.error("%s", user_error)
        print(f"\nError: {user_error}", file=sys.stderr)
        job = _multirun_job()
        if job is not None and not hasattr(user_error, "exit_code"):
            failed_jobs.append(FailedJob(job[0], job[1], str(user_error)))
            return None
        sys.exit(getattr(user_error, "exit_code", 1))


def check_command_line(arguments: Sequence[str]) -> None:
    """Exit 1 with one message for an override Hydra's grammar cannot read (its own message is
    a lexer traceback); the usual cause, an unquoted ``~``, gets the fix."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for argument in arguments:
        if argument.startswith("-") or "=" not in argument:
            continue  # Hydra's own flags (-m, --cfg ...)
        try:
            parser.parse_overrides([argument])
        except OverrideParseException as error:
            reason = str(error).splitlines()[0]
            key, _, value = argument.partition("=")
            fix = (
                f" Hydra reads ~ only inside quotes: write {key}=$HOME{value.removeprefix('~')} "
                f"(your shell expands $HOME) or quote it, e.g. \"{key}='{value}'\" (paths "
                "starting with ~ are expanded)."
                if "~" in value
                else " Quote values with special characters, e.g. \"key='a value'\"."
            )
            print(
                f"\nError: the override {argument!r} cannot be read ({reason}).{fix}",
                file=sys.stderr,
            )
            sys.exit(1)


def _user_error(error: BaseException) -> UserError | None:
    """The user-fixable error itself, also when Hydra's instantiate wrapped it (a data module or
    network refusing its settings), so the user reads its one message, not Hydra's wrapping."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, UserError):
            return seen
        seen = seen.__cause__
    return None


def sweep_summary(failed: Sequence[FailedJob], finished: int) -> str:
    listed = "; ".join(
        f"#{job.number} ({job.overrides}): {job.message.rstrip('.')}" for job in failed
    )
    return (
        f"{len(failed)} of {finished} sweep job(s) failed and the others ran to the end. Failed: "
        f"{listed}. Each failed job's folder holds its log; fix its setting and run it alone."
    )


class SweepReport(Callback):
    """Hydra callback: at the end of a multirun, one message naming every job that failed with
    a user error, and exit status 1 (the sweep ran every job first)."""

    def __init__(self) -> None:
        self.finished = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        failed_jobs.clear()
        self.finished = 0

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self.finished += 1

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if failed_jobs:
            message = sweep_summary(failed_jobs, self.finished)
            log.error("%s", message)
            print(f"\nError: {message}", file=sys.stderr)
            sys.exit(1)
