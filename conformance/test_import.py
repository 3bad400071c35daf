"""Import of external keys (spec: "EC Key Import", "RSA Key Import")."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.keys import (
    CURVES,
    EC_USAGES,
    RSA_SIZES,
    RSA_USAGES,
    URI_TYPE,
    export_public_der,
    genpkey_args,
)
from azihsm_conformance.conformance.matrix import grid


def import_and_compare(openssl, workdir, private, form: str, algorithm: str, usage: str, **size) -> None:
    """Import PRIVATE (written as FORM DER), load it back and compare its public half."""
    (workdir / "external.der").write_bytes(oracle.private_der(private, form))
    openssl(*genpkey_args(algorithm, usage=usage, input_key="./external.der", masked_key="./k.bin", **size), prove=True)
    assert (workdir / "k.bin").is_file(), "genpkey exited 0 but wrote no masked key file"
    public = export_public_der(openssl, f"azihsm://./k.bin;type={URI_TYPE[algorithm]}")
    oracle.assert_public_key_equal(public, private)


@pytest.mark.clause("IMPORT-EC")
@pytest.mark.parametrize("curve, form, usage", grid(curve=CURVES, form=("sec1", "pkcs8"), usage=EC_USAGES))
def test_import_ec(openssl, workdir, software_keys, curve, form, usage):
    import_and_compare(openssl, workdir, software_keys.ec(curve), form, "EC", usage, group=curve)


@pytest.mark.clause("IMPORT-RSA")
@pytest.mark.parametrize("bits, form, usage", grid(bits=RSA_SIZES, form=("pkcs1", "pkcs8"), usage=RSA_USAGES))
def test_import_rsa(openssl, workdir, software_keys, bits, form, usage):
    import_and_compare(openssl, workdir, software_keys.rsa(bits), form, "RSA", usage, bits=bits)


@pytest.mark.clause("IMPORT-RSA-PSS")
@pytest.mark.parametrize("bits, form, usage", grid(bits=RSA_SIZES, form=("pkcs1", "pkcs8"), usage=RSA_USAGES))
def test_import_rsa_pss(openssl, workdir, software_keys, bits, form, usage):
    import_and_compare(openssl, workdir, software_keys.rsa(bits), form, "RSA-PSS", usage, bits=bits)


@pytest.mark.clause("IMPORT-PARAM-MISMATCH")
@pytest.mark.parametrize(
    "key, declared",
    [
        pytest.param(("rsa", 3072), {"bits": 2048}, id="RSA-3072-as-2048", marks=pytest.mark.quick),
        pytest.param(("rsa", 2048), {"bits": 4096}, id="RSA-2048-as-4096"),
        pytest.param(("rsa", 4096), {}, id="RSA-4096-default_bits"),
        pytest.param(("ec", "P-384"), {"group": "P-256"}, id="EC-P-384-as-P-256", marks=pytest.mark.quick),
        pytest.param(("ec", "P-521"), {}, id="EC-P-521-default_group"),
    ],
)
def test_import_parameter_mismatch_refused(openssl, workdir, software_keys, key, declared):
    kind, size = key
    if kind == "rsa":
        private, algorithm, right = software_keys.rsa(size), "RSA", {"bits": size}
    else:
        private, algorithm, right = software_keys.ec(size), "EC", {"group": size}
    (workdir / "external.der").write_bytes(oracle.private_der(private, "pkcs8"))
    openssl.refuses(
        *genpkey_args(algorithm, input_key="./external.der", masked_key="./k.bin", **declared),
        control=genpkey_args(algorithm, input_key="./external.der", masked_key="./control.bin", **right),
        because="mismatch",
    )
    assert not (workdir / "k.bin").exists(), "the refused import left a masked key file"


def _bad_input(kind: str, software_keys) -> tuple[str, bytes | None, dict]:
    """(algorithm, file content or None for a missing file, size options) for one bad input;
    the control imports the matching good key (``_good_input``) with the same options."""
    ec_key, rsa_key = software_keys.ec("P-256"), software_keys.rsa(2048)
    if kind == "pem":
        return (
            "EC",
            ec_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            {"group": "P-256"},
        )
    if kind == "encrypted_pkcs8":
        encrypted = rsa_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
        return "RSA", encrypted, {"bits": 2048}
    if kind == "junk":
        return "EC", b"\x30\x82\x01\x00not a key at all" * 8, {"group": "P-256"}
    if kind == "empty":
        return "RSA", b"", {"bits": 2048}
    if kind == "rsa_key_as_EC":
        return "EC", oracle.private_der(rsa_key, "pkcs8"), {"group": "P-256"}
    if kind == "ec_key_as_RSA":
        return "RSA", oracle.private_der(ec_key, "pkcs8"), {"bits": 2048}
    if kind == "public_key_only":
        return "EC", oracle.spki_der(ec_key), {"group": "P-256"}
    return "RSA", None, {"bits": 2048}  # missing file


@pytest.mark.clause("IMPORT-BAD-INPUT")
@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(kind, id=kind, marks=[pytest.mark.quick] if kind == "pem" else [])
        for kind in (
            "pem",
            "encrypted_pkcs8",
            "junk",
            "empty",
            "rsa_key_as_EC",
            "ec_key_as_RSA",
            "public_key_only",
            "missing_file",
        )
    ],
)
def test_import_bad_input_refused(openssl, workdir, software_keys, kind):
    algorithm, content, size = _bad_input(kind, software_keys)
    if content is not None:
        (workdir / "external.der").write_bytes(content)
    good = software_keys.ec("P-256") if algorithm == "EC" else software_keys.rsa(2048)
    (workdir / "good.der").write_bytes(oracle.private_der(good, "pkcs8"))
    openssl.refuses(
        *genpkey_args(algorithm, input_key="./external.der", masked_key="./k.bin", **size),
        control=genpkey_args(algorithm, input_key="./good.der", masked_key="./control.bin", **size),
        because="key-input",
    )
    assert not (workdir / "k.bin").exists(), f"the refused import ({kind}) left a masked key file"
