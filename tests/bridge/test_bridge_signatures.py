"""Spec sections "ECDSA Sign and Verify", "RSA Sign and Verify" and ``req -new -x509``.

Every signature is verified with pyca/cryptography under exactly the requested digest,
padding, salt length and MGF1 digest; PKCS#1 v1.5 signatures must be byte-exact.
"""

from __future__ import annotations

import pytest
from bridge_helpers import PROV, copy_into
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

pytestmark = [pytest.mark.bridge, pytest.mark.openssl]

HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
DATA = bytes(range(256)) * 13


@pytest.fixture
def data(openssl):
    (openssl.cwd / "data.bin").write_bytes(DATA)
    return DATA


def ec_public(openssl, uri):
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    return load_der_public_key(openssl("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER").stdout)


# -- ECDSA ------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
@pytest.mark.parametrize("digest", list(HASHES))
def test_ecdsa_stream(openssl, ec_key, data, curve, digest):
    uri = f"azihsm://{copy_into(ec_key(curve), openssl.cwd)};type=ec"
    openssl("dgst", f"-{digest}", PROV, "-sign", uri, "-out", "signature.sig", "data.bin")
    signature = (openssl.cwd / "signature.sig").read_bytes()
    ec_public(openssl, uri).verify(signature, data, ec.ECDSA(HASHES[digest]()))
    result = openssl("dgst", f"-{digest}", PROV, "-verify", uri, "-signature", "signature.sig", "data.bin")
    assert "Verified OK" in result.text


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
@pytest.mark.parametrize("digest", list(HASHES))
def test_ecdsa_oneshot(openssl, ec_key, data, curve, digest):
    uri = f"azihsm://{copy_into(ec_key(curve), openssl.cwd)};type=ec"
    openssl("dgst", f"-{digest}", "-binary", "-out", "data.hash", "data.bin")
    openssl("pkeyutl", "-sign", PROV, "-inkey", uri, "-in", "data.hash", "-out", "data.sig")
    signature = (openssl.cwd / "data.sig").read_bytes()
    prehash = (openssl.cwd / "data.hash").read_bytes()
    ec_public(openssl, uri).verify(signature, prehash, ec.ECDSA(utils.Prehashed(HASHES[digest]())))
    result = openssl("pkeyutl", "-verify", PROV, "-inkey", uri, "-in", "data.hash", "-sigfile", "data.sig")
    assert "Signature Verified Successfully" in result.text


def test_ecdsa_verify_rejects_tampered_data(openssl, ec_key, data):
    uri = f"azihsm://{copy_into(ec_key('P-384'), openssl.cwd)};type=ec"
    openssl("dgst", "-sha384", PROV, "-sign", uri, "-out", "signature.sig", "data.bin")
    (openssl.cwd / "data.bin").write_bytes(DATA + b"!")
    result = openssl("dgst", "-sha384", PROV, "-verify", uri, "-signature", "signature.sig", "data.bin", ok=False)
    assert "Verification failure" in result.text


def test_ecdsa_oneshot_bad_digest_length(openssl, ec_key):
    uri = f"azihsm://{copy_into(ec_key('P-256'), openssl.cwd)};type=ec"
    (openssl.cwd / "odd.hash").write_bytes(b"x" * 17)
    result = openssl("pkeyutl", "-sign", PROV, "-inkey", uri, "-in", "odd.hash", ok=False)
    assert "17 bytes" in result.stderr


def test_signing_with_key_agreement_key_refused(openssl, data):
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
        "azihsm.masked_key:./ecdh.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
    )
    uri = "azihsm://./ecdh.bin;type=ec"
    stream = openssl("dgst", "-sha384", PROV, "-sign", uri, "-out", "s.sig", "data.bin", ok=False)
    assert "keyAgreement" in stream.stderr and "sign" in stream.stderr
    openssl("dgst", "-sha384", "-binary", "-out", "data.hash", "data.bin")
    oneshot = openssl("pkeyutl", "-sign", PROV, "-inkey", uri, "-in", "data.hash", ok=False)
    assert "keyAgreement" in oneshot.stderr


# -- RSA --------------------------------------------------------------------------------


