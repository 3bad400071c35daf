"""The device server: the Python half of the provider, out of the ``openssl`` process.

One server per device directory, started by the first provider that needs it (a socket
``.azihsm-server-<build>.sock`` inside the directory, mode 0600; a lock file decides a
start race, so one server wins and the others exit). The server imports everything and
rehearses a short client once. It then keeps session processes forked ahead, waiting in
accept(). A session process serves one connection at a time, up to SESSIONS_PER_PROCESS in
turn. For each one it takes on the client's environment and working directory, so relative
paths, ``$AZIHSM_*`` variables and credentials mean what they mean in-process. It runs the
unchanged entry points of ``externs.py``. The session ends when the client's last copy of
the connection closes, and its session keys end with it. A provider that forks shares its
connection with the child, under a process-shared lock in the client, as it would share an
in-process session.

The server exits after ``$AZIHSM_SERVER_IDLE_SECONDS`` (default 30) without a session,
and as soon as its device directory or socket disappears (a reset device). A server that
dies leaves a socket nobody answers: the next client sees the refused connection, starts
a new server, and the new one replaces the stale socket.

``private`` mode serves one connection on fd 3 and exits with it: the client uses it when
the device directory cannot hold a socket (missing, unwritable, unsafe), so the user sees
exactly the error the in-process provider gives.

Run as ``python -I -S -c BOOT {device|private} NAME`` by the C client (see client.c).
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import tempfile
import time

from . import protocol
from .protocol import ProtocolError, Reader, Writer

IDLE_ENV = "AZIHSM_SERVER_IDLE_SECONDS"
DEFAULT_IDLE = 30.0
CHANNEL_FD = 3  # device mode: the device directory; private mode: the connection
STATUS_FD = 4  # the starting client reads "ready", "busy" or why not from here
POOL = 2  # sessions forked ahead, waiting for a client
SESSIONS_PER_PROCESS = 200  # clients a session process serves before it makes way for a fresh one

# OpenSSL's ABI values (core.h, core_dispatch.h, core_object.h, store.h).
CONSTANTS = {
    "OSSL_PARAM_INTEGER": 1,
    "OSSL_PARAM_UNSIGNED_INTEGER": 2,
    "OSSL_PARAM_UTF8_STRING": 4,
    "OSSL_PARAM_OCTET_STRING": 5,
    "OSSL_PARAM_UTF8_PTR": 6,
    "OSSL_PARAM_OCTET_PTR": 7,
    "OSSL_KEYMGMT_SELECT_PRIVATE_KEY": 0x01,
    "OSSL_KEYMGMT_SELECT_PUBLIC_KEY": 0x02,
    "OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS": 0x04,
    "OSSL_KEYMGMT_SELECT_OTHER_PARAMETERS": 0x80,
    "OSSL_OBJECT_PKEY": 2,
    "OSSL_STORE_INFO_PUBKEY": 3,
    "OSSL_STORE_INFO_PKEY": 4,
}
PTR_TYPES = (6, 7)
UNMODIFIED = (1 << 64) - 1


class ClientProvider:
    """What ``cprov`` is on this side: the client's provider-section settings."""

    def __init__(self, section: dict[str, str]):
        self.section = section
        self.instance_id = 0
        self.keep: list[object] = []


class Effects:
    """What one call asks of the client besides its result: errors to raise, bytes for a
    BIO, callbacks to make."""

    def __init__(self):
        self.errors: list[tuple[int, int, bytes, bytes]] = []
        self.bio = bytearray()
        self.calls: list[bytes] = []


