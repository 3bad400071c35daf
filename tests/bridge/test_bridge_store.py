"""Spec section "The azihsm:// URI Scheme": grammar, storeutl, and visible load failures
(tampered blob, blob of another device, session blob in a later process, wrong type)."""

from __future__ import annotations

import shutil

import pytest
from bridge_helpers import PROV, copy_into

pytestmark = [pytest.mark.bridge, pytest.mark.openssl]


@pytest.fixture
def p384(openssl, ec_key):
    return copy_into(ec_key("P-384"), openssl.cwd)


def storeutl(openssl, uri, ok=True):
    return openssl("storeutl", PROV, uri, ok=ok)


@pytest.mark.parametrize("example", ["relative-ec", "absolute-rsa", "rsa-pss"])
def test_storeutl_documented(openssl, ec_key, rsa_key, example):
    """The spec's three URI examples, each checked with `openssl storeutl ${PROV} <uri>`."""
    if example == "relative-ec":
        shutil.copy(ec_key("P-384"), openssl.cwd / "masked_key_p384.bin")
        uri = "azihsm://./masked_key_p384.bin;type=ec"
    elif example == "absolute-rsa":
        shutil.copy(rsa_key.blob, openssl.cwd / "server_key.bin")
        uri = f"azihsm://{openssl.cwd / 'server_key.bin'};type=rsa"
    else:
        shutil.copy(rsa_key.pss_blob, openssl.cwd / "rsa_pss_key.bin")
        uri = "azihsm://./rsa_pss_key.bin;type=rsa-pss"
    result = storeutl(openssl, uri)
    assert "0: Pkey" in result.text
    assert "Total found: 1" in result.text
    assert "PRIVATE KEY" not in result.text


@pytest.mark.parametrize("form", ["dot-relative", "bare-relative", "absolute", "subdir"])
def test_uri_paths(openssl, ec_key, form):
    source = ec_key("P-256")
    (openssl.cwd / "keys").mkdir()
    shutil.copy(source, openssl.cwd / "keys" / "k.bin")
    shutil.copy(source, openssl.cwd / "k.bin")
    path = {
        "dot-relative": "./k.bin",
        "bare-relative": "k.bin",
        "absolute": str(openssl.cwd / "k.bin"),
        "subdir": "keys/k.bin",
    }[form]
    assert "Total found: 1" in storeutl(openssl, f"azihsm://{path};type=ec").text


@pytest.mark.parametrize(
    "attributes",
    ["type=EC", "TYPE=ec", "label=x;type=ec", "type=ec;unknown=1", ";;type=ec", "type=rsa;type=ec"],
    ids=["value-case", "name-case", "unknown-before", "unknown-after", "empty-segments", "last-type-wins"],
)
def test_uri_attributes(openssl, p384, attributes):
    assert "Total found: 1" in storeutl(openssl, f"azihsm://{p384};{attributes}").text


@pytest.mark.parametrize(
    "uri_tail, fragment",
    [
        ("{key}", "lacks the required type"),
        ("{key};label=x", "lacks the required type"),
        ("{key};type=dsa", "unknown type"),
        (";type=ec", "names no file"),
        ("./missing.bin;type=ec", "missing.bin"),
    ],
    ids=["no-type", "no-type-other-attribute", "unknown-type", "empty-path", "missing-file"],
)
def test_uri_errors(openssl, p384, uri_tail, fragment):
    result = storeutl(openssl, "azihsm://" + uri_tail.format(key=p384), ok=False)
    assert fragment in result.stderr


@pytest.mark.parametrize("wrong", ["rsa", "rsa-pss"])
def test_wrong_type_fails_visibly(openssl, p384, wrong):
    result = storeutl(openssl, f"azihsm://{p384};type={wrong}", ok=False)
    assert "ec_p384.bin" in result.stderr
    assert "blob-wrong-kind" in result.stderr


def test_tampered_blob_fails_visibly(openssl, p384, data_file):
    blob = bytearray((openssl.cwd / p384).read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (openssl.cwd / p384).write_bytes(bytes(blob))
    uri = f"azihsm://{p384};type=ec"
    result = storeutl(openssl, uri, ok=False)
    assert "ec_p384.bin" in result.stderr and "tampered" in result.stderr
    signing = openssl("dgst", "-sha384", PROV, "-sign", uri, "-out", "s.sig", "data.bin", ok=False)
    assert "tampered" in signing.stderr


def test_truncated_blob_fails_visibly(openssl, p384):
    (openssl.cwd / p384).write_bytes((openssl.cwd / p384).read_bytes()[:20])
    result = storeutl(openssl, f"azihsm://{p384};type=ec", ok=False)
    assert "ec_p384.bin" in result.stderr


def test_blob_of_another_device_fails_visibly(openssl, p384, new_device):
    other = openssl.at(device_dir=new_device())
    result = storeutl(other, f"azihsm://{p384};type=ec", ok=False)
    assert "another device" in result.stderr


def test_session_blob_fails_in_later_process(openssl, data_file):
    openssl(
        "genpkey",
        PROV,
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-256",
        "-pkeyopt",
        "azihsm.session:true",
        "-pkeyopt",
        "azihsm.masked_key:./session.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
    )
    result = openssl(
        "dgst", "-sha256", PROV, "-sign", "azihsm://./session.bin;type=ec", "-out", "s.sig", "data.bin", ok=False
    )
    assert "ended session" in result.stderr
    assert "session.bin" in result.stderr
    assert not (openssl.cwd / "s.sig").exists() or (openssl.cwd / "s.sig").stat().st_size == 0


def test_public_key_export_pem_and_der_agree(openssl, p384):
    uri = f"azihsm://{p384};type=ec"
    pem = openssl("pkey", PROV, "-in", uri, "-pubout").stdout
    der = openssl("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER").stdout
    from cryptography.hazmat.primitives import serialization

    assert (
        serialization.load_pem_public_key(pem).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == der
    )


def test_peer_public_key_file_verifies(openssl, p384, data_file):
    """Exported public key (a plain PEM file) imported back as a peer key for verify."""
    uri = f"azihsm://{p384};type=ec"
    openssl("pkey", PROV, "-in", uri, "-pubout", "-out", "pub.pem")
    openssl("dgst", "-sha384", PROV, "-sign", uri, "-out", "s.sig", "data.bin")
    result = openssl("dgst", "-sha384", PROV, "-verify", "pub.pem", "-signature", "s.sig", "data.bin")
    assert "Verified OK" in result.text


@pytest.fixture
def data_file(openssl):
    (openssl.cwd / "data.bin").write_bytes(b"azihsm store test data\n" * 50)
    return openssl.cwd / "data.bin"
