"""The simulated device: one directory holding its identity.

Files (mode 0600, created once, on first use):

* ``masking.key`` – the device masking secret (magic + 32 random bytes). Every masked key blob
  is bound to it; the device identity is a hash of it.
* ``unwrap.key`` – the device's RSA-2048 unwrapping key pair, itself a masked key blob under
  the masking secret (what imports are wrapped for).

Many processes may hit first use at once. Creation is serialised with ``flock`` on ``.lock``
and each file appears atomically (written to a temporary name, then ``link``ed into place,
which fails if the name exists), so exactly one identity results even without the lock.
Opening an existing device reads one small file and hashes it: no pyca import, no RSA work.

The directory is not trusted blindly: one that others may write to (group or world) is
refused, as is a device file that is a symbolic link (it could point at another device's
secret); temporary files left by a process killed during first use are removed by the next.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections import namedtuple

from . import blob
from .errors import DeviceError, HsmError, Reason

DEFAULT_DIR = "/var/lib/azihsm"
ENV_VAR = "AZIHSM_DEVICE_DIR"
MASKING_FILE = "masking.key"
UNWRAP_FILE = "unwrap.key"
LOCK_FILE = ".lock"
_MASKING_MAGIC = b"AZHSM-MASKING-v1"
_SECRET_LEN = 32
_TEMP = re.compile(r"^\..+\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")  # write_new_file's temporaries
_HOW_TO_CHOOSE = f"choose another with {ENV_VAR}=DIR (or the provider's openssl.cnf section)"


def _sha256(data: bytes) -> bytes:
    import _sha256  # built-in; never hashlib (see digest.py)

    return _sha256.sha256(data).digest()


def _hkdf(secret: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(secret)


def write_new_file(path: str, data: bytes) -> bool:
    """Create ``path`` atomically with mode 0600. False if it already existed (we lost a race).

    The data goes to a private temporary file first and is hard-linked into place, so the
    final name never shows a partial file and never replaces an existing one. On a file system
    without hard links the caller's creation lock makes a check-then-rename equally safe.
    """
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links here (EPERM/ENOTSUP): rename under the lock
            if os.path.lexists(path):
                return False
            os.rename(tmp, path)
        return True
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


class DeviceFiles(namedtuple("DeviceFiles", "directory masking unwrap lock")):
    """Where a device keeps its state: the masking secret (``masking.key``; ``bmk.bin`` in
    the 2026-08 layout), the masked unwrapping key (``unwrap.key``; ``muk.bin``) and the
    creation lock, all in one directory. (A namedtuple, not typing's: cheaper to import in
    every openssl process.)"""

    __slots__ = ()

    @classmethod
    def in_directory(cls, path: str) -> DeviceFiles:
        return cls(
            path, os.path.join(path, MASKING_FILE), os.path.join(path, UNWRAP_FILE), os.path.join(path, LOCK_FILE)
        )

    @classmethod
    def named(cls, masking: str, unwrap: str) -> DeviceFiles:
        """The 2026-08 layout: files named by the caller (openssl.cnf), in one directory."""
        masking, unwrap = os.path.abspath(masking), os.path.abspath(unwrap)
        directory = os.path.dirname(masking)
        if os.path.dirname(unwrap) != directory:
            raise DeviceError(
                Reason.DEVICE_DIR_MISSING,
                f"the masking key {masking} and the unwrapping key {unwrap} must be in one directory",
            )
        return cls(directory, masking, unwrap, os.path.join(directory, f".{os.path.basename(masking)}.lock"))


class Device:
    """A simulated HSM, persisted in one directory. Use :meth:`open`."""

    def __init__(self, files: DeviceFiles, masking_secret: bytes, binding: bytes = b""):
        self._files = files
        self._dir = files.directory
        # BINDING (2026-08: the owner backup key, the POTA public key and the credentials)
        # is part of the device's secret: other owner material makes another device
        self.__masking_secret = masking_secret + binding
        digest = _sha256(b"azihsm-reference device identity\0" + self.__masking_secret)
        self.identity = digest[:8].hex()
        self.device_id = digest[: blob.DEVICE_ID_LEN]
        self.__blob_key = None
        self.__unwrapping_key = None  # pyca RSA private key, unmasked on first import

    def __repr__(self) -> str:
        return f"<Device {self.identity} at {self._dir}>"

    @property
    def path(self):
        """pathlib.Path of the device directory (pathlib is imported only when asked for:
        it is a noticeable part of the provider's start-up)."""
        from pathlib import Path

        return Path(self._dir)

    # ---- opening and first use ------------------------------------------------------------

    @classmethod
    def open(cls, path=None) -> Device:
        """Open the device in ``path`` (None: $AZIHSM_DEVICE_DIR or /var/lib/azihsm).

        Creates the device files on first use. Raises DeviceError when the directory is
        missing or unwritable, or a device file is damaged.
        """
        path = os.path.abspath(os.fspath(path if path is not None else (os.environ.get(ENV_VAR) or DEFAULT_DIR)))
        return cls.open_files(DeviceFiles.in_directory(path))

    @classmethod
    def open_files(cls, files: DeviceFiles, binding: bytes = b"") -> Device:
        """Open the device kept in FILES (created on first use), bound to BINDING."""
        _check_directory(files.directory)
        secret = _read_masking_secret(files.masking)
        if secret is None or not os.path.lexists(files.unwrap):
            secret = cls._provision(files, binding)
        return cls(files, secret, binding)

    @classmethod
    def _provision(cls, files: DeviceFiles, binding: bytes) -> bytes:
        """First use: create whatever device file is missing, under the creation lock."""
        import fcntl

        path = files.directory
        try:
            lock_fd = os.open(files.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                _remove_stale_temporaries(path)
                if _read_masking_secret(files.masking) is None:
                    write_new_file(files.masking, _MASKING_MAGIC + os.urandom(_SECRET_LEN))
                secret = _read_masking_secret(files.masking)
                if not os.path.lexists(files.unwrap):
                    write_new_file(files.unwrap, cls(files, secret, binding)._new_unwrapping_blob())
                return secret
            finally:
                os.close(lock_fd)  # releases the flock
        except OSError as exc:  # full disk, permissions, read-only file system...
            raise DeviceError(
                Reason.DEVICE_DIR_UNWRITABLE,
                f"cannot create the device in {path}: {exc.strerror or exc}; fix the directory or {_HOW_TO_CHOOSE}",
            ) from None

    # ---- masking keys (private to the device package) -------------------------------------

    def _gcm_key(self, session_secret: bytes | None = None) -> bytes:
        """AES-256-GCM key for masked blobs: per device, or per device and session."""
        if session_secret is None:
            if self.__blob_key is None:
                self.__blob_key = _hkdf(self.__masking_secret, b"azihsm-reference blob v1")
            return self.__blob_key
        return _hkdf(self.__masking_secret + session_secret, b"azihsm-reference session blob v1")

    def _new_unwrapping_blob(self) -> bytes:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pkcs8 = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        header = blob.BlobHeader(
            kind="rsa", usage="unwrap", bits=2048, hmac_digest=None, device_id=self.device_id, session_id=None
        )
        return blob.seal(header, self._gcm_key(), pkcs8)

    def _unwrapping_key(self):
        """The RSA-2048 unwrapping private key (lives only inside the device)."""
        if self.__unwrapping_key is None:
            from cryptography.hazmat.primitives import serialization

            path = self._files.unwrap
            try:
                data = _read(path)
            except OSError as exc:
                raise _corrupt(path, exc) from None
            try:
                header = blob.read_header(data)
                if header.device_id != self.device_id or header.usage != "unwrap":
                    raise ValueError("not this device's unwrapping key")
                pkcs8 = blob.open_body(data, header, self._gcm_key())
            except (OSError, ValueError, HsmError) as exc:
                raise _corrupt(path, exc) from None
            # authenticated by the blob: skip pyca's RSA consistency check (costly, see wrap.py)
            self.__unwrapping_key = serialization.load_der_private_key(
                pkcs8, password=None, unsafe_skip_rsa_key_validation=True
            )
        return self.__unwrapping_key

    @property
    def unwrapping_public_der(self) -> bytes:
        """SubjectPublicKeyInfo DER of the unwrapping key: what host-side wraps target."""
        from cryptography.hazmat.primitives import serialization

        return (
            self._unwrapping_key()
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    # ---- sessions ---------------------------------------------------------------------------

    def open_session(self):
        from .session import Session

        return Session(self)


def _corrupt(path: str, exc: Exception) -> DeviceError:
    return DeviceError(
        Reason.DEVICE_FILE_CORRUPT,
        f"device file {path} is damaged ({exc}); restore it, or remove the device files to "
        f"start a new device (its masked keys become unusable), or {_HOW_TO_CHOOSE}",
    )


def _check_directory(path: str) -> None:
    try:
        info = os.stat(path)
    except OSError:
        info = None
    if info is None or not stat.S_ISDIR(info.st_mode):
        what = "is not a directory" if info is not None else "does not exist"
        raise DeviceError(
            Reason.DEVICE_DIR_MISSING,
            f"device directory {path} {what}: create it (mkdir -p {path}) or {_HOW_TO_CHOOSE}",
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        # anyone who may write here may swap the device files for their own
        raise DeviceError(
            Reason.DEVICE_DIR_UNSAFE,
            f"device directory {path} is writable by others (mode {stat.S_IMODE(info.st_mode):04o}): "
            f"make it private (chmod go-w {path}) or {_HOW_TO_CHOOSE}",
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise DeviceError(
            Reason.DEVICE_DIR_UNWRITABLE,
            f"device directory {path} is not writable: fix its permissions or {_HOW_TO_CHOOSE}",
        )


def _read(path: str) -> bytes:
    """A device file's contents; never through a symbolic link, never blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _unsafe(path, "a symbolic link") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _unsafe(path, "not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(1 << 16)
    finally:
        os.close(fd)


def _unsafe(path: str, what: str) -> DeviceError:
    return DeviceError(
        Reason.DEVICE_DIR_UNSAFE,
        f"device file {path} is {what}; device files are never followed or shared: replace it "
        f"with the device's own file, or {_HOW_TO_CHOOSE}",
    )


def _remove_stale_temporaries(path: str) -> None:
    """Temporary device files of processes that no longer exist (killed during first use)."""
    for entry in os.listdir(path):
        match = _TEMP.match(entry)
        if match and not pid_alive(int(match["pid"])):
            try:
                os.unlink(os.path.join(path, entry))
            except OSError:
                pass


def pid_alive(pid: int) -> bool:
    """Whether process PID exists (ours, or another user's that we may not signal)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_masking_secret(path: str) -> bytes | None:
    """The masking secret, or None when the file does not exist yet."""
    try:
        data = _read(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _corrupt(path, exc) from None
    if len(data) != len(_MASKING_MAGIC) + _SECRET_LEN or not data.startswith(_MASKING_MAGIC):
        raise _corrupt(path, ValueError("unexpected size or format"))
    return data[len(_MASKING_MAGIC) :]
