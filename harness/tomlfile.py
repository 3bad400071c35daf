"""Reads a TOML data file, turning syntax errors into one-line user errors."""

from __future__ import annotations

import sys
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def load_toml(path: Path, what: str) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist; check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}; check its permissions") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{what} {path} is not valid TOML ({exc}); fix the file") from None
