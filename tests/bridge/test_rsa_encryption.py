"""ASYM_CIPHER RSA through the real ``openssl pkeyutl``: the spec's commands, both
directions checked against pyca/cryptography, and the refusals."""

from __future__ import annotations

import os

import pytest
from bridge_helpers import PROV, copy_into
from chain_helpers import pyca_hash

PLAINTEXT = b"azihsm conformance: a secret worth wrapping\n"


def _padding(mode: str, digest: str | None, label: bytes | None = None):
    from cryptography.hazmat.primitives.asymmetric import padding

    if mode == "pkcs1":
        return padding.PKCS1v15()
    return padding.OAEP(mgf=padding.MGF1(pyca_hash(digest)), algorithm=pyca_hash(digest), label=label)


def _options(mode: str, digest: str | None) -> list[str]:
    options = ["-pkeyopt", f"rsa_padding_mode:{mode}"]
    if digest:
        options += ["-pkeyopt", f"rsa_oaep_md:{digest}", "-pkeyopt", f"rsa_mgf1_md:{digest}"]
    return options


@pytest.fixture
def enc2048(openssl, enc_key):
    blob, private = enc_key(2048)
    return f"azihsm://{copy_into(blob, openssl.cwd)};type=rsa", private


def test_spec_oaep_and_pkcs1_commands(openssl, enc_key):
    """The spec's RSA Encryption and Decryption blocks, verbatim (RSA-4096)."""
    blob, private = enc_key(4096)
    copy_into(blob, openssl.cwd)
    (openssl.cwd / "plaintext.bin").write_bytes(PLAINTEXT)
    uri = "azihsm://./rsa_4096_enc.bin;type=rsa"
    oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"]
    openssl("pkeyutl", "-encrypt", PROV, "-inkey", uri, *oaep, "-in", "plaintext.bin", "-out", "ciphertext.bin")
    ciphertext = (openssl.cwd / "ciphertext.bin").read_bytes()
    assert len(ciphertext) == 512
    assert private.decrypt(ciphertext, _padding("oaep", "SHA256")) == PLAINTEXT
    openssl("pkeyutl", "-decrypt", PROV, "-inkey", uri, *oaep, "-in", "ciphertext.bin", "-out", "decrypted.bin")
    assert (openssl.cwd / "decrypted.bin").read_bytes() == PLAINTEXT

    openssl(
        "pkeyutl",
        "-encrypt",
        PROV,
        "-inkey",
        uri,
        "-pkeyopt",
        "rsa_padding_mode:pkcs1",
        "-in",
        "plaintext.bin",
        "-out",
        "ciphertext.bin",
    )
    ciphertext = (openssl.cwd / "ciphertext.bin").read_bytes()
    assert private.decrypt(ciphertext, _padding("pkcs1", None)) == PLAINTEXT


SCHEMES = [("oaep", "sha256"), ("oaep", "sha384"), ("oaep", "sha512"), ("pkcs1", None)]
SCHEME_IDS = [f"{mode}-{digest}" if digest else mode for mode, digest in SCHEMES]


@pytest.mark.parametrize("mode,digest", SCHEMES, ids=SCHEME_IDS)
def test_hsm_encrypts_pyca_decrypts(openssl, enc2048, mode, digest):
    uri, private = enc2048
    (openssl.cwd / "pt.bin").write_bytes(PLAINTEXT)
    openssl("pkeyutl", "-encrypt", PROV, "-inkey", uri, *_options(mode, digest), "-in", "pt.bin", "-out", "ct.bin")
    ciphertext = (openssl.cwd / "ct.bin").read_bytes()
    assert len(ciphertext) == 256
    assert private.decrypt(ciphertext, _padding(mode, digest and digest.upper())) == PLAINTEXT


@pytest.mark.parametrize("mode,digest", SCHEMES, ids=SCHEME_IDS)
def test_pyca_encrypts_hsm_decrypts(openssl, enc2048, mode, digest):
    uri, private = enc2048
    ciphertext = private.public_key().encrypt(PLAINTEXT, _padding(mode, digest and digest.upper()))
    (openssl.cwd / "ct.bin").write_bytes(ciphertext)
    openssl("pkeyutl", "-decrypt", PROV, "-inkey", uri, *_options(mode, digest), "-in", "ct.bin", "-out", "pt.bin")
    assert (openssl.cwd / "pt.bin").read_bytes() == PLAINTEXT


def test_default_padding_is_oaep_sha256(openssl, enc2048):
    uri, private = enc2048
    (openssl.cwd / "pt.bin").write_bytes(PLAINTEXT)
    openssl("pkeyutl", "-encrypt", PROV, "-inkey", uri, "-in", "pt.bin", "-out", "ct.bin")
    ciphertext = (openssl.cwd / "ct.bin").read_bytes()
    assert private.decrypt(ciphertext, _padding("oaep", "SHA256")) == PLAINTEXT
    openssl("pkeyutl", "-decrypt", PROV, "-inkey", uri, "-in", "ct.bin", "-out", "back.bin")
    assert (openssl.cwd / "back.bin").read_bytes() == PLAINTEXT


