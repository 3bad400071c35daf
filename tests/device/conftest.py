"""Fixtures for the reference device tests: a fresh device directory per test, one shared
device per test session for the (slower) key tests, and software keys to import."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from azihsm_conformance.reference.device import Device

KEYS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "keys"


@pytest.fixture
def device_dir(tmp_path):
    """An empty directory for a brand-new device."""
    path = tmp_path / "device"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def device(tmp_path_factory):
    """One provisioned device shared by the whole test session (provisioning costs RSA-2048)."""
    return Device.open(tmp_path_factory.mktemp("shared-device"))


@pytest.fixture(scope="session")
def other_device(tmp_path_factory):
    return Device.open(tmp_path_factory.mktemp("other-device"))


@pytest.fixture
def session(device):
    sess = device.open_session()
    yield sess
    sess.close()


@pytest.fixture(scope="session")
def rsa_keys():
    """pyca RSA private keys by size, from fixtures/keys (generating RSA-4096 takes seconds)."""
    return {
        bits: serialization.load_der_private_key(
            (KEYS_DIR / f"rsa-{bits}.pkcs8.der").read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
        )  # known-good fixtures; the check is slow
        for bits in (2048, 3072, 4096)
    }


@pytest.fixture(scope="session")
def ec_keys():
    """pyca EC private keys by curve name, for import tests."""
    return {
        "P-256": ec.generate_private_key(ec.SECP256R1()),
        "P-384": ec.generate_private_key(ec.SECP384R1()),
        "P-521": ec.generate_private_key(ec.SECP521R1()),
    }
