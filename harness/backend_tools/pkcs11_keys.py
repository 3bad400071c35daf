"""Import a private key into a PKCS#11 token with exactly the usage asked for.

    python -m azihsm_conformance.harness.backend_tools.pkcs11_keys --module LIB --token LABEL --pin PIN \
        --label NAME --id HEX --usage sign|derive|decrypt KEY.p8.der

Why a tool of our own: ``pkcs11-tool --write-object`` sets only the usage attributes it is
given and SoftHSM defaults the others (CKA_SIGN, CKA_DECRYPT) to true, so a "derive only"
key would still sign. Usage clauses need keys that allow one operation and refuse the rest,
so every usage attribute is written explicitly, true or false. The key is imported as a
private object (sensitive, not extractable) and a public object with the same label and id,
which is how pkcs11-provider finds a key's public half. Uses python-pkcs11 (PyPI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

USAGES = {
    # the suite's usage -> (private key attributes, public key attributes) that are true
    "sign": ({"SIGN"}, {"VERIFY"}),
    "derive": ({"DERIVE"}, {"DERIVE"}),
    "decrypt": ({"DECRYPT", "UNWRAP"}, {"ENCRYPT", "WRAP"}),
}
PRIVATE_FLAGS = ("SIGN", "DERIVE", "DECRYPT", "UNWRAP", "SIGN_RECOVER")
PUBLIC_FLAGS = ("VERIFY", "DERIVE", "ENCRYPT", "WRAP", "VERIFY_RECOVER")


def _attributes(key_der: bytes):
    """(common, private-only, public-only) attribute dicts for the key in KEY_DER."""
    from asn1crypto.core import OctetString
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    private = serialization.load_der_private_key(key_der, password=None)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        oids = {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34", "secp521r1": "1.3.132.0.35"}
        if private.curve.name not in oids:
            raise ValueError(f"curve {private.curve.name} is not one this tool imports")
        size = (private.curve.key_size + 7) // 8
        point = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        common = {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: encode_named_curve_parameters(oids[private.curve.name]),
        }
        return (
            common,
            {Attribute.VALUE: private.private_numbers().private_value.to_bytes(size, "big")},
            {Attribute.EC_POINT: OctetString(point).dump()},
        )
    if isinstance(private, rsa.RSAPrivateKey):
        numbers = private.private_numbers()

        def big(value: int) -> bytes:
            return value.to_bytes((value.bit_length() + 7) // 8, "big")

        public = {
            Attribute.MODULUS: big(numbers.public_numbers.n),
            Attribute.PUBLIC_EXPONENT: big(numbers.public_numbers.e),
        }
        secret = {
            Attribute.PRIVATE_EXPONENT: big(numbers.d),
            Attribute.PRIME_1: big(numbers.p),
            Attribute.PRIME_2: big(numbers.q),
            Attribute.EXPONENT_1: big(numbers.dmp1),
            Attribute.EXPONENT_2: big(numbers.dmq1),
            Attribute.COEFFICIENT: big(numbers.iqmp),
        }
        return {Attribute.KEY_TYPE: KeyType.RSA}, {**public, **secret}, public
    raise ValueError(f"{type(private).__name__} keys are not ones this tool imports")


def import_key(module: str, token: str, pin: str, label: str, key_id: bytes, usage: str, key_der: bytes) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    common, private_only, public_only = _attributes(key_der)
    allowed_private, allowed_public = USAGES[usage]
    named = {**common, Attribute.TOKEN: True, Attribute.LABEL: label, Attribute.ID: key_id}
    private = {
        **named,
        **private_only,
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        **{getattr(Attribute, flag): flag in allowed_private for flag in PRIVATE_FLAGS},
    }
    public = {
        **named,
        **public_only,
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        **{getattr(Attribute, flag): flag in allowed_public for flag in PUBLIC_FLAGS},
    }
    library = pkcs11.lib(module)
    with library.get_token(token_label=token).open(rw=True, user_pin=pin) as session:
        session.create_object(private)
        session.create_object(public)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pkcs11_keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", required=True, help="the token's PKCS#11 library")
    parser.add_argument("--token", required=True, help="token label")
    parser.add_argument("--pin", required=True, help="user PIN")
    parser.add_argument("--label", required=True, help="object label (the key's name in pkcs11: URIs)")
    parser.add_argument("--id", required=True, help="object id, hex")
    parser.add_argument("--usage", required=True, choices=sorted(USAGES))
    parser.add_argument("key", type=Path, help="the private key, DER (PKCS#8, SEC1 or PKCS#1)")
    args = parser.parse_args(argv)
    try:
        import_key(
            args.module, args.token, args.pin, args.label, bytes.fromhex(args.id), args.usage, args.key.read_bytes()
        )
    except ImportError as exc:
        print(
            f"pkcs11_keys: {exc.name} is not installed; install the project's pkcs11 extra (pip install -e '.[pkcs11]')",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # a PKCS#11 or key error: one line naming it, never a traceback
        print(f"pkcs11_keys: cannot import {args.key} as {args.label}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
