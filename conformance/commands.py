"""The spec's command lines, written once for every module that needs them.

Each helper runs one documented ``openssl`` command through the case's ``openssl``
fixture (so its command line, exit code and stderr are in the case's report) and
returns what the command produced. ``expect_fail=True`` is passed through: the command
must then exit non-zero.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from conformance import oracle
from harness.pytest_plugin import PROV


def options_args(flag: str, options: dict[str, object] | None) -> list[str]:
    """``FLAG name:value`` pairs (e.g. ``-pkeyopt group:P-384``); options whose value is None
    are left out, so callers can pass every optional setting as it is."""
    return [arg for name, value in (options or {}).items() if value is not None
            for arg in (flag, f"{name}:{value}")]


def _prehash(data: Path, digest: str) -> Path:
    """DATA's digest (computed by hashlib) in a file beside it: the one-shot input."""
    hashed = data.with_suffix(f".{digest}")
    hashed.write_bytes(oracle.digest(digest, data.read_bytes()))
    return hashed


def sign(openssl, uri: str, data: Path, digest: str, mode: str, options: dict[str, str] | None = None, *,
         digest_option: bool = False, out: str = "sig.bin", expect_fail: bool = False) -> bytes:
    """mode 'stream': ``dgst -shaN -sign`` with OPTIONS as -sigopt; 'oneshot': ``pkeyutl -sign``
    over DATA's digest with OPTIONS as -pkeyopt (plus ``digest:shaN`` when DIGEST_OPTION)."""
    if mode == "stream":
        openssl("dgst", f"-{digest}", PROV, *options_args("-sigopt", options), "-sign", uri, "-out", out, data, expect_fail=expect_fail)
    else:
        options = {**(options or {}), **({"digest": digest} if digest_option else {})}
        openssl("pkeyutl", "-sign", PROV, "-inkey", uri, *options_args("-pkeyopt", options), "-in", _prehash(data, digest),
                "-out", out, expect_fail=expect_fail)
    produced = openssl.cwd / out
    return produced.read_bytes() if produced.exists() else b""


def verify(openssl, uri: str, data: Path, signature: bytes, digest: str, mode: str, options: dict[str, str] | None = None, *,
           digest_option: bool = False, expect_fail: bool = False):
    """``dgst -verify`` or ``pkeyutl -verify``; a pass must also print the success text."""
    (openssl.cwd / "check.sig").write_bytes(signature)
    if mode == "stream":
        result = openssl("dgst", f"-{digest}", PROV, *options_args("-sigopt", options), "-verify", uri,
                         "-signature", "check.sig", data, expect_fail=expect_fail)
        success = b"Verified OK"
    else:
        options = {**(options or {}), **({"digest": digest} if digest_option else {})}
        result = openssl("pkeyutl", "-verify", PROV, "-inkey", uri, *options_args("-pkeyopt", options),
                         "-in", _prehash(data, digest), "-sigfile", "check.sig", expect_fail=expect_fail)
        success = b"Signature Verified Successfully"
    if not expect_fail:
        assert success in result.stdout, f"verification exited 0 without printing {success.decode()!r}"
    return result


def write_peer(directory: Path, public_key, form: str, name: str = "peer") -> str:
    """A peer public key file in FORM ('pem' or 'der'); returns its name."""
    encoding = serialization.Encoding.PEM if form == "pem" else serialization.Encoding.DER
    path = directory / f"{name}.{form}"
    path.write_bytes(public_key.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path.name


def derive(openssl, uri: str, peer: str, *, output_file: str | None = "secret.bin", peer_form: str | None = None,
           out: str | None = None, expect_fail: bool = False):
    """ECDH: ``pkeyutl -derive -inkey URI -peerkey PEER -pkeyopt output_file:F``."""
    args = ["pkeyutl", "-derive", PROV, "-inkey", uri, "-peerkey", peer]
    if peer_form:
        args += ["-peerform", peer_form]
    if output_file:
        args += ["-pkeyopt", f"output_file:{output_file}"]
    if out:
        args += ["-out", out]
    return openssl(*args, expect_fail=expect_fail)


def hkdf(openssl, ikm_file: str, *, digest: str = "SHA256", key_type: str | None = "hmac", bits: int | None = 256,
         output_file: str | None = "derived.bin", salt: bytes | None = None, info: bytes | None = None,
         keylen: int = 4096, out: str = "/dev/null", expect_fail: bool = False):
    """``kdf -keylen N -kdfopt digest:D -kdfopt azihsm.ikm_file:F ... -binary -out OUT HKDF``."""
    args = ["kdf", PROV, "-keylen", str(keylen), *options_args("-kdfopt", {
        "digest": digest,
        "azihsm.ikm_file": ikm_file,
        "output_file": output_file or None,
        "derived_key_type": key_type or None,
        "derived_key_bits": bits,
        "hexsalt": salt.hex() if salt else None,
        "hexinfo": info.hex() if info else None,
    })]
    return openssl(*args, "-binary", "-out", out, "HKDF", expect_fail=expect_fail)


def hmac(openssl, key_file: str, digest: str, data: Path, *, digest_flag: str = "-digest", expect_fail: bool = False) -> bytes:
    """``mac -digest D -macopt key:<masked key file> -in DATA -binary -out tag.bin HMAC``; returns the tag."""
    digest_args = ["-digest", digest] if digest_flag == "-digest" else ["-macopt", f"digest:{digest}"]
    openssl("mac", PROV, *digest_args, "-macopt", f"key:{key_file}", "-in", data, "-binary", "-out", "tag.bin", "HMAC",
            expect_fail=expect_fail)
    tag = openssl.cwd / "tag.bin"
    return tag.read_bytes() if tag.exists() else b""


def rsa_crypt(openssl, operation: str, uri: str, data: bytes, *, padding: str | None = "oaep", digest: str | None = None,
              mgf1: str | None = None, label: bytes | None = None, expect_fail: bool = False) -> bytes:
    """``pkeyutl -encrypt|-decrypt`` with the spec's -pkeyopt names; returns the output bytes."""
    (openssl.cwd / "crypt.in").write_bytes(data)
    options = {}
    if padding:
        options["rsa_padding_mode"] = padding
    if digest:
        options["rsa_oaep_md"] = digest
    if mgf1:
        options["rsa_mgf1_md"] = mgf1
    if label is not None:
        options["rsa_oaep_label"] = label.hex()
    output = openssl.cwd / "crypt.out"
    output.unlink(missing_ok=True)
    openssl("pkeyutl", f"-{operation}", PROV, "-inkey", uri, *options_args("-pkeyopt", options), "-in", "crypt.in",
            "-out", "crypt.out", expect_fail=expect_fail)
    return output.read_bytes() if output.exists() else b""


def hmac_chain_tag(openssl, secret_file: str, digest: str, data: Path, *, salt: bytes | None = None,
                   info: bytes | None = None) -> bytes:
    """The tag of DATA under an HMAC key derived by HKDF from the masked SECRET_FILE.

    This is how the suite reads a masked secret it can never see: it compares this tag
    with ``oracle.software_chain`` over the value the secret must have.
    """
    hmac_key = f"{Path(secret_file).stem}.{digest}.hmac.bin"
    hkdf(openssl, secret_file, digest=digest.upper(), key_type="hmac", bits=oracle.digest_size(digest) * 8,
         output_file=hmac_key, salt=salt, info=info)
    return hmac(openssl, hmac_key, digest.upper(), data)
