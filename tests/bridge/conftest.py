"""Fixtures for the provider bridge tests: the real ``openssl`` against the built module.

The module is built once per session and mode (``provider_dir``): every test runs against
the server-mode module (the device server) and the in-process one. Each test runs in its own
working directory (``tmp_path``); the device directory is shared per session so keys
made once (``ec_key``, ``rsa_key``) can be reused, and tests that need another device
make one with ``new_device``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bridge_helpers import PROV, OpenSSL, RsaKey

FIXED_KEYS = Path(__file__).resolve().parents[2] / "fixtures" / "keys"


@pytest.fixture(scope="session", params=["server", "in-process"])
def provider_mode(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def provider_dir(provider_mode) -> Path:
    from azihsm_conformance.reference.bridge.build import provider_dir as build

    return build(provider_mode)


@pytest.fixture(scope="session")
def device_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("device")


@pytest.fixture
def new_device(tmp_path_factory):
    """Another, empty device directory (a different simulated HSM)."""
    return lambda: tmp_path_factory.mktemp("other-device")


@pytest.fixture
def openssl(provider_dir, device_dir, tmp_path) -> OpenSSL:
    return OpenSSL(provider_dir, tmp_path, device_dir)


@pytest.fixture(scope="session")
def session_openssl(provider_dir, device_dir, tmp_path_factory) -> OpenSSL:
    return OpenSSL(provider_dir, tmp_path_factory.mktemp("keys"), device_dir)


def _ec_key_maker(openssl: OpenSSL, usage: str, prefix: str):
    """curve -> absolute path of a masked EC key of USAGE (``PREFIX_p384.bin``), made once."""
    made: dict[str, Path] = {}

    def get(curve: str) -> Path:
        if curve not in made:
            name = f"{prefix}_{curve.replace('-', '').lower()}.bin"
            openssl(
                "genpkey",
                PROV,
                "-algorithm",
                "EC",
                "-pkeyopt",
                f"group:{curve}",
                "-pkeyopt",
                f"azihsm.key_usage:{usage}",
                "-pkeyopt",
                f"azihsm.masked_key:./{name}",
                "-outform",
                "DER",
                "-out",
                "/dev/null",
            )
            made[curve] = openssl.cwd / name
        return made[curve]

    return get


@pytest.fixture(scope="session")
def ec_key(session_openssl):
    """curve -> absolute path of a masked digitalSignature EC key made by genpkey."""
    return _ec_key_maker(session_openssl, "digitalSignature", "ec")


@pytest.fixture(scope="session")
def rsa_key(session_openssl) -> RsaKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = session_openssl.cwd / "external_rsa.der"
    der.write_bytes(
        private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    blobs = {}
    for algorithm, name in (("RSA", "rsa_2048_sign.bin"), ("RSA-PSS", "rsa_pss_2048.bin")):
        session_openssl(
            "genpkey",
            PROV,
            "-algorithm",
            algorithm,
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-pkeyopt",
            f"azihsm.input_key:{der}",
            "-pkeyopt",
            f"azihsm.masked_key:./{name}",
            "-outform",
            "DER",
            "-out",
            "/dev/null",
        )
        blobs[algorithm] = session_openssl.cwd / name
    return RsaKey(private, der, blobs["RSA"], blobs["RSA-PSS"])


@pytest.fixture(scope="session")
def enc_key(session_openssl):
    """bits -> (absolute path of a masked keyEncipherment RSA key, the pyca private key),
    imported from the fixed test keys in fixtures/keys/."""
    from cryptography.hazmat.primitives import serialization

    made: dict[int, tuple[Path, object]] = {}

    def get(bits: int = 2048):
        if bits not in made:
            der = FIXED_KEYS / f"rsa-{bits}.pkcs8.der"
            name = f"rsa_{bits}_enc.bin"
            session_openssl(
                "genpkey",
                PROV,
                "-algorithm",
                "RSA",
                "-pkeyopt",
                f"rsa_keygen_bits:{bits}",
                "-pkeyopt",
                f"azihsm.input_key:{der}",
                "-pkeyopt",
                "azihsm.key_usage:keyEncipherment",
                "-pkeyopt",
                f"azihsm.masked_key:./{name}",
                "-outform",
                "DER",
                "-out",
                "/dev/null",
            )
            private = serialization.load_der_private_key(der.read_bytes(), None, unsafe_skip_rsa_key_validation=True)
            made[bits] = (session_openssl.cwd / name, private)
        return made[bits]

    return get


@pytest.fixture(scope="session")
def ecdh_key(session_openssl):
    """curve -> absolute path of a masked keyAgreement EC key made by genpkey."""
    return _ec_key_maker(session_openssl, "keyAgreement", "ecdh")
