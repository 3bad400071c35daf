"""What the device costs the process that embeds it: it runs inside every openssl process that
loads the provider, so it must import little and never touch the host's libcrypto."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
import azihsm_conformance.reference.device as device
after_import = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN + ("cryptography",))
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
dev = device.Device.open(sys.argv[1])
with dev.open_session() as sess:
    key = sess.generate_ec("P-384")
    scheme = device.SignScheme("ecdsa")
    sess.verify(key, b"m", sess.sign(key, b"m", scheme), scheme)
    sess.unmask(sess.mask(key))
    agree = sess.generate_ec("P-256", usage="keyAgreement")
    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    mac = sess.hmac(sess.hkdf(sess.ecdh(agree, peer), key_type="hmac", bits=256))
    mac.update(b"m"); mac.finalize()
    device.digest.new("sha512").digest()
after_use = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
print(json.dumps([after_import, after_use]))
"""

# Python modules that run on the host's libcrypto (and would re-enter the provider)
FORBIDDEN = ("hashlib", "_hashlib", "hmac", "ssl", "_ssl")


def test_import_is_light_and_no_host_libcrypto_module_is_ever_used(device):
    probe = f"FORBIDDEN = {FORBIDDEN!r}\n" + _PROBE
    proc = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(device.path)],
        capture_output=True,
        text=True,
        cwd=_project_root(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    after_import, after_use = json.loads(proc.stdout)
    assert after_import == [], "importing reference.device pulled in " + ", ".join(after_import)
    assert after_use == [], "device operations used " + ", ".join(after_use)


def _project_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])


_SIGNING_PROCESS = """
import sys
import azihsm_conformance.reference.device as device
dev = device.Device.open(sys.argv[1])
with dev.open_session() as sess:
    blobs = [sess.mask(sess.generate_ec("P-256"))]
with dev.open_session() as sess:  # what a signing openssl process does: unmask, then sign
    for masked in blobs:
        key = sess.unmask(masked, expect="ec")
        sess.sign(key, b"m", device.SignScheme("ecdsa"))
print("serialization" in sys.modules.get("cryptography.hazmat.primitives").__dict__)
"""


def test_loading_a_masked_key_does_not_import_pyca_serialization(device):
    """pyca's serialization package (with its SSH code) costs ~30 ms per openssl process."""
    proc = subprocess.run(
        [sys.executable, "-I", "-c", _SIGNING_PROCESS, str(device.path)],
        capture_output=True,
        text=True,
        cwd=_project_root(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
