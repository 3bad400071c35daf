"""ENCODERs for azihsm keys: SubjectPublicKeyInfo (DER, PEM), a text form, and for the
private-key selection an output that carries no key material.

The private half never leaves the HSM, so the ``PrivateKeyInfo`` encoders (what
``genpkey -out`` and ``-outform DER`` ask for) write the public key instead: PEM as a
``PUBLIC KEY`` block, DER as SubjectPublicKeyInfo. The documented idiom
``genpkey ... -outform DER -out /dev/null`` therefore succeeds, and ``genpkey -out
key.pem`` leaves the public key, usable for verification anywhere.
"""

from __future__ import annotations

import base64

from . import files, runtime
from .errors import BridgeError, BridgeReason
from .keymgmt import KeyData

ENCRYPTED_EXPORT = (
    "the private half of an azihsm key cannot be exported, encrypted or not: it never "
    "leaves the HSM; drop the cipher option (e.g. -aes256) to write the public key, "
    "or keep the masked key file"
)


def encode(form: str, keydata: KeyData, selection: int, encrypt: bool = False) -> bytes:
    keydata.require_key()
    if encrypt and selection & runtime.lib.OSSL_KEYMGMT_SELECT_PRIVATE_KEY:
        raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION, ENCRYPTED_EXPORT)
    if form == "text":
        return text(keydata).encode()
    if not selection & (runtime.lib.OSSL_KEYMGMT_SELECT_PUBLIC_KEY | runtime.lib.OSSL_KEYMGMT_SELECT_PRIVATE_KEY):
        raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION, f"the {form} encoder writes keys, not parameters alone")
    if form.startswith("der-"):
        return spki(keydata)
    if form.startswith("pem-"):
        return pem("PUBLIC KEY", spki(keydata))
    raise BridgeError(BridgeReason.INTERNAL_ERROR, f"unknown encoder form {form!r}")


RSASSA_PSS_OID = "1.2.840.113549.1.1.10"


def spki(keydata: KeyData) -> bytes:
    """The key's SubjectPublicKeyInfo. An RSA-PSS key carries the id-RSASSA-PSS algorithm
    (no parameters: unrestricted), as OpenSSL writes it; with rsaEncryption a certificate
    made from the key would not match it (libssl: "key does not match the certificate")."""
    der = keydata.require_key().public_der
    if keydata.alg != "RSA-PSS":
        return der
    from . import der as asn1

    body = _skip_header(der)  # SEQUENCE { AlgorithmIdentifier, BIT STRING }
    algorithm_end = len(body) - len(_skip_header(body, whole=True))
    return asn1.sequence(asn1.sequence(asn1.oid(RSASSA_PSS_OID)), body[algorithm_end:])


def _skip_header(tlv: bytes, whole: bool = False) -> bytes:
    """The contents of the first DER element (or, with ``whole``, what follows it)."""
    length = tlv[1]
    start = 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(tlv[2 : 2 + count], "big")
        start = 2 + count
    return tlv[start + length :] if whole else tlv[start : start + length]


def pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n".encode() + b"\n".join(lines) + f"\n-----END {label}-----\n".encode()


def text(keydata: KeyData) -> str:
    """Same field names and layout as the real provider's text form, with the key's real
    usage and session flag."""
    key = keydata.require_key()
    rows = [("provider", "azihsm"), ("algorithm", keydata.alg)]
    if key.kind == "ec":
        rows.append(("curve", key.curve.replace("-", "")))
    else:
        rows.append(("public-key bit length", str(key.bits)))
        if key.rsa_form:
            rows.append(("key kind", key.rsa_form))  # RSA-CRT or RSA (revision 2026-08)
    rows.append(("session", "yes" if key.session_key else "no"))
    if keydata.masked_path:
        rows.append(("masked-key file", files.shown(keydata.masked_path)))
    rows.append(("key usage", key.usage or "any public operation"))
    rows.append(("private key", "held in the HSM, not exportable" if key.has_private else "none (public key only)"))
    body = "".join(f"{name:<21}: {value}\n" for name, value in rows)
    return "\n==== Key Generation Details ====\n" + body + pem("PUBLIC KEY", spki(keydata)).decode()
