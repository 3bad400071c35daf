"""ECDH (spec: "ECDH Key Exchange"). The masked shared secret never leaves the HSM, so it is
checked through the chain: HKDF(hmac) from it, HMAC over a message, compared with the
same chain computed in software from the true ECDH secret. Backends that return the raw
secret (capability ecdh-raw, e.g. a PKCS#11 token) are compared with pyca directly."""

from __future__ import annotations

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from azihsm_conformance.conformance import commands, oracle
from azihsm_conformance.conformance.keys import CURVES
from azihsm_conformance.conformance.matrix import grid
from azihsm_conformance.conformance.vectors import wycheproof_params


def assert_secret(openssl, secret_file: str, expected: bytes, data, what: str) -> None:
    tag = commands.hmac_chain_tag(openssl, secret_file, "sha256", data)
    oracle.assert_tag(tag, oracle.software_chain(expected, "sha256", data.read_bytes()), what)


@pytest.mark.clause("ECDH-DERIVE")
@pytest.mark.parametrize(
    "curve, peer_form, key_origin", grid(curve=CURVES, peer_form=("pem", "der"), key_origin=("generated", "imported"))
)
def test_ecdh_derive(openssl, workdir, keys, software_keys, data, curve, peer_form, key_origin):
    peer = software_keys.ec(curve, 2)
    if key_origin == "generated":
        key = keys.generated_ec(curve, "keyAgreement")
        expected = peer.exchange(ec.ECDH(), key.public)
    else:
        key = keys.imported_ec(curve, "keyAgreement")
        expected = oracle.ecdh_shared_secret(key.private, peer.public_key())
    peer_file = commands.write_peer(workdir, peer.public_key(), peer_form)
    commands.derive(
        openssl,
        key.uri(workdir),
        peer_file,
        peer_form="DER" if peer_form == "der" else None,
        out="derive.out",
        prove=True,
    )
    secret = workdir / "secret.bin"
    assert secret.is_file() and secret.stat().st_size, (
        "pkeyutl -derive exited 0 but wrote no masked secret to output_file"
    )
    out = workdir / "derive.out"
    assert not (out.exists() and out.stat().st_size), (
        f"pkeyutl -derive wrote {out.stat().st_size} bytes to -out: nothing may leave"
    )
    assert expected not in secret.read_bytes(), "the masked secret file holds the raw shared secret"
    assert_secret(openssl, "secret.bin", expected, data, f"ECDH {curve} secret")


@pytest.mark.clause("ECDH-CURVE-MISMATCH")
@pytest.mark.parametrize(
    "curve, peer_curve",
    grid(curve=CURVES, peer_curve=CURVES, exclude=lambda curve, peer_curve: curve == peer_curve),
)
def test_ecdh_other_curve_refused(openssl, workdir, keys, backend, software_keys, curve, peer_curve):
    """The control derives with a peer on the key's own curve."""
    uri = keys.imported_ec(curve, "keyAgreement").uri(workdir)
    peer_file = commands.write_peer(workdir, software_keys.ec(peer_curve, 1).public_key(), "pem", "peer")
    same_curve = commands.write_peer(workdir, software_keys.ec(curve, 1).public_key(), "pem", "same-curve-peer")
    openssl.refuses(
        *commands.derive_as_backend_does(backend, uri, peer_file, "refused"),
        control=commands.derive_as_backend_does(backend, uri, same_curve, "control"),
        because="peer",
    )
    secret = workdir / "refused.bin"
    assert not (secret.exists() and secret.stat().st_size), "a refused ECDH still wrote a secret"


