"""Just enough DER for RSA private keys that pyca cannot load: those without CRT components.

A PKCS#1 ``RSAPrivateKey`` made from n, e and d alone carries zeros for p, q, dP, dQ and
qInv; the real HSM imports such a key only in its plain ``RSA`` form. pyca refuses to
parse it, so this module reads it (bare PKCS#1 or inside PKCS#8) and wraps a PKCS#1 key
into PKCS#8 for the import transport.
"""

from __future__ import annotations

RSA_ENCRYPTION = bytes.fromhex("06092a864886f70d010101")  # OID 1.2.840.113549.1.1.1
RSASSA_PSS = bytes.fromhex("06092a864886f70d01010a")  # OID 1.2.840.113549.1.1.10
_SEQUENCE, _INTEGER, _OCTET_STRING, _NULL = 0x30, 0x02, 0x04, 0x05


def _read(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """(tag, contents, next offset) of the DER element at OFFSET; ValueError if malformed."""
    if offset + 2 > len(data):
        raise ValueError("truncated")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or offset + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated")
    return tag, data[offset : offset + length], offset + length


def _items(contents: bytes) -> list[tuple[int, bytes]]:
    items, offset = [], 0
    while offset < len(contents):
        tag, value, offset = _read(contents, offset)
        items.append((tag, value))
    return items


def _whole(data: bytes, tag: int) -> bytes:
    found, contents, end = _read(data, 0)
    if found != tag or end != len(data):
        raise ValueError("unexpected element")
    return contents


def rsa_numbers_without_crt(der: bytes) -> tuple[int, int, int] | None:
    """(n, e, d) when DER is an RSA private key (PKCS#1, or PKCS#8 of rsaEncryption or
    RSASSA-PSS) whose CRT components are all zero; None for anything else."""
    try:
        items = _items(_whole(der, _SEQUENCE))
        if len(items) == 3 and items[1][0] == _SEQUENCE and items[2][0] == _OCTET_STRING:  # PKCS#8
            algorithm = items[1][1]
            if not (algorithm.startswith(RSA_ENCRYPTION) or algorithm.startswith(RSASSA_PSS)):
                return None
            items = _items(_whole(items[2][1], _SEQUENCE))
        if len(items) < 9 or any(tag != _INTEGER for tag, _ in items[:9]):
            return None
        version, n, e, d, *crt = (int.from_bytes(value, "big", signed=True) for _, value in items[:9])
    except ValueError:
        return None
    if version != 0 or n <= 0 or e <= 0 or d <= 0 or any(crt):
        return None
    return n, e, d


def _tlv(tag: int, contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return bytes([tag, length]) + contents
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + contents


def pkcs8_of_pkcs1(pkcs1: bytes) -> bytes:
    """PKCS#8 PrivateKeyInfo around a PKCS#1 RSAPrivateKey (rsaEncryption); PKCS#8 input
    is returned as it is."""
    items = _items(_whole(pkcs1, _SEQUENCE))
    if len(items) == 3 and items[2][0] == _OCTET_STRING:
        return pkcs1
    algorithm = _tlv(_SEQUENCE, RSA_ENCRYPTION + bytes([_NULL, 0]))
    return _tlv(_SEQUENCE, _tlv(_INTEGER, b"\x00") + algorithm + _tlv(_OCTET_STRING, pkcs1))