@pytest.mark.parametrize("digest", list(HASHES))
def test_rsa_pkcs1_stream_is_byte_exact(openssl, rsa_key, data, digest):
    uri = f"azihsm://{copy_into(rsa_key.blob, openssl.cwd)};type=rsa"
    openssl("dgst", f"-{digest}", PROV, "-sign", uri, "-out", "rsa_sig.bin", "data.bin")
    expected = rsa_key.private.sign(data, padding.PKCS1v15(), HASHES[digest]())
    assert (openssl.cwd / "rsa_sig.bin").read_bytes() == expected
    result = openssl("dgst", f"-{digest}", PROV, "-verify", uri, "-signature", "rsa_sig.bin", "data.bin")
    assert "Verified OK" in result.text


def pss_salt(rsa_key, digest, saltlen):
    if saltlen == "digest":
        return HASHES[digest].digest_size
    if saltlen in ("max", "auto"):  # "auto" signs with the maximum salt
        return (rsa_key.private.key_size + 7) // 8 - HASHES[digest].digest_size - 2
    return int(saltlen)


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("saltlen", ["digest", "max", "auto", "17"])
@pytest.mark.parametrize("keytype", ["rsa", "rsa-pss"])
def test_rsa_pss_stream_sigopts(openssl, rsa_key, data, digest, saltlen, keytype):
    blob = rsa_key.blob if keytype == "rsa" else rsa_key.pss_blob
    uri = f"azihsm://{copy_into(blob, openssl.cwd)};type={keytype}"
    openssl(
        "dgst",
        f"-{digest}",
        PROV,
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        f"rsa_pss_saltlen:{saltlen}",
        "-sign",
        uri,
        "-out",
        "rsa_pss_sig.bin",
        "data.bin",
    )
    signature = (openssl.cwd / "rsa_pss_sig.bin").read_bytes()
    rsa_key.private.public_key().verify(
        signature,
        data,
        padding.PSS(padding.MGF1(HASHES[digest]()), pss_salt(rsa_key, digest, saltlen)),
        HASHES[digest](),
    )
    result = openssl(
        "dgst",
        f"-{digest}",
        PROV,
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:auto",
        "-verify",
        uri,
        "-signature",
        "rsa_pss_sig.bin",
        "data.bin",
    )
    assert "Verified OK" in result.text


@pytest.mark.parametrize("mgf1", ["sha1", "sha512"])
def test_rsa_pss_mgf1_digest(openssl, rsa_key, data, mgf1):
    uri = f"azihsm://{copy_into(rsa_key.blob, openssl.cwd)};type=rsa"
    openssl(
        "dgst",
        "-sha256",
        PROV,
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:digest",
        "-sigopt",
        f"rsa_mgf1_md:{mgf1}",
        "-sign",
        uri,
        "-out",
        "sig.bin",
        "data.bin",
    )
    rsa_key.private.public_key().verify(
        (openssl.cwd / "sig.bin").read_bytes(), data, padding.PSS(padding.MGF1(HASHES[mgf1]()), 32), hashes.SHA256()
    )


def test_rsa_pss_key_defaults_to_pss(openssl, rsa_key, data):
    uri = f"azihsm://{copy_into(rsa_key.pss_blob, openssl.cwd)};type=rsa-pss"
    openssl("dgst", "-sha256", PROV, "-sign", uri, "-out", "sig.bin", "data.bin")
    rsa_key.private.public_key().verify(
        (openssl.cwd / "sig.bin").read_bytes(), data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()
    )


@pytest.mark.parametrize("scheme", ["pkcs1", "pss"])
def test_rsa_oneshot(openssl, rsa_key, data, scheme):
    uri = f"azihsm://{copy_into(rsa_key.blob, openssl.cwd)};type=rsa"
    openssl("dgst", "-sha256", "-binary", "-out", "data.hash", "data.bin")
    opts = ["-pkeyopt", "digest:sha256"]
    if scheme == "pss":
        opts += ["-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:digest"]
    openssl("pkeyutl", "-sign", PROV, "-inkey", uri, *opts, "-in", "data.hash", "-out", "data.sig")
    signature = (openssl.cwd / "data.sig").read_bytes()
    pad = padding.PKCS1v15() if scheme == "pkcs1" else padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    rsa_key.private.public_key().verify(signature, data, pad, hashes.SHA256())
    if scheme == "pkcs1":
        assert signature == rsa_key.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    result = openssl("pkeyutl", "-verify", PROV, "-inkey", uri, *opts, "-in", "data.hash", "-sigfile", "data.sig")
    assert "Signature Verified Successfully" in result.text


