"""The isolation provider: how a case shows that the provider under test did the work.

``isolation_provider.c`` is OpenSSL's default provider minus whole operation classes. A
*twin* of a command runs with it activated from an openssl.cnf in place of the default
provider (which also turns off the CLI's implicit fallback to default) and with the
operation classes the clause is about withheld: if the twin still succeeds, those
operations came from the provider under test, because nothing else offered them.

What it cannot show: an algorithm the isolation provider serves (the default provider's
PBKDF2, say) fetches what *it* needs inside the isolation provider's private library
context, where the provider under test is not loaded. A clause about the provider being
used inside another algorithm forces that inner fetch with the provider's property instead
(``openssl.forced`` in the plugin's fixtures).

The module is compiled once per OpenSSL installation (headers and libcrypto of that
install) into ``$XDG_CACHE_HOME/azihsm-conformance/isolation/KEY/``, the same way the
reference bridge is cached: a private build directory renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.openssl import OpenSSLInstall

SOURCE = Path(__file__).resolve().parent / "isolation_provider.c"
MODULE_FILE = "isolation.so"
WITHHOLD_VARIABLE = "AZIHSM_ISOLATION_WITHHOLD"
# the operation classes a clause may ask the provider under test to perform
# (isolation_provider.c knows the same names)
OPERATION_CLASSES = (
    "digest",
    "cipher",
    "mac",
    "kdf",
    "rand",
    "keymgmt",
    "keyexch",
    "signature",
    "asym-cipher",
    "kem",
    "encoder",
    "decoder",
    "store",
    "skeymgmt",
)
CONF_NAME = "isolation.cnf"


def cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser().resolve() / "azihsm-conformance" / "isolation"


def _prefix_dirs(install: OpenSSLInstall) -> tuple[Path, Path | None]:
    """(include dir, libcrypto dir or None) of the OpenSSL that runs the commands."""
    prefix = install.path.parent.parent
    include = prefix / "include"
    if not (include / "openssl" / "core.h").is_file():
        include = Path("/usr/include")
    for libdir in (prefix / "lib64", prefix / "lib"):
        if any(libdir.glob("libcrypto.so*")) and prefix not in (Path("/usr"), Path("/")):
            return include, libdir
    return include, None


def module_path(install: OpenSSLInstall) -> Path:
    """``isolation.so`` built for INSTALL (compiled on first use)."""
    include, libdir = _prefix_dirs(install)
    header = include / "openssl" / "core.h"
    if not header.is_file():
        raise UsageError(
            f"cannot build the isolation provider: no OpenSSL headers in {include} "
            "(install libssl-dev, or use a provisioned OpenSSL)"
        )
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update((include / "openssl" / "opensslv.h").read_bytes())
    digest.update(str(libdir).encode())
    target = cache_root() / digest.hexdigest()[:20]
    if (target / MODULE_FILE).is_file():
        return target / MODULE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        link = [f"-L{libdir}", "-lcrypto"] if libdir else ["-lcrypto"]
        command = [
            "cc",
            "-shared",
            "-fPIC",
            "-O2",
            "-Wall",
            f"-I{include}",
            "-o",
            str(staging / MODULE_FILE),
            str(SOURCE),
            *link,
        ]
        try:
            built = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except OSError as exc:
            raise UsageError(f"cannot build the isolation provider: {exc} (install gcc)") from None
        if built.returncode != 0:
            first = (built.stderr.strip().splitlines() or ["no output"])[0]
            raise UsageError(f"building the isolation provider failed: {first}; command: {' '.join(command)}")
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / MODULE_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / MODULE_FILE


def conf_text(module: Path, extra: str = "") -> str:
    """An openssl.cnf activating only the isolation provider (EXTRA: more sections)."""
    return (
        "# written by azihsm-conformance: the isolation provider instead of the default one\n"
        "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
        "[provider_sect]\nisolation = isolation_sect\n"
        f"[isolation_sect]\nmodule = {module}\nactivate = 1\n" + extra
    )


def withhold_value(classes) -> str:
    unknown = sorted(set(classes) - set(OPERATION_CLASSES))
    if unknown:
        raise ValueError(f"unknown operation class(es) {', '.join(unknown)}; known: {', '.join(OPERATION_CLASSES)}")
    return ",".join(sorted(set(classes)))
