"""HKDF (spec: "HKDF Key Derivation") and HMAC with derived keys, and the full
ECDH -> HKDF -> HMAC chain (spec: "Full Chain Example"), all compared with software."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from azihsm_conformance.conformance import commands, oracle
from azihsm_conformance.conformance.keys import CURVES
from azihsm_conformance.conformance.matrix import Named, grid, single
from azihsm_conformance.conformance.vectors import wycheproof_params

HKDF_DIGESTS = ("sha256", "sha384", "sha512")
SALT = bytes(range(13))
INFO = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")


def no_key_written(path) -> bool:
    return not (path.exists() and path.stat().st_size)


@pytest.mark.clause("HKDF-DERIVE")
@pytest.mark.parametrize(
    "digest, key_type, salt, info",
    grid(
        digest=HKDF_DIGESTS,
        key_type=("aes", "hmac"),
        salt=(Named("salt", SALT), Named("no_salt", None)),
        info=(Named("info", INFO), Named("no_info", None)),
    ),
)
def test_hkdf_derive(openssl, workdir, keys, data, digest, key_type, salt, info):
    secret = keys.shared_secret("P-384")
    secret.copy_to(workdir, "secret.bin")
    bits = 256 if key_type == "aes" else oracle.digest_size(digest) * 8
    commands.hkdf(
        openssl,
        "./secret.bin",
        digest=digest.upper(),
        key_type=key_type,
        bits=bits,
        output_file="./derived.bin",
        salt=salt,
        info=info,
        prove=True,
    )
    derived = workdir / "derived.bin"
    assert derived.is_file() and derived.stat().st_size, "kdf HKDF exited 0 but wrote no masked key to output_file"
    expected_key = oracle.hkdf(secret.value, digest, bits // 8, salt or b"", info or b"")
    assert expected_key not in derived.read_bytes(), "the masked key file holds the derived key in clear"
    if key_type == "hmac":
        tag = commands.hmac(openssl, "./derived.bin", digest.upper(), data)
        oracle.assert_tag(tag, oracle.hmac(expected_key, digest, data.read_bytes()), f"HKDF-{digest} HMAC key")


@pytest.mark.clause("HKDF-KEY-BITS")
@pytest.mark.parametrize(
    "key_type, digest, bits, allowed",
    [
        pytest.param(
            key_type,
            digest,
            bits,
            allowed,
            id=f"{key_type}-{digest}-{bits}-{'allowed' if allowed else 'refused'}",
            marks=[pytest.mark.quick] if (key_type, bits) in (("aes", 128), ("aes", 512), ("hmac", 384)) else [],
        )
        for key_type, digest, bits, allowed in (
            ("aes", "sha256", 128, True),
            ("aes", "sha256", 192, True),
            ("aes", "sha512", 256, True),
            ("hmac", "sha256", 256, True),
            ("hmac", "sha384", 384, True),
            ("hmac", "sha512", 512, True),
            ("aes", "sha256", 0, False),
            ("aes", "sha256", 12, False),
            ("aes", "sha256", 64, False),
            ("aes", "sha256", 512, False),
            ("hmac", "sha256", 384, False),
            ("hmac", "sha512", 256, False),
            ("hmac", "sha384", 385, False),
        )
    ],
)
def test_hkdf_key_bits(openssl, workdir, keys, key_type, digest, bits, allowed):
    secret = keys.shared_secret("P-256")
    secret.copy_to(workdir, "secret.bin")
    options = dict(digest=digest.upper(), key_type=key_type)
    if allowed:
        commands.hkdf(openssl, "./secret.bin", bits=bits, output_file="./derived.bin", prove=True, **options)
    else:  # the control asks for a size the key type allows
        good = 256 if key_type == "aes" else oracle.digest_size(digest) * 8
        openssl.refuses(
            *commands.hkdf_args("./secret.bin", bits=bits, output_file="./derived.bin", **options),
            control=commands.hkdf_args("./secret.bin", bits=good, output_file="./control.bin", **options),
            because="key-length",
        )
    derived = workdir / "derived.bin"
    if allowed:
        assert derived.is_file() and derived.stat().st_size, (
            f"{key_type} {bits} bits: kdf exited 0 but wrote no masked key"
        )
        assert oracle.hkdf(secret.value, digest, bits // 8) not in derived.read_bytes(), (
            "the masked key holds the key in clear"
        )
    else:
        assert no_key_written(derived), f"{key_type} {bits} bits was refused but a masked key was written"


@pytest.mark.clause("HKDF-BUFFER")
@pytest.mark.parametrize("digest", single(HKDF_DIGESTS))
def test_hkdf_into_caller_buffer(openssl, workdir, keys, data, digest):
    secret = keys.shared_secret("P-256")
    secret.copy_to(workdir, "secret.bin")
    bits = oracle.digest_size(digest) * 8
    # the blob's length, measured (never pinned) from the same derivation written to a file
    commands.hkdf(openssl, "./secret.bin", digest=digest.upper(), bits=bits, output_file="./sized.bin")
    blob_length = (workdir / "sized.bin").stat().st_size
    commands.hkdf(
        openssl,
        "./secret.bin",
        digest=digest.upper(),
        bits=bits,
        output_file=None,
        keylen=4096,
        out="buffer.bin",
        prove=True,
    )
    buffer = (workdir / "buffer.bin").read_bytes()
    assert len(buffer) == 4096, f"kdf -keylen 4096 -binary wrote {len(buffer)} bytes"
    (workdir / "from-buffer.bin").write_bytes(buffer[:blob_length])
    tag = commands.hmac(openssl, "./from-buffer.bin", digest.upper(), data)
    expected = oracle.software_chain(secret.value, digest, data.read_bytes())
    oracle.assert_tag(tag, expected, f"HMAC key taken from the start of the caller's buffer (HKDF-{digest})")


@pytest.mark.clause("HKDF-BUFFER")
@pytest.mark.parametrize("size", single(["16_bytes", "one_byte_short"]))
def test_hkdf_buffer_too_small(openssl, workdir, keys, size):
    keys.shared_secret("P-256").copy_to(workdir, "secret.bin")
    keylen = 16
    if size == "one_byte_short":
        openssl(*commands.hkdf_args("./secret.bin", output_file="./sized.bin"), prerequisite=True)
        keylen = (workdir / "sized.bin").stat().st_size - 1
    openssl.refuses(
        *commands.hkdf_args("./secret.bin", output_file=None, keylen=keylen, out="buffer.bin"),
        control=commands.hkdf_args("./secret.bin", output_file=None, keylen=4096, out="control.bin"),
        because="buffer",
    )


@pytest.mark.clause("HKDF-FROM-HKDF")
@pytest.mark.parametrize("first, digest", grid(first=("aes-256", "hmac"), digest=HKDF_DIGESTS))
def test_hkdf_from_hkdf_output(openssl, workdir, keys, data, first, digest):
    if first == "aes-256":
        intermediate = keys.derived_key("sha256", "aes", 256)
    else:
        intermediate = keys.derived_key("sha384", "hmac")
    intermediate.copy_to(workdir, "ikm.bin")
    tag = commands.hmac_chain_tag(openssl, "./ikm.bin", digest, data, prove=True)
    oracle.assert_tag(
        tag, oracle.software_chain(intermediate.value, digest, data.read_bytes()), f"HKDF from a {first} HKDF output"
    )


@pytest.mark.clause("HKDF-DIGEST-REFUSED")
@pytest.mark.parametrize("digest", single(["SHA1", "SHA224", "SHA3-256", "MD5"]))
def test_hkdf_digest_refused(openssl, workdir, keys, digest):
    keys.shared_secret("P-256").copy_to(workdir, "secret.bin")
    options = dict(key_type="aes", bits=256)
    openssl.refuses(
        *commands.hkdf_args("./secret.bin", digest=digest, output_file="./derived.bin", **options),
        control=commands.hkdf_args("./secret.bin", digest="SHA256", output_file="./control.bin", **options),
        because="digest",
    )
    assert no_key_written(workdir / "derived.bin"), f"HKDF with {digest} was refused but wrote a masked key"


# ----------------------------------------------------------------- HMAC


def message_of(workdir, size: str):
    path = workdir / f"msg-{size}.bin"
    length = {"empty": 0, "short": 5, "block_128": 128, "1MiB": 1 << 20}[size]
    path.write_bytes(bytes((i * 31 + 7) & 0xFF for i in range(length)))
    return path


def spelt(digest: str, spelling: str) -> str:
    """sha384 as SHA384 ('upper'), SHA2-384 ('sha2_dash') or sha384 ('lower')."""
    bits = digest[3:]
    return {"upper": f"SHA{bits}", "sha2_dash": f"SHA2-{bits}", "lower": f"sha{bits}"}[spelling]


@pytest.mark.clause("HMAC-MAC")
@pytest.mark.parametrize(
    "digest, size, spelling, flag",
    grid(
        digest=HKDF_DIGESTS,
        size=("empty", "short", "block_128", "1MiB"),
        spelling=("upper", "sha2_dash", "lower"),
        flag=("digest_option", "macopt_digest"),
    ),
)
def test_hmac(openssl, workdir, keys, digest, size, spelling, flag):
    key = keys.derived_key(digest, "hmac")
    key.copy_to(workdir, "hmac.bin")
    data = message_of(workdir, size)
    tag = commands.hmac(
        openssl,
        "./hmac.bin",
        spelt(digest, spelling),
        data,
        digest_flag="-digest" if flag == "digest_option" else "-macopt",
        prove=True,
    )
    oracle.assert_tag(tag, oracle.hmac(key.value, digest, data.read_bytes()), f"HMAC-{digest}")


@pytest.mark.clause("HMAC-DIGEST-SPELLINGS")
@pytest.mark.parametrize(
    "digest, spelling",
    [
        pytest.param(d, s, id=f"{d}-{s}", marks=[pytest.mark.quick] if s in ("SHA-384", "sha-512") else [])
        for d in HKDF_DIGESTS
        for s in (f"SHA-{d[3:]}", f"sha-{d[3:]}")
    ],
)
def test_hmac_digest_spellings(openssl, workdir, keys, data, digest, spelling):
    key = keys.derived_key(digest, "hmac")
    key.copy_to(workdir, "hmac.bin")
    tag = commands.hmac(openssl, "./hmac.bin", spelling, data, prove=True)
    oracle.assert_tag(tag, oracle.hmac(key.value, digest, data.read_bytes()), f"HMAC-{digest} requested as {spelling}")


def _digest_bits(name: str) -> int:
    return 160 if name == "SHA1" else int(name[3:])


def refuse_hmac(
    openssl,
    data,
    key_digest: str,
    requested: str,
    because: str = "digest",
    key_file: str = "./hmac.bin",
    control_key: str = "./hmac.bin",
) -> None:
    """HMAC with REQUESTED must be refused; the control asks for the key's own digest."""
    openssl.refuses(
        *commands.hmac_args(key_file, requested, data, out="refused.tag"),
        control=commands.hmac_args(control_key, key_digest.upper(), data, out="control.tag"),
        because=because,
    )
    tag = openssl.cwd / "refused.tag"
    assert not (tag.exists() and tag.stat().st_size), "a refused HMAC still wrote a tag"


