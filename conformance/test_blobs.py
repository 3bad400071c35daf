"""Masked key blobs: tampered, truncated, from another device, from an ended session.

The suite never pins blob sizes or layouts: positions are relative (first byte, middle,
last byte) and truncations are proportional.
"""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.keys import DEVICE_DIR_VARIABLE, genpkey_args
from azihsm_conformance.conformance.matrix import grid
from azihsm_conformance.harness.markers import PROV


def key_of(keys, kind: str):
    if kind == "ec":
        return keys.generated_ec("P-256")
    return keys.imported_rsa(2048, algorithm="RSA-PSS" if kind == "rsa-pss" else "RSA")


def load_args(uri: str, out: str = "pub.der") -> tuple:
    return ("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER", "-out", out)


def load_must_fail(openssl, uri: str, control_uri: str, **options) -> None:
    """URI must be refused for a blob reason while CONTROL_URI (the intact blob) loads."""
    result = openssl.refuses(*load_args(uri), control=load_args(control_uri, "control.der"), because="blob", **options)
    assert result.stderr.strip(), f"loading {uri} failed without any message on stderr"


@pytest.mark.clause("BLOB-TAMPERED")
@pytest.mark.parametrize(
    "kind, position", grid(kind=("ec", "rsa"), position=("first_byte", "middle", "last_byte", "every_16th_byte"))
)
def test_tampered_blob_refused(openssl, workdir, keys, kind, position):
    key = key_of(keys, kind)
    key.copy_to(workdir, "intact.bin")
    path = key.copy_to(workdir, "k.bin")
    blob = bytearray(path.read_bytes())
    targets = {
        "first_byte": [0],
        "middle": [len(blob) // 2],
        "last_byte": [len(blob) - 1],
        "every_16th_byte": list(range(7, len(blob), 16)),
    }[position]
    for index in targets:
        blob[index] ^= 0x5A
    path.write_bytes(bytes(blob))
    load_must_fail(openssl, f"azihsm://./k.bin;type={key.type}", f"azihsm://./intact.bin;type={key.type}")


@pytest.mark.clause("BLOB-TRUNCATED")
@pytest.mark.parametrize(
    "kind, cut", grid(kind=("ec", "rsa"), cut=("one_byte_short", "half", "first_16_bytes", "empty"))
)
def test_truncated_blob_refused(openssl, workdir, keys, kind, cut):
    key = key_of(keys, kind)
    key.copy_to(workdir, "intact.bin")
    path = key.copy_to(workdir, "k.bin")
    blob = path.read_bytes()
    path.write_bytes(
        {
            "one_byte_short": blob[:-1],
            "half": blob[: len(blob) // 2],
            "first_16_bytes": blob[:16],
            "empty": b"",
        }[cut]
    )
    load_must_fail(openssl, f"azihsm://./k.bin;type={key.type}", f"azihsm://./intact.bin;type={key.type}")


@pytest.mark.clause("BLOB-OTHER-DEVICE")
@pytest.mark.parametrize(
    "kind", [pytest.param("ec", id="ec-generated", marks=pytest.mark.quick), pytest.param("rsa", id="rsa-imported")]
)
def test_other_device_blob_refused(openssl, workdir, keys, software_keys, kind):
    """A second simulated device is a second device directory ($AZIHSM_DEVICE_DIR). A backend
    claiming 'second-device' must keep the two apart; if a blob of one loads on the other,
    that is the finding (the case fails), never a reason to skip."""
    other_device = workdir / "other-device"
    other_device.mkdir()
    on_other = {DEVICE_DIR_VARIABLE: str(other_device)}
    if kind == "ec":
        args = genpkey_args("EC", group="P-256", masked_key="./k.bin")
    else:
        (workdir / "rsa.der").write_bytes(oracle.private_der(software_keys.rsa(2048), "pkcs8"))
        args = genpkey_args("RSA", bits=2048, input_key="./rsa.der", masked_key="./k.bin")
    openssl(*args, env=on_other, prerequisite=True)
    # the control: it loads on the device that made it; the fault: this case's own device
    control = load_args(f"azihsm://./k.bin;type={kind}", "control.der")
    result = openssl.refuses(
        *load_args(f"azihsm://./k.bin;type={kind}"), control=control, because="blob", control_env=on_other
    )
    assert result.stderr.strip(), "loading another device's blob failed without any message on stderr"


@pytest.mark.clause("BLOB-ENDED-SESSION")
@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("ec-generated", id="ec-generated", marks=pytest.mark.quick),
        pytest.param("ec-imported", id="ec-imported"),
        pytest.param("rsa-imported", id="rsa-imported"),
    ],
)
def test_session_blob_refused_later(openssl, workdir, software_keys, kind):
    if kind == "ec-generated":
        args, uri_type = genpkey_args("EC", group="P-384", session="true", masked_key="./k.bin"), "ec"
    elif kind == "ec-imported":
        (workdir / "in.der").write_bytes(oracle.private_der(software_keys.ec("P-384"), "pkcs8"))
        args, uri_type = (
            genpkey_args("EC", group="P-384", session="true", input_key="./in.der", masked_key="./k.bin"),
            "ec",
        )
    else:
        (workdir / "in.der").write_bytes(oracle.private_der(software_keys.rsa(2048), "pkcs8"))
        args, uri_type = (
            genpkey_args("RSA", bits=2048, session="true", input_key="./in.der", masked_key="./k.bin"),
            "rsa",
        )
    openssl(*args, prerequisite=True)
    assert (workdir / "k.bin").is_file(), "genpkey exited 0 but wrote no masked key file for the session key"
    # the control: a persistent key made the same way loads in a later process
    persistent = [
        arg.replace("azihsm.session:true", "azihsm.session:false").replace("./k.bin", "./p.bin")
        if isinstance(arg, str)
        else arg
        for arg in args
    ]
    openssl(*persistent, prerequisite=True)
    load_must_fail(openssl, f"azihsm://./k.bin;type={uri_type}", f"azihsm://./p.bin;type={uri_type}")
