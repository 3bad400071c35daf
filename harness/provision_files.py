"""File helpers for provisioning: hashes, atomic writes, downloads by URL, unpacking."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError

DOWNLOAD_TIMEOUT_SECONDS = 120
TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar")


@contextlib.contextmanager
def file_lock(path: Path, waiting_message: str) -> Iterator[None]:
    """Hold an exclusive flock on PATH; print WAITING_MESSAGE if someone else holds it first.

    The kernel drops the lock when its holder dies, so a killed process never blocks others.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"provision: {waiting_message}", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https", "file", "ftp")


def download_url(url: str, downloads: Path, expected_sha256: str | None) -> Path:
    """Fetch URL into DOWNLOADS; check EXPECTED_SHA256 if given."""
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    if not name.endswith(TARBALL_SUFFIXES):
        raise UsageError(
            f"{url} does not name a tarball ({', '.join(TARBALL_SUFFIXES)}); pass the URL of an OpenSSL release tarball"
        )
    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / name
    if expected_sha256 and target.exists() and sha256_of(target) == expected_sha256.lower():
        return target  # fetched by an earlier, failed build
    partial = target.with_name(f".{name}.partial-{os.getpid()}")
    print(f"provision: downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        check_sha256(partial, expected_sha256, url)
        os.replace(partial, target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UsageError(
            f"downloading {url} failed ({reason}); check the URL or pass a local tarball with --source"
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def check_sha256(path: Path, expected: str | None, label: str) -> str:
    actual = sha256_of(path)
    if expected is not None and actual != expected.lower():
        raise UsageError(
            f"{label} has sha256 {actual}, not the expected {expected}; the file is corrupt or not the release you meant"
        )
    return actual


def unpack_tarball(tarball: Path, into: Path) -> Path:
    """Unpack an OpenSSL source tarball into INTO; return the directory holding Configure."""
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UsageError(f"{tarball} is not a readable tarball ({exc}); pass an OpenSSL release tarball") from None
    candidates = [into] + sorted(p for p in into.iterdir() if p.is_dir())
    for candidate in candidates:
        if (candidate / "Configure").is_file():
            return candidate
    raise UsageError(
        f"{tarball} holds no OpenSSL source tree (no Configure at its top); pass an OpenSSL release tarball"
    )
