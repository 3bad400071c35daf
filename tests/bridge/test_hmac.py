"""MAC HMAC through the real ``openssl mac``: masked HMAC keys (tags checked against the
software chain from the peer's side), digest binding in both directions, refusals, and
the raw-key path libssl and ``dgst -hmac`` use."""

from __future__ import annotations

import hmac as std_hmac
import os

import pytest
from bridge_helpers import PROV
from chain_helpers import hsm_public_key, make_peer, software_chain

DATA = b"message to authenticate\n"
DIGESTS = ["SHA256", "SHA384", "SHA512"]
BITS = {"SHA256": 256, "SHA384": 384, "SHA512": 512}


@pytest.fixture(scope="module")
def hmac_keys(session_openssl, ecdh_key):
    """digest -> (masked HMAC key path, expected tag of DATA computed in software)."""
    uri = f"azihsm://{ecdh_key('P-256')};type=ec"
    workdir = session_openssl.cwd
    peer = make_peer("P-256", workdir, name="hmac_peer")
    session_openssl(
        "pkeyutl",
        "-derive",
        PROV,
        "-inkey",
        uri,
        "-peerkey",
        "hmac_peer_pub.pem",
        "-pkeyopt",
        "output_file:hmac_secret.bin",
    )
    hsm_public = hsm_public_key(session_openssl, uri)
    keys = {}
    for digest in DIGESTS:
        name = f"hmac_{digest.lower()}.bin"
        session_openssl(
            "kdf",
            PROV,
            "-keylen",
            "4096",
            "-kdfopt",
            f"digest:{digest}",
            "-kdfopt",
            "azihsm.ikm_file:./hmac_secret.bin",
            "-kdfopt",
            f"output_file:./{name}",
            "-kdfopt",
            "derived_key_type:hmac",
            "-kdfopt",
            f"derived_key_bits:{BITS[digest]}",
            "-binary",
            "-out",
            "/dev/null",
            "HKDF",
        )
        keys[digest] = (workdir / name, software_chain(peer, hsm_public, digest, b"", b"", DATA))
    return keys


@pytest.fixture
def data_file(openssl):
    (openssl.cwd / "data.bin").write_bytes(DATA)
    return "data.bin"


@pytest.mark.parametrize("digest", DIGESTS)
@pytest.mark.parametrize("how", ["macopt", "digest-flag", "key-default"])
def test_tag_equals_software_chain(openssl, hmac_keys, data_file, digest, how):
    path, expected = hmac_keys[digest]
    spelling = {"SHA256": "SHA2-256", "SHA384": "sha384", "SHA512": "SHA-512"}[digest]
    choice = {"macopt": ["-macopt", f"digest:{digest}"], "digest-flag": ["-digest", spelling], "key-default": []}[how]
    result = openssl("mac", PROV, "-macopt", f"key:{path}", *choice, "-in", data_file, "HMAC")
    assert result.text.strip() == expected.hex().upper()


def test_binary_output(openssl, hmac_keys, data_file):
    path, expected = hmac_keys["SHA384"]
    result = openssl("mac", PROV, "-macopt", f"key:{path}", "-digest", "SHA384", "-binary", "-in", data_file, "HMAC")
    assert result.stdout == expected


@pytest.mark.parametrize(
    "key_digest,asked",
    [("SHA256", "SHA384"), ("SHA384", "SHA256"), ("SHA512", "SHA256"), ("SHA256", "SHA512")],
    ids=["key256-asked384", "key384-asked256", "key512-asked256", "key256-asked512"],
)
def test_digest_mismatch_fails_both_ways(openssl, hmac_keys, data_file, key_digest, asked):
    path, _ = hmac_keys[key_digest]
    failed = openssl(
        "mac", PROV, "-macopt", f"key:{path}", "-macopt", f"digest:{asked}", "-in", data_file, "HMAC", ok=False
    )
    assert f"bound to {key_digest} but {asked} was requested" in failed.stderr


def test_sha1_refused(openssl, hmac_keys, data_file):
    path, _ = hmac_keys["SHA256"]
    failed = openssl("mac", PROV, "-macopt", f"key:{path}", "-digest", "SHA1", "-in", data_file, "HMAC", ok=False)
    assert "HMAC-SHA1 is not supported" in failed.stderr


def test_missing_key(openssl, data_file):
    failed = openssl("mac", PROV, "-digest", "SHA256", "-in", data_file, "HMAC", ok=False)
    assert "HMAC needs a masked HMAC key" in failed.stderr


def test_key_parameter_must_be_a_path(openssl, data_file):
    failed = openssl("mac", PROV, "-macopt", "hexkey:00ff10", "-in", data_file, "HMAC", ok=False)
    assert "must be the path of a masked HMAC key file" in failed.stderr


def test_key_of_another_kind_refused(openssl, ecdh_key, data_file):
    failed = openssl("mac", PROV, "-macopt", f"key:{ecdh_key('P-256')}", "-in", data_file, "HMAC", ok=False)
    assert f"HMAC key {ecdh_key('P-256')}" in failed.stderr


def test_raw_key_through_dgst_hmac(openssl, data_file):
    """``dgst -hmac`` hands raw key bytes to EVP_MAC_init: computed host-side, as libssl
    needs for TLS under ``-propquery ?provider=azihsm``."""
    result = openssl("dgst", "-sha384", "-hmac", "raw key", PROV, "-r", data_file)
    assert result.text.split()[0] == std_hmac.new(b"raw key", DATA, "sha384").hexdigest()


@pytest.mark.parametrize("name", ["clé.bin", b"k-\xff.bin"], ids=["latin", "not-utf8"])
def test_a_non_ascii_key_path_is_a_path(openssl, hmac_keys, data_file, name):
    """Any byte but a control character may name the key file (issue 12: a non-ASCII path
    was taken for raw key bytes)."""
    path, expected = hmac_keys["SHA256"]
    raw = os.fsencode(name) if isinstance(name, str) else name
    (openssl.cwd / os.fsdecode(raw)).write_bytes(path.read_bytes())
    result = openssl(
        "mac", PROV, "-macopt", b"key:./" + raw, "-digest", "SHA256", "-in", data_file, "HMAC", env={"LC_ALL": "C"}
    )
    assert result.text.strip() == expected.hex().upper()
