"""Loading through openssl.cnf, as real deployments do: no provider flags on the command
line, ``default_properties = ?provider=azihsm``, and the device directory given in the
provider's section (which wins over ``AZIHSM_DEVICE_DIR``) or by the environment."""

from __future__ import annotations

import pytest
from bridge_helpers import load_public
from chain_helpers import make_peer

from azihsm_conformance.reference.bridge.build import MODULE_FILE


def _write_conf(path, module, device_dir=None) -> None:
    device_line = f"azihsm-device-dir = {device_dir}\n" if device_dir else ""
    path.write_text(
        "openssl_conf = openssl_init\n\n"
        "[openssl_init]\nproviders = provider_sect\nalg_section = algorithm_sect\n\n"
        "[provider_sect]\ndefault = default_sect\nazihsm = azihsm_sect\n\n"
        "[default_sect]\nactivate = 1\n\n"
        f"[azihsm_sect]\nmodule = {module}\nactivate = 1\n{device_line}\n"
        "[algorithm_sect]\ndefault_properties = ?provider=azihsm\n"
    )


@pytest.fixture
def conf_env(openssl, provider_dir):
    """Environment for a config naming the session's device in the provider section, with
    AZIHSM_DEVICE_DIR pointing somewhere that does not exist (the config must win)."""
    conf = openssl.cwd / "openssl.cnf"
    _write_conf(conf, provider_dir / MODULE_FILE, openssl.device_dir)
    return {"OPENSSL_CONF": str(conf), "AZIHSM_DEVICE_DIR": str(openssl.cwd / "no-such-dir")}


def test_provider_listed(openssl, conf_env):
    listing = openssl("list", "-providers", env=conf_env).text
    assert "azihsm" in listing and "status: active" in listing


def test_sign_and_verify_without_flags(openssl, conf_env):
    openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-384",
        "-pkeyopt",
        "azihsm.masked_key:./ec.bin",
        "-outform",
        "DER",
        "-out",
        "pub.der",
        env=conf_env,
    )
    (openssl.cwd / "data.bin").write_bytes(b"configured")
    uri = "azihsm://./ec.bin;type=ec"
    openssl("dgst", "-sha384", "-sign", uri, "-out", "sig.bin", "data.bin", env=conf_env)
    verified = openssl("dgst", "-sha384", "-verify", uri, "-signature", "sig.bin", "data.bin", env=conf_env)
    assert "Verified OK" in verified.text
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    load_public((openssl.cwd / "pub.der").read_bytes()).verify(
        (openssl.cwd / "sig.bin").read_bytes(), b"configured", ec.ECDSA(hashes.SHA384())
    )


def test_chain_without_flags(openssl, conf_env):
    openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-256",
        "-pkeyopt",
        "azihsm.key_usage:keyAgreement",
        "-pkeyopt",
        "azihsm.masked_key:./k.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
        env=conf_env,
    )
    make_peer("P-256", openssl.cwd)
    openssl(
        "pkeyutl",
        "-derive",
        "-inkey",
        "azihsm://./k.bin;type=ec",
        "-peerkey",
        "peer_pub.pem",
        "-pkeyopt",
        "output_file:secret.bin",
        env=conf_env,
    )
    openssl(
        "kdf",
        "-keylen",
        "64",
        "-kdfopt",
        "azihsm.ikm_file:./secret.bin",
        "-kdfopt",
        "output_file:hmac.bin",
        "-kdfopt",
        "derived_key_type:hmac",
        "-binary",
        "-out",
        "/dev/null",
        "HKDF",
        env=conf_env,
    )
    (openssl.cwd / "data.bin").write_bytes(b"x")
    tag = openssl("mac", "-macopt", "key:./hmac.bin", "-in", "data.bin", "HMAC", env=conf_env)
    assert len(tag.text.strip()) == 64


def test_device_dir_from_the_environment(openssl, provider_dir):
    conf = openssl.cwd / "openssl.cnf"
    _write_conf(conf, provider_dir / MODULE_FILE)
    env = {"OPENSSL_CONF": str(conf)}  # AZIHSM_DEVICE_DIR is the session's device
    openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "azihsm.masked_key:./ec.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
        env=env,
    )
    assert "0: Pkey" in openssl("storeutl", "azihsm://./ec.bin;type=ec", env=env).text


def test_unusable_device_dir_in_config_fails_the_first_use(openssl, provider_dir):
    """The provider loads (the device is opened lazily, so listing works), and the first
    operation that needs the device fails naming the directory and both settings."""
    conf = openssl.cwd / "openssl.cnf"
    _write_conf(conf, provider_dir / MODULE_FILE, openssl.cwd / "missing-device")
    env = {"OPENSSL_CONF": str(conf)}
    assert "azihsm" in openssl("list", "-providers", env=env).text
    failed = openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-propquery",
        "?provider=azihsm",
        "-pkeyopt",
        "azihsm.masked_key:./ec.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
        env=env,
        ok=False,
    )
    assert "missing-device" in failed.stderr and "azihsm-device-dir" in failed.stderr
    assert not (openssl.cwd / "ec.bin").exists()
