"""KDF HKDF through the real ``openssl kdf``: the spec's commands, the derived keys
inspected on the device, buffer output, IKM chaining and the refusals."""

from __future__ import annotations

import stat

import pytest
from bridge_helpers import PROV
from chain_helpers import device_session, make_peer


@pytest.fixture
def secret(openssl, ecdh_key):
    """./shared_secret.bin: a masked P-384 ECDH secret in the test's directory."""
    uri = f"azihsm://{ecdh_key('P-384')};type=ec"
    make_peer("P-384", openssl.cwd)
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
    return openssl.cwd / "shared_secret.bin"


def _kdf(openssl, *options, keylen=4096, out="/dev/null", ok=True):
    kdfopts = [arg for option in options for arg in ("-kdfopt", option)]
    return openssl("kdf", PROV, "-keylen", str(keylen), *kdfopts, "-binary", "-out", out, "HKDF", ok=ok)


def _key(openssl, path, expect):
    with device_session(openssl.device_dir) as session:
        return session.unmask(path.read_bytes(), expect=expect)


def test_spec_hkdf_commands(openssl, secret):
    """The spec's HKDF Key Derivation blocks, verbatim."""
    openssl(
        "kdf",
        PROV,
        "-keylen",
        "4096",
        "-kdfopt",
        "digest:SHA256",
        "-kdfopt",
        "azihsm.ikm_file:./shared_secret.bin",
        "-kdfopt",
        "output_file:./derived_aes_key.bin",
        "-kdfopt",
        "derived_key_type:aes",
        "-kdfopt",
        "derived_key_bits:256",
        "-binary",
        "-out",
        "/dev/null",
        "HKDF",
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
        "output_file:./derived_hmac_key.bin",
        "-kdfopt",
        "derived_key_type:hmac",
        "-kdfopt",
        "derived_key_bits:384",
        "-kdfopt",
        "hexsalt:000102030405060708090a0b0c",
        "-kdfopt",
        "hexinfo:f0f1f2f3f4f5f6f7f8f9",
        "-binary",
        "-out",
        "/dev/null",
        "HKDF",
    )
    for name in ("derived_aes_key.bin", "derived_hmac_key.bin"):
        assert stat.S_IMODE((openssl.cwd / name).stat().st_mode) == 0o600
    aes = _key(openssl, openssl.cwd / "derived_aes_key.bin", "aes")
    assert (aes.kind, aes.bits) == ("aes", 256)
    hmac_key = _key(openssl, openssl.cwd / "derived_hmac_key.bin", "hmac")
    assert (hmac_key.kind, hmac_key.bits, hmac_key.hmac_digest) == ("hmac", 384, "sha384")


@pytest.mark.parametrize(
    "spelling,digest", [("SHA256", "sha256"), ("sha-384", "sha384"), ("SHA2-512", "sha512"), ("sha512", "sha512")]
)
def test_digest_spellings_bind_the_hmac_key(openssl, secret, spelling, digest):
    bits = {"sha256": 256, "sha384": 384, "sha512": 512}[digest]
    _kdf(
        openssl,
        f"digest:{spelling}",
        "azihsm.ikm_file:./shared_secret.bin",
        "output_file:hmac.bin",
        "derived_key_type:hmac",
        f"derived_key_bits:{bits}",
    )
    assert _key(openssl, openssl.cwd / "hmac.bin", "hmac").hmac_digest == digest


def test_defaults_are_sha256_aes_256(openssl, secret):
    _kdf(openssl, "azihsm.ikm_file:./shared_secret.bin", "output_file:aes.bin")
    assert _key(openssl, openssl.cwd / "aes.bin", "aes").bits == 256


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_aes_sizes_and_keylen_never_changes_them(openssl, secret, bits):
    _kdf(openssl, "azihsm.ikm_file:./shared_secret.bin", "output_file:aes.bin", f"derived_key_bits:{bits}", keylen=16)
    assert _key(openssl, openssl.cwd / "aes.bin", "aes").bits == bits


