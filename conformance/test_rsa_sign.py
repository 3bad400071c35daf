"""RSA PKCS#1 v1.5 and PSS signatures (spec: "RSA Sign and Verify").

PKCS#1 v1.5 is deterministic, so HSM signatures are compared byte for byte with pyca's;
PSS signatures are verified by pyca under exactly the requested digest, MGF1 digest and
salt length (a signature with another salt length is a failure, not a pass).
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.commands import sign, verify, verify_refused
from azihsm_conformance.conformance.keys import DIGESTS, RSA_SIZES
from azihsm_conformance.conformance.matrix import grid
from azihsm_conformance.conformance.vectors import check_verdict, wycheproof_params, wycheproof_root
from azihsm_conformance.harness.markers import PROV

SALTS = ("digest", "max", 0, 17)


def other_digest(digest: str) -> str:
    return "sha256" if digest == "sha512" else "sha512"


def sign_rsa(
    openssl,
    uri: str,
    data,
    digest: str,
    mode: str,
    options: dict[str, str] | None = None,
    *,
    prove: bool = True,
    prerequisite: bool = False,
) -> bytes:
    """RSA one-shot signing names its digest (-pkeyopt digest:shaN) so the DigestInfo is known."""
    return sign(openssl, uri, data, digest, mode, options, digest_option=True, prove=prove, prerequisite=prerequisite)


def verify_rsa(
    openssl, uri: str, data, signature: bytes, digest: str, mode: str = "stream", options: dict[str, str] | None = None
):
    return verify(openssl, uri, data, signature, digest, mode, options, digest_option=True)


@pytest.mark.clause("SIGN-RSA-PKCS1-STREAM")
@pytest.mark.parametrize("bits, digest", grid(bits=RSA_SIZES, digest=DIGESTS))
def test_rsa_pkcs1_sign_stream(openssl, workdir, keys, data, bits, digest):
    key = keys.imported_rsa(bits)
    signature = sign_rsa(openssl, key.uri(workdir), data, digest, "stream")
    oracle.assert_rsa_pkcs1_signature(key.private, signature, data.read_bytes(), digest)


@pytest.mark.clause("SIGN-RSA-PKCS1-ONESHOT")
@pytest.mark.parametrize("bits, digest", grid(bits=RSA_SIZES, digest=DIGESTS))
def test_rsa_pkcs1_sign_oneshot(openssl, workdir, keys, data, bits, digest):
    key = keys.imported_rsa(bits)
    signature = sign_rsa(openssl, key.uri(workdir), data, digest, "oneshot")
    oracle.assert_rsa_pkcs1_signature(
        key.private, signature, oracle.digest(digest, data.read_bytes()), digest, prehashed=True
    )
    verify_rsa(openssl, key.public_uri(workdir), data, signature, digest, "oneshot")


@pytest.mark.clause("SIGN-RSA-PSS-KEY")
@pytest.mark.parametrize("bits, digest", grid(bits=RSA_SIZES, digest=DIGESTS))
def test_rsa_pss_key_signs_pss(openssl, workdir, keys, data, bits, digest):
    key = keys.imported_rsa(bits, algorithm="RSA-PSS")
    signature = sign_rsa(openssl, key.uri(workdir), data, digest, "stream")
    oracle.verify_rsa_pss(key.public, signature, data.read_bytes(), digest, oracle.digest_size(digest), digest)


def check_pss_options(openssl, workdir, keys, data, bits, digest, salt, mgf1, mode):
    key = keys.imported_rsa(bits)  # a plain type=rsa key: PSS only because it is asked for
    mgf1_digest = digest if mgf1 == "mgf1_same" else other_digest(digest)
    options = {"rsa_padding_mode": "pss", "rsa_pss_saltlen": str(salt), "rsa_mgf1_md": mgf1_digest}
    signature = sign_rsa(openssl, key.uri(workdir), data, digest, mode, options)
    message = oracle.digest(digest, data.read_bytes()) if mode == "oneshot" else data.read_bytes()
    salt_length = oracle.pss_salt_length(salt, bits, digest)
    oracle.verify_rsa_pss(key.public, signature, message, digest, salt_length, mgf1_digest, prehashed=mode == "oneshot")


PSS_OPTIONS = dict(bits=RSA_SIZES, digest=DIGESTS, salt=SALTS, mgf1=("mgf1_same", "mgf1_other"))


@pytest.mark.clause("SIGN-RSA-PSS-SIGOPTS")
@pytest.mark.parametrize("bits, digest, salt, mgf1", grid(**PSS_OPTIONS))
def test_rsa_pss_sigopts_stream(openssl, workdir, keys, data, bits, digest, salt, mgf1):
    check_pss_options(openssl, workdir, keys, data, bits, digest, salt, mgf1, "stream")


@pytest.mark.clause("SIGN-RSA-PSS-PKEYOPTS")
@pytest.mark.parametrize("bits, digest, salt, mgf1", grid(**PSS_OPTIONS))
def test_rsa_pss_pkeyopts_oneshot(openssl, workdir, keys, data, bits, digest, salt, mgf1):
    check_pss_options(openssl, workdir, keys, data, bits, digest, salt, mgf1, "oneshot")


@pytest.mark.clause("SIGN-RSA-PSS-ONESHOT")
@pytest.mark.parametrize("bits, digest", grid(bits=RSA_SIZES, digest=DIGESTS))
def test_rsa_pss_key_sign_oneshot(openssl, workdir, keys, data, bits, digest):
    key = keys.imported_rsa(bits, algorithm="RSA-PSS")
    signature = sign_rsa(openssl, key.uri(workdir), data, digest, "oneshot")
    hashed = oracle.digest(digest, data.read_bytes())
    oracle.verify_rsa_pss(key.public, signature, hashed, digest, oracle.digest_size(digest), digest, prehashed=True)


@pytest.mark.clause("VERIFY-RSA-PSS-SALT-AUTO")
@pytest.mark.parametrize("bits, digest, salt", grid(bits=RSA_SIZES, digest=DIGESTS, salt=SALTS))
def test_rsa_pss_verify_salt_auto(openssl, workdir, keys, data, bits, digest, salt):
    key = keys.imported_rsa(bits, algorithm="RSA-PSS")
    signature = oracle.rsa_pss_sign(key.private, data.read_bytes(), digest, oracle.pss_salt_length(salt, bits, digest))
    verify_rsa(openssl, key.public_uri(workdir), data, signature, digest, options={"rsa_pss_saltlen": "auto"})


@pytest.mark.clause("VERIFY-RSA")
@pytest.mark.parametrize(
    "bits, digest, padding, signer",
    grid(bits=RSA_SIZES, digest=DIGESTS, padding=("pkcs1", "pss"), signer=("hsm_signed", "pyca_signed")),
)
def test_rsa_verify(openssl, workdir, keys, data, bits, digest, padding, signer):
    key = keys.imported_rsa(bits, algorithm="RSA-PSS" if padding == "pss" else "RSA")
    if signer == "hsm_signed":
        signature = sign_rsa(openssl, key.uri(workdir), data, digest, "stream", prove=False, prerequisite=True)
    elif padding == "pss":
        signature = oracle.rsa_pss_sign(key.private, data.read_bytes(), digest, oracle.digest_size(digest))
    else:
        signature = oracle.rsa_pkcs1_sign(key.private, data.read_bytes(), digest)
    verify_rsa(openssl, key.public_uri(workdir), data, signature, digest)


@pytest.mark.clause("VERIFY-RSA-REJECT")
@pytest.mark.parametrize(
    "bits, padding, tamper", grid(bits=RSA_SIZES, padding=("pkcs1", "pss"), tamper=("data", "signature", "wrong_key"))
)
def test_rsa_verify_rejects(openssl, workdir, keys, data, bits, padding, tamper):
    """The control verifies the untampered signature with the right key and data."""
    algorithm = "RSA-PSS" if padding == "pss" else "RSA"
    key = keys.imported_rsa(bits, algorithm=algorithm)
    message = data.read_bytes()
    if padding == "pss":
        good = oracle.rsa_pss_sign(key.private, message, "sha256", 32)
    else:
        good = oracle.rsa_pkcs1_sign(key.private, message, "sha256")
    uri, bad, checked = key.public_uri(workdir), good, data
    if tamper == "data":
        checked = workdir / "tampered.bin"
        checked.write_bytes(message[:10] + bytes([message[10] ^ 0x01]) + message[11:])
    elif tamper == "signature":
        bad = good[:5] + bytes([good[5] ^ 0x01]) + good[6:]
    else:
        uri = keys.imported_rsa(bits, algorithm=algorithm, index=1).public_uri(workdir)
    verify_refused(
        openssl,
        uri,
        checked,
        good,
        bad,
        "sha256",
        "stream",
        digest_option=True,
        control_uri=key.public_uri(workdir),
        control_data=data,
    )


# ----------------------------------------------------------------- Wycheproof

SUPPORTED = {"sha1", "sha256", "sha384", "sha512"}


def _intact_through_cli(case) -> bool:
    """Whether ``dgst -verify`` hands the vector's signature to a provider as it is: it reads
    at most the key's size in bytes (so appended bytes vanish) and refuses an empty file
    itself, so such vectors say nothing about any provider."""
    return 0 < len(case.test["sig"]) // 2 <= int(case.group.get("keySize", 0)) // 8


def _usable(case) -> bool:
    """Cases the HSM can take: 2048/3072/4096-bit keys and its four digests."""
    try:
        digest = oracle.canonical_digest(case.group["sha"])
    except ValueError:
        return False
    mgf1 = case.group.get("mgfSha")
    if mgf1 is not None:
        try:
            oracle.canonical_digest(mgf1)
        except ValueError:
            return False
    return digest in SUPPORTED and int(case.group.get("keySize", 0)) in RSA_SIZES


def pytest_generate_tests(metafunc):
    verifiable = lambda case: _usable(case) and _intact_through_cli(case)  # noqa: E731
    if "pkcs1_vector" in metafunc.fixturenames:
        metafunc.parametrize(
            "pkcs1_vector", wycheproof_params(metafunc.config, "rsa_signature", valid=4, invalid=8, accept=verifiable)
        )
    if "pss_vector" in metafunc.fixturenames:
        metafunc.parametrize(
            "pss_vector", wycheproof_params(metafunc.config, "rsa_pss", valid=6, invalid=8, accept=verifiable)
        )
    if "sig_gen_vector" in metafunc.fixturenames:
        metafunc.parametrize(
            "sig_gen_vector",
            wycheproof_params(metafunc.config, "rsa_pkcs1_sig_gen", valid=6, invalid=0, accept=_usable),
        )


def vector_command(workdir, pss: bool):
    """The dgst -verify command of one vector, its files named with a prefix."""

    def command_for(case, prefix: str) -> tuple:
        (workdir / f"{prefix}.pub.pem").write_text(case.group["publicKeyPem"])
        (workdir / f"{prefix}.msg").write_bytes(case.hex("msg"))
        (workdir / f"{prefix}.sig").write_bytes(case.hex("sig"))
        digest = oracle.canonical_digest(case.group["sha"])
        options = ()
        if pss:
            options = (
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                f"rsa_pss_saltlen:{case.group['sLen']}",
                "-sigopt",
                f"rsa_mgf1_md:{oracle.canonical_digest(case.group['mgfSha'])}",
            )
        return (
            "dgst",
            f"-{digest}",
            PROV,
            *options,
            "-verify",
            f"{prefix}.pub.pem",
            "-signature",
            f"{prefix}.sig",
            f"{prefix}.msg",
        )

    return command_for


@pytest.mark.clause("VERIFY-RSA-WYCHEPROOF")
def test_rsa_pkcs1_wycheproof_verify(openssl, workdir, request, pkcs1_vector):
    check_verdict(openssl, pkcs1_vector, wycheproof_root(request.config), vector_command(workdir, pss=False))


@pytest.mark.clause("VERIFY-RSA-WYCHEPROOF")
def test_rsa_pss_wycheproof_verify(openssl, workdir, request, pss_vector):
    check_verdict(openssl, pss_vector, wycheproof_root(request.config), vector_command(workdir, pss=True))


@pytest.mark.clause("SIGN-RSA-PKCS1-WYCHEPROOF")
def test_rsa_pkcs1_wycheproof_sign(openssl, workdir, keys, sig_gen_vector):
    case = sig_gen_vector
    private = serialization.load_der_private_key(case.hex("privateKeyPkcs8"), password=None)
    key = keys.imported(f"wycheproof-{case.file}-{private.public_key().public_numbers().n % 10**8}", private, "RSA")
    (workdir / "msg.bin").write_bytes(case.hex("msg"))
    digest = oracle.canonical_digest(case.group["sha"])
    openssl("dgst", f"-{digest}", PROV, "-sign", key.uri(workdir), "-out", "sig.bin", "msg.bin", prove=True)
    produced = (workdir / "sig.bin").read_bytes()
    assert produced == case.hex("sig"), (
        f"the signature differs from Wycheproof's expected signature (tc {case.tc_id}); "
        f"it looks like {oracle.describe_rsa_signature(private.public_key(), produced)}"
    )