@pytest.mark.clause("HMAC-DIGEST-MISMATCH")
@pytest.mark.parametrize(
    "key_digest, requested",
    grid(
        key_digest=HKDF_DIGESTS,
        requested=("SHA1", "SHA256", "SHA384"),
        exclude=lambda key_digest, requested: _digest_bits(requested) >= int(key_digest[3:]),
    ),
)
def test_hmac_shorter_digest_refused(openssl, workdir, keys, data, key_digest, requested):
    keys.derived_key(key_digest, "hmac").copy_to(workdir, "hmac.bin")
    refuse_hmac(openssl, data, key_digest, requested)


@pytest.mark.clause("HMAC-DIGEST-LONGER-REFUSED")
@pytest.mark.parametrize(
    "key_digest, requested",
    grid(
        key_digest=HKDF_DIGESTS,
        requested=("SHA384", "SHA512"),
        exclude=lambda key_digest, requested: _digest_bits(requested) <= int(key_digest[3:]),
    ),
)
def test_hmac_longer_digest_refused(openssl, workdir, keys, data, key_digest, requested):
    keys.derived_key(key_digest, "hmac").copy_to(workdir, "hmac.bin")
    refuse_hmac(openssl, data, key_digest, requested)


@pytest.mark.clause("USAGE-HMAC-KEY-KIND")
@pytest.mark.parametrize("blob_kind", single(["aes_key", "ecdh_secret", "ec_private_key"]))
def test_hmac_with_other_key_kind_refused(openssl, workdir, keys, data, blob_kind):
    """The control is a real HMAC-SHA256 key."""
    keys.derived_key("sha256", "hmac").copy_to(workdir, "hmac.bin")
    if blob_kind == "aes_key":
        keys.derived_key("sha256", "aes", 256).copy_to(workdir, "key.bin")
    elif blob_kind == "ecdh_secret":
        keys.shared_secret("P-256").copy_to(workdir, "key.bin")
    else:
        keys.generated_ec("P-256").copy_to(workdir, "key.bin")
    refuse_hmac(openssl, data, "sha256", "SHA256", because="key-kind", key_file="./key.bin")


