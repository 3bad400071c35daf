"""KBKDF (spec revision 2026-08: "KBKDF", "KDF input as raw blob bytes"). The derived key is
masked, so it is read through the chain: an HMAC key from KBKDF, a tag over a message,
compared with the same chain computed in software (``oracle.kbkdf`` is SP 800-108 written
out and held to the NIST vectors). An AES output is read through one more KDF."""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import commands, oracle
from azihsm_conformance.conformance.matrix import grid, single

DIGESTS = ("sha256", "sha384", "sha512")
LABEL = bytes(range(13))
CONTEXT = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
FIXED = {
    "label": (LABEL, None),
    "context": (None, CONTEXT),
    "label-and-context": (LABEL, CONTEXT),
}


def nothing_written(path) -> bool:
    return not (path.exists() and path.stat().st_size)


@pytest.mark.clause("KBKDF-DERIVE")
@pytest.mark.parametrize("digest, fixed", grid(digest=DIGESTS, fixed=tuple(FIXED)))
def test_kbkdf_hmac_key_matches_sp800_108(openssl, workdir, keys, data, digest, fixed):
    secret = keys.shared_secret("P-384")
    secret.copy_to(workdir, "secret.bin")
    label, context = FIXED[fixed]
    tag = commands.hmac_chain_tag(
        openssl, "./secret.bin", digest, data, kdf="KBKDF", salt=label, info=context, prove=True
    )
    expected = oracle.software_chain(
        secret.value, digest, data.read_bytes(), kdf="KBKDF", salt=label or b"", info=context or b""
    )
    oracle.assert_tag(tag, expected, f"KBKDF-{digest} ({fixed}) HMAC key")


@pytest.mark.clause("KBKDF-AES")
@pytest.mark.parametrize("digest, bits", grid(digest=("sha1", *DIGESTS), bits=(128, 192, 256)))
def test_kbkdf_aes_key_is_ikm_for_a_further_kdf(openssl, workdir, keys, data, digest, bits):
    secret = keys.shared_secret("P-256")
    secret.copy_to(workdir, "secret.bin")
    openssl(
        *commands.kdf_args(
            "./secret.bin",
            kdf="KBKDF",
            digest=digest.upper(),
            key_type="aes",
            bits=bits,
            output_file="./aes.bin",
            salt=LABEL,
            info=CONTEXT,
        ),
        prove=True,
    )
    aes_key = oracle.kbkdf(secret.value, digest, bits // 8, LABEL, CONTEXT)
    assert aes_key not in (workdir / "aes.bin").read_bytes(), "the masked AES key file holds the key in clear"
    tag = commands.hmac_chain_tag(openssl, "./aes.bin", "sha256", data)
    oracle.assert_tag(tag, oracle.software_chain(aes_key, "sha256", data.read_bytes()), f"KBKDF-{digest} AES-{bits}")


# each fault, the setting that (changed back) makes the same command succeed, and the kind
# of reason the refusal must give
FAULTS = {
    "no-label-no-context": (dict(salt=None, info=None), dict(salt=LABEL, info=None), "parameter"),
    "mode-feedback": (dict(mode="feedback"), dict(mode="counter"), "parameter"),
    "mac-cmac": (dict(mac="CMAC"), dict(mac="HMAC"), "parameter"),
    "sha1-hmac-output": (dict(digest="SHA1", bits=160), dict(digest="SHA256", bits=256), "digest"),
    "hmac-bits-not-digest-size": (dict(bits=384), dict(bits=256), "key-length"),
}


@pytest.mark.clause("KBKDF-BAD-PARAMETERS")
@pytest.mark.parametrize("fault", single(FAULTS, quick=FAULTS))
def test_kbkdf_refuses_bad_parameters(openssl, workdir, keys, fault):
    keys.shared_secret("P-256").copy_to(workdir, "secret.bin")
    faulty, fixed, reason = FAULTS[fault]
    base = dict(kdf="KBKDF", digest="SHA256", key_type="hmac", bits=256, salt=LABEL, info=CONTEXT)
    openssl.refuses(
        *commands.kdf_args("./secret.bin", **{**base, **faulty, "output_file": "./refused.bin"}),
        control=commands.kdf_args("./secret.bin", **{**base, **fixed, "output_file": "./control.bin"}),
        because=reason,
    )
    assert nothing_written(workdir / "refused.bin"), f"a refused KBKDF ({fault}) still wrote a masked key"


@pytest.mark.clause("KBKDF-SEPARATOR")
def test_kbkdf_label_only_layout(openssl, workdir, keys, data, observe):
    """Upstream's mock device writes the 0x00 separator without a context, its firmware
    emulator does not: a label-only derivation tells them apart."""
    secret = keys.shared_secret("P-384")
    secret.copy_to(workdir, "secret.bin")
    tag = commands.hmac_chain_tag(openssl, "./secret.bin", "sha256", data, kdf="KBKDF", salt=LABEL, prove=True)
    layouts = {
        "Label || 0x00 || [L]32 (with the separator, as OpenSSL and pyca)": True,
        "Label || [L]32 (without the separator, as upstream's firmware emulator)": False,
    }
    for description, separator in layouts.items():
        expected = oracle.software_chain(
            secret.value, "sha256", data.read_bytes(), kdf="KBKDF", salt=LABEL, separator=separator
        )
        if tag == expected:
            observe(f"a label-only KBKDF uses {description}")
            return
    pytest.fail("a label-only KBKDF matches neither layout: the derived key is wrong", pytrace=False)


@pytest.mark.clause("KDF-IKM-BYTES")
@pytest.mark.parametrize("kdf", single(("HKDF", "KBKDF"), quick=("HKDF", "KBKDF")))
def test_ikm_as_key_bytes(openssl, workdir, keys, data, kdf):
    secret = keys.shared_secret("P-256")
    secret.copy_to(workdir, "secret.bin")
    blob = (workdir / "secret.bin").read_bytes()
    options = dict(kdf=kdf, digest="SHA256", key_type="hmac", bits=256, salt=LABEL, info=CONTEXT)
    openssl(*commands.kdf_args(None, ikm_bytes=blob, output_file="./from-bytes.bin", **options), prove=True)
    tag = commands.hmac(openssl, "./from-bytes.bin", "SHA256", data)
    expected = oracle.software_chain(secret.value, "sha256", data.read_bytes(), kdf=kdf, salt=LABEL, info=CONTEXT)
    oracle.assert_tag(tag, expected, f"{kdf} with the IKM given as hexkey")
    openssl.refuses(
        *commands.kdf_args("./secret.bin", ikm_bytes=blob, output_file="./both.bin", **options),
        control=commands.kdf_args("./secret.bin", output_file="./control.bin", **options),
        because="parameter",
    )
    assert nothing_written(workdir / "both.bin"), "an IKM given twice still derived a key"


@pytest.mark.clause("KBKDF-DERIVE")
def test_kbkdf_long_label(openssl, workdir, keys, data):
    """A 512-byte label: the fixed input is longer than any PRF block. (Outputs longer than
    one PRF block, where the counter passes 1, are KBKDF-AES's SHA1 cases.)"""
    secret = keys.shared_secret("P-521")
    secret.copy_to(workdir, "secret.bin")
    label = bytes(range(256)) * 2
    tag = commands.hmac_chain_tag(openssl, "./secret.bin", "sha512", data, kdf="KBKDF", salt=label, prove=True)
    expected = oracle.software_chain(secret.value, "sha512", data.read_bytes(), kdf="KBKDF", salt=label)
    oracle.assert_tag(tag, expected, "KBKDF-sha512 with a 512-byte label")
