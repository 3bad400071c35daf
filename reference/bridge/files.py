"""Every file the bridge reads or writes for a user, handled as the OS handles paths.

- Paths are bytes: parameters arrive as C strings and stay the exact bytes the user typed
  (non-ASCII and non-UTF-8 names work whatever the interpreter's locale; see ``as_path``).
- Inputs (masked keys, input and wrapped keys, IKM, HMAC keys) must be regular files of at
  most 64 KiB, opened without following a symlink and without blocking, so a FIFO or a
  device can never hang a command (``read_input``).
- Outputs (masked keys, ECDH and KDF output files) are written whole or not at all: to a
  temporary file in the target's directory, mode 0600, renamed into place. An existing
  target that is not a regular file (a FIFO, a device node, a directory) is never
  replaced; a temporary file never outlives a failure, and ones left by a killed process are
  removed by the next write to the same target (``write_output``).
- Paths echoed in messages are escaped and shortened (``shown``), so a control character
  never reaches the terminal raw and an error never outgrows OpenSSL's error buffer.
"""

from __future__ import annotations

import errno
import os
import re
import stat

from azihsm_conformance.reference.device.device import pid_alive

from .errors import BridgeError, BridgeReason

MAX_INPUT = 64 * 1024
SHOWN_LIMIT = 120
_TEMP = re.compile(rb"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")


def as_path(value) -> bytes:
    """The path as the bytes the user gave (parameters are decoded with surrogateescape)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


def shown(path) -> str:
    """PATH for a message: printable (control characters and undecodable bytes escaped) and
    at most SHOWN_LIMIT characters, keeping both ends."""
    text = as_path(path).decode("utf-8", "backslashreplace")
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    if len(text) > SHOWN_LIMIT:
        half = SHOWN_LIMIT // 2 - 2
        text = f"{text[:half]}...{text[-half:]}"
    return text


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _error(what: str, path, problem: str) -> BridgeError:
    return BridgeError(BridgeReason.FILE_ERROR, f"cannot read {what} {shown(path)}: {problem}")


def read_input(path, what: str) -> bytes:
    """The contents of the regular file PATH (at most 64 KiB): WHAT names it in errors."""
    raw = as_path(path)
    if not raw:
        raise _error(what, raw, "the path is empty")
    try:
        fd = os.open(raw, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _error(what, raw, "it is a symbolic link (not followed)") from None
        raise _error(what, raw, os.strerror(exc.errno or 0) if exc.errno else str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _error(what, raw, f"it is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > MAX_INPUT:
            raise _error(
                what, raw, f"it is {info.st_size} bytes, more than the {MAX_INPUT // 1024} KiB a key file may hold"
            )
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_INPUT:
                raise _error(what, raw, f"it grew past {MAX_INPUT // 1024} KiB while being read")
            chunks.append(chunk)
        if not total:
            raise _error(what, raw, "it is empty")
        return b"".join(chunks)
    except OSError as exc:
        raise _error(what, raw, os.strerror(exc.errno or 0)) from None
    finally:
        os.close(fd)


def write_output(path, data: bytes, what: str) -> None:
    """Write DATA to PATH atomically with mode 0600 (see the module's rules)."""
    raw = as_path(path)
    problem = _unwritable(raw)
    if problem:
        raise BridgeError(BridgeReason.FILE_ERROR, f"cannot write {what} {shown(raw)}: {problem}")
    folder, name = os.path.split(raw)
    folder = folder or b"."
    _remove_stale(folder, name)
    temp = os.path.join(
        folder, b"." + name + b"." + str(os.getpid()).encode() + b"." + os.urandom(4).hex().encode() + b".tmp"
    )
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, raw)
    except OSError as exc:
        raise BridgeError(
            BridgeReason.FILE_ERROR, f"cannot write {what} {shown(raw)}: {os.strerror(exc.errno or 0)}"
        ) from None
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)


def _unwritable(raw: bytes) -> str:
    """Why PATH cannot be an output ('' when it can): never through a symlink, never over
    something that is not a regular file, never a directory name."""
    if not raw:
        return "the path is empty"
    if raw.endswith(b"/") or os.path.basename(raw) in (b"", b".", b".."):
        return "it names a directory, not a file"
    try:
        info = os.lstat(raw)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return os.strerror(exc.errno or 0)
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link (refused, not followed)"
    if not stat.S_ISREG(info.st_mode):
        return f"it is {_kind(info.st_mode)}; only a regular file is replaced"
    return ""


def _remove_stale(folder: bytes, name: bytes) -> None:
    """Remove temporary files of NAME left by processes that no longer exist (killed mid-write)."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        match = _TEMP.match(entry)
        if match and match["name"] == name and not pid_alive(int(match["pid"])):
            try:
                os.unlink(os.path.join(folder, entry))
            except OSError:
                pass
