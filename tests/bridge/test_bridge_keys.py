"""Spec sections "EC Key Generation", "EC Key Import", "RSA Key Import": every command
block as documented, each output checked independently, plus the failure cases."""

from __future__ import annotations

import stat

import pytest
from bridge_helpers import PROV, load_public
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

pytestmark = [pytest.mark.bridge, pytest.mark.openssl]

CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def genpkey(openssl, *pkeyopts, algorithm="EC", ok=True, out=("-outform", "DER", "-out", "/dev/null")):
    args = ["genpkey", PROV, "-algorithm", algorithm]
    for opt in pkeyopts:
        args += ["-pkeyopt", opt]
    return openssl(*args, *out, ok=ok)


def text_of(openssl, uri):
    return openssl("pkey", PROV, "-in", uri, "-text", "-noout").text


def public_der(openssl, uri) -> bytes:
    return openssl("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER").stdout


# -- EC Key Generation ------------------------------------------------------------------


@pytest.mark.parametrize("curve", list(CURVES))
def test_ec_generate_documented(openssl, curve):
    genpkey(openssl, f"group:{curve}", f"azihsm.masked_key:./ec_{curve}.bin")
    blob = openssl.cwd / f"ec_{curve}.bin"
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600
    public = load_public(public_der(openssl, f"azihsm://./ec_{curve}.bin;type=ec"))
    assert isinstance(public.curve, CURVES[curve])
    text = text_of(openssl, f"azihsm://./ec_{curve}.bin;type=ec")
    assert "key usage            : digitalSignature" in text
    assert "session              : no" in text


def test_ec_generate_key_agreement_documented(openssl):
    genpkey(openssl, "group:P-384", "azihsm.key_usage:keyAgreement", "azihsm.masked_key:./ec_p384_ecdh.bin")
    text = text_of(openssl, "azihsm://./ec_p384_ecdh.bin;type=ec")
    assert "key usage            : keyAgreement" in text


@pytest.mark.parametrize("spelling", ["true", "yes", "1"])
def test_ec_generate_session_key_documented(openssl, spelling):
    result = genpkey(
        openssl,
        "group:P-256",
        f"azihsm.session:{spelling}",
        "azihsm.masked_key:./ec_p256_session.bin",
        out=("-outform", "DER", "-text"),
    )  # text follows the key on stdout
    assert (openssl.cwd / "ec_p256_session.bin").stat().st_size > 0
    assert "session              : yes" in result.text


def test_ec_generate_default_curve_is_p256(openssl):
    genpkey(openssl, "azihsm.masked_key:./k.bin")
    assert isinstance(load_public(public_der(openssl, "azihsm://./k.bin;type=ec")).curve, ec.SECP256R1)


def test_ec_generate_pem_output_is_the_public_key(openssl):
    genpkey(openssl, "group:P-384", "azihsm.masked_key:./k.bin", out=("-out", "k.pem"))
    pem = (openssl.cwd / "k.pem").read_bytes()
    assert b"PRIVATE" not in pem
    assert load_public(pem).public_bytes(*SPKI) == public_der(openssl, "azihsm://./k.bin;type=ec")


@pytest.mark.parametrize("curve", ["P-999", "secp256k1", "P-224"])
def test_ec_generate_bad_curve_fails_without_file(openssl, curve):
    result = genpkey(openssl, f"group:{curve}", "azihsm.masked_key:./bad.bin", ok=False)
    assert f"Error setting group:{curve} parameter" in result.stderr
    assert "unsupported curve" in result.stderr
    assert not (openssl.cwd / "bad.bin").exists()


@pytest.mark.parametrize(
    "option, fragment",
    [
        ("azihsm.session:maybe", "azihsm.session must be"),
        ("azihsm.key_usage:signing", "unknown azihsm.key_usage"),
    ],
    ids=["session-maybe", "usage-signing"],
)
def test_ec_generate_bad_option_values(openssl, option, fragment):
    result = genpkey(openssl, "group:P-256", option, "azihsm.masked_key:./bad.bin", ok=False)
    assert fragment in result.stderr
    assert not (openssl.cwd / "bad.bin").exists()


def test_ec_generate_key_encipherment_refused(openssl):
    result = genpkey(
        openssl, "group:P-256", "azihsm.key_usage:keyEncipherment", "azihsm.masked_key:./bad.bin", ok=False
    )
    assert "keyEncipherment" in result.stderr
    assert not (openssl.cwd / "bad.bin").exists()


def test_masked_key_symlink_refused(openssl):
    (openssl.cwd / "target").write_bytes(b"")
    (openssl.cwd / "link.bin").symlink_to("target")
    result = genpkey(openssl, "group:P-256", "azihsm.masked_key:./link.bin", ok=False)
    assert "symbolic link" in result.stderr
    assert (openssl.cwd / "target").read_bytes() == b""