def test_blob_into_the_callers_buffer(openssl, secret):
    _kdf(openssl, "azihsm.ikm_file:./shared_secret.bin", "output_file:reference.bin")
    size = len((openssl.cwd / "reference.bin").read_bytes())
    _kdf(openssl, "azihsm.ikm_file:./shared_secret.bin", keylen=size + 40, out="buffer.bin")
    written = (openssl.cwd / "buffer.bin").read_bytes()
    assert len(written) == size + 40 and written[size:] == bytes(40)
    (openssl.cwd / "from_buffer.bin").write_bytes(written[:size])
    assert _key(openssl, openssl.cwd / "from_buffer.bin", "aes").bits == 256


def test_buffer_too_small(openssl, secret):
    failed = _kdf(openssl, "azihsm.ikm_file:./shared_secret.bin", keylen=32, out="buffer.bin", ok=False)
    assert "output buffer too small" in failed.stderr


def test_output_file_leaves_the_buffer_empty(openssl, secret):
    _kdf(openssl, "azihsm.ikm_file:./shared_secret.bin", "output_file:aes.bin", keylen=64, out="buffer.bin")
    assert (openssl.cwd / "buffer.bin").read_bytes() == bytes(64)


@pytest.mark.parametrize("first", ["aes", "hmac"])
def test_ikm_may_be_an_earlier_hkdf_output(openssl, secret, first):
    _kdf(openssl, "azihsm.ikm_file:./shared_secret.bin", "output_file:first.bin", f"derived_key_type:{first}")
    _kdf(
        openssl,
        "azihsm.ikm_file:./first.bin",
        "output_file:second.bin",
        "digest:SHA512",
        "derived_key_type:hmac",
        "derived_key_bits:512",
    )
    assert _key(openssl, openssl.cwd / "second.bin", "hmac").hmac_digest == "sha512"


def test_text_and_hex_salt_info_agree(openssl, secret):
    for name, options in (("text", ["salt:abc", "info:ctx"]), ("hex", ["hexsalt:616263", "hexinfo:637478"])):
        _kdf(
            openssl, "azihsm.ikm_file:./shared_secret.bin", f"output_file:{name}.bin", "derived_key_type:hmac", *options
        )
    with device_session(openssl.device_dir) as session:
        tags = []
        for name in ("text", "hex"):
            mac = session.hmac((openssl.cwd / f"{name}.bin").read_bytes(), digest="sha256")
            mac.update(b"x")
            tags.append(mac.finalize())
    assert tags[0] == tags[1]


@pytest.mark.parametrize(
    "options,message",
    [
        (["digest:SHA1"], "HKDF digest SHA1 is not supported"),
        (["derived_key_type:des"], "unsupported derived key type 'des'"),
        (["derived_key_bits:100"], "must be a positive multiple of 8"),
        (["derived_key_bits:512"], "an AES key has 128, 192 or 256 bits"),
        (["derived_key_type:hmac", "digest:SHA384", "derived_key_bits:256"], "an HMAC-SHA384 key has 384 bits"),
    ],
    ids=["sha1", "type-des", "bits-100", "aes-512", "hmac-size-mismatch"],
)
def test_refused_parameters(openssl, secret, options, message):
    failed = _kdf(openssl, "azihsm.ikm_file:./shared_secret.bin", "output_file:out.bin", *options, ok=False)
    assert message in failed.stderr
    assert not (openssl.cwd / "out.bin").exists()


def test_ikm_as_key_bytes(openssl, secret):
    blob_hex = secret.read_bytes().hex()
    _kdf(openssl, f"hexkey:{blob_hex}", "output_file:aes.bin")
    assert _key(openssl, openssl.cwd / "aes.bin", "aes").bits == 256
    failed = _kdf(
        openssl, f"hexkey:{blob_hex}", "azihsm.ikm_file:./shared_secret.bin", "output_file:twice.bin", ok=False
    )
    assert "either azihsm.ikm_file or key, not both" in failed.stderr


def test_missing_ikm(openssl):
    failed = _kdf(openssl, "output_file:out.bin", ok=False)
    assert "HKDF needs input keying material" in failed.stderr


def test_ikm_that_is_not_a_blob(openssl):
    (openssl.cwd / "junk.bin").write_bytes(b"not a masked key" * 8)
    failed = _kdf(openssl, "azihsm.ikm_file:./junk.bin", "output_file:out.bin", ok=False)
    assert "cannot use the IKM ./junk.bin" in failed.stderr
