"""The spec's Full Chain example (ECDH -> HKDF AES key), verbatim, and the
ECDH -> HKDF HMAC key -> HMAC chain whose tag must equal the same chain computed in
software from the peer's side (peer private key x HSM public key)."""

from __future__ import annotations

import pytest
from bridge_helpers import PROV
from chain_helpers import device_session, hsm_public_key, make_peer, software_chain

SALT = bytes.fromhex("000102030405060708090a0b0c")
INFO = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
DATA = b"full chain data\n"


def test_spec_full_chain_ecdh_to_hkdf(openssl):
    """The spec's "Full Chain Example: ECDH to HKDF", verbatim."""
    openssl(
        "genpkey",
        PROV,
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-384",
        "-pkeyopt",
        "azihsm.key_usage:keyAgreement",
        "-pkeyopt",
        "azihsm.masked_key:./ecdh_key.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
    )
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "peer.pem")
    openssl("pkey", "-in", "peer.pem", "-pubout", "-out", "peer_pub.pem")
    openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        "azihsm://./ecdh_key.bin;type=ec",
        "-peerkey",
        "peer_pub.pem",
        "-pkeyopt",
        "output_file:shared_secret.bin",
    )
    openssl(
        "kdf",
        PROV,
        "-keylen",
        "4096",
        "-kdfopt",
        "digest:SHA384",
        "-kdfopt",
        "azihsm.ikm_file:./shared_secret.bin",
        "-kdfopt",
        "output_file:./aes_key.bin",
        "-kdfopt",
        "derived_key_type:aes",
        "-kdfopt",
        "derived_key_bits:256",
        "-binary",
        "-out",
        "/dev/null",
        "HKDF",
    )
    with device_session(openssl.device_dir) as session:
        key = session.unmask((openssl.cwd / "aes_key.bin").read_bytes(), expect="aes")
    assert (key.kind, key.bits, key.session_key) == ("aes", 256, False)


@pytest.mark.parametrize("curve,digest", [("P-256", "SHA256"), ("P-384", "SHA384"), ("P-521", "SHA512")])
def test_ecdh_hkdf_hmac_tag_equals_software(openssl, curve, digest):
    bits = {"SHA256": 256, "SHA384": 384, "SHA512": 512}[digest]
    openssl(
        "genpkey",
        PROV,
        "-algorithm",
        "EC",
        "-pkeyopt",
        f"group:{curve}",
        "-pkeyopt",
        "azihsm.key_usage:keyAgreement",
        "-pkeyopt",
        "azihsm.masked_key:./ecdh_key.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
    )
    peer = make_peer(curve, openssl.cwd)
    uri = "azihsm://./ecdh_key.bin;type=ec"
    openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        uri,
        "-peerkey",
        "peer_pub.pem",
        "-pkeyopt",
        "output_file:shared_secret.bin",
    )
    openssl(
        "kdf",
        PROV,
        "-keylen",
        "4096",
        "-kdfopt",
        f"digest:{digest}",
        "-kdfopt",
        "azihsm.ikm_file:./shared_secret.bin",
        "-kdfopt",
        "output_file:./hmac_key.bin",
        "-kdfopt",
        "derived_key_type:hmac",
        "-kdfopt",
        f"derived_key_bits:{bits}",
        "-kdfopt",
        f"hexsalt:{SALT.hex()}",
        "-kdfopt",
        f"hexinfo:{INFO.hex()}",
        "-binary",
        "-out",
        "/dev/null",
        "HKDF",
    )
    (openssl.cwd / "data.bin").write_bytes(DATA)
    tag = openssl(
        "mac", PROV, "-macopt", "key:./hmac_key.bin", "-macopt", f"digest:{digest}", "-in", "data.bin", "HMAC"
    ).text.strip()
    expected = software_chain(peer, hsm_public_key(openssl, uri), digest, SALT, INFO, DATA)
    assert tag == expected.hex().upper()
