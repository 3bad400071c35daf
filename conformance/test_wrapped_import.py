"""Wrapped-key import and the device's wrapping key (spec revision 2026-08: "Wrapped-key
import"). The suite plays the caller: it exports the wrapping public key with genpkey,
wraps a private key offline with pyca (RSA-OAEP-SHA256 of a fresh KEK, then RFC 5649 AES
key wrap of the PKCS#8), imports it and compares the public half and a signature."""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import commands, oracle
from azihsm_conformance.conformance.keys import (
    CURVES,
    DEVICE_DIR_VARIABLE,
    RSA_SIZES,
    URI_TYPE,
    export_public_der,
    genpkey_args,
)
from azihsm_conformance.conformance.matrix import Named, grid


def export_wrapping_key(openssl, out: str = "wrap_pub.pem", **options) -> bytes:
    openssl(*genpkey_args("RSA", usage="keyWrapping", masked_key=None, outform="PEM", out=out, **options))
    return (openssl.cwd / out).read_bytes()


@pytest.mark.clause("WRAP-EXPORT")
@pytest.mark.parametrize("bits", (None, 2048), ids=("default-size", "bits-2048"))
def test_wrapping_key_is_an_rsa_2048_public_key(openssl, workdir, bits):
    before = sorted(p.name for p in workdir.iterdir())
    openssl(
        *genpkey_args("RSA", bits=bits, usage="keyWrapping", masked_key=None, outform="PEM", out="wrap_pub.pem"),
        prove=True,
    )
    pem = (workdir / "wrap_pub.pem").read_bytes()
    public = oracle.load_public(pem)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----"), "the wrapping key is not a SubjectPublicKeyInfo PEM"
    assert public.key_size == 2048, f"the wrapping key has {public.key_size} bits, not 2048"
    assert sorted(p.name for p in workdir.iterdir()) == sorted([*before, "wrap_pub.pem"]), "keyWrapping created a file"
    again = export_wrapping_key(openssl, "again.pem")
    assert again == pem, "the device's wrapping key changed between two exports"


@pytest.mark.clause("WRAP-EXPORT")
@pytest.mark.parametrize("fault", ("rsa-3072", "ec"))
def test_wrapping_key_export_refuses_other_sizes_and_types(openssl, workdir, fault):
    faulty = (
        genpkey_args("RSA", bits=3072, usage="keyWrapping", masked_key=None, outform="PEM", out="bad.pem")
        if fault == "rsa-3072"
        else genpkey_args("EC", group="P-256", usage="keyWrapping", masked_key=None, outform="PEM", out="bad.pem")
    )
    openssl.refuses(
        *faulty,
        control=genpkey_args("RSA", bits=2048, usage="keyWrapping", masked_key=None, outform="PEM", out="good.pem"),
        because="parameter",
    )


def wrapped_import(openssl, workdir, private, algorithm: str, **declared):
    pem = export_wrapping_key(openssl)
    (workdir / "wrapped.bin").write_bytes(oracle.wrap_for_device(pem, oracle.private_der(private, "pkcs8")))
    openssl(*genpkey_args(algorithm, wrapped_key="./wrapped.bin", masked_key="./k.bin", **declared), prove=True)
    uri = f"azihsm://./k.bin;type={URI_TYPE[algorithm]}"
    oracle.assert_public_key_equal(export_public_der(openssl, uri), private)
    return uri


@pytest.mark.clause("WRAP-IMPORT")
@pytest.mark.parametrize("curve", CURVES)
def test_wrapped_ec_key_imports_and_signs(openssl, workdir, software_keys, data, curve):
    private = software_keys.ec(curve, 3)
    uri = wrapped_import(openssl, workdir, private, "EC", group=curve)
    signature = commands.sign(openssl, uri, data, "sha256", "stream")
    oracle.verify_ecdsa(private.public_key(), signature, data.read_bytes(), "sha256")


@pytest.mark.clause("WRAP-IMPORT")
@pytest.mark.parametrize(
    "algorithm, bits, form",
    grid(algorithm=("RSA", "RSA-PSS"), bits=RSA_SIZES, form=(Named("default-form", None), Named("plain-form", "RSA"))),
)
def test_wrapped_rsa_key_imports(openssl, workdir, software_keys, data, algorithm, bits, form):
    private = software_keys.rsa(bits)
    uri = wrapped_import(openssl, workdir, private, algorithm, bits=bits, key_kind=form)
    if algorithm == "RSA":
        signature = commands.sign(openssl, uri, data, "sha256", "stream")
        assert signature == oracle.rsa_pkcs1_sign(private, data.read_bytes(), "sha256")


