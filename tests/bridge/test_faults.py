"""Faults: many processes at once, and processes killed with SIGKILL in the middle of a
write. Nothing may be lost (a key is whole or absent, a device keeps one identity) and
nothing may stay behind (no temporary file outlives the next use)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bridge_helpers import FIRST_USE, PROV, argv, copy_into, environment, load_public, servers_of

pytestmark = [pytest.mark.bridge, pytest.mark.openssl]


def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_sixteen_first_uses_at_once_make_one_device(openssl, provider_mode, new_device):
    """Sixteen processes at once on a new device: one device identity, no temporary file
    left, and (server mode) one device server, its socket private."""
    device = new_device()
    command = argv(openssl, *FIRST_USE)

    def start(_):
        return subprocess.run(command, env=environment(device), capture_output=True, timeout=120)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(start, range(16)))
    assert all(result.returncode == 0 for result in results), [r.stderr[-300:] for r in results if r.returncode]
    assert sorted(p.name for p in device.iterdir() if not p.name.startswith(".")) == ["masking.key", "unwrap.key"]
    assert temporaries(device) == []
    if provider_mode == "server":
        assert len(servers_of(device)) == 1
        (socket_file,) = device.glob(".azihsm-server-*.sock")
        assert (socket_file.stat().st_mode & 0o777) == 0o600


def test_eight_signatures_at_once_with_one_key(openssl, tmp_path, ec_key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    uri = f"azihsm://{copy_into(ec_key('P-256'), tmp_path)};type=ec"
    public = load_public(openssl("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER").stdout)
    (tmp_path / "data.bin").write_bytes(b"signed eight times at once")

    def sign(n):
        return subprocess.run(
            argv(openssl, "dgst", "-sha256", PROV, "-sign", uri, "-out", f"sig{n}.bin", "data.bin"),
            cwd=tmp_path,
            env=environment(openssl.device_dir),
            capture_output=True,
            timeout=120,
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(sign, range(8)))
    assert all(result.returncode == 0 for result in results)
    for n in range(8):
        public.verify((tmp_path / f"sig{n}.bin").read_bytes(), b"signed eight times at once", ec.ECDSA(hashes.SHA256()))


def kill_after(command, cwd, env, delay: float) -> int:
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    time.sleep(delay)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return process.wait()


WRITE_KEY = ("genpkey", PROV, "-algorithm", "EC", "-pkeyopt", "group:P-384", "-pkeyopt", "azihsm.masked_key:./k.bin",
             "-outform", "DER", "-out", "/dev/null")  # fmt: skip


def test_kill_during_a_masked_key_write(openssl, tmp_path):
    """Killed at random moments: the key file is whole or absent; the next write to it
    leaves no temporary file behind. (In server mode the kill hits the client: the session
    finishes or abandons the write on its own, through the same file code.)"""
    command = argv(openssl, *WRITE_KEY)
    env = environment(openssl.device_dir)
    openssl(*FIRST_USE)  # the device exists already: only the key write is interrupted
    rng = random.Random(12)
    for _ in range(12):
        kill_after(command, tmp_path, env, rng.uniform(0.02, 0.3))
        if (tmp_path / "k.bin").exists():  # whatever is there is a whole key
            openssl("pkey", PROV, "-in", "azihsm://./k.bin;type=ec", "-pubout", "-outform", "DER")
    openssl(*WRITE_KEY)
    assert temporaries(tmp_path) == []
    openssl("pkey", PROV, "-in", "azihsm://./k.bin;type=ec", "-pubout", "-outform", "DER")


def test_kill_during_first_device_use(openssl, new_device):
    """Killed while the device files are made: the next use finishes the device, with no
    temporary file left, and the identity it settles on stays."""
    rng = random.Random(20)
    for _ in range(6):
        device = new_device()
        env = environment(device)
        kill_after(argv(openssl, *FIRST_USE), device, env, rng.uniform(0.05, 0.4))
        first = openssl.at(device_dir=device)(*FIRST_USE)
        assert temporaries(device) == [], temporaries(device)
        second = openssl.at(device_dir=device)(*FIRST_USE)
        assert first.returncode == second.returncode == 0
        assert (device / "masking.key").stat().st_mode & 0o777 == 0o600
