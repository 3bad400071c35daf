"""The spec's command lines, written once for every module that needs them.

``*_args`` build a documented command line (with ``PROV`` where the provider flags go), so
a refusal case can hand the faulty and the control form to ``openssl.refuses``; the plain
helpers run one through the case's ``openssl`` fixture and return what it produced.
``prove=True`` also runs the command's isolated twin: the case's proof that the provider
under test performed it.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from azihsm_conformance.conformance import oracle
from azihsm_conformance.harness.markers import PROV

SUCCESS = {"stream": b"Verified OK", "oneshot": b"Signature Verified Successfully"}


class PublicURI(str):
    """A URI naming only a key's public half (a backend that keeps it apart, such as a
    PKCS#11 public object): pkeyutl needs ``-pubin`` to read it."""


def options_args(flag: str, options: dict[str, object] | None) -> list[str]:
    """``FLAG name:value`` pairs (e.g. ``-pkeyopt group:P-384``); options whose value is None
    are left out, so callers can pass every optional setting as it is."""
    return [arg for name, value in (options or {}).items() if value is not None for arg in (flag, f"{name}:{value}")]


def prehash(data: Path, digest: str) -> Path:
    """DATA's digest (computed by hashlib) in a file beside it: the one-shot input."""
    hashed = data.with_suffix(f".{digest}")
    hashed.write_bytes(oracle.digest(digest, data.read_bytes()))
    return hashed


def sign_args(
    uri: str,
    data: Path,
    digest: str,
    mode: str,
    options: dict[str, str] | None = None,
    *,
    digest_option: bool = False,
    out: str = "sig.bin",
) -> tuple:
    """mode 'stream': ``dgst -shaN -sign`` with OPTIONS as -sigopt; 'oneshot': ``pkeyutl -sign``
    over DATA's digest with OPTIONS as -pkeyopt (plus ``digest:shaN`` when DIGEST_OPTION)."""
    if mode == "stream":
        return ("dgst", f"-{digest}", PROV, *options_args("-sigopt", options), "-sign", uri, "-out", out, data)
    # the digest first: a provider may accept a PSS salt length only once it knows the digest
    options = {**({"digest": digest} if digest_option else {}), **(options or {})}
    return (
        "pkeyutl",
        "-sign",
        PROV,
        "-inkey",
        uri,
        *options_args("-pkeyopt", options),
        "-in",
        prehash(data, digest),
        "-out",
        out,
    )


def sign(
    openssl,
    uri: str,
    data: Path,
    digest: str,
    mode: str,
    options: dict[str, str] | None = None,
    *,
    digest_option: bool = False,
    out: str = "sig.bin",
    prove: bool = False,
    prerequisite: bool = False,
) -> bytes:
    openssl(
        *sign_args(uri, data, digest, mode, options, digest_option=digest_option, out=out),
        prove=prove,
        prerequisite=prerequisite,
    )
    return (openssl.cwd / out).read_bytes()


def _pubin(uri: str) -> tuple:
    return ("-pubin",) if isinstance(uri, PublicURI) else ()


def verify_args(
    uri: str,
    data: Path,
    signature_file: str,
    digest: str,
    mode: str,
    options: dict[str, str] | None = None,
    *,
    digest_option: bool = False,
) -> tuple:
    """``dgst -verify`` or ``pkeyutl -verify`` of SIGNATURE_FILE (in the case's directory);
    URI is the key's (or, a PublicURI, its public half's)."""
    if mode == "stream":
        return (
            "dgst",
            f"-{digest}",
            PROV,
            *options_args("-sigopt", options),
            "-verify",
            uri,
            "-signature",
            signature_file,
            data,
        )
    options = {**({"digest": digest} if digest_option else {}), **(options or {})}
    return (
        "pkeyutl",
        "-verify",
        PROV,
        *_pubin(uri),
        "-inkey",
        uri,
        *options_args("-pkeyopt", options),
        "-in",
        prehash(data, digest),
        "-sigfile",
        signature_file,
    )


def verify(
    openssl,
    uri: str,
    data: Path,
    signature: bytes,
    digest: str,
    mode: str,
    options: dict[str, str] | None = None,
    *,
    digest_option: bool = False,
    prove: bool = True,
    name: str = "check.sig",
):
    """Verify SIGNATURE; a pass must also print the success text. Proven by default."""
    (openssl.cwd / name).write_bytes(signature)
    result = openssl(*verify_args(uri, data, name, digest, mode, options, digest_option=digest_option), prove=prove)
    assert SUCCESS[mode] in result.stdout, f"verification exited 0 without printing {SUCCESS[mode].decode()!r}"
    return result


