"""Backend keys shared between cases, made the way the backend profile says.

How a key is made and named belongs to the backend (``keys`` in its profile, see
``harness.backends.KeyRecipes``): the azihsm provider's masked blob files made by
``genpkey -pkeyopt azihsm.*``, or objects in a PKCS#11 token made by an import tool. Each
xdist worker makes each kind of key once and keeps it; a case addresses it with the
profile's URI (for file keys, a relative URI to a copy in the case's own directory, as the
spec writes them). The commands run through the ``openssl`` fixture of the first case that
needs the key, as prerequisites: a key that cannot be made makes that case inconclusive,
with the full command line.

A key the profile does not declare (a curve, a size, a key type, generation at all) makes
the case *not applicable*, with the reason.

Software twins: imported keys come from pyca private keys kept here, so every check can use
the true public half; generated keys have no twin and carry the public half the backend
exports (``pkey -pubout -outform DER``), which their signatures then confirm.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from azihsm_conformance.conformance import commands, oracle
from azihsm_conformance.conformance.commands import PublicURI
from azihsm_conformance.fixtures import ROOT as FIXTURES_ROOT
from azihsm_conformance.harness.backends import KeyRecipes, fill, key_id
from azihsm_conformance.harness.markers import PROV, NotApplicable

CURVES = ("P-256", "P-384", "P-521")
RSA_SIZES = (2048, 3072, 4096)
DIGESTS = ("sha1", "sha256", "sha384", "sha512")
EC_USAGES = ("digitalSignature", "keyAgreement")
RSA_USAGES = ("digitalSignature", "keyEncipherment")
# the URI type of each -algorithm, and back
URI_TYPE = {"EC": "ec", "RSA": "rsa", "RSA-PSS": "rsa-pss"}
ALGORITHM = {value: key for key, value in URI_TYPE.items()}
CURVE_NAMES = {"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}


# a second simulated device is a second device directory (capability second-device)
DEVICE_DIR_VARIABLE = "AZIHSM_DEVICE_DIR"


def genpkey_args(
    algorithm: str,
    *,
    masked_key: str | None,
    group: str | None = None,
    bits: int | None = None,
    usage: str | None = None,
    session: str | None = None,
    input_key: str | None = None,
    wrapped_key: str | None = None,
    key_kind: str | None = None,
    group_option: str = "group",
    outform: str = "DER",
    out: str = "/dev/null",
) -> list:
    """The spec's genpkey command line (generation, or import with INPUT_KEY or, revision
    2026-08, WRAPPED_KEY, with an RSA KEY_KIND)."""
    options = {
        group_option: group or None,
        "rsa_keygen_bits": bits or None,
        "azihsm.input_key": input_key or None,
        "azihsm.wrapped_key": wrapped_key or None,
        "azihsm.key_kind": key_kind or None,
        "azihsm.key_usage": usage or None,
        "azihsm.session": session,
        "azihsm.masked_key": masked_key or None,
    }
    return [
        "genpkey",
        PROV,
        "-algorithm",
        algorithm,
        *commands.options_args("-pkeyopt", options),
        "-outform",
        outform,
        "-out",
        out,
    ]


def export_public_der(
    openssl, uri: str, out: str = "pub.der", *, prerequisite: bool = False, prove: bool = False
) -> bytes:
    """The key's SubjectPublicKeyInfo as the backend exports it (DER works upstream too)."""
    openssl("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER", "-out", out, prerequisite=prerequisite, prove=prove)
    return (openssl.cwd / out).read_bytes()


