"""HSM keys shared between cases, and the command lines that make them.

Making a key costs one or two ``openssl`` processes, so each worker makes each kind of key
once (generated EC keys per curve and usage, imported RSA keys per size, usage and
algorithm...) and keeps its masked blob in a per-worker directory; a case gets a copy in
its own working directory and addresses it with a spec-style URI (``azihsm://./k.bin;type=ec``).
The commands run through the ``openssl`` fixture of the first case that needs the key, so
a key that cannot be made fails that case with the full command line.

Software twins: imported keys come from pyca private keys kept here, so every check can
use the true public half; generated keys have no twin and carry the public half the
backend exports (``pkey -pubout -outform DER``), which their signatures then confirm.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conformance import commands, oracle
from fixtures import ROOT as FIXTURES_ROOT
from harness.pytest_plugin import PROV

CURVES = ("P-256", "P-384", "P-521")
RSA_SIZES = (2048, 3072, 4096)
DIGESTS = ("sha1", "sha256", "sha384", "sha512")
EC_USAGES = ("digitalSignature", "keyAgreement")
RSA_USAGES = ("digitalSignature", "keyEncipherment")
# the URI type of each -algorithm
URI_TYPE = {"EC": "ec", "RSA": "rsa", "RSA-PSS": "rsa-pss"}


def genpkey_args(algorithm: str, *, masked_key: str | None, group: str | None = None, bits: int | None = None,
                 usage: str | None = None, session: str | None = None, input_key: str | None = None,
                 group_option: str = "group") -> list:
    """The spec's genpkey command line (generation, or import with INPUT_KEY)."""
    options = {
        group_option: group or None,
        "rsa_keygen_bits": bits or None,
        "azihsm.input_key": input_key or None,
        "azihsm.key_usage": usage or None,
        "azihsm.session": session,
        "azihsm.masked_key": masked_key or None,
    }
    return ["genpkey", PROV, "-algorithm", algorithm, *commands.options_args("-pkeyopt", options),
            "-outform", "DER", "-out", "/dev/null"]


def export_public_der(openssl, uri: str, out: str = "pub.der") -> bytes:
    """The key's SubjectPublicKeyInfo as the backend exports it (DER works upstream too)."""
    openssl("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER", "-out", out)
    return (openssl.cwd / out).read_bytes()


@dataclass
class HsmKey:
    """A masked key made by the backend, with what the suite knows about it."""

    name: str  # file-name friendly, e.g. "ec-P-384-keyAgreement-gen"
    blob: Path  # the worker's master copy
    type: str  # URI type: ec | rsa | rsa-pss
    usage: str
    curve: str | None = None
    bits: int = 0
    public_der: bytes = b""
    private: object | None = field(default=None, repr=False)  # pyca twin (imported keys)

    @property
    def public(self):
        return oracle.load_public(self.public_der)

    def copy_to(self, directory: Path, filename: str | None = None) -> Path:
        target = Path(directory) / (filename or f"{self.name}.bin")
        if not target.exists():
            shutil.copyfile(self.blob, target)
        return target

    def uri(self, directory: Path, *, type: str | None = None, filename: str | None = None) -> str:
        """A relative spec-style URI to a copy of the blob in DIRECTORY (the case's workdir)."""
        path = self.copy_to(directory, filename)
        return f"azihsm://./{path.name};type={type or self.type}"


class SoftwareKeys:
    """pyca private keys for import: the fixed RSA keys of fixtures/keys, and fresh keys.

    ``rsa(bits)`` is the fixed key; ``rsa(bits, 1)`` (and up) a freshly generated other key
    of the same size (wrong-key cases); EC keys are always generated (cheap).
    """

    def __init__(self) -> None:
        self._keys: dict[tuple, object] = {}

    def rsa(self, bits: int, index: int = 0) -> rsa.RSAPrivateKey:
        key = ("rsa", bits, index)
        if key not in self._keys:
            fixed = FIXTURES_ROOT / "keys" / f"rsa-{bits}.pkcs8.der"
            if index == 0 and fixed.is_file():
                self._keys[key] = serialization.load_der_private_key(fixed.read_bytes(), password=None)
            else:
                self._keys[key] = rsa.generate_private_key(65537, bits)
        return self._keys[key]

    def ec(self, curve: str, index: int = 0) -> ec.EllipticCurvePrivateKey:
        key = ("ec", curve, index)
        if key not in self._keys:
            self._keys[key] = ec.generate_private_key(oracle.CURVES[curve]())
        return self._keys[key]


class KeyRing:
    """The worker's masked keys (session scope): a directory and what is in it."""

    def __init__(self, directory: Path, software: SoftwareKeys) -> None:
        self.directory = directory
        self.software = software
        self.keys: dict[str, HsmKey] = {}
        self.secrets: dict[str, MaskedSecret] = {}


