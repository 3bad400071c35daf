"""The device server's life: one per device directory, started on demand (the start race
is in test_faults.py), gone when idle or when its device is; a dead or stale server never
stops the next command; a session (and its session keys) ends with the process that
opened it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bridge_helpers import FIRST_USE, PROV, OpenSSL, argv, environment, servers_of

from azihsm_conformance.reference.bridge import build

pytestmark = [pytest.mark.bridge, pytest.mark.openssl]

IDLE = "AZIHSM_SERVER_IDLE_SECONDS"


@pytest.fixture(scope="module")
def server_module() -> Path:
    return build.provider_dir("server")


@pytest.fixture
def device(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("served-device")


@pytest.fixture
def served(server_module, device, tmp_path) -> OpenSSL:
    return OpenSSL(server_module, tmp_path, device)


def wait_for(condition, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def socket_files(device: Path) -> list[Path]:
    return sorted(device.glob(".azihsm-server-*.sock"))


def test_an_idle_server_exits_and_removes_its_socket(served, device):
    served(*FIRST_USE, env={IDLE: "1"})
    assert servers_of(device) and socket_files(device)
    assert wait_for(lambda: not servers_of(device))
    assert socket_files(device) == []
    served(*FIRST_USE)  # and the next command starts another


def test_a_server_killed_with_sigkill_is_replaced_by_the_next_argv(served, device):
    served(*FIRST_USE)
    (old,) = servers_of(device)
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: not servers_of(device))
    assert socket_files(device), "the dead server's socket is still there: the next command must cope"
    served(*FIRST_USE)
    assert servers_of(device) and old not in servers_of(device)


def test_a_session_killed_mid_operation_fails_its_command_clearly(served, device):
    """SIGKILL to the session serving a digest still being fed: that command fails with a
    message naming what happened (no crash, no hang), and the next command works."""
    elsewhere = served.cwd / "elsewhere"
    elsewhere.mkdir()
    served.at(cwd=elsewhere)(*FIRST_USE)  # starts the server; its session works elsewhere
    (server,) = servers_of(device)
    proc = subprocess.Popen(
        argv(served, "dgst", "-sha256", PROV),
        cwd=served.cwd,
        env=environment(device),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdin.write(b"x" * 65536)
    proc.stdin.flush()
    # ours is the session working in the client's directory (the others wait for clients)
    assert wait_for(lambda: _session_in(server, served.cwd), 10), "no session started"
    os.kill(_session_in(server, served.cwd), signal.SIGKILL)
    time.sleep(0.2)
    _out, err = proc.communicate(b"y" * 65536, timeout=60)
    assert proc.returncode == 1
    assert b"ended during" in err and b"Traceback" not in err
    served(*FIRST_USE)


def _session_in(server: int, cwd: Path) -> int | None:
    for child in _children(server):
        try:
            if Path(os.readlink(f"/proc/{child}/cwd")) == cwd:
                return child
        except OSError:
            continue
    return None


def _children(pid: int) -> list[int]:
    """The live sessions of server PID (ended ones wait, as zombies, to be reaped)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split() if not _zombie(int(child))]


def test_a_stale_socket_file_is_replaced(served, device, server_module):
    name = f".azihsm-server-{server_module.name[:12]}.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(device / name))
    stale.close()  # the file stays, nobody listens: what a killed server leaves
    served(*FIRST_USE)
    assert servers_of(device)


def test_the_server_leaves_when_its_device_directory_is_removed(served, device):
    served(*FIRST_USE)
    (server,) = servers_of(device)
    for entry in device.iterdir():
        entry.unlink()
    device.rmdir()
    assert wait_for(lambda: not Path(f"/proc/{server}").exists() or _zombie(server))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def test_two_device_directories_are_served_at_once(served, tmp_path_factory):
    devices = [tmp_path_factory.mktemp("first-device"), tmp_path_factory.mktemp("second-device")]

    def use(device):
        return [served.at(device_dir=device)(*FIRST_USE).returncode for _ in range(3)]

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(use, devices)) == [[0, 0, 0], [0, 0, 0]]
    first, second = (servers_of(d) for d in devices)
    assert len(first) == len(second) == 1 and first != second


def test_session_keys_die_with_the_process_that_made_them(served, tmp_path):
    served(
        "genpkey", PROV, "-algorithm", "EC", "-pkeyopt", "group:P-256", "-pkeyopt", "azihsm.session:yes",
        "-pkeyopt", "azihsm.masked_key:./session.bin", "-out", "/dev/null",
    )  # fmt: skip
    result = served("pkey", PROV, "-in", f"azihsm://{tmp_path / 'session.bin'};type=ec", "-pubout", ok=False)
    assert "blob-session-ended" in result.stderr