@dataclass
class HsmKey:
    """A key made by the backend, with what the suite knows about it."""

    name: str  # file-name friendly, e.g. "ec-P-384-keyAgreement-gen"
    recipes: KeyRecipes = field(repr=False)
    values: dict = field(repr=False)  # the profile's placeholder values
    blob: Path | None  # the worker's master copy (file keys)
    type: str  # ec | rsa | rsa-pss
    usage: str
    curve: str | None = None
    bits: int = 0
    public_der: bytes = b""
    private: object | None = field(default=None, repr=False)  # pyca twin (imported keys)

    @property
    def public(self):
        return oracle.load_public(self.public_der)

    def copy_to(self, directory: Path, filename: str | None = None) -> Path:
        """The key's file in DIRECTORY (masked-blob clauses only: other keys are not files)."""
        if self.blob is None:
            raise NotApplicable(
                f"the backend's keys are not files ({self.recipes.source}): nothing to copy or tamper with"
            )
        target = Path(directory) / (filename or f"{self.name}.bin")
        if not target.exists():
            shutil.copyfile(self.blob, target)
        return target

    def uri(self, directory: Path, *, type: str | None = None, filename: str | None = None) -> str:
        """How a case names the key: for file keys a relative URI to a copy in DIRECTORY."""
        path = f"./{self.copy_to(directory, filename).name}" if self.blob is not None else ""
        return fill(
            self.recipes.uri,
            {**self.values, "path": path, "type": type or self.type, "name": self.name},
            f"key URI of {self.recipes.source}",
        )

    def public_uri(self, directory: Path) -> str:
        """How a case names the key for verification and encryption: the public half's own
        URI where the backend has one, else the key's URI."""
        if not self.recipes.public_uri:
            return self.uri(directory)
        return PublicURI(
            fill(
                self.recipes.public_uri,
                {**self.values, "path": "", "type": self.type, "name": self.name},
                f"public key URI of {self.recipes.source}",
            )
        )

    def absolute_uri(self) -> str:
        """The key's URI wherever the command runs (the worker's master copy for file keys)."""
        path = str(self.blob) if self.blob is not None else ""
        return fill(
            self.recipes.uri,
            {**self.values, "path": path, "type": self.type, "name": self.name},
            f"key URI of {self.recipes.source}",
        )


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
    """The worker's keys (session scope): a directory and what is in it."""

    def __init__(self, directory: Path, software: SoftwareKeys) -> None:
        self.directory = directory
        self.software = software
        self.keys: dict[str, HsmKey] = {}
        self.secrets: dict[str, MaskedSecret] = {}


