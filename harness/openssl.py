"""A model of one installed ``openssl`` binary, and how to find it.

``--openssl SPEC`` / ``$AZIHSM_OPENSSL`` accept a path, a name on PATH, or a version
(``3.5``, ``3.0.17``) that ``azihsm_conformance.harness.provision.ensure_openssl`` turns into a cached build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError

ENV_VAR = "AZIHSM_OPENSSL"
MINIMUM_VERSION = (3, 0, 0)
_VERSION_SPEC = re.compile(r"^\d+\.\d+(\.\d+)?$")
_VERSION_LINE = re.compile(r"^OpenSSL (\d+)\.(\d+)\.(\d+)(\S*)")
_LIBRARY = re.compile(r"^OpenSSL (\S+) .*\(Library: OpenSSL (\S+) ")
_DIR_LINE = re.compile(r'^(OPENSSLDIR|MODULESDIR): "(.*)"$')


@dataclass(frozen=True)
class OpenSSLInstall:
    """One ``openssl`` binary and what it needs to run."""

    path: Path
    version: tuple[int, int, int]
    version_text: str  # first line of `openssl version`, e.g. "OpenSSL 3.0.19 27 Jan 2026 (...)"
    openssldir: str
    modulesdir: str
    # variables this binary needs on top of the caller's environment (LD_LIBRARY_PATH
    # for a build under its own prefix); they appear in replayable command lines
    env: dict[str, str] = field(default_factory=dict)

    @property
    def version_string(self) -> str:
        return ".".join(str(part) for part in self.version)

    def describe(self) -> str:
        return f"{self.version_text} at {self.path}"


def resolve_openssl(spec: str | None = None) -> OpenSSLInstall:
    """Find and probe the ``openssl`` named by SPEC, ``$AZIHSM_OPENSSL`` or PATH."""
    source = "--openssl"
    if not spec:
        spec, source = os.environ.get(ENV_VAR), f"${ENV_VAR}"
    if not spec:
        spec, source = "openssl", "PATH"
    return probe(_locate(spec, source))


def _locate(spec: str, source: str) -> Path:
    if _VERSION_SPEC.match(spec):
        try:
            from azihsm_conformance.harness.provision import ensure_openssl
        except ImportError as exc:
            raise UsageError(
                f"{source} asks for OpenSSL {spec} but provisioning is not available ({exc}); "
                "pass the path of an openssl binary instead"
            ) from None
        return Path(ensure_openssl(spec))
    if os.sep in spec or Path(spec).exists():
        path = Path(spec).expanduser()
        if not path.exists():
            raise UsageError(
                f"{source}: {spec} does not exist; pass the path of an openssl binary, or a version like 3.5"
            )
        if path.is_dir():
            for candidate in (path / "bin" / "openssl", path / "openssl", path / "apps" / "openssl"):
                if candidate.is_file():
                    return candidate.resolve()
            raise UsageError(f"{source}: {spec} is a directory without bin/openssl; pass the binary itself")
        if not os.access(path, os.X_OK):
            raise UsageError(f"{source}: {spec} is not executable; chmod +x it or pass another openssl binary")
        return path.resolve()
    found = shutil.which(spec)
    if not found:
        raise UsageError(
            f"{source}: no '{spec}' on PATH; install OpenSSL 3 (apt-get install openssl) "
            f"or pass --openssl PATH / set {ENV_VAR}"
        )
    return Path(found).resolve()


def _library_env(binary: Path) -> dict[str, str]:
    """LD_LIBRARY_PATH for a binary built under its own prefix (PREFIX/bin/openssl)."""
    prefix = binary.parent.parent
    if prefix in (Path("/usr"), Path("/")):
        return {}
    for libdir in (prefix / "lib64", prefix / "lib"):
        if any(libdir.glob("libcrypto.so*")):
            return {"LD_LIBRARY_PATH": str(libdir)}
    return {}


def _provisioned_env(binary: Path) -> dict[str, str]:
    """A build made by `azihsm-conformance openssl provision` runs with its own openssl.cnf
    and modules, whatever OPENSSL_CONF / OPENSSL_MODULES the caller's shell has."""
    from azihsm_conformance.harness.provision_build import build_environment, is_complete

    prefix = binary.parent.parent
    return build_environment(prefix) if is_complete(prefix) else {}


def _run_version(binary: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [str(binary), "version", "-v", "-d", "-m"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(
            f"{binary} could not be run as openssl ({exc}); pass --openssl with an OpenSSL 3 binary"
        ) from None


def _uses_own_library(proc: subprocess.CompletedProcess) -> bool:
    """Whether `openssl version` ran and reports its own libcrypto ("OpenSSL 3.5.1 ...
    (Library: OpenSSL 3.5.1 ...)"), not the system's or none at all."""
    first = proc.stdout.splitlines()[0] if proc.stdout else ""
    match = _LIBRARY.match(first)
    return proc.returncode == 0 and (match is None or match.group(1) == match.group(2))


def probe(binary: Path) -> OpenSSLInstall:
    """Ask BINARY for its version and directories; refuse anything but OpenSSL >= 3.0.

    A build under its own prefix normally finds its libraries through an rpath; only when
    it does not is LD_LIBRARY_PATH added (and then shown in every replay line)."""
    env: dict[str, str] = {}
    proc = _run_version(binary, env)
    if not _uses_own_library(proc) and _library_env(binary):
        env = _library_env(binary)
        proc = _run_version(binary, env)
    lines = proc.stdout.splitlines()
    match = _VERSION_LINE.match(lines[0]) if lines else None
    if proc.returncode != 0 or not match:
        first = (
            lines[0] if lines else proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else "nothing"
        ).strip()
        raise UsageError(
            f"{binary} is not OpenSSL ('{binary.name} version' printed: {first[:80]}); "
            "pass --openssl with an OpenSSL 3 binary or a version like 3.5"
        )
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if version < MINIMUM_VERSION:
        raise UsageError(
            f"{binary} is OpenSSL {'.'.join(map(str, version))}, older than 3.0 (providers need 3.0 or later); "
            "pass --openssl with an OpenSSL 3 binary or a version like 3.5"
        )
    dirs = {m.group(1): m.group(2) for m in map(_DIR_LINE.match, lines) if m}
    env.update(_provisioned_env(binary))
    return OpenSSLInstall(
        path=binary,
        version=version,
        version_text=lines[0].strip(),
        openssldir=dirs.get("OPENSSLDIR", ""),
        modulesdir=dirs.get("MODULESDIR", ""),
        env=env,
    )
