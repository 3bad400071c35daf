"""RSA key form on import (spec revision 2026-08: "RSA key form: azihsm.key_kind"): RSA-CRT
(the default) keeps the CRT components in the HSM, RSA keeps n and d only. Either way the
public half, the signatures and the decryptions are the same, checked with pyca."""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import commands, oracle
from azihsm_conformance.conformance.keys import RSA_SIZES, URI_TYPE, export_public_der, genpkey_args
from azihsm_conformance.conformance.matrix import grid
from azihsm_conformance.harness.markers import PROV

FORMS = ("default", "RSA", "RSA-CRT", "rsa-crt")


def form_option(form: str) -> str | None:
    return None if form == "default" else form


@pytest.mark.clause("RSA-KEY-KIND")
@pytest.mark.parametrize("algorithm, bits, form", grid(algorithm=("RSA", "RSA-PSS"), bits=RSA_SIZES, form=FORMS))
def test_both_forms_sign_alike(openssl, workdir, software_keys, data, algorithm, bits, form):
    private = software_keys.rsa(bits)
    (workdir / "in.der").write_bytes(oracle.private_der(private, "pkcs8"))
    openssl(
        *genpkey_args(algorithm, bits=bits, input_key="./in.der", key_kind=form_option(form), masked_key="./k.bin"),
        prove=True,
    )
    uri = f"azihsm://./k.bin;type={URI_TYPE[algorithm]}"
    oracle.assert_public_key_equal(export_public_der(openssl, uri), private)
    shown = openssl("pkey", PROV, "-in", uri, "-text", "-noout").stdout.decode(errors="replace")
    expected_form = "RSA" if form == "RSA" else "RSA-CRT"
    assert any(
        line.split(":", 1)[0].strip().lower() == "key kind" and line.split(":", 1)[1].strip() == expected_form
        for line in shown.splitlines()
    ), f"pkey -text does not show 'key kind: {expected_form}':\n{shown}"
    if algorithm == "RSA":
        signature = commands.sign(openssl, uri, data, "sha256", "stream")
        expected = oracle.rsa_pkcs1_sign(private, data.read_bytes(), "sha256")
        assert signature == expected, "PKCS#1 v1.5 signatures differ from pyca's"
    else:
        options = {"rsa_padding_mode": "pss", "rsa_pss_saltlen": "digest"}
        signature = commands.sign(openssl, uri, data, "sha384", "stream", options)
        oracle.verify_rsa_pss(private.public_key(), signature, data.read_bytes(), "sha384", 48)


@pytest.mark.clause("RSA-KEY-KIND")
@pytest.mark.parametrize("form", ("RSA", "RSA-CRT"))
def test_both_forms_decrypt(openssl, workdir, software_keys, form):
    private = software_keys.rsa(2048)
    (workdir / "in.der").write_bytes(oracle.private_der(private, "pkcs1"))
    openssl(
        *genpkey_args(
            "RSA", bits=2048, usage="keyEncipherment", input_key="./in.der", key_kind=form, masked_key="./k.bin"
        ),
        prerequisite=True,
    )
    plaintext = b"decrypted by either form"
    ciphertext = oracle.oaep_encrypt(private.public_key(), plaintext, "sha256")
    result = commands.rsa_crypt(
        openssl, "decrypt", "azihsm://./k.bin;type=rsa", ciphertext, prove=True, digest="sha256"
    )
    assert result == plaintext


@pytest.mark.clause("RSA-KEY-KIND-BAD")
@pytest.mark.parametrize("value", ("RSA-XTS", "CRT", "rsa_crt"))
def test_unknown_key_kind_is_refused(openssl, workdir, software_keys, value):
    (workdir / "in.der").write_bytes(oracle.private_der(software_keys.rsa(2048), "pkcs8"))
    openssl.refuses(
        *genpkey_args("RSA", bits=2048, input_key="./in.der", key_kind=value, masked_key="./k.bin"),
        control=genpkey_args("RSA", bits=2048, input_key="./in.der", key_kind="RSA", masked_key="./control.bin"),
        because="parameter",
    )
    assert not (workdir / "k.bin").exists(), "a refused key_kind still wrote a masked key file"


@pytest.mark.clause("RSA-KEY-KIND-NO-CRT")
@pytest.mark.parametrize("form", ("default", "RSA-CRT"))
def test_key_without_crt_components_needs_the_plain_form(openssl, workdir, software_keys, data, form):
    """A key made from n, e and d alone imports as RSA; asking for CRT fails loudly instead
    of being downgraded (the control imports the same file with key_kind RSA)."""
    private = software_keys.rsa(2048)
    (workdir / "plain.der").write_bytes(oracle.rsa_der_without_crt(private))
    openssl.refuses(
        *genpkey_args("RSA", bits=2048, input_key="./plain.der", key_kind=form_option(form), masked_key="./k.bin"),
        control=genpkey_args("RSA", bits=2048, input_key="./plain.der", key_kind="RSA", masked_key="./plain.bin"),
        because="key-input",
    )
    assert not (workdir / "k.bin").exists(), "a refused import still wrote a masked key file"
    signature = commands.sign(openssl, "azihsm://./plain.bin;type=rsa", data, "sha256", "stream", prove=True)
    expected = oracle.rsa_pkcs1_sign(private, data.read_bytes(), "sha256")
    assert signature == expected, "the plain-form key signs differently from pyca"
