"""ECDSA sign and verify (spec: "ECDSA Sign and Verify"), streaming (dgst) and one-shot (pkeyutl)."""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.commands import sign, verify, verify_refused
from azihsm_conformance.conformance.keys import CURVES, DIGESTS
from azihsm_conformance.conformance.matrix import grid
from azihsm_conformance.conformance.vectors import check_verdict, wycheproof_params, wycheproof_root
from azihsm_conformance.harness.markers import PROV

MODES = ("stream", "oneshot")


def prehashed(mode: str) -> bool:
    return mode == "oneshot"


@pytest.mark.clause("SIGN-ECDSA-STREAM")
@pytest.mark.parametrize("curve, digest, uri_form", grid(curve=CURVES, digest=DIGESTS, uri_form=("uri_rel", "uri_abs")))
def test_ecdsa_sign_stream(openssl, workdir, keys, data, curve, digest, uri_form):
    key = keys.ec(curve)
    uri = key.uri(workdir) if uri_form == "uri_rel" else key.absolute_uri()
    signature = sign(openssl, uri, data, digest, "stream", prove=True)
    oracle.verify_ecdsa(key.public, signature, data.read_bytes(), digest)


@pytest.mark.clause("SIGN-ECDSA-ONESHOT")
@pytest.mark.parametrize("curve, digest", grid(curve=CURVES, digest=DIGESTS))
def test_ecdsa_sign_oneshot(openssl, workdir, keys, data, curve, digest):
    key = keys.ec(curve)
    signature = sign(openssl, key.uri(workdir), data, digest, "oneshot", prove=True)
    oracle.verify_ecdsa(key.public, signature, oracle.digest(digest, data.read_bytes()), digest, prehashed=True)


@pytest.mark.clause("VERIFY-ECDSA")
@pytest.mark.parametrize(
    "curve, digest, mode, signer", grid(curve=CURVES, digest=DIGESTS, mode=MODES, signer=("hsm_signed", "pyca_signed"))
)
def test_ecdsa_verify(openssl, workdir, keys, data, curve, digest, mode, signer):
    if signer == "hsm_signed":
        key = keys.ec(curve)
        signature = sign(openssl, key.uri(workdir), data, digest, mode, prerequisite=True)
    else:
        key = keys.imported_ec(curve)
        message = oracle.digest(digest, data.read_bytes()) if prehashed(mode) else data.read_bytes()
        signature = oracle.ecdsa_sign(key.private, message, digest, prehashed=prehashed(mode))
    verify(openssl, key.public_uri(workdir), data, signature, digest, mode)


def tampered(signature: bytes) -> bytes:
    """The DER signature with the last byte of s changed: still well-formed, no longer valid."""
    return signature[:-1] + bytes([signature[-1] ^ 0x01])


@pytest.mark.clause("VERIFY-ECDSA-REJECT")
@pytest.mark.parametrize(
    "curve, mode, tamper", grid(curve=CURVES, mode=MODES, tamper=("data", "signature", "wrong_key"))
)
def test_ecdsa_verify_rejects(openssl, workdir, keys, data, curve, mode, tamper):
    """The control verifies the untampered signature with the right key and data."""
    key = keys.imported_ec(curve)
    message = data.read_bytes()
    signed = oracle.digest("sha256", message) if prehashed(mode) else message
    good = oracle.ecdsa_sign(key.private, signed, "sha256", prehashed=prehashed(mode))
    uri, bad, checked = key.public_uri(workdir), good, data
    if tamper == "data":
        checked = workdir / "tampered.bin"
        checked.write_bytes(message[:-1] + bytes([message[-1] ^ 0x80]))
    elif tamper == "signature":
        bad = tampered(good)
    else:
        uri = keys.imported_ec(curve, index=1).public_uri(workdir)
    verify_refused(
        openssl, uri, checked, good, bad, "sha256", mode, control_uri=key.public_uri(workdir), control_data=data
    )


def pytest_generate_tests(metafunc):
    if "ecdsa_vector" in metafunc.fixturenames:
        metafunc.parametrize("ecdsa_vector", wycheproof_params(metafunc.config, "ecdsa", valid=6, invalid=8))


def ecdsa_vector_command(workdir):
    def command_for(case, prefix: str) -> tuple:
        digest = oracle.canonical_digest(case.group["sha"])
        (workdir / f"{prefix}.pub.pem").write_text(case.group["publicKeyPem"])
        (workdir / f"{prefix}.msg").write_bytes(case.hex("msg"))
        (workdir / f"{prefix}.sig").write_bytes(case.hex("sig"))
        return (
            "dgst",
            f"-{digest}",
            PROV,
            "-verify",
            f"{prefix}.pub.pem",
            "-signature",
            f"{prefix}.sig",
            f"{prefix}.msg",
        )

    return command_for


@pytest.mark.clause("VERIFY-ECDSA-WYCHEPROOF")
def test_ecdsa_wycheproof_verify(openssl, workdir, request, ecdsa_vector):
    check_verdict(openssl, ecdsa_vector, wycheproof_root(request.config), ecdsa_vector_command(workdir))