def verify_refused(
    openssl,
    uri: str,
    data: Path,
    good: bytes,
    bad: bytes,
    digest: str,
    mode: str,
    options: dict[str, str] | None = None,
    *,
    digest_option: bool = False,
    control_uri: str | None = None,
    control_data: Path | None = None,
    because: str = "verification",
):
    """The provider must refuse BAD (a signature, or a key/data change the caller made) while
    GOOD, the control, verifies: both checked in one case."""
    (openssl.cwd / "good.sig").write_bytes(good)
    (openssl.cwd / "bad.sig").write_bytes(bad)
    control = verify_args(
        control_uri or uri, control_data or data, "good.sig", digest, mode, options, digest_option=digest_option
    )
    faulty = verify_args(uri, data, "bad.sig", digest, mode, options, digest_option=digest_option)
    return openssl.refuses(*faulty, control=control, because=because)


def write_peer(directory: Path, public_key, form: str, name: str = "peer") -> str:
    """A peer public key file in FORM ('pem' or 'der'); returns its name."""
    encoding = serialization.Encoding.PEM if form == "pem" else serialization.Encoding.DER
    path = directory / f"{name}.{form}"
    path.write_bytes(public_key.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path.name


def derive_args(
    uri: str, peer: str, *, output_file: str | None = "secret.bin", peer_form: str | None = None, out: str | None = None
) -> tuple:
    """ECDH: ``pkeyutl -derive -inkey URI -peerkey PEER [-pkeyopt output_file:F] [-out OUT]``."""
    args = ["pkeyutl", "-derive", PROV, "-inkey", uri, "-peerkey", peer]
    if peer_form:
        args += ["-peerform", peer_form]
    if output_file:
        args += ["-pkeyopt", f"output_file:{output_file}"]
    if out:
        args += ["-out", out]
    return tuple(args)


def derive_as_backend_does(backend, uri: str, peer: str, name: str, *, peer_form: str | None = None) -> tuple:
    """ECDH as the backend does it: a masked secret to output_file NAME.bin (capability
    ecdh-masked), or the raw secret to -out NAME.bin (ecdh-raw)."""
    if backend.has_capability("ecdh-masked"):
        return derive_args(uri, peer, output_file=f"{name}.bin", peer_form=peer_form)
    return derive_args(uri, peer, output_file=None, out=f"{name}.bin", peer_form=peer_form)


def derive(
    openssl,
    uri: str,
    peer: str,
    *,
    output_file: str | None = "secret.bin",
    peer_form: str | None = None,
    out: str | None = None,
    expect_fail: bool | None = False,
    prove: bool = False,
):
    return openssl(
        *derive_args(uri, peer, output_file=output_file, peer_form=peer_form, out=out),
        expect_fail=expect_fail,
        prove=prove,
    )


def kdf_args(
    ikm_file: str | None,
    *,
    kdf: str = "HKDF",
    digest: str | None = "SHA256",
    key_type: str | None = "hmac",
    bits: int | None = 256,
    output_file: str | None = "derived.bin",
    salt: bytes | None = None,
    info: bytes | None = None,
    ikm_bytes: bytes | None = None,
    mode: str | None = None,
    mac: str | None = None,
    keylen: int = 4096,
    out: str = "/dev/null",
) -> tuple:
    """``kdf -keylen N -kdfopt digest:D -kdfopt azihsm.ikm_file:F ... -binary -out OUT KDF``
    (KDF HKDF or KBKDF; for KBKDF the salt is the label and the info the context).
    IKM_BYTES passes the masked IKM itself (``hexkey``) instead of, or besides, the file."""
    return (
        "kdf",
        PROV,
        "-keylen",
        str(keylen),
        *options_args(
            "-kdfopt",
            {
                "digest": digest,
                "mode": mode,
                "mac": mac,
                "azihsm.ikm_file": ikm_file,
                "hexkey": ikm_bytes.hex() if ikm_bytes else None,
                "output_file": output_file or None,
                "derived_key_type": key_type or None,
                "derived_key_bits": bits,
                "hexsalt": salt.hex() if salt else None,
                "hexinfo": info.hex() if info else None,
            },
        ),
        "-binary",
        "-out",
        out,
        kdf,
    )


def hkdf_args(ikm_file: str | None, **options) -> tuple:
    return kdf_args(ikm_file, kdf="HKDF", **options)


def hkdf(openssl, ikm_file: str, *, prove: bool = False, expect_fail: bool | None = False, **options):
    return openssl(*hkdf_args(ikm_file, **options), prove=prove, expect_fail=expect_fail)


def hmac_args(key_file: str, digest: str, data: Path, *, digest_flag: str = "-digest", out: str = "tag.bin") -> tuple:
    """``mac -digest D -macopt key:<masked key file> -in DATA -binary -out OUT HMAC``."""
    digest_args = ["-digest", digest] if digest_flag == "-digest" else ["-macopt", f"digest:{digest}"]
    return ("mac", PROV, *digest_args, "-macopt", f"key:{key_file}", "-in", data, "-binary", "-out", out, "HMAC")


def hmac(
    openssl, key_file: str, digest: str, data: Path, *, digest_flag: str = "-digest", prove: bool = False
) -> bytes:
    """The HMAC tag of DATA under the masked key KEY_FILE."""
    openssl(*hmac_args(key_file, digest, data, digest_flag=digest_flag), prove=prove)
    return (openssl.cwd / "tag.bin").read_bytes()


def crypt_args(
    operation: str,
    uri: str,
    *,
    padding: str | None = "oaep",
    digest: str | None = None,
    mgf1: str | None = None,
    label: bytes | None = None,
    infile: str = "crypt.in",
    outfile: str = "crypt.out",
) -> tuple:
    """``pkeyutl -encrypt|-decrypt`` with the spec's -pkeyopt names."""
    options = {
        "rsa_padding_mode": padding,
        "rsa_oaep_md": digest,
        "rsa_mgf1_md": mgf1,
        "rsa_oaep_label": label.hex() if label is not None else None,
    }
    return (
        "pkeyutl",
        f"-{operation}",
        PROV,
        *_pubin(uri),
        "-inkey",
        uri,
        *options_args("-pkeyopt", options),
        "-in",
        infile,
        "-out",
        outfile,
    )


def rsa_crypt(openssl, operation: str, uri: str, data: bytes, *, prove: bool = False, **options) -> bytes:
    """Encrypt or decrypt DATA; returns the output bytes."""
    (openssl.cwd / "crypt.in").write_bytes(data)
    output = openssl.cwd / "crypt.out"
    output.unlink(missing_ok=True)
    openssl(*crypt_args(operation, uri, **options), prove=prove)
    return output.read_bytes()


def hmac_chain_tag(
    openssl,
    secret_file: str,
    digest: str,
    data: Path,
    *,
    salt: bytes | None = None,
    info: bytes | None = None,
    kdf: str = "HKDF",
    prove: bool = False,
) -> bytes:
    """The tag of DATA under an HMAC key derived by KDF (HKDF or KBKDF) from the masked
    SECRET_FILE.

    This is how the suite reads a masked secret it can never see: it compares this tag
    with ``oracle.software_chain`` over the value the secret must have. PROVE proves the KDF.
    """
    hmac_key = f"{Path(secret_file).stem}.{kdf}.{digest}.hmac.bin"
    openssl(
        *kdf_args(
            secret_file,
            kdf=kdf,
            digest=digest.upper(),
            key_type="hmac",
            bits=oracle.digest_size(digest) * 8,
            output_file=hmac_key,
            salt=salt,
            info=info,
        ),
        prove=prove,
    )
    return hmac(openssl, hmac_key, digest.upper(), data)


# ----------------------------------------------------------------- opaque AES keys (OpenSSL 3.5+)


def skey_generate_args(masked_key: str | None, *, length: int | None = 32, kind: str | None = None) -> tuple:
    """``skeyutl -genkey -skeymgmt AES -skeyopt key-length:N [-skeyopt azihsm.key_kind:K]
    -skeyopt azihsm.masked_key:F``."""
    options = {"key-length": length, "azihsm.key_kind": kind, "azihsm.masked_key": masked_key}
    return ("skeyutl", "-genkey", PROV, "-skeymgmt", "AES", *options_args("-skeyopt", options))


def enc_args(
    cipher: str,
    masked_key: str | None,
    iv: bytes,
    infile: str,
    outfile: str,
    *,
    decrypt: bool = False,
    nopad: bool = False,
    raw_key: bytes | None = None,
) -> tuple:
    """``enc -e|-d -CIPHER -skeymgmt AES -skeyopt azihsm.masked_key:F -iv HEX`` (or ``-K HEX``
    for a raw key, which the provider must refuse)."""
    key = (
        ("-K", raw_key.hex())
        if raw_key is not None
        else ("-skeymgmt", "AES", "-skeyopt", f"azihsm.masked_key:{masked_key}")
    )
    return (
        "enc",
        "-d" if decrypt else "-e",
        f"-{cipher.lower()}",
        PROV,
        *key,
        "-iv",
        iv.hex(),
        *(("-nopad",) if nopad else ()),
        "-in",
        infile,
        "-out",
        outfile,
    )
