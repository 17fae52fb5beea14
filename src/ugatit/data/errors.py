"""The one exception type for data problems a user can cause and fix."""

from __future__ import annotations

from ugatit.errors import UserError


class DataError(UserError):
    """A data problem the user can fix: a missing folder, a corrupt image, a failed download.

    The message is one paragraph that names the path or URL at fault and says what to do, so the
    entry points can print it as is instead of a traceback.
    """
