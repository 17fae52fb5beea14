"""Errors a user can cause and fix: the entry points print their message alone, no traceback."""


class UserError(Exception):
    """Base of every error whose message names the bad input and the fix."""


class ConfigError(UserError, ValueError):
    """A configuration value that cannot work (unknown key, impossible combination)."""


class RunStopped(UserError):
    """Training stopped by a signal after saving its state; ``exit_code`` is 128 + the signal
    number (143 for SIGTERM, 130 for Ctrl+C), so scripts and sweeps do not take it as finished."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
