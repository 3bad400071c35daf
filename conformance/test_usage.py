"""The key-usage matrix (spec: "Key Usage and Operation Dependencies"): every operation
with every usage it does not allow is refused.

Each case runs the operation twice: the positive control with a key whose usage allows it,
then the same command with a key that does not. The refusal must come from the provider
(its error naming the usage, or isolated twins showing it refused alone), so the usage is
what the case proves is enforced.
"""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import commands, oracle
from azihsm_conformance.conformance.keys import CURVES, RSA_SIZES
from azihsm_conformance.conformance.matrix import grid
from azihsm_conformance.harness.markers import PROV

# (key kind, the usage that does not allow signing)
NON_SIGNING = (("ec", "keyAgreement"), ("rsa", "keyEncipherment"))


def key_with_usage(keys, kind: str, size, usage: str):
    if kind == "ec":
        return keys.imported_ec(size, usage)
    return keys.imported_rsa(size, usage)


def _sizes(kind: str):
    return CURVES if kind == "ec" else RSA_SIZES


def _sign_args(operation: str, kind: str, uri: str, data, out: str) -> tuple:
    if operation == "dgst_sign":
        return commands.sign_args(uri, data, "sha256", "stream", out=out)
    if operation == "pkeyutl_sign":
        return commands.sign_args(uri, data, "sha256", "oneshot", digest_option=kind == "rsa", out=out)
    return (
        "req",
        "-new",
        "-x509",
        PROV,
        "-key",
        uri,
        "-subj",
        "/CN=azihsm conformance",
        "-days",
        "1",
        "-sha256",
        "-out",
        out,
    )


@pytest.mark.clause("USAGE-SIGN-REFUSED")
@pytest.mark.parametrize(
    "kind, size, operation",
    [
        pytest.param(
            kind,
            size,
            operation,
            id=f"{kind}-{usage}-{size}-{operation}",
            marks=[pytest.mark.quick] if size in ("P-256", 2048) else [],
        )
        for kind, usage in NON_SIGNING
        for size in _sizes(kind)
        for operation in ("dgst_sign", "pkeyutl_sign", "req_x509")
    ],
)
def test_sign_refused(openssl, workdir, keys, data, kind, size, operation):
    usage = dict(NON_SIGNING)[kind]
    signer = key_with_usage(keys, kind, size, "digitalSignature").uri(workdir)
    refused = key_with_usage(keys, kind, size, usage).uri(workdir)
    openssl.refuses(
        *_sign_args(operation, kind, refused, data, "refused.out"),
        control=_sign_args(operation, kind, signer, data, "control.out"),
        because="usage",
    )
    written = workdir / "refused.out"
    assert not (written.exists() and written.stat().st_size), f"{operation} was refused but wrote its output"


@pytest.mark.clause("USAGE-VERIFY-REFUSED")
@pytest.mark.parametrize("kind, mode", grid(kind=("ec", "rsa"), mode=("stream", "oneshot")))
def test_verify_refused(openssl, workdir, keys, data, kind, mode):
    size = "P-256" if kind == "ec" else 2048
    message = oracle.digest("sha256", data.read_bytes()) if mode == "oneshot" else data.read_bytes()

    def signature_of(key) -> bytes:
        if kind == "ec":
            return oracle.ecdsa_sign(key.private, message, "sha256", prehashed=mode == "oneshot")
        return oracle.rsa_pkcs1_sign(key.private, message, "sha256", prehashed=mode == "oneshot")

    signer = key_with_usage(keys, kind, size, "digitalSignature")
    refused = key_with_usage(keys, kind, size, dict(NON_SIGNING)[kind])
    (workdir / "signer.sig").write_bytes(signature_of(signer))
    # valid for the key's public half: only the usage forbids verifying it
    (workdir / "refused.sig").write_bytes(signature_of(refused))
    option = kind == "rsa"
    openssl.refuses(
        *commands.verify_args(refused.public_uri(workdir), data, "refused.sig", "sha256", mode, digest_option=option),
        control=commands.verify_args(
            signer.public_uri(workdir), data, "signer.sig", "sha256", mode, digest_option=option
        ),
        because="usage",
    )


@pytest.mark.clause("USAGE-DERIVE-REFUSED")
@pytest.mark.parametrize("curve, key_origin", grid(curve=CURVES, key_origin=("generated", "imported")))
def test_derive_refused(openssl, workdir, keys, backend, software_keys, curve, key_origin):
    make = keys.generated_ec if key_origin == "generated" else keys.imported_ec
    signer, agreer = make(curve), make(curve, "keyAgreement")
    peer = commands.write_peer(workdir, software_keys.ec(curve, 1).public_key(), "pem")
    openssl.refuses(
        *commands.derive_as_backend_does(backend, signer.uri(workdir), peer, "refused"),
        control=commands.derive_as_backend_does(backend, agreer.uri(workdir), peer, "control"),
        because="usage",
    )
    secret = workdir / "refused.bin"
    assert not (secret.exists() and secret.stat().st_size), "a refused ECDH still wrote a secret"


@pytest.mark.clause("USAGE-ENCRYPT-REFUSED")
@pytest.mark.parametrize(
    "bits, algorithm, operation, padding",
    grid(bits=RSA_SIZES, algorithm=("RSA", "RSA-PSS"), operation=("encrypt", "decrypt"), padding=("oaep", "pkcs1")),
)
def test_encrypt_refused(openssl, workdir, keys, bits, algorithm, operation, padding):
    """The control is an RSA keyEncipherment key (an RSA-PSS key never encrypts)."""
    signer = keys.imported_rsa(bits, "digitalSignature", algorithm)
    encipherer = keys.imported_rsa(bits, "keyEncipherment")
    plaintext = b"a short secret"
    if operation == "encrypt":
        data = plaintext
    elif padding == "oaep":
        data = oracle.oaep_encrypt(signer.public, plaintext, "sha256")
    else:
        data = oracle.pkcs1_encrypt(signer.public, plaintext)
    (workdir / "crypt.in").write_bytes(data)
    options = dict(padding=padding, digest="sha256" if padding == "oaep" else None)
    name = (lambda key: key.public_uri(workdir)) if operation == "encrypt" else (lambda key: key.uri(workdir))
    openssl.refuses(
        *commands.crypt_args(operation, name(signer), outfile="refused.out", **options),
        control=commands.crypt_args(operation, name(encipherer), outfile="control.out", **options),
        because="usage",
    )
    output = workdir / "refused.out"
    assert not (output.exists() and plaintext in output.read_bytes()), "a refused decryption still wrote the plaintext"