@pytest.mark.clause("ECDH-NO-BUFFER")
def test_ecdh_without_output_file_is_refused(openssl, workdir, keys, software_keys):
    """Revision 2026-03: the README rules out a buffer fallback."""
    key = keys.imported_ec("P-256", "keyAgreement")
    peer_file = commands.write_peer(workdir, software_keys.ec("P-256", 1).public_key(), "pem")
    openssl.refuses(
        *commands.derive_args(key.uri(workdir), peer_file, output_file=None, out="derive.out"),
        control=commands.derive_args(key.uri(workdir), peer_file, output_file="control.bin"),
        because="parameter",
    )
    out = workdir / "derive.out"
    assert not (out.exists() and out.stat().st_size), "a refused derive still wrote to -out"


@pytest.mark.clause("ECDH-BUFFER")
@pytest.mark.parametrize("curve, kdf", grid(curve=CURVES, kdf=("HKDF", "KBKDF")))
def test_ecdh_to_the_callers_buffer(openssl, workdir, keys, software_keys, data, curve, kdf):
    """Revision 2026-08: the masked blob comes back in the caller's buffer; it must be as
    good an IKM as the output_file blob of the same agreement."""
    key = keys.imported_ec(curve, "keyAgreement")
    peer = software_keys.ec(curve, 1)
    expected = oracle.ecdh_shared_secret(key.private, peer.public_key())
    peer_file = commands.write_peer(workdir, peer.public_key(), "pem")
    commands.derive(openssl, key.uri(workdir), peer_file, output_file=None, out="buffer.bin", prove=True)
    blob = (workdir / "buffer.bin").read_bytes()
    assert blob, "pkeyutl -derive without output_file exited 0 but wrote nothing to -out"
    assert expected not in blob, "the caller's buffer holds the shared secret in clear, not a masked blob"
    commands.derive(openssl, key.uri(workdir), peer_file, output_file="file.bin")
    salt = b"buffer or file"
    want = oracle.software_chain(expected, "sha256", data.read_bytes(), kdf=kdf, salt=salt)
    for source in ("buffer.bin", "file.bin"):
        tag = commands.hmac_chain_tag(openssl, source, "sha256", data, kdf=kdf, salt=salt)
        oracle.assert_tag(tag, want, f"ECDH {curve} secret from {source} through {kdf}")


# ----------------------------------------------------------------- Wycheproof

_SPKI_PREFIX = {  # AlgorithmIdentifier of id-ecPublicKey with each named curve
    "secp256r1": bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107"),
    "secp384r1": bytes.fromhex("301006072a8648ce3d020106052b81040022"),
    "secp521r1": bytes.fromhex("301006072a8648ce3d020106052b81040023"),
}


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def spki_from_point(curve: str, point: bytes) -> bytes:
    """A SubjectPublicKeyInfo around a raw (possibly invalid) encoded point, as DER."""
    bit_string = b"\x03" + _der_length(len(point) + 1) + b"\x00" + point
    body = _SPKI_PREFIX[curve] + bit_string
    return b"\x30" + _der_length(len(body)) + body


def _curve_of(case) -> str:
    return case.group["curve"]


def _usable(case) -> bool:
    return _curve_of(case) in _SPKI_PREFIX


