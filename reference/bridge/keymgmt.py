"""KEYMGMT ``EC``, ``RSA``, ``RSA-PSS``: generation/import into the device, key data.

A :class:`KeyData` wraps one device ``Key`` (or nothing yet, for ``new`` + ``import``).
Private halves never leave the device: import accepts public keys only (peer keys),
export hands out the public half only, and ``genpkey`` persists keys as masked blobs
(``azihsm.masked_key``), written atomically with mode 0600.
"""

from __future__ import annotations

from azihsm_conformance.reference.device.keys import CURVES, RSA_SIZES, find_curve, pyca_curve

from . import files, params, runtime
from .errors import BridgeError, BridgeReason
from .runtime import Instance, ProviderObject, lookup

# Curves and RSA sizes are the device's facts (reference/device/keys.py), imported from there.
USAGES = ("digitalSignature", "keyAgreement", "keyEncipherment", "keyWrapping")
WRAPPING_USAGE = "keyWrapping"  # genpkey exports the device's wrapping public key (revision 2026-08)
SESSION_VALUES = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
STORE_TYPES = {"EC": "ec", "RSA": "rsa", "RSA-PSS": "rsa-pss"}

RSA_IMPORT_REQUIRED = (
    "RSA keys cannot be generated inside the HSM: import one with "
    "-pkeyopt azihsm.input_key:/path/to/rsa_key.der (a DER PKCS#1 or PKCS#8 private key)"
)


def canonical_curve(name: str) -> str:
    curve = find_curve(name)
    if curve is None:
        raise BridgeError(BridgeReason.INVALID_PARAMETER, f"unsupported curve {name!r}: use P-256, P-384 or P-521")
    return curve


