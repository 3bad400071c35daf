"""Where Debian's pkcs11-provider package put its OpenSSL module (``provider.path_from`` of
the pkcs11-softhsm profile): the multiarch modules directory differs per machine."""

from __future__ import annotations

import glob
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError

CANDIDATES = (
    "/usr/lib/*/ossl-modules/pkcs11.so",
    "/usr/lib/ossl-modules/pkcs11.so",
    "/usr/lib64/ossl-modules/pkcs11.so",
)


def provider_dir() -> Path:
    for pattern in CANDIDATES:
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[0]).parent
    raise UsageError(
        "pkcs11-provider is not installed (no ossl-modules/pkcs11.so); run .ci/system-deps "
        "(Debian: pkcs11-provider from bookworm-backports, softhsm2, opensc)"
    )
