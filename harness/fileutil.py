"""Writes output files whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError


def write_atomic(path: Path | str, text: str) -> Path:
    """Write TEXT to PATH through a temporary file in the same directory and a rename,
    so a reader never sees half a file and a failure leaves the old file in place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; reports are for sharing
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}; choose a writable output path") from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
