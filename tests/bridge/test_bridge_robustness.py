"""Bad input never crashes, hangs or prints a traceback: it fails with a one-line reason
(the helper asserts no crash, no traceback and the expected exit status on every run)."""

from __future__ import annotations

import os

import pytest
from bridge_helpers import PROV, copy_into

pytestmark = [pytest.mark.bridge, pytest.mark.openssl]


@pytest.fixture
def data(openssl):
    (openssl.cwd / "data.bin").write_bytes(b"robustness\n" * 10)


@pytest.mark.parametrize("size", [1, 16, 300, 5000], ids=lambda n: f"{n}-bytes")
def test_random_bytes_as_masked_key(openssl, size):
    (openssl.cwd / "junk.bin").write_bytes(os.urandom(size))
    result = openssl("storeutl", PROV, "azihsm://./junk.bin;type=ec", ok=False)
    assert "junk.bin" in result.stderr


def test_empty_masked_key_file(openssl):
    (openssl.cwd / "empty.bin").write_bytes(b"")
    result = openssl("storeutl", PROV, "azihsm://./empty.bin;type=ec", ok=False)
    assert "empty.bin: it is empty" in result.stderr


@pytest.mark.parametrize(
    "signature",
    [b"\x30\x00", os.urandom(104), os.urandom(256)],
    ids=["empty-sequence", "random-ec-size", "random-rsa-size"],
)
@pytest.mark.parametrize("keytype", ["ec", "rsa"])
def test_garbage_signature_is_verification_failure(openssl, ec_key, rsa_key, data, signature, keytype):
    blob = ec_key("P-384") if keytype == "ec" else rsa_key.blob
    uri = f"azihsm://{copy_into(blob, openssl.cwd)};type={keytype}"
    (openssl.cwd / "bad.sig").write_bytes(signature)
    result = openssl("dgst", "-sha384", PROV, "-verify", uri, "-signature", "bad.sig", "data.bin", ok=False)
    assert "Verification failure" in result.text or "Verification failure" in result.stderr


def test_empty_message_signs(openssl, ec_key):
    uri = f"azihsm://{copy_into(ec_key('P-256'), openssl.cwd)};type=ec"
    (openssl.cwd / "empty.bin").write_bytes(b"")
    openssl("dgst", "-sha256", PROV, "-sign", uri, "-out", "s.sig", "empty.bin")
    result = openssl("dgst", "-sha256", PROV, "-verify", uri, "-signature", "s.sig", "empty.bin")
    assert "Verified OK" in result.text


def test_unsupported_digest_for_signing(openssl, ec_key, data):
    uri = f"azihsm://{copy_into(ec_key('P-256'), openssl.cwd)};type=ec"
    result = openssl("dgst", "-sha224", PROV, "-sign", uri, "-out", "s.sig", "data.bin", ok=False)
    assert "unsupported digest" in result.stderr


@pytest.mark.parametrize("saltlen", ["100000", "-7", "lots"], ids=["too-long", "negative", "not-a-number"])
def test_bad_pss_salt_lengths(openssl, rsa_key, data, saltlen):
    uri = f"azihsm://{copy_into(rsa_key.blob, openssl.cwd)};type=rsa"
    result = openssl(
        "dgst",
        "-sha256",
        PROV,
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        f"rsa_pss_saltlen:{saltlen}",
        "-sign",
        uri,
        "-out",
        "s.sig",
        "data.bin",
        ok=False,
    )
    assert "salt" in result.stderr.lower()


def test_prehashed_input_of_no_digest_size(openssl, ec_key):
    uri = f"azihsm://{copy_into(ec_key('P-256'), openssl.cwd)};type=ec"
    (openssl.cwd / "odd.bin").write_bytes(os.urandom(40))
    result = openssl("pkeyutl", "-sign", PROV, "-inkey", uri, "-in", "odd.bin", ok=False)
    assert "40 bytes" in result.stderr


def test_unknown_padding_mode(openssl, rsa_key, data):
    uri = f"azihsm://{copy_into(rsa_key.blob, openssl.cwd)};type=rsa"
    result = openssl(
        "dgst", "-sha256", PROV, "-sigopt", "rsa_padding_mode:oaep", "-sign", uri, "-out", "s.sig", "data.bin", ok=False
    )
    assert "padding" in result.stderr