def test_oaep_label_is_honoured(openssl, enc2048):
    uri, private = enc2048
    label = bytes.fromhex("0102a0ff")
    (openssl.cwd / "pt.bin").write_bytes(PLAINTEXT)
    openssl(
        "pkeyutl",
        "-encrypt",
        PROV,
        "-inkey",
        uri,
        "-pkeyopt",
        "rsa_oaep_label:0102a0ff",
        "-in",
        "pt.bin",
        "-out",
        "ct.bin",
    )
    ciphertext = (openssl.cwd / "ct.bin").read_bytes()
    assert private.decrypt(ciphertext, _padding("oaep", "SHA256", label)) == PLAINTEXT
    with pytest.raises(ValueError):
        private.decrypt(ciphertext, _padding("oaep", "SHA256"))
    # and the HSM refuses to decrypt it under another label
    failed = openssl("pkeyutl", "-decrypt", PROV, "-inkey", uri, "-in", "ct.bin", "-out", "back.bin", ok=False)
    assert "decryption failed" in failed.stderr


@pytest.mark.parametrize(
    "options,message",
    [
        (["-pkeyopt", "rsa_oaep_md:sha1"], "OAEP digest SHA1 is not supported"),
        (
            ["-pkeyopt", "rsa_oaep_md:sha384", "-pkeyopt", "rsa_mgf1_md:sha256"],
            "MGF1 digest must equal the OAEP digest",
        ),
        (["-pkeyopt", "rsa_padding_mode:none"], "use oaep or pkcs1"),
    ],
    ids=["oaep-sha1", "mgf1-mismatch", "padding-none"],
)
def test_refused_parameters(openssl, enc2048, options, message):
    uri, _ = enc2048
    (openssl.cwd / "pt.bin").write_bytes(PLAINTEXT)
    failed = openssl("pkeyutl", "-encrypt", PROV, "-inkey", uri, *options, "-in", "pt.bin", "-out", "ct.bin", ok=False)
    assert message in failed.stderr


@pytest.mark.parametrize(
    "mode,digest,limit",
    [("oaep", "sha256", 190), ("oaep", "sha512", 126), ("pkcs1", None, 245)],
    ids=["oaep-sha256", "oaep-sha512", "pkcs1"],
)
def test_plaintext_limits(openssl, enc2048, mode, digest, limit):
    uri, private = enc2048
    (openssl.cwd / "max.bin").write_bytes(os.urandom(limit))
    openssl("pkeyutl", "-encrypt", PROV, "-inkey", uri, *_options(mode, digest), "-in", "max.bin", "-out", "ct.bin")
    (openssl.cwd / "over.bin").write_bytes(os.urandom(limit + 1))
    failed = openssl(
        "pkeyutl",
        "-encrypt",
        PROV,
        "-inkey",
        uri,
        *_options(mode, digest),
        "-in",
        "over.bin",
        "-out",
        "ct2.bin",
        ok=False,
    )
    assert f"takes at most {limit}" in failed.stderr


@pytest.mark.parametrize("operation", ["encrypt", "decrypt"])
def test_signing_key_refused(openssl, rsa_key, operation):
    uri = f"azihsm://{copy_into(rsa_key.blob, openssl.cwd)};type=rsa"
    (openssl.cwd / "in.bin").write_bytes(bytes(256) if operation == "decrypt" else PLAINTEXT)
    failed = openssl("pkeyutl", f"-{operation}", PROV, "-inkey", uri, "-in", "in.bin", "-out", "out.bin", ok=False)
    assert (
        f"key usage digitalSignature does not allow {operation} (the key needs usage keyEncipherment)"
    ) in failed.stderr
    assert not (openssl.cwd / "out.bin").exists() or not (openssl.cwd / "out.bin").read_bytes()


def test_rsa_pss_key_refused(openssl, rsa_key):
    uri = f"azihsm://{copy_into(rsa_key.pss_blob, openssl.cwd)};type=rsa-pss"
    (openssl.cwd / "pt.bin").write_bytes(PLAINTEXT)
    failed = openssl("pkeyutl", "-encrypt", PROV, "-inkey", uri, "-in", "pt.bin", "-out", "ct.bin", ok=False)
    assert "RSA-PSS key cannot encrypt" in failed.stderr


def test_wrong_ciphertext_length_refused(openssl, enc2048):
    uri, _ = enc2048
    (openssl.cwd / "ct.bin").write_bytes(bytes(100))
    failed = openssl("pkeyutl", "-decrypt", PROV, "-inkey", uri, "-in", "ct.bin", "-out", "pt.bin", ok=False)
    assert "needs exactly 256" in failed.stderr
