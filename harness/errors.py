"""The one exception type the harness shows to users."""

from __future__ import annotations


class UsageError(Exception):
    """A problem with the user's input or environment.

    The message is one line that names the problem and the fix; the CLI prints it
    and exits with code 2, the pytest plugin turns it into ``pytest.UsageError``.
    """
