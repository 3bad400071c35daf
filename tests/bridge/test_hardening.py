"""Regression tests for the hostile-input campaign's findings (issue 12): special files,
non-ASCII and non-UTF-8 paths, temporary files, long and control-character messages, the
device directory's permissions, and encrypted private-key output."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from bridge_helpers import FIRST_USE, PROV, copy_into

pytestmark = [pytest.mark.bridge, pytest.mark.openssl]
QUICK = 15  # seconds: a refusal must come promptly, a FIFO must not block


def genpkey(masked_key, *extra):
    return (
        "genpkey",
        PROV,
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-256",
        *extra,
        "-pkeyopt",
        b"azihsm.masked_key:" + os.fsencode(masked_key),
        "-outform",
        "DER",
        "-out",
        "/dev/null",
    )


def no_temporary_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# 1. an existing FIFO or device node at an output path is never replaced


@pytest.mark.parametrize("special", ["fifo", "device"])
def test_masked_key_output_never_replaces_a_special_file(openssl, tmp_path, special):
    target = tmp_path / "special"
    if special == "fifo":
        os.mkfifo(target)
    else:
        if os.geteuid() != 0:
            pytest.fail("making a device node needs root; the CI runs these tests as root")
        os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    result = openssl(*genpkey("./special"), ok=False, timeout=QUICK)
    assert "only a regular file is replaced" in result.stderr
    assert not stat.S_ISREG(os.lstat(target).st_mode), "the special file was replaced"
    assert no_temporary_files(tmp_path) == []


def test_kdf_and_ecdh_outputs_never_replace_a_fifo(openssl, tmp_path, ecdh_key):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    os.mkfifo(tmp_path / "out.fifo")
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "peer.pem").write_bytes(
        peer.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    uri = f"azihsm://{copy_into(ecdh_key('P-256'), tmp_path)};type=ec"
    result = openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        uri,
        "-peerkey",
        "peer.pem",
        "-pkeyopt",
        "output_file:out.fifo",
        ok=False,
        timeout=QUICK,
    )
    assert "a FIFO; only a regular file is replaced" in result.stderr
    openssl("pkeyutl", "-derive", PROV, "-inkey", uri, "-peerkey", "peer.pem", "-pkeyopt", "output_file:secret.bin")
    result = openssl(
        "kdf",
        PROV,
        "-keylen",
        "4096",
        "-kdfopt",
        "azihsm.ikm_file:./secret.bin",
        "-kdfopt",
        "output_file:out.fifo",
        "-binary",
        "-out",
        "/dev/null",
        "HKDF",
        ok=False,
        timeout=QUICK,
    )
    assert "a FIFO; only a regular file is replaced" in result.stderr
    assert stat.S_ISFIFO(os.lstat(tmp_path / "out.fifo").st_mode)


# 2. paths are bytes: non-ASCII and non-UTF-8 names work whatever the locale


@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
@pytest.mark.parametrize("name", ["clé-é.bin", "ключ.bin", b"raw-\xff\xfe.bin"], ids=["latin", "cyrillic", "not-utf8"])
def test_non_ascii_paths_everywhere(openssl, tmp_path, locale, name):
    env = {"LC_ALL": locale}
    raw = os.fsencode(name) if isinstance(name, str) else name
    openssl(*genpkey(raw), env=env)
    assert (tmp_path / os.fsdecode(raw)).is_file()
    uri = b"azihsm://./" + raw + b";type=ec"
    out = openssl("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER", env=env)
    assert out.stdout.startswith(b"\x30")
    subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-outform",
            "DER",
            "-out",
            os.fsdecode(tmp_path / os.fsdecode(b"in-" + raw)),
        ],
        check=True,
    )
    openssl(
        "genpkey",
        PROV,
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-256",
        "-pkeyopt",
        b"azihsm.input_key:./in-" + raw,
        "-pkeyopt",
        b"azihsm.masked_key:./imp-" + raw,
        "-outform",
        "DER",
        "-out",
        "/dev/null",
        env=env,
    )
    assert (tmp_path / os.fsdecode(b"imp-" + raw)).is_file()


def test_a_missing_non_ascii_file_is_named_in_the_error(openssl, tmp_path):
    result = openssl(
        "pkey",
        PROV,
        "-in",
        "azihsm://./nïcht-da.bin;type=ec",
        "-pubout",
        "-outform",
        "DER",
        ok=False,
        env={"LC_ALL": "C"},
    )
    assert "nïcht-da.bin" in result.stderr and "internal error" not in result.stderr


# 3. a FIFO given as an input ends promptly with a clear error


@pytest.mark.parametrize("where", ["uri", "symlink_uri", "input_key", "ikm_file", "mac_key"])
def test_a_fifo_input_is_refused_promptly(openssl, tmp_path, where):
    os.mkfifo(tmp_path / "in.fifo")
    (tmp_path / "link").symlink_to(tmp_path / "in.fifo")
    (tmp_path / "data.bin").write_bytes(b"x")
    args = {
        "uri": ("pkey", PROV, "-in", "azihsm://./in.fifo;type=ec", "-pubout", "-outform", "DER"),
        "symlink_uri": ("pkey", PROV, "-in", "azihsm://./link;type=ec", "-pubout", "-outform", "DER"),
        "input_key": genpkey("./k.bin", "-pkeyopt", "azihsm.input_key:./in.fifo"),
        "ikm_file": (
            "kdf",
            PROV,
            "-keylen",
            "4096",
            "-kdfopt",
            "azihsm.ikm_file:./in.fifo",
            "-binary",
            "-out",
            "/dev/null",
            "HKDF",
        ),
        "mac_key": ("mac", PROV, "-digest", "SHA256", "-macopt", "key:./in.fifo", "-in", "data.bin", "HMAC"),
    }[where]
    result = openssl(*args, ok=False, timeout=QUICK)
    expected = "symbolic link" if where == "symlink_uri" else "a FIFO, not a regular file"
    assert expected in result.stderr, result.stderr


def test_an_oversized_input_is_refused(openssl, tmp_path):
    (tmp_path / "big.bin").write_bytes(os.urandom(70 * 1024))
    result = openssl("pkey", PROV, "-in", "azihsm://./big.bin;type=ec", "-pubout", "-outform", "DER", ok=False)
    assert "more than the 64 KiB" in result.stderr


# 4. temporary files never outlive a failure, and stale ones are cleaned


@pytest.mark.parametrize("target", ["adir", "adir/", ".", "..", "/"])
def test_a_failed_rename_leaves_no_temporary_file(openssl, tmp_path, target):
    (tmp_path / "adir").mkdir()
    result = openssl(*genpkey(target), ok=False)
    assert "cannot write" in result.stderr
    assert no_temporary_files(tmp_path) == [] and no_temporary_files(tmp_path / "adir") == []


def test_a_stale_temporary_file_of_a_dead_process_is_removed(openssl, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".k.bin.{dead.pid}.0a0b0c0d.tmp"
    stale.write_bytes(b"a masked blob a killed writer left behind")
    openssl(*genpkey("./k.bin"))
    assert not stale.exists() and (tmp_path / "k.bin").is_file()


# 5. a long message keeps its reason; 8. control characters are escaped


def test_a_long_path_still_names_the_reason(openssl, tmp_path):
    long_name = "missing/" * 300 + "k.bin"  # 2,405 bytes: below PATH_MAX, so the reason is ENOENT
    result = openssl("pkey", PROV, "-in", f"azihsm://./{long_name};type=ec", "-pubout", "-outform", "DER", ok=False)
    line = next(line for line in result.stderr.splitlines() if "azihsm_provider" in line)
    assert "No such file or directory" in line and "..." in line and len(line) < 1024


def test_control_characters_in_paths_are_escaped(openssl, tmp_path):
    result = openssl("pkey", PROV, "-in", "azihsm://./evil\x1b[31m.bin;type=ec", "-pubout", "-outform", "DER", ok=False)
    ours = "\n".join(line for line in result.stderr.splitlines() if "azihsm_provider" in line)
    assert "\x1b" not in ours and "\\x1b[31m" in ours  # openssl's own lines echo the URI as given


# 6. the device directory is not trusted blindly


def test_a_world_writable_device_directory_is_refused(openssl, tmp_path, new_device):
    device = new_device()
    device.chmod(0o777)
    result = openssl.at(device_dir=device)(*FIRST_USE, ok=False)
    assert "writable by others" in result.stderr and str(device) in result.stderr


def test_a_symlinked_masking_key_is_refused(openssl, tmp_path, new_device):
    victim, attacker = new_device(), new_device()
    openssl.at(device_dir=victim)(*FIRST_USE)
    (attacker / "masking.key").symlink_to(victim / "masking.key")
    result = openssl.at(device_dir=attacker)(*FIRST_USE, ok=False)
    assert "symbolic link" in result.stderr


# also seen: an encrypted private-key output of an HSM key


def test_encrypted_private_key_output_is_refused(openssl, tmp_path, ec_key):
    uri = f"azihsm://{copy_into(ec_key('P-256'), tmp_path)};type=ec"
    result = openssl("pkey", PROV, "-in", uri, "-aes256", "-passout", "pass:secret", "-out", "enc.pem", ok=False)
    assert "cannot be exported" in result.stderr
    assert not (tmp_path / "enc.pem").exists() or not (tmp_path / "enc.pem").read_bytes()


def test_a_fifo_named_like_a_device_file_is_refused_promptly(openssl, new_device):
    device = new_device()
    os.mkfifo(device / "masking.key")
    result = openssl.at(device_dir=device)(*FIRST_USE, ok=False, timeout=QUICK)
    assert "masking.key is not a regular file" in result.stderr
