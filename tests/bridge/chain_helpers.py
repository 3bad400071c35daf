"""Independent checks for the key-agreement chain: the software ECDH -> HKDF -> HMAC
computed from the peer's side, peers made with pyca, and in-process access to the same
device directory to inspect masked outputs (kind, size, digest)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from bridge_helpers import PROV, OpenSSL, load_public

PYCA_CURVES = {"P-256": "SECP256R1", "P-384": "SECP384R1", "P-521": "SECP521R1"}
DIGEST_BITS = {"SHA256": 256, "SHA384": 384, "SHA512": 512}


def pyca_hash(name: str):
    from cryptography.hazmat.primitives import hashes

    name = name.upper().replace("-", "")  # SHA2-384, sha-384, SHA384 -> SHA2384/SHA384
    name = {"SHA2256": "SHA256", "SHA2384": "SHA384", "SHA2512": "SHA512"}.get(name, name)
    return {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}[name]()


def make_peer(curve: str, workdir: Path, name: str = "peer"):
    """A software peer key on ``curve``; writes ``<name>_pub.pem``. Returns the private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(getattr(ec, PYCA_CURVES[curve])())
    (workdir / f"{name}_pub.pem").write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private


def hsm_public_key(openssl: OpenSSL, uri: str):
    """The public half of an azihsm key, exported by the provider (DER SPKI)."""
    result = openssl("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER")
    return load_public(result.stdout)


def software_chain(peer_private, hsm_public, digest: str, salt: bytes, info: bytes, data: bytes) -> bytes:
    """ECDH(peer private, HSM public) -> HKDF(digest, salt, info, digest size) -> HMAC."""
    from cryptography.hazmat.primitives import hmac
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    shared = peer_private.exchange(ec.ECDH(), hsm_public)
    length = DIGEST_BITS[digest] // 8
    key = HKDF(pyca_hash(digest), length, salt=salt or None, info=info).derive(shared)
    mac = hmac.HMAC(key, pyca_hash(digest))
    mac.update(data)
    return mac.finalize()


@contextlib.contextmanager
def device_session(device_dir: Path):
    """A session on the same simulated device the provider uses (to inspect blobs)."""
    from azihsm_conformance.reference.device import Device

    with Device.open(device_dir).open_session() as session:
        yield session