class KeyMaker:
    """The ``keys`` fixture: gets a shared key, making it with this case's ``openssl``."""

    def __init__(self, openssl, ring: KeyRing, backend, values: dict) -> None:
        self.openssl = openssl
        self.ring = ring
        self.software = ring.software
        self.backend = backend
        self.values = values
        if backend.keys is None:
            raise NotApplicable(f"backend {backend.name} declares no way to make keys (no 'keys' in its profile)")
        self.recipes: KeyRecipes = backend.keys

    # -- what the profile declares ---------------------------------------------------------

    def _require(self, key_type: str, *, curve: str | None = None, bits: int | None = None, usage: str = "") -> None:
        recipes, name = self.recipes, self.backend.name
        if key_type not in recipes.types:
            raise NotApplicable(f"backend {name} declares no {key_type} keys")
        if curve is not None and curve not in recipes.curves:
            raise NotApplicable(f"backend {name} declares no {curve} keys (it has {', '.join(recipes.curves)})")
        if bits is not None and bits not in recipes.rsa_sizes:
            raise NotApplicable(
                f"backend {name} declares no {bits}-bit RSA keys (it has {', '.join(map(str, recipes.rsa_sizes))})"
            )
        if usage and usage not in recipes.usage:
            raise NotApplicable(f"backend {name} declares no keys with usage {usage}")

    def _run(self, steps, values: dict) -> None:
        where = f"key recipe of {self.recipes.source}"
        for step in steps:
            if step[0] == "openssl":
                self.openssl(
                    *[PROV if arg == "{PROV}" else fill(arg, values, where) for arg in step[1:]], prerequisite=True
                )
            else:
                self.openssl.tool([fill(arg, values, where) for arg in step])

    def _values(self, name: str, key_type: str, usage: str, **extra) -> dict:
        return {
            **self.values,
            "name": name,
            "id": key_id(name),
            "type": key_type,
            "algorithm": ALGORITHM[key_type],
            "usage": self.recipes.usage.get(usage, usage),
            "blob": str(self.ring.directory / f"{name}.bin"),
            "curve": "",
            "curve_name": "",
            "bits": "",
            "pkcs8": "",
            **extra,
        }

    def _cached(self, name: str, make) -> HsmKey:
        if name not in self.ring.keys:
            self.ring.keys[name] = make()
        return self.ring.keys[name]

    def _key(self, name: str, values: dict, **fields) -> HsmKey:
        blob = Path(values["blob"]) if self.recipes.files else None
        return HsmKey(name, self.recipes, self.values, blob, **fields)

    # -- keys -------------------------------------------------------------------------------

    def ec(self, curve: str, usage: str = "digitalSignature") -> HsmKey:
        """An EC key of the backend: generated where the profile can generate, else imported."""
        if self.recipes.can_generate("ec"):
            return self.generated_ec(curve, usage)
        return self.imported_ec(curve, usage)

    def generated_ec(self, curve: str, usage: str = "digitalSignature") -> HsmKey:
        self._require("ec", curve=curve, usage=usage)
        if not self.recipes.can_generate("ec"):
            raise NotApplicable(f"backend {self.backend.name} declares no way to generate EC keys")
        name = f"ec-{curve}-{usage}-gen"

        def make() -> HsmKey:
            values = self._values(name, "ec", usage, curve=curve, curve_name=CURVE_NAMES[curve])
            self._run(self.recipes.generate["ec"], values)
            key = self._key(name, values, type="ec", usage=usage, curve=curve, bits=int(curve[2:]))
            key.public_der = export_public_der(self.openssl, key.absolute_uri(), f"{name}.pub.der", prerequisite=True)
            oracle.assert_curve(key.public_der, curve)
            return key

        return self._cached(name, make)

    def imported_ec(self, curve: str, usage: str = "digitalSignature", index: int = 0) -> HsmKey:
        self._require("ec", curve=curve, usage=usage)
        return self.imported(f"ec-{curve}-{usage}-import{index}", self.software.ec(curve, index), "EC", usage)

    def imported_rsa(
        self, bits: int, usage: str = "digitalSignature", algorithm: str = "RSA", index: int = 0
    ) -> HsmKey:
        self._require(URI_TYPE[algorithm], bits=bits, usage=usage)
        return self.imported(
            f"{algorithm.lower()}-{bits}-{usage}-import{index}", self.software.rsa(bits, index), algorithm, usage
        )

    def imported(self, name: str, private, algorithm: str, usage: str = "digitalSignature") -> HsmKey:
        """Any pyca private key (e.g. a Wycheproof vector's), imported once under NAME."""
        key_type = URI_TYPE[algorithm]
        if algorithm == "EC":
            curve = oracle.CURVE_BY_NAME[private.curve.name]
            self._require(key_type, curve=curve, usage=usage)
            size, described = (
                {"curve": curve, "curve_name": CURVE_NAMES[curve]},
                {"curve": curve, "bits": int(curve[2:])},
            )
        else:
            self._require(key_type, bits=private.key_size, usage=usage)
            size, described = {"bits": private.key_size}, {"bits": private.key_size}
        if not self.recipes.can_import(key_type):
            raise NotApplicable(f"backend {self.backend.name} declares no way to import {key_type} keys")

        def make() -> HsmKey:
            source = self.ring.directory / f"{name}.p8.der"
            source.write_bytes(oracle.private_der(private, "pkcs8"))
            values = self._values(name, key_type, usage, pkcs8=str(source), **size)
            self._run(self.recipes.imports[key_type], values)
            return self._key(
                name,
                values,
                type=key_type,
                usage=usage,
                public_der=oracle.spki_der(private),
                private=private,
                **described,
            )

        return self._cached(name, make)

    def for_algorithm(self, kind: str, param, usage: str = "digitalSignature") -> HsmKey:
        """kind 'ec' (param = curve), 'rsa' / 'rsa-pss' (param = bits, imported)."""
        if kind == "ec":
            return self.ec(param, usage)
        return self.imported_rsa(param, usage, "RSA-PSS" if kind == "rsa-pss" else "RSA")

    # ------------------------------------------------------------- masked secrets

    def shared_secret(self, curve: str = "P-256") -> MaskedSecret:
        """An ECDH masked secret (imported keyAgreement key, pyca peer) and its true value."""
        name = f"ecdh-{curve}-secret"
        if name not in self.ring.secrets:
            key = self.imported_ec(curve, "keyAgreement")
            peer = self.software.ec(curve, 1)
            directory = self.ring.directory
            peer_file = commands.write_peer(directory, peer.public_key(), "pem", f"{name}-peer")
            blob = directory / f"{name}.bin"
            self.openssl(
                *commands.derive_args(key.absolute_uri(), str(directory / peer_file), output_file=str(blob)),
                prerequisite=True,
            )
            self.ring.secrets[name] = MaskedSecret(
                name, blob, oracle.ecdh_shared_secret(key.private, peer.public_key())
            )
        return self.ring.secrets[name]

    def derived_key(
        self, digest: str, key_type: str = "hmac", bits: int | None = None, curve: str = "P-256"
    ) -> MaskedSecret:
        """An HKDF-derived masked key (no salt, no info) from shared_secret(CURVE), and its true value."""
        bits = bits or oracle.digest_size(digest) * 8
        name = f"hkdf-{curve}-{digest}-{key_type}-{bits}"
        if name not in self.ring.secrets:
            secret = self.shared_secret(curve)
            blob = self.ring.directory / f"{name}.bin"
            self.openssl(
                *commands.hkdf_args(
                    str(secret.blob), digest=digest.upper(), key_type=key_type, bits=bits, output_file=str(blob)
                ),
                prerequisite=True,
            )
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
