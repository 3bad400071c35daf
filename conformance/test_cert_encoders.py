"""Certificates and public-key output of HSM keys (req -new -x509, pkey -pubout, pkey -text)."""

from __future__ import annotations

import pytest
from cryptography.x509.oid import SignatureAlgorithmOID

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.keys import CURVES, RSA_SIZES
from azihsm_conformance.conformance.matrix import grid
from azihsm_conformance.harness.markers import PROV

KEY_KINDS = [("ec", curve) for curve in CURVES] + [(kind, bits) for kind in ("rsa", "rsa-pss") for bits in RSA_SIZES]


def kind_id(kind: str, param) -> str:
    return f"{kind}-{param}"


def imported_key(keys, kind: str, param, usage: str = "digitalSignature"):
    """An imported key (so its true public half is known) of KIND: ec, rsa or rsa-pss."""
    if kind == "ec":
        return keys.imported_ec(param, usage)
    return keys.imported_rsa(param, usage, "RSA-PSS" if kind == "rsa-pss" else "RSA")


def key_params(*, quick: tuple = ()):
    return [
        pytest.param(kind, param, id=kind_id(kind, param), marks=[pytest.mark.quick] if (kind, param) in quick else [])
        for kind, param in KEY_KINDS
    ]


@pytest.mark.clause("CERT-X509")
@pytest.mark.parametrize(
    "kind, param, digest",
    [
        pytest.param(
            kind,
            param,
            digest,
            id=f"{kind_id(kind, param)}-{digest}",
            marks=[pytest.mark.quick] if (param, digest) in (("P-384", "sha384"), (2048, "sha256")) else [],
        )
        for kind, param in KEY_KINDS
        if kind != "rsa-pss"  # clause CERT-RSA-PSS-ALGID
        for digest in ("sha256", "sha384", "sha512")
    ],
)
def test_self_signed_certificate(openssl, workdir, keys, kind, param, digest):
    key = imported_key(keys, kind, param)
    openssl(
        "req",
        "-new",
        "-x509",
        PROV,
        "-key",
        key.uri(workdir),
        "-subj",
        "/CN=azihsm conformance",
        "-days",
        "30",
        f"-{digest}",
        "-out",
        "cert.pem",
        prove=True,
    )
    oracle.assert_self_signed_certificate((workdir / "cert.pem").read_bytes(), key.private)


@pytest.mark.clause("CERT-RSA-PSS-ALGID")
@pytest.mark.parametrize("bits, digest", grid(bits=RSA_SIZES, digest=("sha256", "sha384", "sha512")))
def test_rsa_pss_certificate_names_pss(openssl, workdir, keys, bits, digest):
    key = keys.imported_rsa(bits, algorithm="RSA-PSS")
    openssl(
        "req",
        "-new",
        "-x509",
        PROV,
        "-key",
        key.uri(workdir),
        "-subj",
        "/CN=azihsm conformance",
        "-days",
        "30",
        f"-{digest}",
        "-out",
        "cert.pem",
        prove=True,
    )
    certificate = oracle.load_certificate((workdir / "cert.pem").read_bytes())
    algorithm = certificate.signature_algorithm_oid
    assert algorithm == SignatureAlgorithmOID.RSASSA_PSS, (
        f"the certificate of a type=rsa-pss key names {algorithm._name}, not rsassaPss"
    )
    oracle.assert_self_signed_certificate((workdir / "cert.pem").read_bytes(), key.private)


@pytest.mark.clause("STORE-PUBOUT-DER")
@pytest.mark.parametrize("kind, param", key_params(quick=(("ec", "P-256"), ("rsa", 2048), ("rsa-pss", 3072))))
def test_pubout_der(openssl, workdir, keys, kind, param):
    key = imported_key(keys, kind, param)
    openssl("pkey", PROV, "-in", key.uri(workdir), "-pubout", "-outform", "DER", "-out", "pub.der", prove=True)
    oracle.assert_public_key_equal((workdir / "pub.der").read_bytes(), key.private)


@pytest.mark.clause("STORE-PUBOUT-PEM")
@pytest.mark.parametrize(
    "kind, param", key_params(quick=(("ec", "P-256"), ("rsa", 2048), ("ec", "P-521"), ("rsa", 3072)))
)
def test_pubout_pem(openssl, workdir, keys, kind, param):
    key = imported_key(keys, kind, param)
    openssl("pkey", PROV, "-in", key.uri(workdir), "-pubout", "-out", "pub.pem", prove=True)
    pem = (workdir / "pub.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----"), f"pkey -pubout wrote no PUBLIC KEY PEM block: {pem[:60]!r}"
    oracle.assert_public_key_equal(pem, key.private)


@pytest.mark.clause("STORE-TEXT-USAGE")
@pytest.mark.parametrize(
    "kind, usage",
    [
        pytest.param("ec", "keyAgreement", id="ec-keyAgreement", marks=pytest.mark.quick),
        pytest.param("rsa", "keyEncipherment", id="rsa-keyEncipherment", marks=pytest.mark.quick),
        pytest.param("rsa-pss", "keyEncipherment", id="rsa-pss-keyEncipherment"),
    ],
)
def test_text_shows_real_usage(openssl, workdir, keys, kind, usage):
    if kind == "ec":
        key = keys.ec("P-256", usage)
    else:
        key = keys.imported_rsa(2048, usage, "RSA-PSS" if kind == "rsa-pss" else "RSA")
    result = openssl("pkey", PROV, "-in", key.uri(workdir), "-text", "-noout", prove=True)
    text = result.stdout.decode(errors="replace")
    assert usage in text, f"pkey -text of a {usage} key does not mention {usage}; it printed:\n{text.strip()[:600]}"
    others = {"digitalSignature", "keyAgreement", "keyEncipherment"} - {usage}
    wrong = [name for name in others if name in text]
    assert not wrong, f"pkey -text of a {usage} key also names usage {', '.join(wrong)}"
