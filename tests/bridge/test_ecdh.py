"""KEYEXCH ECDH through the real ``openssl pkeyutl -derive``: the spec's command, the
masked secret checked against the software ECDH from the peer's side, and the refusals."""

from __future__ import annotations

import stat

import pytest
from bridge_helpers import PROV, copy_into
from chain_helpers import device_session, hsm_public_key, make_peer, software_chain

CURVES = ["P-256", "P-384", "P-521"]
DATA = b"ecdh check"


def _uri(openssl, blob) -> str:
    return f"azihsm://{copy_into(blob, openssl.cwd)};type=ec"


def _check_secret(device_dir, secret_blob: bytes, peer_private, hsm_public) -> None:
    """The masked secret is ECDH(peer, HSM): HKDF + HMAC over it inside the device equal
    the same chain computed in software from the peer's side."""
    with device_session(device_dir) as session:
        hmac_blob = session.hkdf(secret_blob, digest="sha256", key_type="hmac", bits=256)
        mac = session.hmac(hmac_blob, digest="sha256")
        mac.update(DATA)
        tag = mac.finalize()
    assert tag == software_chain(peer_private, hsm_public, "SHA256", b"", b"", DATA)


def test_spec_ecdh_command(openssl, ecdh_key):
    """The spec's ECDH Key Exchange block, verbatim (peer made by openssl)."""
    from cryptography.hazmat.primitives import serialization

    copy_into(ecdh_key("P-384"), openssl.cwd)
    (openssl.cwd / "ecdh_p384.bin").rename(openssl.cwd / "ec_p384_ecdh.bin")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "peer_priv.pem")
    openssl("pkey", "-in", "peer_priv.pem", "-pubout", "-out", "peer_pub.pem")
    result = openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        "azihsm://./ec_p384_ecdh.bin;type=ec",
        "-peerkey",
        "peer_pub.pem",
        "-pkeyopt",
        "output_file:shared_secret.bin",
    )
    assert result.stdout == b""  # secretlen 0: nothing on stdout
    secret = openssl.cwd / "shared_secret.bin"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    peer = serialization.load_pem_private_key((openssl.cwd / "peer_priv.pem").read_bytes(), None)
    hsm_public = hsm_public_key(openssl, "azihsm://./ec_p384_ecdh.bin;type=ec")
    _check_secret(openssl.device_dir, secret.read_bytes(), peer, hsm_public)


@pytest.mark.parametrize("curve", CURVES)
def test_masked_secret_equals_software_ecdh(openssl, ecdh_key, curve):
    uri = _uri(openssl, ecdh_key(curve))
    peer = make_peer(curve, openssl.cwd)
    openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        uri,
        "-peerkey",
        "peer_pub.pem",
        "-pkeyopt",
        "output_file:secret.bin",
        "-out",
        "stdout.bin",
    )
    assert (openssl.cwd / "stdout.bin").read_bytes() == b""
    _check_secret(openssl.device_dir, (openssl.cwd / "secret.bin").read_bytes(), peer, hsm_public_key(openssl, uri))


def test_without_output_file_the_blob_goes_to_the_callers_buffer(openssl, ecdh_key):
    """Revision 2026-08: the masked secret comes back in the caller's buffer, and it is the
    same kind of blob output_file gets (a usable IKM)."""
    uri = _uri(openssl, ecdh_key("P-256"))
    make_peer("P-256", openssl.cwd)
    openssl("pkeyutl", "-derive", PROV, "-inkey", uri, "-peerkey", "peer_pub.pem", "-out", "buffer.bin")
    openssl("pkeyutl", "-derive", PROV, "-inkey", uri, "-peerkey", "peer_pub.pem", "-pkeyopt", "output_file:file.bin")
    buffer, file = (openssl.cwd / "buffer.bin").read_bytes(), (openssl.cwd / "file.bin").read_bytes()
    assert len(buffer) == len(file) and buffer[:4] == file[:4] == b"AZMK"
    for name in ("buffer.bin", "file.bin"):
        openssl(
            "kdf",
            PROV,
            "-keylen",
            "4096",
            "-kdfopt",
            f"azihsm.ikm_file:./{name}",
            "-kdfopt",
            f"output_file:./{name}.hmac",
            "-kdfopt",
            "derived_key_type:hmac",
            "-binary",
            "-out",
            "/dev/null",
            "HKDF",
        )
    (openssl.cwd / "data.bin").write_bytes(b"same secret")
    tags = [
        openssl("mac", PROV, "-digest", "SHA256", "-macopt", f"key:./{name}.hmac", "-in", "data.bin", "HMAC").stdout
        for name in ("buffer.bin", "file.bin")
    ]
    assert tags[0] == tags[1]


def test_peer_on_other_curve_refused(openssl, ecdh_key):
    uri = _uri(openssl, ecdh_key("P-256"))
    make_peer("P-384", openssl.cwd)
    failed = openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        uri,
        "-peerkey",
        "peer_pub.pem",
        "-pkeyopt",
        "output_file:secret.bin",
        ok=False,
    )
    assert "mismatching domain parameters" in failed.stderr
    assert not (openssl.cwd / "secret.bin").exists()


def test_invalid_peer_point_refused(openssl, ecdh_key):
    from cryptography.hazmat.primitives import serialization

    uri = _uri(openssl, ecdh_key("P-256"))
    peer = make_peer("P-256", openssl.cwd)
    spki = bytearray(
        peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    spki[-1] ^= 0x01  # y no longer on the curve
    (openssl.cwd / "bad_pub.der").write_bytes(bytes(spki))
    failed = openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        uri,
        "-peerkey",
        "bad_pub.der",
        "-peerform",
        "DER",
        "-pkeyopt",
        "output_file:secret.bin",
        ok=False,
    )
    assert "peer key" in failed.stderr.lower()
    assert not (openssl.cwd / "secret.bin").exists()


def test_signing_key_refused(openssl, ec_key):
    uri = _uri(openssl, ec_key("P-256"))
    make_peer("P-256", openssl.cwd)
    failed = openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        uri,
        "-peerkey",
        "peer_pub.pem",
        "-pkeyopt",
        "output_file:secret.bin",
        ok=False,
    )
    assert "key usage digitalSignature does not allow ecdh" in failed.stderr
    assert not (openssl.cwd / "secret.bin").exists()


def test_symlinked_output_file_refused(openssl, ecdh_key, tmp_path_factory):
    uri = _uri(openssl, ecdh_key("P-256"))
    make_peer("P-256", openssl.cwd)
    target = tmp_path_factory.mktemp("elsewhere") / "victim"
    target.write_bytes(b"keep me")
    (openssl.cwd / "secret.bin").symlink_to(target)
    failed = openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        uri,
        "-peerkey",
        "peer_pub.pem",
        "-pkeyopt",
        "output_file:secret.bin",
        ok=False,
    )
    assert "symbolic link" in failed.stderr
    assert target.read_bytes() == b"keep me"