def bad_blob(kind: str, pem: bytes, good: bytes) -> bytes:
    if kind == "wrong-kek":
        return oracle.wrap_for_device(pem, good, wrong_kek=True)
    blob = bytearray(oracle.wrap_for_device(pem, good))
    if kind == "corrupted-kek":
        blob[17] ^= 0x40
    elif kind == "corrupted-body":
        blob[-5] ^= 0x01
    elif kind == "truncated":
        del blob[-8:]
    return bytes(blob)


@pytest.mark.clause("WRAP-IMPORT-BAD")
@pytest.mark.parametrize("kind", ("wrong-kek", "corrupted-kek", "corrupted-body", "truncated"))
def test_damaged_wrapped_blob_is_refused(openssl, workdir, software_keys, kind):
    pem = export_wrapping_key(openssl)
    good = oracle.private_der(software_keys.ec("P-256", 3), "pkcs8")
    (workdir / "bad.bin").write_bytes(bad_blob(kind, pem, good))
    (workdir / "good.bin").write_bytes(oracle.wrap_for_device(pem, good))
    openssl.refuses(
        *genpkey_args("EC", group="P-256", wrapped_key="./bad.bin", masked_key="./k.bin"),
        control=genpkey_args("EC", group="P-256", wrapped_key="./good.bin", masked_key="./control.bin"),
        because="wrapped-key",
    )
    assert not (workdir / "k.bin").exists(), "a refused wrapped import wrote a masked key file"


@pytest.mark.clause("WRAP-IMPORT-OTHER-DEVICE")
def test_blob_wrapped_for_another_device_is_refused(openssl, workdir, software_keys):
    """Wrapped for a second device's key: this device cannot unwrap it (the control imports
    it on the device it was wrapped for)."""
    other = workdir / "other-device"
    other.mkdir(mode=0o700)
    on_other = {DEVICE_DIR_VARIABLE: str(other)}
    openssl(
        *genpkey_args("RSA", usage="keyWrapping", masked_key=None, outform="PEM", out="other.pem"),
        env=on_other,
        prerequisite=True,
    )
    good = oracle.private_der(software_keys.ec("P-384", 3), "pkcs8")
    (workdir / "wrapped.bin").write_bytes(oracle.wrap_for_device((workdir / "other.pem").read_bytes(), good))
    openssl.refuses(
        *genpkey_args("EC", group="P-384", wrapped_key="./wrapped.bin", masked_key="./k.bin"),
        control=genpkey_args("EC", group="P-384", wrapped_key="./wrapped.bin", masked_key="./control.bin"),
        because="wrapped-key",
        control_env=on_other,
    )
    assert not (workdir / "k.bin").exists(), "a refused wrapped import wrote a masked key file"


@pytest.mark.clause("WRAP-IMPORT-BAD")
@pytest.mark.parametrize("fault", ("group-mismatch", "bits-mismatch", "with-input-key"))
def test_wrapped_import_checks_what_was_declared(openssl, workdir, software_keys, fault):
    pem = export_wrapping_key(openssl)
    if fault == "bits-mismatch":
        private, algorithm, right, wrong = software_keys.rsa(3072), "RSA", {"bits": 3072}, {"bits": 2048}
    else:
        private, algorithm, right, wrong = software_keys.ec("P-384", 3), "EC", {"group": "P-384"}, {"group": "P-256"}
    (workdir / "wrapped.bin").write_bytes(oracle.wrap_for_device(pem, oracle.private_der(private, "pkcs8")))
    (workdir / "plain.der").write_bytes(oracle.private_der(private, "pkcs8"))
    if fault == "with-input-key":
        faulty = genpkey_args(
            algorithm, wrapped_key="./wrapped.bin", input_key="./plain.der", masked_key="./k.bin", **right
        )
        reason = "parameter"
    else:
        faulty = genpkey_args(algorithm, wrapped_key="./wrapped.bin", masked_key="./k.bin", **wrong)
        reason = "mismatch"
    openssl.refuses(
        *faulty,
        control=genpkey_args(algorithm, wrapped_key="./wrapped.bin", masked_key="./control.bin", **right),
        because=reason,
    )
    assert not (workdir / "k.bin").exists(), "a refused wrapped import wrote a masked key file"