# ----------------------------------------------------------------- the full chain


@pytest.mark.clause("CHAIN-ECDH-HKDF-HMAC")
@pytest.mark.parametrize("curve, digest", grid(curve=CURVES, digest=HKDF_DIGESTS))
def test_full_chain(openssl, workdir, keys, software_keys, data, curve, digest):
    """The spec's chain example end to end, with a generated keyAgreement key and salt and info."""
    key = keys.generated_ec(curve, "keyAgreement")
    peer = software_keys.ec(curve, 3)
    peer_file = commands.write_peer(workdir, peer.public_key(), "pem")
    commands.derive(openssl, key.uri(workdir), peer_file, output_file="shared_secret.bin", prove=True)
    tag = commands.hmac_chain_tag(openssl, "./shared_secret.bin", digest, data, salt=SALT, info=INFO)
    expected_secret = peer.exchange(ec.ECDH(), key.public)
    expected = oracle.software_chain(expected_secret, digest, data.read_bytes(), salt=SALT, info=INFO)
    oracle.assert_tag(tag, expected, f"ECDH {curve} -> HKDF-{digest} -> HMAC-{digest}")


# ----------------------------------------------------------------- Wycheproof salt/info edge cases


def pytest_generate_tests(metafunc):
    if "hkdf_vector" in metafunc.fixturenames:
        # Wycheproof's HKDF vectors are raw-key vectors (they check the software oracle, see
        # tests/conformance); their salt and info edge cases are replayed on an ECDH secret
        replayable = lambda case: bool(case.test["salt"] or case.test["info"])  # noqa: E731
        metafunc.parametrize(
            "hkdf_vector", wycheproof_params(metafunc.config, "hkdf", valid=4, invalid=0, accept=replayable)
        )


@pytest.mark.clause("HKDF-DERIVE")
def test_hkdf_wycheproof_salt_and_info(openssl, workdir, keys, data, hkdf_vector):
    case = hkdf_vector
    digest = case.file.split("_")[1]  # hkdf_sha384_test -> sha384
    secret = keys.shared_secret("P-256")
    secret.copy_to(workdir, "secret.bin")
    salt, info = case.hex("salt"), case.hex("info")
    tag = commands.hmac_chain_tag(
        openssl, "./secret.bin", digest, data, salt=salt or None, info=info or None, prove=True
    )
    expected = oracle.software_chain(secret.value, digest, data.read_bytes(), salt=salt, info=info)
    oracle.assert_tag(
        tag, expected, f"HKDF-{digest} with the salt ({len(salt)} bytes) and info ({len(info)} bytes) of {case.id}"
    )