class KeyMaker:
    """The ``keys`` fixture: gets a shared key, making it with this case's ``openssl``."""

    def __init__(self, openssl, ring: KeyRing) -> None:
        self.openssl = openssl
        self.ring = ring
        self.software = ring.software

    def _cached(self, name: str, make) -> HsmKey:
        if name not in self.ring.keys:
            self.ring.keys[name] = make(self.ring.directory / f"{name}.bin")
        return self.ring.keys[name]

    def generated_ec(self, curve: str, usage: str = "digitalSignature") -> HsmKey:
        name = f"ec-{curve}-{usage}-gen"

        def make(blob: Path) -> HsmKey:
            self.openssl(*genpkey_args("EC", group=curve, usage=usage, masked_key=str(blob)))
            uri = f"azihsm://{blob};type=ec"
            public = export_public_der(self.openssl, uri, f"{name}.pub.der")
            oracle.assert_curve(public, curve)
            return HsmKey(name, blob, "ec", usage, curve=curve, bits=int(curve[2:]), public_der=public)

        return self._cached(name, make)

    def imported_ec(self, curve: str, usage: str = "digitalSignature", index: int = 0) -> HsmKey:
        return self.imported(f"ec-{curve}-{usage}-import{index}", self.software.ec(curve, index), "EC", usage)

    def imported_rsa(self, bits: int, usage: str = "digitalSignature", algorithm: str = "RSA", index: int = 0) -> HsmKey:
        return self.imported(f"{algorithm.lower()}-{bits}-{usage}-import{index}", self.software.rsa(bits, index), algorithm, usage)

    def imported(self, name: str, private, algorithm: str, usage: str = "digitalSignature") -> HsmKey:
        """Any pyca private key (e.g. a Wycheproof vector's), imported once under NAME."""
        if algorithm == "EC":
            curve = oracle.CURVE_BY_NAME[private.curve.name]
            size, described = {"group": curve}, {"curve": curve, "bits": int(curve[2:])}
        else:
            size, described = {"bits": private.key_size}, {"bits": private.key_size}

        def make(blob: Path) -> HsmKey:
            source = self.ring.directory / f"{name}.der"
            source.write_bytes(oracle.private_der(private, "pkcs8"))
            self.openssl(*genpkey_args(algorithm, usage=usage, input_key=str(source), masked_key=str(blob), **size))
            return HsmKey(name, blob, URI_TYPE[algorithm], usage, public_der=oracle.spki_der(private), private=private, **described)

        return self._cached(name, make)

    def for_algorithm(self, kind: str, param, usage: str = "digitalSignature") -> HsmKey:
        """kind 'ec' (param = curve, a generated key), 'rsa' / 'rsa-pss' (param = bits, imported)."""
        if kind == "ec":
            return self.generated_ec(param, usage)
        return self.imported_rsa(param, usage, "RSA-PSS" if kind == "rsa-pss" else "RSA")

    # ------------------------------------------------------------- masked secrets

    def shared_secret(self, curve: str = "P-256") -> "MaskedSecret":
        """An ECDH masked secret (imported keyAgreement key, pyca peer) and its true value."""
        name = f"ecdh-{curve}-secret"
        if name not in self.ring.secrets:
            key = self.imported_ec(curve, "keyAgreement")
            peer = self.software.ec(curve, 1)
            directory = self.ring.directory
            peer_file = commands.write_peer(directory, peer.public_key(), "pem", f"{name}-peer")
            blob = directory / f"{name}.bin"
            commands.derive(self.openssl, f"azihsm://{key.blob};type=ec", str(directory / peer_file), output_file=str(blob))
            self.ring.secrets[name] = MaskedSecret(name, blob, oracle.ecdh_shared_secret(key.private, peer.public_key()))
        return self.ring.secrets[name]

    def derived_key(self, digest: str, key_type: str = "hmac", bits: int | None = None, curve: str = "P-256") -> "MaskedSecret":
        """An HKDF-derived masked key (no salt, no info) from shared_secret(CURVE), and its true value."""
        bits = bits or oracle.digest_size(digest) * 8
        name = f"hkdf-{curve}-{digest}-{key_type}-{bits}"
        if name not in self.ring.secrets:
            secret = self.shared_secret(curve)
            blob = self.ring.directory / f"{name}.bin"
            commands.hkdf(self.openssl, str(secret.blob), digest=digest.upper(), key_type=key_type, bits=bits, output_file=str(blob))
            value = oracle.hkdf(secret.value, digest, bits // 8)
            self.ring.secrets[name] = MaskedSecret(name, blob, value)
        return self.ring.secrets[name]


@dataclass
class MaskedSecret:
    """A masked secret or symmetric key the backend wrote, and the value it must hold."""

    name: str
    blob: Path
    value: bytes = field(repr=False)

    def copy_to(self, directory: Path, filename: str | None = None) -> Path:
        target = Path(directory) / (filename or f"{self.name}.bin")
        if not target.exists():
            shutil.copyfile(self.blob, target)
        return target
