"""Errors a user can cause and fix: the entry points print their message alone, no traceback."""


class UserError(Exception):
    """Base of every error whose message names the bad input and the fix."""


class ConfigError(UserError, ValueError):
    """A configuration value that cannot work (unknown key, impossible combination)."""
