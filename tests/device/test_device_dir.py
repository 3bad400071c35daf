"""The device directory: first-use provisioning, identity, file modes, errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from azihsm_conformance.reference.device import Device, DeviceError, Reason
from azihsm_conformance.reference.device.device import MASKING_FILE, UNWRAP_FILE


def test_first_use_creates_device_files_with_mode_0600(device_dir):
    dev = Device.open(device_dir)
    for name in (MASKING_FILE, UNWRAP_FILE):
        mode = stat.S_IMODE((device_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    assert dev.path == device_dir
    assert len(dev.identity) == 16 and int(dev.identity, 16) >= 0


def test_identity_is_stable_across_opens(device_dir):
    assert Device.open(device_dir).identity == Device.open(device_dir).identity


def test_two_directories_are_two_devices(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert Device.open(tmp_path / "a").identity != Device.open(tmp_path / "b").identity


def test_no_temporary_files_are_left_behind(device_dir):
    Device.open(device_dir)
    leftovers = [p.name for p in device_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_environment_variable_selects_the_directory(device_dir, monkeypatch):
    monkeypatch.setenv("AZIHSM_DEVICE_DIR", str(device_dir))
    assert Device.open().path == device_dir
    assert (device_dir / MASKING_FILE).exists()


def test_missing_directory_names_it_and_the_way_out(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DeviceError) as info:
        Device.open(missing)
    assert info.value.reason is Reason.DEVICE_DIR_MISSING
    assert str(missing) in str(info.value)
    assert "AZIHSM_DEVICE_DIR" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_file_in_place_of_the_directory_is_refused(tmp_path):
    not_dir = tmp_path / "file"
    not_dir.write_bytes(b"")
    with pytest.raises(DeviceError) as info:
        Device.open(not_dir)
    assert info.value.reason is Reason.DEVICE_DIR_MISSING
    assert "not a directory" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to any directory")
def test_unwritable_directory_is_refused(device_dir):
    device_dir.chmod(0o500)
    try:
        with pytest.raises(DeviceError) as info:
            Device.open(device_dir)
    finally:
        device_dir.chmod(0o700)
    assert info.value.reason is Reason.DEVICE_DIR_UNWRITABLE
    assert str(device_dir) in str(info.value) and "AZIHSM_DEVICE_DIR" in str(info.value)


def test_damaged_masking_file_is_reported(device_dir):
    Device.open(device_dir)
    (device_dir / MASKING_FILE).write_bytes(b"garbage")
    with pytest.raises(DeviceError) as info:
        Device.open(device_dir)
    assert info.value.reason is Reason.DEVICE_FILE_CORRUPT
    assert MASKING_FILE in str(info.value)


def test_damaged_unwrapping_key_is_reported_when_needed(device_dir):
    dev = Device.open(device_dir)
    data = bytearray((device_dir / UNWRAP_FILE).read_bytes())
    data[-1] ^= 1
    (device_dir / UNWRAP_FILE).write_bytes(bytes(data))
    reopened = Device.open(device_dir)
    assert reopened.identity == dev.identity
    with pytest.raises(DeviceError) as info:
        _ = reopened.unwrapping_public_der
    assert info.value.reason is Reason.DEVICE_FILE_CORRUPT
    assert UNWRAP_FILE in str(info.value)


def test_missing_unwrapping_key_is_recreated_without_changing_identity(device_dir):
    dev = Device.open(device_dir)
    (device_dir / UNWRAP_FILE).unlink()
    again = Device.open(device_dir)
    assert again.identity == dev.identity
    assert (device_dir / UNWRAP_FILE).exists()


# Each racer imports everything first, then waits for the start signal, so that all of
# them reach Device.open (and its first-use provisioning) at the same moment.
_RACER = """
import os, sys, time
from azihsm_conformance.reference.device import Device
from cryptography.hazmat.primitives.asymmetric import rsa
go = sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.001)
print(Device.open(sys.argv[1]).identity)
"""


def test_concurrent_first_use_yields_one_identity(device_dir, tmp_path):
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(device_dir), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    time.sleep(0.5)  # let every racer reach the start line
    go.write_bytes(b"")
    results = [proc.communicate(timeout=60) for proc in racers]
    for proc, (_out, err) in zip(racers, results):
        assert proc.returncode == 0, err
    identities = {out.strip() for out, _err in results}
    assert len(identities) == 1
    assert identities == {Device.open(device_dir).identity}
    # exactly the device files (and the creation lock) remain
    assert sorted(p.name for p in device_dir.iterdir()) == sorted([".lock", MASKING_FILE, UNWRAP_FILE])


def test_unwritable_directory_message_without_needing_a_non_root_user(device_dir, monkeypatch):
    monkeypatch.setattr("azihsm_conformance.reference.device.device.os.access", lambda path, mode: False)
    with pytest.raises(DeviceError) as info:
        Device.open(device_dir)
    assert info.value.reason is Reason.DEVICE_DIR_UNWRITABLE
    assert str(device_dir) in str(info.value) and "AZIHSM_DEVICE_DIR" in str(info.value)


def test_file_system_without_hard_links_still_provisions(device_dir, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("azihsm_conformance.reference.device.device.os.link", no_links)
    dev = Device.open(device_dir)
    assert sorted(p.name for p in device_dir.iterdir()) == sorted([".lock", MASKING_FILE, UNWRAP_FILE])
    assert Device.open(device_dir).identity == dev.identity


def test_write_failure_during_provisioning_is_a_device_error(device_dir, monkeypatch):
    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("azihsm_conformance.reference.device.device.os.fsync", full_disk)
    with pytest.raises(DeviceError) as info:
        Device.open(device_dir)
    assert info.value.reason is Reason.DEVICE_DIR_UNWRITABLE
    assert "No space left on device" in str(info.value)
    assert not (device_dir / MASKING_FILE).exists()
    assert [p.name for p in device_dir.iterdir()] == [".lock"]