class ServerLib:
    """Stands in for the compiled module's ``lib``: OpenSSL's constants, and the C helpers
    the Python side calls, recording their effects for the reply."""

    def __init__(self, ffi):
        self._ffi = ffi
        self.effects = Effects()
        for name, value in CONSTANTS.items():
            setattr(self, name, value)

    def bridge_put_error(self, cprov, reason, func, message):
        instance = getattr(cprov, "instance_id", 0)
        self.effects.errors.append((instance, int(reason), bytes(func), bytes(message)))

    def bridge_bio_write(self, cprov, cbio, data, length):
        self.effects.bio += bytes(self._ffi.buffer(data, length)) if not isinstance(data, bytes) else data[:length]
        return 1

    def bridge_core_param(self, cprov, name):
        value = cprov.section.get(bytes(name).decode("utf-8", "surrogateescape"))
        if value is None:
            return self._ffi.NULL
        text = self._ffi.new("char[]", value.encode("utf-8", "surrogateescape"))
        cprov.keep.append(text)
        return text

    def bridge_add_reason(self, code, text):
        return 1  # the client has the reason strings built in


class Session:
    """One client connection: decodes requests, runs the entry points, encodes replies."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.ffi, self.lib, self.functions, self.entry = _prepared()
        self._keep: list[object] = []

    # ---- requests ---------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            body = _read_frame(self.conn)
            if body is None:
                return
            reply = self.handle(body)
            if reply is not None:
                self.conn.sendall(reply)

    def handle(self, body: bytes) -> bytes | None:
        reader = Reader(body)
        index = reader.u32()
        if index >= len(self.functions):
            raise ProtocolError(f"unknown function {index}")
        function = self.functions[index]
        self.lib.effects = effects = Effects()
        self._keep = []  # buffers the call's arguments point into
        args, outputs = self._decode(function, reader)
        reader.done()
        result = self.entry[function.name](*args)
        if not function.replies:
            return None
        out = Writer()
        self._encode_result(function.returns, result, out)
        for write in outputs:
            write(out)
        out.u32(len(effects.errors))
        for instance, reason, func, message in effects.errors:
            out.u32(instance)
            out.u32(reason)
            out.blob(func)
            out.blob(message)
        out.u32(len(effects.calls))
        for call in effects.calls:
            out.parts.append(call)
        out.blob(bytes(effects.bio))
        return out.frame()

    def _encode_result(self, kind: str, result, out: Writer) -> None:
        ffi = self.ffi
        if kind == "INT":
            out.i64(int(result))
        elif kind == "HANDLE":
            out.u64(0 if result is None or result == ffi.NULL else int(ffi.cast("uintptr_t", result)))
        elif kind == "STR":
            out.blob(None if result is None or result == ffi.NULL else ffi.string(result))

    def _decode(self, function: protocol.Function, reader: Reader):
        ffi = self.ffi
        args: list[object] = []
        outputs = []
        for kind, _params in function.kinds:
            if kind in ("INT", "INSTANCE"):
                args.append(reader.i64())
            elif kind == "HANDLE":
                number = reader.u64()
                args.append(ffi.NULL if number == 0 else ffi.cast("void *", number))
            elif kind == "STR":
                text = reader.blob()
                args.append(ffi.NULL if text is None else ffi.new("char[]", text))
            elif kind == "BYTES":
                data = reader.blob()
                if data is None:
                    args += [ffi.NULL, 0]
                else:
                    args += [ffi.new("unsigned char[]", max(1, len(data))), len(data)]
                    ffi.memmove(args[-2], data, len(data))
            elif kind == "OUTBUF":
                args += self._outbuf(reader, outputs)
            elif kind == "FIXEDOUT":
                args += self._fixed_output(reader, outputs)
            elif kind == "PARAMS":
                args.append(self._params(reader, with_data=True)[0])
            elif kind == "REQUEST":
                array, elements = self._params(reader, with_data=False)
                args.append(array)
                outputs.append(lambda out, a=array, n=elements: self._answers(a, n, out))
            elif kind == "CALLBACK":
                args += [self._callback, ffi.NULL]
            elif kind == "BIO":
                args.append(ffi.NULL)
            elif kind == "PROVIDER":
                count = reader.u32()
                section = {}
                for _ in range(count):
                    key = reader.blob().decode("utf-8", "surrogateescape")
                    value = reader.blob()
                    if value is not None:
                        section[key] = value.decode("utf-8", "surrogateescape")
                cprov = ClientProvider(section)
                args.append(cprov)
            elif kind == "INT_OUT":
                cell = ffi.new("int *")
                args.append(cell)
                if function.name == "py_provider_init":
                    provider = args[0]
                    outputs.append(lambda out, c=cell, p=provider: (setattr(p, "instance_id", c[0]), out.i64(c[0])))
                else:
                    outputs.append(lambda out, c=cell: out.i64(c[0]))
            else:  # pragma: no cover - protocol.functions() knows no other kind
                raise ProtocolError(f"unknown kind {kind}")
        return args, outputs

    def _outbuf(self, reader: Reader, outputs: list) -> list[object]:
        ffi = self.ffi
        is_null = reader.u8()
        capacity = reader.u64()
        length = ffi.new("size_t *")
        capacity = min(capacity, protocol.MAX_FIXED_OUTPUT)
        buffer = ffi.NULL if is_null else ffi.new("unsigned char[]", max(1, capacity))

        def write(out: Writer, b=buffer, n=length, cap=capacity):
            out.u64(n[0])
            out.blob(None if b == ffi.NULL else bytes(ffi.buffer(b, min(n[0], cap))))

        outputs.append(write)
        return [buffer, length, capacity]

    def _fixed_output(self, reader: Reader, outputs: list) -> list[object]:
        ffi = self.ffi
        size = reader.u64()
        if size > protocol.MAX_FIXED_OUTPUT:
            from .errors import BridgeError, BridgeReason

            raise BridgeError(
                BridgeReason.OUTPUT_BUFFER_TOO_SMALL, f"an output of {size} bytes is over the device server's limit"
            )
        buffer = ffi.new("unsigned char[]", max(1, size))
        outputs.append(lambda out: out.blob(bytes(ffi.buffer(buffer, size))))
        return [buffer, size]

    def _params(self, reader: Reader, with_data: bool):
        """An OSSL_PARAM array rebuilt in this process (and what keeps its buffers alive)."""
        ffi = self.ffi
        count = reader.u32()
        array = ffi.new("OSSL_PARAM[]", count + 1)
        keep = self._keep
        keep.append(array)
        for i in range(count):
            entry = array[i]
            key = ffi.new("char[]", reader.blob())
            keep.append(key)
            entry.key = key
            entry.data_type = reader.u32()
            entry.data_size = size = reader.u64()
            entry.return_size = UNMODIFIED
            data = reader.blob() if with_data else (None if reader.u8() else b"")
            if data is None:
                entry.data = ffi.NULL
            elif entry.data_type in PTR_TYPES:
                target = ffi.new("char[]", data + b"\0")
                holder = ffi.new("char **", target)
                keep += [target, holder]
                entry.data = holder
                entry.data_size = len(data) if with_data else size
            else:
                buffer = ffi.new("unsigned char[]", max(1, size, len(data)))
                ffi.memmove(buffer, data, len(data))
                keep.append(buffer)
                entry.data = buffer
        return array, count

    def _answers(self, array, count: int, out: Writer) -> None:
        """A get_params request's answers: each element's return size and data."""
        ffi = self.ffi
        for i in range(count):
            entry = array[i]
            out.u64(entry.return_size)
            if entry.return_size == UNMODIFIED or entry.data == ffi.NULL:
                out.blob(None)
            elif entry.data_type in PTR_TYPES:
                pointer = ffi.cast("char **", entry.data)[0]
                out.blob(None if pointer == ffi.NULL else bytes(ffi.buffer(pointer, entry.return_size)))
            else:
                out.blob(bytes(ffi.buffer(entry.data, entry.data_size)))

    def _callback(self, array, _cbarg) -> int:
        """An OpenSSL callback (store object, key export): recorded, made by the client."""
        ffi = self.ffi
        out = Writer()
        entries = []
        i = 0
        while array[i].key != ffi.NULL:
            entries.append(array[i])
            i += 1
        out.u32(len(entries))
        for entry in entries:
            out.blob(ffi.string(entry.key))
            out.u32(entry.data_type)
            out.u64(entry.data_size)
            if entry.data_type in PTR_TYPES:
                pointer = ffi.cast("char **", entry.data)[0]
                out.blob(None if pointer == ffi.NULL else bytes(ffi.buffer(pointer, entry.data_size)))
            else:
                out.blob(bytes(ffi.buffer(entry.data, entry.data_size)))
        self.lib.effects.calls.append(b"".join(out.parts))
        return 1


_PREPARED = None


def _prepared():
    """(ffi, lib, functions, entry points), made once per server (sessions inherit them)."""
    global _PREPARED
    if _PREPARED is None:
        import cffi

        from . import externs

        ffi = cffi.FFI()
        ffi.cdef(protocol.OSSL_PARAM_CDEF)
        lib = ServerLib(ffi)
        _PREPARED = ffi, lib, protocol.functions(), externs.serve(ffi, lib)
    return _PREPARED


# ---- framing --------------------------------------------------------------------------


def _read_exactly(conn: socket.socket, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = conn.recv(n - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _read_frame(conn: socket.socket) -> bytes | None:
    head = _read_exactly(conn, 4)
    if head is None:
        return None
    (length,) = struct.unpack("<I", head)
    if length > protocol.MAX_FRAME:
        raise ProtocolError(f"a frame of {length} bytes")
    body = _read_exactly(conn, length)
    if body is None:
        raise ProtocolError("connection closed inside a frame")
    return body


# ---- hello: the client's environment and working directory ------------------------------


def _hello(conn: socket.socket, build: str) -> None:
    """Read the client's hello, take on its environment and working directory, answer."""
    message, fds, _flags, _addr = socket.recv_fds(conn, 4, 1)
    rest = _read_exactly(conn, 4 - len(message)) if message and len(message) < 4 else b""
    if not message or rest is None:
        raise ProtocolError("no hello")
    (length,) = struct.unpack("<I", message + rest)
    if length > protocol.MAX_FRAME:
        raise ProtocolError("an oversized hello")
    body = _read_exactly(conn, length)
    if body is None:
        raise ProtocolError("connection closed inside the hello")
    reader = Reader(body)
    magic = bytes(reader._take(len(protocol.MAGIC)))
    client_build = reader.blob()
    environment = reader.blob() or b""
    cwd = reader.blob()
    reader.done()
    status, text = 0, b""
    if magic != protocol.MAGIC:
        status, text = 1, b"protocol mismatch"
    elif client_build != build.encode():
        status, text = 1, b"a provider of another build"
    if status == 0:
        wanted = {}
        for item in environment.split(b"\0"):
            key, sep, value = item.partition(b"=")
            if sep and key:
                wanted[key] = value
        for key in [k for k in os.environb if k not in wanted]:
            del os.environb[key]
        for key, value in wanted.items():
            if os.environb.get(key) != value:
                os.environb[key] = value
        try:
            if fds:
                os.fchdir(fds[0])
            elif cwd:
                os.chdir(cwd)
        except OSError:
            pass
    for fd in fds:
        os.close(fd)
    reply = Writer()
    reply.u8(status)
    reply.blob(text)
    conn.sendall(reply.frame())
    if status:
        raise ProtocolError(text.decode())