# -- EC Key Import ----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["sec1-openssl", "pkcs8-pyca"])
def test_ec_import_documented(openssl, encoding):
    if encoding == "sec1-openssl":
        openssl(
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-outform",
            "DER",
            "-out",
            "external_ec.der",
        )
        external = serialization.load_der_private_key((openssl.cwd / "external_ec.der").read_bytes(), None)
    else:
        external = ec.generate_private_key(ec.SECP384R1())
        (openssl.cwd / "external_ec.der").write_bytes(
            external.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    genpkey(openssl, "group:P-384", "azihsm.input_key:./external_ec.der", "azihsm.masked_key:./ec_imported.bin")
    exported = public_der(openssl, "azihsm://./ec_imported.bin;type=ec")
    assert exported == external.public_key().public_bytes(*SPKI)


def test_ec_import_curve_mismatch_fails(openssl):
    external = ec.generate_private_key(ec.SECP384R1())
    (openssl.cwd / "k.der").write_bytes(
        external.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    result = genpkey(openssl, "azihsm.input_key:./k.der", "azihsm.masked_key:./bad.bin", ok=False)
    assert "Error generating EC key" in result.stderr
    assert not (openssl.cwd / "bad.bin").exists()


@pytest.mark.parametrize("content", [b"", b"not a key at all"], ids=["empty", "junk"])
def test_ec_import_bad_input_fails(openssl, content):
    (openssl.cwd / "k.der").write_bytes(content)
    result = genpkey(openssl, "azihsm.input_key:./k.der", "azihsm.masked_key:./bad.bin", ok=False)
    assert "k.der" in result.stderr or "DER" in result.stderr
    assert not (openssl.cwd / "bad.bin").exists()


def test_import_missing_file_names_it(openssl):
    result = genpkey(openssl, "azihsm.input_key:./missing.der", "azihsm.masked_key:./bad.bin", ok=False)
    assert "missing.der" in result.stderr
    assert not (openssl.cwd / "bad.bin").exists()


# -- RSA Key Import ---------------------------------------------------------------------


def test_rsa_import_for_signing_documented(openssl):
    openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-outform",
        "DER",
        "-out",
        "external_rsa.der",
    )
    genpkey(
        openssl,
        "rsa_keygen_bits:2048",
        "azihsm.input_key:./external_rsa.der",
        "azihsm.key_usage:digitalSignature",
        "azihsm.masked_key:./rsa_2048_sign.bin",
        algorithm="RSA",
    )
    external = serialization.load_der_private_key((openssl.cwd / "external_rsa.der").read_bytes(), None)
    assert public_der(openssl, "azihsm://./rsa_2048_sign.bin;type=rsa") == external.public_key().public_bytes(*SPKI)
    assert stat.S_IMODE((openssl.cwd / "rsa_2048_sign.bin").stat().st_mode) == 0o600


def test_rsa_import_for_encryption_documented(openssl, rsa_4096_der):
    genpkey(
        openssl,
        "rsa_keygen_bits:4096",
        f"azihsm.input_key:{rsa_4096_der}",
        "azihsm.key_usage:keyEncipherment",
        "azihsm.masked_key:./rsa_4096_enc.bin",
        algorithm="RSA",
    )
    text = text_of(openssl, "azihsm://./rsa_4096_enc.bin;type=rsa")
    assert "key usage            : keyEncipherment" in text
    assert "public-key bit length: 4096" in text


def test_rsa_pss_import(openssl, rsa_key):
    genpkey(
        openssl,
        "rsa_keygen_bits:2048",
        f"azihsm.input_key:{rsa_key.der}",
        "azihsm.masked_key:./rsa_pss.bin",
        algorithm="RSA-PSS",
    )
    assert "algorithm            : RSA-PSS" in text_of(openssl, "azihsm://./rsa_pss.bin;type=rsa-pss")


@pytest.mark.parametrize("algorithm", ["RSA", "RSA-PSS"])
def test_rsa_without_input_key_explains_import(openssl, algorithm):
    result = genpkey(openssl, "rsa_keygen_bits:2048", "azihsm.masked_key:./bad.bin", algorithm=algorithm, ok=False)
    assert f"Error generating {algorithm} key" in result.stderr
    assert "azihsm.input_key" in result.stderr
    assert not (openssl.cwd / "bad.bin").exists()


def test_rsa_size_mismatch_fails(openssl, rsa_key):
    result = genpkey(
        openssl,
        "rsa_keygen_bits:3072",
        f"azihsm.input_key:{rsa_key.der}",
        "azihsm.masked_key:./bad.bin",
        algorithm="RSA",
        ok=False,
    )
    assert "Error generating RSA key" in result.stderr
    assert not (openssl.cwd / "bad.bin").exists()


def test_rsa_unsupported_size_refused(openssl, rsa_key):
    result = genpkey(openssl, "rsa_keygen_bits:1024", f"azihsm.input_key:{rsa_key.der}", algorithm="RSA", ok=False)
    assert "unsupported RSA size" in result.stderr


@pytest.fixture(scope="session")
def rsa_4096_der(tmp_path_factory):
    path = tmp_path_factory.mktemp("rsa4096") / "external_rsa_4096.der"
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path