class KeyData(ProviderObject):
    """An azihsm key as OpenSSL holds it."""

    kind = "key"

    def __init__(
        self, instance: Instance, alg: str, key=None, masked_path: str | None = None, public_only: bool = False
    ):
        super().__init__(instance)
        self.alg = alg
        self.key = key
        self.masked_path = masked_path
        # A store asked for a public key: OpenSSL tells public from private keys by `has`.
        self.public_only = public_only
        self._public = None  # pyca public key, parsed on demand

    @property
    def has_private(self) -> bool:
        return self.key is not None and self.key.has_private and not self.public_only

    # -- what OpenSSL asks -----------------------------------------------------

    def has(self, selection: int) -> bool:
        if self.key is None:
            return selection == 0
        return not (selection & runtime.lib.OSSL_KEYMGMT_SELECT_PRIVATE_KEY and not self.has_private)

    def matches(self, other: KeyData, selection: int) -> bool:
        if self.key is None or other.key is None:
            return False
        if selection & runtime.lib.OSSL_KEYMGMT_SELECT_PRIVATE_KEY:
            if not (self.has_private and other.has_private):
                return False
        # Compare the numbers, not the DER: an RSA-PSS certificate's key comes back
        # through import as a plain RSA SPKI (SSL_CTX_check_private_key).
        return self.public_pyca().public_numbers() == other.public_pyca().public_numbers()

    def require_key(self):
        if self.key is None:
            raise BridgeError(BridgeReason.MISSING_KEY, f"the {self.alg} key object holds no key")
        return self.key

    def public_pyca(self):
        if self._public is None:
            from cryptography.hazmat.primitives.serialization import load_der_public_key

            self._public = load_der_public_key(self.require_key().public_der)
        return self._public

    @property
    def curve(self) -> str | None:
        return self.key.curve if self.key is not None else None

    def max_signature_size(self) -> int:
        key = self.require_key()
        if key.kind == "ec":
            order_bytes = (CURVES[key.curve].bits + 7) // 8
            body = 2 * (order_bytes + 3)  # two INTEGERs, each with a possible 0x00 pad
            return body + (2 if body < 128 else 3)
        return (key.bits + 7) // 8

    def security_bits(self) -> int:
        key = self.require_key()
        if key.kind == "ec":
            return CURVES[key.curve].security_bits
        for floor, strength in ((15360, 256), (7680, 192), (3072, 128), (2048, 112), (1024, 80)):
            if key.bits >= floor:
                return strength
        return 0

    def encoded_point(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return self.public_pyca().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def get_params(self, request) -> None:
        key = self.require_key()
        values = {
            "bits": key.bits,
            "security-bits": self.security_bits,
            "max-size": self.max_signature_size,
            "default-digest": CURVES[key.curve].digest.upper() if key.kind == "ec" else "SHA256",
        }
        if key.kind == "ec":
            values.update(
                {"group": CURVES[key.curve].group, "encoded-pub-key": self.encoded_point, "pub": self.encoded_point}
            )
        else:
            values.update(
                {"n": lambda: self.public_pyca().public_numbers().n, "e": lambda: self.public_pyca().public_numbers().e}
            )
        params.write(request, values)

    # -- public halves in and out ----------------------------------------------

    def import_public(self, selection: int, request) -> None:
        values = params.read(request)
        # EVP_PKEY_derive_set_peer exports a public peer with a selection that includes
        # the private bit: refuse private *material*, not the selection.
        if "priv" in values or "d" in values:
            raise BridgeError(
                BridgeReason.NOT_EXPORTABLE,
                "private keys cannot be imported into the azihsm provider through OpenSSL: "
                "import them with genpkey -pkeyopt azihsm.input_key:<file.der>",
            )
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        if self.alg == "EC":
            from cryptography.hazmat.primitives.asymmetric import ec

            group, point = values.get("group"), values.get("pub") or values.get("encoded-pub-key")
            if not group or not point:
                raise BridgeError(BridgeReason.INVALID_PARAMETER, "an EC public key needs the group and pub parameters")
            curve = canonical_curve(group)
            try:
                public = ec.EllipticCurvePublicKey.from_encoded_point(pyca_curve(curve), point)
            except ValueError:
                raise BridgeError(BridgeReason.INVALID_PARAMETER, f"the EC public point is not on {curve}") from None
        else:
            from cryptography.hazmat.primitives.asymmetric import rsa

            if not values.get("n") or not values.get("e"):
                raise BridgeError(BridgeReason.INVALID_PARAMETER, "an RSA public key needs the n and e parameters")
            public = rsa.RSAPublicNumbers(values["e"], values["n"]).public_key()
        spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        self.key = self.session.public_key(spki)
        self._public = public

    def export_public(self, selection: int, callback, cbarg) -> bool:
        if selection & runtime.lib.OSSL_KEYMGMT_SELECT_PRIVATE_KEY:
            raise BridgeError(
                BridgeReason.NOT_EXPORTABLE, f"the private half of an azihsm {self.alg} key never leaves the HSM"
            )
        self.require_key()
        if self.alg == "EC":
            items = [("group", CURVES[self.curve].group), ("pub", self.encoded_point())]
            unsigned = ()
        else:
            numbers = self.public_pyca().public_numbers()
            items, unsigned = [("n", numbers.n), ("e", numbers.e)], ("n", "e")
        built = params.Built(items, unsigned=unsigned)
        return bool(callback(built.array, cbarg))

    def share(self) -> KeyData:
        """Another key object for the same device key (keymgmt load, dup)."""
        return KeyData(self.instance, self.alg, self.key, self.masked_path, self.public_only)

    dup = share


def load_reference(alg: str, reference: bytes) -> KeyData:
    """keymgmt ``load``: the store passes the handle of the key it staged."""
    if len(reference) != 8:
        raise BridgeError(BridgeReason.INVALID_PARAMETER, "not an azihsm key reference")
    staged = lookup(int.from_bytes(reference, "little"), KeyData)
    if staged.alg != alg:
        raise BridgeError(BridgeReason.INVALID_PARAMETER, f"key reference holds an {staged.alg} key, not {alg}")
    return staged.share()


class KeyGen(ProviderObject):
    """``genpkey``: generate (EC) or import (EC, RSA, RSA-PSS) a key in the device."""

    kind = "key generation"

    def __init__(self, instance: Instance, alg: str):
        super().__init__(instance)
        self.alg = alg
        self.curve = "P-256"
        self.curve_given = False
        self.bits = 2048
        self.usage = "digitalSignature"
        self.session_key = False
        self.masked_key: str | None = None
        self.input_key: str | None = None
        self.wrapped_key: str | None = None
        self.key_kind: str | None = None

    def set_params(self, request) -> None:
        values = params.read(request)
        if self.alg == "EC" and "group" in values:
            self.curve = canonical_curve(str(values["group"]))
        if self.alg != "EC" and "bits" in values:
            if values["bits"] not in RSA_SIZES:
                raise BridgeError(
                    BridgeReason.INVALID_PARAMETER, f"unsupported RSA size {values['bits']}: use 2048, 3072 or 4096"
                )
            self.bits = values["bits"]
        if "azihsm.key_kind" in values:
            self.key_kind = str(values["azihsm.key_kind"])  # the device knows the forms and refuses others
        if "azihsm.key_usage" in values:
            if values["azihsm.key_usage"] not in USAGES:
                raise BridgeError(
                    BridgeReason.INVALID_PARAMETER,
                    f"unknown azihsm.key_usage {values['azihsm.key_usage']!r}: use " + ", ".join(USAGES),
                )
            self.usage = values["azihsm.key_usage"]
        if "azihsm.session" in values:
            value = values["azihsm.session"]
            if value not in SESSION_VALUES:
                raise BridgeError(
                    BridgeReason.INVALID_PARAMETER, f"azihsm.session must be true/false, yes/no or 1/0, not {value!r}"
                )
            self.session_key = SESSION_VALUES[value]
        for name in ("azihsm.masked_key", "azihsm.input_key", "azihsm.wrapped_key"):
            if name in values:
                if not values[name]:
                    raise BridgeError(BridgeReason.INVALID_PARAMETER, f"{name} needs a file path")
                setattr(self, name.split(".")[1], values[name])

    def generate(self) -> KeyData:
        if self.usage == WRAPPING_USAGE:
            return self._wrapping_key()
        if self.input_key is not None and self.wrapped_key is not None:
            raise BridgeError(
                BridgeReason.INVALID_PARAMETER,
                "give the key once: azihsm.input_key (a DER private key) or azihsm.wrapped_key (one wrapped for "
                "this device), not both",
            )
        declared = dict(
            algorithm=self.alg,
            usage=self.usage,
            session_key=self.session_key,
            curve=self.curve if self.alg == "EC" else None,
            bits=self.bits if self.alg != "EC" else None,
            key_kind=self.key_kind,
        )
        if self.input_key is not None:
            key = self.session.import_private_key(files.read_input(self.input_key, "azihsm.input_key"), **declared)
        elif self.wrapped_key is not None:
            key = self.session.import_wrapped(files.read_input(self.wrapped_key, "azihsm.wrapped_key"), **declared)
        elif self.alg == "EC":
            key = self.session.generate_ec(curve=self.curve, usage=self.usage, session_key=self.session_key)
        else:
            raise BridgeError(BridgeReason.MISSING_KEY, RSA_IMPORT_REQUIRED)
        if self.masked_key is not None:
            files.write_output(self.masked_key, self.session.mask(key), "masked key")
        return KeyData(self.instance, self.alg, key, self.masked_key)

    def _wrapping_key(self) -> KeyData:
        """keyWrapping: nothing is created; the key is the device's RSA-2048 unwrapping public
        key, which genpkey then writes as a SubjectPublicKeyInfo (what callers wrap for)."""
        if self.alg != "RSA":
            raise BridgeError(BridgeReason.INVALID_PARAMETER, "azihsm.key_usage keyWrapping is accepted for RSA only")
        if self.bits != 2048:
            raise BridgeError(
                BridgeReason.INVALID_PARAMETER,
                f"the device's wrapping key is RSA-2048; rsa_keygen_bits {self.bits} fails",
            )
        given = [name for name in ("masked_key", "input_key", "wrapped_key") if getattr(self, name) is not None]
        if given:
            raise BridgeError(
                BridgeReason.INVALID_PARAMETER,
                f"keyWrapping exports the device's wrapping public key and creates nothing: drop azihsm.{given[0]}",
            )
        public = self.session.public_key(self.session.device.unwrapping_public_der)
        return KeyData(self.instance, self.alg, public, None)