@pytest.mark.parametrize(
    "problem, prepare",
    [
        ("missing", lambda d: d.rmdir()),
        ("world-writable", lambda d: d.chmod(0o777)),
    ],
)
def test_an_unusable_device_directory_gives_the_in_process_message(served, tmp_path_factory, problem, prepare):
    """Such a directory cannot hold a server's socket: a private server answers, so the
    user reads the very message the in-process provider gives."""
    messages = []
    for module in (build.provider_dir("server"), build.provider_dir("in-process")):
        device = tmp_path_factory.mktemp(f"{problem}-device")
        prepare(device)
        result = OpenSSL(module, served.cwd, device)(*FIRST_USE, ok=False)
        provider_lines = [line.split(":", 5)[-1] for line in result.stderr.splitlines() if "azihsm_provider" in line]
        messages.append([line.replace(str(device), "DEVICE") for line in provider_lines])
        assert not socket_files(device) if device.exists() else True
    assert messages[0] == messages[1] and messages[0]


def test_a_relative_key_path_means_the_client_working_directory(served, tmp_path):
    served("genpkey", PROV, "-algorithm", "EC", "-pkeyopt", "group:P-256",
           "-pkeyopt", "azihsm.masked_key:./here.bin", "-out", "/dev/null")  # fmt: skip
    assert (tmp_path / "here.bin").stat().st_size > 0


def test_listing_the_provider_starts_no_server(served, device):
    result = served("list", "-providers", "-verbose", PROV)
    assert "name: azihsm" in result.text
    assert not servers_of(device) and socket_files(device) == []


def _raw_client(device: Path, server_module: Path) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(30)
    conn.connect(str(device / f".azihsm-server-{server_module.name[:12]}.sock"))
    return conn


@pytest.mark.parametrize(
    "misbehaviour",
    ["garbage-hello", "foreign-build", "gone-mid-request", "oversized-frame"],
)
def test_a_misbehaving_client_costs_the_server_nothing(served, device, server_module, misbehaviour):
    """What a broken or foreign client sends ends that client's session only: the server
    and its other sessions go on, and the next command works."""
    from azihsm_conformance.reference.bridge import protocol

    served(*FIRST_USE)
    (server,) = servers_of(device)
    conn = _raw_client(device, server_module)
    hello = protocol.Writer()
    hello.parts.append(protocol.MAGIC)
    hello.blob(b"another-build" if misbehaviour == "foreign-build" else server_module.name.encode())
    hello.blob(b"")
    hello.blob(b"/")
    if misbehaviour == "garbage-hello":
        conn.sendall(b"\x10\x00\x00\x00this is not it!!")
    elif misbehaviour == "oversized-frame":
        conn.sendall(b"\xff\xff\xff\x7f")
    else:
        conn.sendall(hello.frame())
        status = conn.recv(5)
        assert len(status) == 5 and status[4] == (1 if misbehaviour == "foreign-build" else 0)
        if misbehaviour == "gone-mid-request":
            conn.sendall(b"\x40\x00\x00\x00\x08\x00\x00\x00")  # a frame cut after its function number
    conn.close()
    served(*FIRST_USE)
    assert servers_of(device) == {server}


def test_an_edited_reference_retires_the_server(served, device):
    """A source file of the reference changes (here: its time, as an editor's save would):
    the next client is served by the new code, the old server retires, and the command
    after starts a new one."""
    import azihsm_conformance.reference.bridge.identity as edited

    served(*FIRST_USE)
    (old,) = servers_of(device)
    path = Path(edited.__file__)
    before = path.stat()
    try:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        served(*FIRST_USE)
        assert wait_for(lambda: old not in servers_of(device)), "the stale server is still serving"
        served(*FIRST_USE)
        assert servers_of(device) and old not in servers_of(device)
    finally:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_device_path_longer_than_the_client_keeps_still_works(served, tmp_path):
    """A device directory path of over 1,100 bytes: the client cannot hold it, so a private
    server (which reads the whole path) serves, and the device is made where it was named."""
    device = tmp_path
    while len(str(device)) < 1100:
        device = device / ("d" * 200)
    device.mkdir(parents=True)
    device.chmod(0o700)
    served.at(device_dir=device)(*FIRST_USE)
    assert (device / "masking.key").is_file()


def test_a_client_s_environment_does_not_outlive_it(served, tmp_path):
    """Session processes serve client after client: a variable one client set (here the
    developers' traceback log) is gone for the next ones."""
    log = tmp_path / "tracebacks.log"
    bad_uri = ("pkey", PROV, "-in", "azihsm://./missing.bin;type=ec", "-pubout")
    served(*bad_uri, ok=False, env={"AZIHSM_BRIDGE_TRACEBACKS": str(log)})
    logged = log.read_text()
    assert "missing.bin" in logged
    for _ in range(4):  # enough to meet every waiting session process
        served(*bad_uri, ok=False)
    assert log.read_text() == logged