def _run_session(conn: socket.socket, build: str) -> None:
    try:
        _hello(conn, build)
        Session(conn).serve()
    except (ProtocolError, OSError):
        pass  # a client that broke the protocol or went away: nothing to answer
    finally:
        try:
            from . import runtime

            for ident in list(runtime._instances):
                runtime.stop_instance(ident)
            runtime._current.instance = None  # the next client starts with nothing of this one
        except BaseException:  # noqa: BLE001 - ending a session must not raise
            pass


# ---- the server ---------------------------------------------------------------------------


def _warm_up() -> None:
    """Import what operations need, so each forked session starts warm."""
    import ctypes  # noqa: F401 - sessions use it (_die_with_parent)

    _prepared()

    from . import (  # noqa: F401
        asym_cipher,
        config,
        digest,
        encoder,
        externs,
        files,
        identity,
        kdf,
        keyexch,
        keymgmt,
        mac,
        params,
        signature,
        skey,
        store,
    )

    try:
        from cryptography.hazmat.primitives import hashes, hmac, serialization  # noqa: F401
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils  # noqa: F401
        from cryptography.hazmat.primitives.ciphers import aead  # noqa: F401

        from azihsm_conformance.reference import device  # noqa: F401
        from azihsm_conformance.reference.device import aes, blob, cipher, derive, session, signing, wrap  # noqa: F401

        key = ec.generate_private_key(ec.SECP256R1())  # loads pyca's lazily bound parts
        key.sign(b"warm", ec.ECDSA(hashes.SHA256()))
        aead.AESGCM(bytes(32)).encrypt(bytes(12), b"warm", None)
    except Exception:  # noqa: BLE001 - a broken import shows in the session, with its error
        pass


