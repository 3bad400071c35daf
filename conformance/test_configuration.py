"""Configuration through openssl.cnf and device provisioning (spec revision 2026-08:
"Configuration through openssl.cnf"). Each case writes its own openssl.cnf, loading the
backend's module with the 2026-08 provider-section keys, and lays out the owner's files
(owner backup key, POTA key pair, credentials) with pyca, as an operator would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from azihsm_conformance.conformance import oracle

# empty values stand for "unset": the credentials then come from the files
NO_CREDENTIALS_ENV = {"AZIHSM_CREDENTIALS_ID": "", "AZIHSM_CREDENTIALS_PIN": ""}
OWNER_FILES = {
    "obk": "obk.bin",
    "pota-private": "pota_private_key.der",
    "pota-public": "pota_public_key.der",
    "credentials": "credentials_id.bin",
}


def provision_owner(directory: Path) -> None:
    """The files the device needs before first use: a 48-byte owner backup key, a P-384
    POTA key pair (RFC 5915 DER, SPKI DER) and the credentials (16 bytes each)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "obk.bin").write_bytes(os.urandom(48))
    pota = ec.generate_private_key(ec.SECP384R1())
    (directory / "pota_private_key.der").write_bytes(
        pota.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    (directory / "pota_public_key.der").write_bytes(
        pota.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (directory / "credentials_id.bin").write_bytes(bytes.fromhex("70FCF730B8764238B8358010CE8A3F76"))
    (directory / "credentials_pin.bin").write_bytes(bytes.fromhex("DB3DC77FC22E430080D41B31B6F04800"))


def write_conf(path: Path, backend, *, section: dict[str, str] | None = None, default_properties: bool = False) -> dict:
    """An openssl.cnf loading the default provider and the backend's module with SECTION
    (the provider-section keys); returns the environment that selects it."""
    directory = backend.provider_directory()
    module = f"{directory}/{backend.provider_module}.so" if directory else backend.provider_module
    settings = {"azihsm-api-revision": "1.0", **(section or {})}
    lines = [
        "openssl_conf = openssl_init",
        "[openssl_init]",
        "providers = provider_sect",
        *(["alg_section = evp_properties"] if default_properties else []),
        "[provider_sect]",
        "default = default_sect",
        "azihsm = azihsm_sect",
        "[default_sect]",
        "activate = 1",
        "[azihsm_sect]",
        f"module = {module}",
        "activate = 1",
        *(f"{key} = {value}" for key, value in settings.items()),
        *(["[evp_properties]", "default_properties = ?provider=azihsm"] if default_properties else []),
    ]
    path.write_text("\n".join(lines) + "\n")
    return {"OPENSSL_CONF": str(path), **NO_CREDENTIALS_ENV}


def absolute_section(directory: Path) -> dict[str, str]:
    return {
        "azihsm-bmk-path": str(directory / "bmk.bin"),
        "azihsm-muk-path": str(directory / "muk.bin"),
        "azihsm-obk-path": str(directory / "obk.bin"),
        "azihsm-pota-private-key-path": str(directory / "pota_private_key.der"),
        "azihsm-pota-public-key-path": str(directory / "pota_public_key.der"),
    }


def genpkey(masked_key: str) -> tuple:
    return (
        "genpkey",
        "-propquery",
        "?provider=azihsm",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-384",
        "-pkeyopt",
        f"azihsm.masked_key:{masked_key}",
        "-outform",
        "PEM",
        "-out",
        "k.pub.pem",
    )


def lists_azihsm(openssl, env) -> bool:
    listing = openssl("list", "-providers", env=env).stdout.decode(errors="replace")
    return any(line.strip() == "azihsm" for line in listing.splitlines())


@pytest.mark.clause("CNF-DEFAULT-PATHS")
def test_default_paths_are_in_the_working_directory(openssl, workdir, backend, data):
    provision_owner(workdir)
    env = write_conf(workdir / "openssl.cnf", backend)
    openssl(*genpkey("./k.bin"), env=env)
    assert (workdir / "bmk.bin").is_file() and (workdir / "muk.bin").is_file(), (
        "first use did not create ./bmk.bin and ./muk.bin in the working directory"
    )
    public = serialization.load_pem_public_key((workdir / "k.pub.pem").read_bytes())
    # a second process: the key made by the first loads and signs
    openssl(
        "dgst",
        "-sha384",
        "-propquery",
        "?provider=azihsm",
        "-sign",
        "azihsm://./k.bin;type=ec",
        "-out",
        "sig.bin",
        data,
        env=env,
    )
    oracle.verify_ecdsa(public, (workdir / "sig.bin").read_bytes(), data.read_bytes(), "sha384")


@pytest.mark.clause("CNF-MISSING-OWNER-FILE")
@pytest.mark.parametrize("missing", tuple(OWNER_FILES))
def test_a_missing_owner_file_is_named_at_first_use(openssl, workdir, backend, missing):
    complete, lacking = workdir / "complete", workdir / "lacking"
    provision_owner(complete)
    provision_owner(lacking)
    (lacking / OWNER_FILES[missing]).unlink()
    env = write_conf(workdir / "lacking.cnf", backend, section=absolute_section(lacking))
    control_env = write_conf(workdir / "complete.cnf", backend, section=absolute_section(complete))
    # the credentials come from the working directory's files (their variables are blanked)
    if missing == "credentials":
        (workdir / "credentials_pin.bin").write_bytes((complete / "credentials_pin.bin").read_bytes())
        control_env = {**control_env, "AZIHSM_CREDENTIALS_ID": "70FCF730B8764238B8358010CE8A3F76"}
    else:
        for name in ("credentials_id.bin", "credentials_pin.bin"):
            (workdir / name).write_bytes((complete / name).read_bytes())
    assert lists_azihsm(openssl, env), "the provider does not even load without the owner's files (no lazy session)"
    result = openssl.refuses(
        *genpkey("./k.bin"), control=genpkey("./control.bin"), because="device", env=env, control_env=control_env
    )
    named = OWNER_FILES[missing]
    assert named in result.stderr, f"the error does not name the missing {named}:\n{result.stderr}"
    assert not (workdir / "k.bin").exists(), "a failed first use still wrote a masked key"


@pytest.mark.clause("CNF-NO-FLAGS")
def test_default_properties_need_no_provider_flags(openssl, workdir, backend, data):
    provision_owner(workdir)
    env = write_conf(workdir / "openssl.cnf", backend, default_properties=True)
    openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-256",
        "-pkeyopt",
        "azihsm.masked_key:./k.bin",
        "-outform",
        "PEM",
        "-out",
        "k.pub.pem",
        env=env,
    )
    public = serialization.load_pem_public_key((workdir / "k.pub.pem").read_bytes())
    openssl("dgst", "-sha256", "-sign", "azihsm://./k.bin;type=ec", "-out", "sig.bin", data, env=env)
    oracle.verify_ecdsa(public, (workdir / "sig.bin").read_bytes(), data.read_bytes(), "sha256")


@pytest.mark.clause("CNF-API-REVISION")
@pytest.mark.parametrize("revision", ("2.0", "0.9"))
def test_an_unsupported_api_revision_keeps_the_provider_out(openssl, workdir, backend, revision):
    provision_owner(workdir)
    good = write_conf(workdir / "good.cnf", backend)
    bad = write_conf(workdir / "bad.cnf", backend, section={"azihsm-api-revision": revision})
    assert lists_azihsm(openssl, good), "the control configuration (api revision 1.0) does not load the provider"
    assert not lists_azihsm(openssl, bad), f"the provider loaded with azihsm-api-revision = {revision}"