def _reaches_provider(case) -> bool:
    """An invalid peer that OpenSSL's own decoder already rejects (a point off the curve, a
    bad encoding) never reaches a provider through the CLI: only peers a decoder accepts
    (pyca's OpenSSL stands in for it) can show that the provider refuses them."""
    encoding = case.group.get("encoding")
    try:
        if encoding == "pem":
            serialization.load_pem_public_key(case.test["public"].encode())
        else:
            der = case.hex("public")
            serialization.load_der_public_key(spki_from_point(_curve_of(case), der) if encoding == "ecpoint" else der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def write_vector_peer(workdir, case) -> tuple[str, str | None]:
    """The vector's peer key as a file pkeyutl -peerkey reads; returns (name, -peerform)."""
    encoding = case.group.get("encoding")
    if encoding == "pem":
        (workdir / "peer.pem").write_text(case.test["public"])
        return "peer.pem", None
    der = case.hex("public")
    if encoding == "ecpoint":
        der = spki_from_point(_curve_of(case), der)
    (workdir / "peer.der").write_bytes(der)
    return "peer.der", "DER"


def vector_private_key(case):
    if case.group.get("encoding") == "pem":
        return serialization.load_pem_private_key(case.test["private"].encode(), password=None)
    curve = oracle.CURVES[oracle.CURVE_BY_NAME[_curve_of(case)]]()
    return ec.derive_private_key(int.from_bytes(case.hex("private"), "big"), curve)


def pytest_generate_tests(metafunc):
    selections = (
        ("ecdh_vector", dict(valid=3, invalid=0), _usable),
        ("ecdh_invalid_vector", dict(valid=0, invalid=5), lambda case: _usable(case) and _reaches_provider(case)),
    )
    for name, counts, accept in selections:
        if name in metafunc.fixturenames:
            params = []
            for family in ("ecdh", "ecdh_ecpoint", "ecdh_pem"):
                params += wycheproof_params(metafunc.config, family, accept=accept, **counts)
            metafunc.parametrize(name, params)


@pytest.mark.clause("ECDH-WYCHEPROOF")
def test_ecdh_wycheproof_valid(openssl, workdir, keys, data, ecdh_vector):
    case = ecdh_vector
    private = vector_private_key(case)
    key = keys.imported(f"wycheproof-{case.file}-tc{case.tc_id}", private, "EC", "keyAgreement")
    peer, peer_form = write_vector_peer(workdir, case)
    commands.derive(openssl, key.uri(workdir), peer, peer_form=peer_form, prove=True)
    assert_secret(openssl, "secret.bin", case.hex("shared"), data, f"Wycheproof {case.file} tc {case.tc_id}")


@pytest.mark.clause("ECDH-INVALID-PEER")
def test_ecdh_wycheproof_invalid_peer_refused(openssl, workdir, keys, backend, software_keys, ecdh_invalid_vector):
    """The control derives with a valid peer on the same curve, in the same form."""
    case = ecdh_invalid_vector
    curve = oracle.CURVE_BY_NAME[_curve_of(case)]
    uri = keys.imported_ec(curve, "keyAgreement").uri(workdir)
    peer, peer_form = write_vector_peer(workdir, case)
    good = software_keys.ec(curve, 1).public_key()
    good_peer = commands.write_peer(workdir, good, "pem" if peer_form is None else "der", "good-peer")
    openssl.refuses(
        *commands.derive_as_backend_does(backend, uri, peer, "refused", peer_form=peer_form),
        control=commands.derive_as_backend_does(backend, uri, good_peer, "control", peer_form=peer_form),
        because="peer",
    )
    secret = workdir / "refused.bin"
    assert not (secret.exists() and secret.stat().st_size), (
        f"tc {case.tc_id} ({case.comment}): a refused peer still produced a secret"
    )


@pytest.mark.clause("ECDH-DERIVE-RAW")
@pytest.mark.parametrize("curve, peer_form", grid(curve=CURVES, peer_form=("pem", "der")))
def test_ecdh_derive_raw(openssl, workdir, keys, software_keys, curve, peer_form):
    """Backends whose ECDH returns the shared secret: it equals pyca's, from the peer's side."""
    key = keys.ec(curve, "keyAgreement")
    peer = software_keys.ec(curve, 2)
    peer_file = commands.write_peer(workdir, peer.public_key(), peer_form)
    commands.derive(
        openssl,
        key.uri(workdir),
        peer_file,
        output_file=None,
        out="secret.raw",
        peer_form="DER" if peer_form == "der" else None,
        prove=True,
    )
    produced = (workdir / "secret.raw").read_bytes()
    expected = peer.exchange(ec.ECDH(), key.public)
    assert produced == expected, (
        f"the ECDH {curve} secret differs from pyca's ({len(produced)} bytes, expected {len(expected)})"
    )