class DeviceServer:
    def __init__(self, name: str, build: str):
        import fcntl

        self.name = name
        self.build = build
        self.directory = CHANNEL_FD
        self.idle = _idle_seconds()
        self.lock = os.open(
            f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=CHANNEL_FD
        )
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            _status("busy")  # another server holds this device
            raise SystemExit(0) from None
        self.path = f"/proc/self/fd/{CHANNEL_FD}/{name}.sock"
        try:
            os.unlink(f"{name}.sock", dir_fd=CHANNEL_FD)  # a stale socket of a dead server
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self.listener.bind(self.path)
        finally:
            os.umask(old)
        self.listener.listen(128)
        self.socket_id = self._socket_id()

    def _socket_id(self):
        try:
            st = os.stat(f"{self.name}.sock", dir_fd=CHANNEL_FD, follow_symlinks=False)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _device_gone(self) -> bool:
        try:
            if os.fstat(CHANNEL_FD).st_nlink == 0:
                return True
        except OSError:
            return True
        return self._socket_id() != self.socket_id

    def run(self) -> None:
        """Keep POOL sessions forked and waiting in accept(), so a client never waits for a
        fork; replace each one as it takes a connection; leave when idle or orphaned."""
        import gc

        _warm_up()
        self.scratch = tempfile.mkdtemp(prefix="azihsm-server-rehearsal-")
        try:
            _rehearse(self.scratch)
        except Exception:  # noqa: BLE001 - a failing rehearsal only means colder sessions
            pass
        self.sources = _source_times()
        _status("ready")
        gc.collect()
        gc.freeze()  # sessions then share the warm heap copy-on-write
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        notices, self.notify = os.pipe()
        waiting: set[int] = set()  # forked, not yet connected
        busy: set[int] = set()  # serving a client
        last_active = time.monotonic()
        stale = False
        while not stale:
            while len(waiting) < POOL:
                waiting.add(self._fork_session(notices))
            if _readable(notices, min(1.0, self.idle)):
                for pid, word in _read_notices(notices):
                    if word == b"i":
                        busy.discard(pid)
                        waiting.add(pid)
                    else:
                        waiting.discard(pid)
                        busy.add(pid)
                    stale = stale or word == b"s"
            for pid in _reaped(waiting | busy):
                waiting.discard(pid)
                busy.discard(pid)
            if busy:
                last_active = time.monotonic()
            if self._device_gone() or (not busy and time.monotonic() - last_active >= self.idle):
                break
        try:  # wakes the waiting sessions' accept(); a client caught in between retries
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close()
        for pid in waiting:  # nobody is connected to these
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass

    def _fork_session(self, notices: int) -> int:
        """A session process: it serves up to SESSIONS_PER_PROCESS clients, one after the
        other (each with its own environment, directory and device session), so most
        clients cost neither a fork nor its copy-on-write faults."""
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            os.close(notices)
            os.close(self.lock)
            for served in range(SESSIONS_PER_PROCESS):
                _die_with_parent(True)  # a waiting session must not outlive a killed server
                if served == 0:
                    try:  # the generic part again while nobody waits: its pages become our own
                        _rehearse(self.scratch, keys=False)
                    except Exception:  # noqa: BLE001
                        pass
                conn, _ = self.listener.accept()
                _die_with_parent(False)  # a connected one serves its client to the end
                stale = _source_times(self.sources) != self.sources
                self._tell(b"s" if stale else b"a")
                if stale:  # the reference was edited: this client gets the new code
                    self.listener.close()
                    _serve_fresh(conn)
                if _same_user(conn):
                    _run_session(conn, self.build)
                conn.close()
                self._tell(b"i")
            code = 0
        except BaseException:  # noqa: BLE001 - a session never returns into the server loop
            pass
        os._exit(code)

    def _tell(self, word: bytes) -> None:
        """Tell the server this session took a client (a), the code is stale (s), or it
        waits for the next client (i)."""
        os.write(self.notify, struct.pack("<i", os.getpid()) + word)

    def close(self) -> None:
        import shutil

        if getattr(self, "scratch", None):
            shutil.rmtree(self.scratch, ignore_errors=True)
        if self._socket_id() == self.socket_id:
            try:
                os.unlink(f"{self.name}.sock", dir_fd=CHANNEL_FD)
            except OSError:
                pass
        self.listener.close()