def test_rsa_pss_key_refuses_pkcs1(openssl, rsa_key, data):
    uri = f"azihsm://{copy_into(rsa_key.pss_blob, openssl.cwd)};type=rsa-pss"
    result = openssl(
        "dgst",
        "-sha256",
        PROV,
        "-sigopt",
        "rsa_padding_mode:pkcs1",
        "-sign",
        uri,
        "-out",
        "sig.bin",
        "data.bin",
        ok=False,
    )
    assert "pss" in result.stderr


# -- req -new -x509 ---------------------------------------------------------------------


def check_certificate(path, expected_oid, pss=None):
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    assert cert.signature_algorithm_oid == expected_oid
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    elif pss is None:
        public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        mgf1, salt = pss
        public.verify(
            cert.signature,
            cert.tbs_certificate_bytes,
            padding.PSS(padding.MGF1(mgf1), salt),
            cert.signature_hash_algorithm,
        )
    return cert


@pytest.mark.parametrize("curve, digest", [("P-256", "sha256"), ("P-384", "sha384"), ("P-521", "sha512")])
def test_req_x509_ecdsa(openssl, ec_key, curve, digest):
    uri = f"azihsm://{copy_into(ec_key(curve), openssl.cwd)};type=ec"
    openssl(
        "req", "-new", "-x509", PROV, "-key", uri, "-subj", "/CN=azihsm", f"-{digest}", "-days", "1", "-out", "cert.pem"
    )
    oid = {
        "sha256": x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        "sha384": x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        "sha512": x509.SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    }[digest]
    check_certificate(openssl.cwd / "cert.pem", oid)


def test_req_x509_ecdsa_default_digest(openssl, ec_key):
    uri = f"azihsm://{copy_into(ec_key('P-384'), openssl.cwd)};type=ec"
    openssl("req", "-new", "-x509", PROV, "-key", uri, "-subj", "/CN=azihsm", "-out", "cert.pem")
    cert = x509.load_pem_x509_certificate((openssl.cwd / "cert.pem").read_bytes())
    check_certificate(openssl.cwd / "cert.pem", cert.signature_algorithm_oid)


def test_req_x509_rsa_pkcs1(openssl, rsa_key):
    uri = f"azihsm://{copy_into(rsa_key.blob, openssl.cwd)};type=rsa"
    openssl("req", "-new", "-x509", PROV, "-key", uri, "-subj", "/CN=azihsm", "-sha256", "-out", "cert.pem")
    check_certificate(openssl.cwd / "cert.pem", x509.SignatureAlgorithmOID.RSA_WITH_SHA256)


@pytest.mark.parametrize(
    "keytype, sigopts, salt",
    [
        ("rsa-pss", [], 32),
        ("rsa", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:max"], 222),
    ],
    ids=["rsa-pss-key-default", "rsa-key-sigopt-pss-max"],
)
def test_req_x509_rsa_pss_algorithm_id_matches(openssl, rsa_key, keytype, sigopts, salt):
    blob = rsa_key.pss_blob if keytype == "rsa-pss" else rsa_key.blob
    uri = f"azihsm://{copy_into(blob, openssl.cwd)};type={keytype}"
    openssl("req", "-new", "-x509", PROV, "-key", uri, "-subj", "/CN=azihsm", "-sha256", *sigopts, "-out", "cert.pem")
    cert = check_certificate(
        openssl.cwd / "cert.pem", x509.SignatureAlgorithmOID.RSASSA_PSS, pss=(hashes.SHA256(), salt)
    )
    params = cert.signature_algorithm_parameters
    assert params.mgf._algorithm.name == "sha256"
    with pytest.raises(InvalidSignature):  # the salt length in the AlgorithmIdentifier is exact
        cert.public_key().verify(
            cert.signature,
            cert.tbs_certificate_bytes,
            padding.PSS(padding.MGF1(hashes.SHA256()), salt + 1),
            hashes.SHA256(),
        )
