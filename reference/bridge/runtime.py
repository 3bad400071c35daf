"""Provider instances and the handle table.

OpenSSL holds only opaque handles (small integers cast to ``void *``); the objects behind
them (key data, operation contexts) live here. Each object belongs to one provider
instance (one per library context that loads the module), which owns the device session
and the core handle its errors are reported through.
"""

from __future__ import annotations

import _thread
import itertools
import os

from .errors import BridgeError, BridgeReason, describe

# Set by externs.install() from the compiled module.
ffi = None
lib = None


class Instance:
    """One loaded provider: core handle (for errors and BIOs), its device settings and, from
    the first operation that needs one, a device session."""

    def __init__(self, cprov, ident: int):
        self.cprov = cprov
        self.id = ident
        self.handles: set[int] = set()
        self.config = None
        self.device = None
        self._session = None

    def read_config(self) -> None:
        """The provider section's device settings; a bad one fails the load."""
        from .config import KEYS, DeviceConfig

        section = {}
        for key in KEYS:
            value = lib.bridge_core_param(self.cprov, key.encode())
            if value != ffi.NULL:
                section[key] = ffi.string(value).decode("utf-8", "surrogateescape")
        self.config = DeviceConfig(section)

    @property
    def session(self):
        """The device session, opened on first use (listing the provider needs no device)."""
        if self._session is None:
            self.device = self.config.open()
            self._session = self.device.open_session()
        return self._session

    def close(self) -> None:
        for handle in list(self.handles):
            release(handle)
        if self._session is not None:
            try:
                self._session.close()
            finally:
                self._session = None


class ProviderObject:
    """Base of everything OpenSSL holds a handle to. Operations a kind does not support
    raise a clear error instead of doing nothing."""

    kind = "object"

    def __init__(self, instance: Instance):
        self.instance = instance

    @property
    def session(self):
        return self.instance.session

    def unsupported(self, what: str):
        return BridgeError(BridgeReason.UNSUPPORTED_OPERATION, f"{self.kind}: {what} is not supported")

    def dup(self) -> ProviderObject:
        raise self.unsupported("duplication")

    def update(self, data: bytes) -> None:
        raise self.unsupported("update")

    def get_params(self, params) -> None:
        raise self.unsupported("get_params")

    def set_params(self, params) -> None:
        raise self.unsupported("set_params")

    def free(self) -> None:
        """Release resources held beyond Python's reach (nothing by default)."""


_instances: dict[int, Instance] = {}
_objects: dict[int, ProviderObject] = {}
# No lock around the tables: next() on a count and single dict operations are atomic
# under the GIL, and a Python lock held by another thread at fork() would stay locked
# forever in the child (a pre-forking server's workers would hang on their first call).
_numbers = itertools.count(1)
_current = _thread._local()  # the instance the running call belongs to (per thread)


def start_instance(cprov) -> Instance:
    instance = Instance(cprov, next(_numbers))
    _instances[instance.id] = instance
    _current.instance = instance
    try:
        from . import errors

        errors.register_reasons(ffi, lib)
        instance.read_config()
    except BaseException:
        _instances.pop(instance.id, None)
        raise
    return instance


def stop_instance(ident: int) -> None:
    instance = _instances.pop(ident, None)
    if instance is not None:
        instance.close()


def instance(ident: int) -> Instance:
    found = _instances.get(ident)
    if found is None:
        raise BridgeError(BridgeReason.INTERNAL_ERROR, f"unknown provider instance {ident}")
    _current.instance = found
    return found


def new_handle(obj: ProviderObject):
    """Register ``obj`` and return the ``void *`` OpenSSL will hold."""
    number = next(_numbers)
    _objects[number] = obj
    obj.instance.handles.add(number)
    return ffi.cast("void *", number)


def handle_number(handle) -> int:
    """The integer behind a handle (what the store passes as a key reference)."""
    return handle if isinstance(handle, int) else int(ffi.cast("uintptr_t", handle))


def lookup(handle, expected: type | None = None, *, owner: bool = True) -> ProviderObject:
    """The object behind ``handle``. With ``owner`` (the call's main object), errors of
    this call are reported through that object's provider instance."""
    obj = _objects.get(handle_number(handle))
    if obj is None:
        raise BridgeError(BridgeReason.INTERNAL_ERROR, "unknown or freed provider object")
    if expected is not None and not isinstance(obj, expected):
        raise BridgeError(BridgeReason.INTERNAL_ERROR, f"expected {expected.kind}, got {obj.kind}")
    if owner:
        _current.instance = obj.instance
    return obj


def release(handle) -> None:
    number = handle_number(handle)
    obj = _objects.pop(number, None)
    if obj is not None:
        obj.instance.handles.discard(number)
        obj.free()


def report(exc: BaseException, where: str) -> None:
    """Put ``exc`` on the OpenSSL error queue of the instance the call belongs to."""
    _log_traceback(exc, where)
    target = getattr(_current, "instance", None)
    if target is None and _instances:
        target = next(iter(_instances.values()))
    if target is None:
        return
    code, message = describe(exc)
    lib.bridge_put_error(target.cprov, code, where.encode(), message.encode("utf-8", "replace"))


TRACEBACK_LOG_ENV = "AZIHSM_BRIDGE_TRACEBACKS"


def _log_traceback(exc: BaseException, where: str) -> None:
    """For developers: append the full traceback to the file named by
    $AZIHSM_BRIDGE_TRACEBACKS (never to the terminal)."""
    path = os.environ.get(TRACEBACK_LOG_ENV)
    if not path:
        return
    import traceback

    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"--- {where} (pid {os.getpid()})\n")
            log.write("".join(traceback.format_exception(exc)))
    except OSError:
        pass