_LIBC = None


def _die_with_parent(yes: bool) -> None:
    global _LIBC
    if _LIBC is None:
        import ctypes

        _LIBC = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL if yes else 0)
    if yes and os.getppid() == 1:  # the server died before we asked
        os._exit(0)


def _readable(fd: int, timeout: float) -> bool:
    import select

    try:
        return bool(select.select([fd], [], [], timeout)[0])
    except InterruptedError:
        return False


def _read_notices(fd: int):
    """(pid, word) of every session that took a connection since the last read."""
    data = os.read(fd, 5 * 64)
    for at in range(0, len(data) - len(data) % 5, 5):
        (pid,) = struct.unpack("<i", data[at : at + 4])
        yield pid, data[at + 4 : at + 5]


def _reaped(pids: set[int]) -> list[int]:
    done = []
    for pid in pids:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            finished = pid
        if finished:
            done.append(pid)
    return done


def _source_times(known: dict[str, int] | None = None) -> dict[str, int]:
    """Modification times of the project's modules: those loaded now, or the KNOWN ones
    again (an edit makes the server stale; a module a session imports later does not)."""
    if known is None:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        paths = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
        known = {path: 0 for path in paths if path.startswith(root)}
    times = {}
    for path in known:
        try:
            times[path] = os.stat(path).st_mtime_ns
        except OSError:
            times[path] = -1
    return times


