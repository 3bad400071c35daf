"""The key-usage matrix (spec: "Key Usage and Operation Dependencies"): every operation
with every usage it does not allow is refused.

Keys that must refuse are otherwise valid: each case first gives the operation everything
it needs (a valid signature, a peer on the right curve, a well-formed ciphertext), so the
only reason left to fail is the usage.
"""

from __future__ import annotations

import pytest

from conformance import commands, oracle
from conformance.keys import CURVES, RSA_SIZES
from conformance.matrix import grid
from harness.pytest_plugin import PROV

# (key kind, the usage that does not allow signing)
NON_SIGNING = (("ec", "keyAgreement"), ("rsa", "keyEncipherment"))


def non_signing_key(keys, kind: str, size):
    if kind == "ec":
        return keys.imported_ec(size, "keyAgreement")
    return keys.imported_rsa(size, "keyEncipherment")


def _sizes(kind: str):
    return CURVES if kind == "ec" else RSA_SIZES


@pytest.mark.clause("USAGE-SIGN-REFUSED")
@pytest.mark.parametrize(
    "kind, size, operation",
    [
        pytest.param(kind, size, operation, id=f"{kind}-{usage}-{size}-{operation}",
                     marks=[pytest.mark.quick] if size in ("P-256", 2048) else [])
        for kind, usage in NON_SIGNING
        for size in _sizes(kind)
        for operation in ("dgst_sign", "pkeyutl_sign", "req_x509")
    ],
)
def test_sign_refused(openssl, workdir, keys, data, kind, size, operation):
    uri = non_signing_key(keys, kind, size).uri(workdir)
    if operation == "dgst_sign":
        commands.sign(openssl, uri, data, "sha256", "stream", expect_fail=True)
    elif operation == "pkeyutl_sign":
        commands.sign(openssl, uri, data, "sha256", "oneshot", digest_option=kind == "rsa", expect_fail=True)
    else:
        openssl("req", "-new", "-x509", PROV, "-key", uri, "-subj", "/CN=azihsm conformance", "-days", "1",
                "-sha256", "-out", "cert.pem", expect_fail=True)
        cert = workdir / "cert.pem"
        assert not (cert.exists() and cert.stat().st_size), "req failed but wrote a certificate"


@pytest.mark.clause("USAGE-VERIFY-REFUSED")
@pytest.mark.parametrize("kind, mode", grid(kind=("ec", "rsa"), mode=("stream", "oneshot")))
def test_verify_refused(openssl, workdir, keys, data, kind, mode):
    size = "P-256" if kind == "ec" else 2048
    key = non_signing_key(keys, kind, size)
    message = oracle.digest("sha256", data.read_bytes()) if mode == "oneshot" else data.read_bytes()
    if kind == "ec":
        signature = oracle.ecdsa_sign(key.private, message, "sha256", prehashed=mode == "oneshot")
    else:
        signature = oracle.rsa_pkcs1_sign(key.private, message, "sha256", prehashed=mode == "oneshot")
    # the signature is valid for the key's public half: only the usage forbids verifying it
    commands.verify(openssl, key.uri(workdir), data, signature, "sha256", mode, digest_option=kind == "rsa", expect_fail=True)


@pytest.mark.clause("USAGE-DERIVE-REFUSED")
@pytest.mark.parametrize("curve, key_origin", grid(curve=CURVES, key_origin=("generated", "imported")))
def test_derive_refused(openssl, workdir, keys, software_keys, curve, key_origin):
    key = keys.generated_ec(curve) if key_origin == "generated" else keys.imported_ec(curve)
    peer = commands.write_peer(workdir, software_keys.ec(curve, 1).public_key(), "pem")
    commands.derive(openssl, key.uri(workdir), peer, expect_fail=True)
    secret = workdir / "secret.bin"
    assert not (secret.exists() and secret.stat().st_size), "a refused ECDH still wrote a masked secret"


@pytest.mark.clause("USAGE-ENCRYPT-REFUSED")
@pytest.mark.parametrize(
    "bits, algorithm, operation, padding",
    grid(bits=RSA_SIZES, algorithm=("RSA", "RSA-PSS"), operation=("encrypt", "decrypt"), padding=("oaep", "pkcs1")),
)
def test_encrypt_refused(openssl, workdir, keys, bits, algorithm, operation, padding):
    key = keys.imported_rsa(bits, "digitalSignature", algorithm)
    plaintext = b"a short secret"
    if operation == "encrypt":
        data = plaintext
    elif padding == "oaep":
        data = oracle.oaep_encrypt(key.public, plaintext, "sha256")
    else:
        data = oracle.pkcs1_encrypt(key.public, plaintext)
    output = commands.rsa_crypt(openssl, operation, key.uri(workdir), data, padding=padding,
                                digest="sha256" if padding == "oaep" else None, expect_fail=True)
    assert plaintext not in output, "a refused decryption still wrote the plaintext"
