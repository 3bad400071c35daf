"""One way to order version strings (OpenSSL releases, Debian uploads, report columns)."""

from __future__ import annotations

import re


def version_key(version: str) -> tuple[int, ...]:
    """'3.0.19' < '3.5.7' < '3.10.1': the numbers in VERSION, compared as numbers."""
    return tuple(int(part) for part in re.findall(r"\d+", version))