def _serve_fresh(conn: socket.socket) -> None:
    """Hand CONN to a new interpreter running the edited code (as a private server)."""
    try:
        os.dup2(conn.fileno(), CHANNEL_FD, inheritable=True)
        os.dup2(os.open(os.devnull, os.O_WRONLY), STATUS_FD, inheritable=True)  # nobody reads it
        os.execv(sys.executable, [*sys.orig_argv[:-3], "private", *sys.orig_argv[-2:]])
    except OSError:
        os._exit(1)


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _idle_seconds() -> float:
    try:
        value = float(os.environ.get(IDLE_ENV, DEFAULT_IDLE))
    except ValueError:
        return DEFAULT_IDLE
    return value if value > 0 else DEFAULT_IDLE


def main(argv: list[str]) -> None:
    """``device NAME BUILD`` (fd 3: the device directory) or ``private NAME BUILD`` (fd 3:
    the connection)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C in the starting terminal is not ours
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a client gone mid-reply ends its session only
    for name in ("OPENSSL_CONF", "OPENSSL_MODULES"):  # pyca's own OpenSSL must not load this provider
        os.environ.pop(name, None)
    if len(argv) != 3 or argv[0] not in ("device", "private"):
        sys.exit("usage: server {device|private} NAME BUILD (started by azihsm_provider.so)")
    mode, name, build = argv
    try:
        if mode == "private":
            conn = socket.socket(fileno=CHANNEL_FD)
            _prepared()
            _status("ready")
            _run_session(conn, build)
            return
        DeviceServer(name, build).run()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the client shows this line to the user
        _status(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        raise SystemExit(1) from None


def _status(word: str) -> None:
    """Tell the starting client how the start went (once; later calls do nothing)."""
    try:
        os.write(STATUS_FD, word.encode("utf-8", "replace")[:900] + b"\n")
        os.close(STATUS_FD)
    except OSError:
        pass


# ---- rehearsal: a short client's requests, run before any client comes ---------------------


class _Rehearsal:
    """Drives a Session with requests built here, as the C client would send them."""

    def __init__(self):
        self.session = Session(None)
        self.functions = {f.name: f for f in self.session.functions}

    def call(self, name: str, *values) -> Reader | None:
        function = self.functions[name]
        out = Writer()
        out.u32(function.index)
        values = list(values)
        for kind, _params in function.kinds:
            if kind in ("CALLBACK", "BIO", "INT_OUT"):
                continue
            value = values.pop(0)
            if kind in ("INT", "INSTANCE"):
                out.i64(value)
            elif kind == "HANDLE":
                out.u64(value)
            elif kind in ("STR", "BYTES"):
                out.blob(value.encode() if isinstance(value, str) else value)
            elif kind == "OUTBUF":
                out.u8(0)
                out.u64(value)
            elif kind == "PARAMS":
                out.u32(len(value))
                for key, item in value:
                    raw = item.encode() if isinstance(item, str) else item.to_bytes(4, sys.byteorder)
                    out.blob(key.encode())
                    out.u32(4 if isinstance(item, str) else 1)
                    out.u64(len(raw))
                    out.blob(raw)
            elif kind == "REQUEST":
                out.u32(len(value))
                for key, data_type, size in value:
                    out.blob(key.encode())
                    out.u32(data_type)
                    out.u64(size)
                    out.u8(0)
            elif kind == "PROVIDER":
                out.u32(len(value))
                for key, item in value.items():
                    out.blob(key.encode())
                    out.blob(item.encode())
        reply = self.session.handle(b"".join(out.parts))
        return None if reply is None else Reader(reply[4:])


def _rehearse(directory: str, keys: bool = True) -> None:
    """Run what most clients ask (a digest, an EC key, a signature, the key's parameters
    and encoding) against a scratch device, so every session starts with it all imported,
    cffi's types parsed and pyca's functions bound. Leaves no instance behind."""
    from . import runtime

    play = _Rehearsal()
    reply = play.call("py_provider_init", {"azihsm-device-dir": directory})
    reply.i64()
    instance = reply.i64()
    try:
        digest = play.call("py_digest_newctx", instance, "sha256").u64()
        play.call("py_digest_init", digest)
        play.call("py_obj_update", digest, b"rehearsal")
        play.call("py_digest_final", digest, 64)
        play.call("py_obj_free", digest)
        if not keys:
            return
        keygen = play.call(
            "py_keygen_init",
            instance,
            "EC",
            3,
            [("group", "P-256"), ("azihsm.masked_key", os.path.join(directory, "rehearsal.bin"))],
        ).u64()
        key = play.call("py_keygen", keygen).u64()
        play.call("py_obj_get_params", key, [("bits", 1, 4), ("group", 4, 64)])
        play.call("py_encode", instance, "pem-spki", key, 2, 0)
        signing = play.call("py_sig_newctx", instance, "ECDSA").u64()
        play.call("py_sig_init", signing, "digest-sign", "SHA256", key, [])
        play.call("py_obj_update", signing, b"rehearsal")
        play.call("py_sig_sign_final", signing, 256)
        for handle in (signing, key, keygen):
            play.call("py_obj_free", handle)
    finally:
        runtime.stop_instance(instance)
