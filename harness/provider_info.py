"""Reads a provider's identity from the provider itself (``openssl list -providers -verbose``)."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from azihsm_conformance.harness.backends import BackendProfile
from azihsm_conformance.harness.openssl import OpenSSLInstall
from azihsm_conformance.harness.runner import CommandResult, run_command

_ENTRY = re.compile(r"^  (\S.*)$")
_FIELD = re.compile(r"^    (name|version|status|build info): ?(.*)$")
_BUILTIN = {"default", "base", "legacy", "fips", "null"}


@dataclass(frozen=True)
class ProviderInfo:
    load_name: str  # the name it was loaded under (module stem or openssl.cnf section)
    name: str
    version: str
    buildinfo: str
    status: str  # "active", "inactive", or "" when the provider has no status param

    def describe(self) -> str:
        parts = [self.name or self.load_name]
        parts.append(f"version {self.version}" if self.version else "no version")
        parts.append(f"build {self.buildinfo}" if self.buildinfo else "no build info")
        return ", ".join(parts)

    def to_record(self) -> dict:
        return asdict(self)


class ProviderLoadError(Exception):
    """The provider did not load; carries the command so it can be replayed."""

    def __init__(self, result: CommandResult):
        self.result = result
        errors = "; ".join(str(e) for e in result.errors[-2:]) or result.stderr.strip()[-300:]
        super().__init__(f"provider did not load ({result.describe()}): {errors}")


def parse_provider_list(text: str) -> list[ProviderInfo]:
    entries: list[dict] = []
    for line in text.splitlines():
        entry = _ENTRY.match(line)
        if entry:
            entries.append({"load_name": entry.group(1).strip()})
            continue
        field = _FIELD.match(line)
        if field and entries:
            key = "buildinfo" if field.group(1) == "build info" else field.group(1)
            entries[-1].setdefault(key, field.group(2).strip())
    return [
        ProviderInfo(
            e["load_name"], e.get("name", ""), e.get("version", ""), e.get("buildinfo", ""), e.get("status", "")
        )
        for e in entries
    ]


def probe_provider(
    install: OpenSSLInstall, backend: BackendProfile, env: dict[str, str], cwd: Path, timeout: float = 60.0
) -> tuple[ProviderInfo, CommandResult]:
    """Load the backend's provider into ``openssl list`` and read back who it says it is."""
    argv = [str(install.path), "list", "-providers", "-verbose", *backend.provider_flags()]
    result = run_command(argv, cwd=cwd, env={**install.env, **env}, timeout=timeout)
    providers = parse_provider_list(result.stdout.decode("utf-8", "replace"))
    if result.outcome != "ok" or not providers:
        raise ProviderLoadError(result)
    return pick_backend_provider(providers, backend.provider_module), result


def pick_backend_provider(providers: list[ProviderInfo], module: str) -> ProviderInfo:
    """The entry for the backend's provider: loaded under its module name, else the first
    one that is not an OpenSSL built-in (openssl.cnf loads use any section name)."""
    for info in providers:
        if info.load_name == module:
            return info
    for info in providers:
        if info.load_name not in _BUILTIN:
            return info
    return providers[0]


def identify_provider(install: OpenSSLInstall, backend: BackendProfile) -> tuple[ProviderInfo, CommandResult, str]:
    """Probe the backend's provider in a throw-away workspace (its own device directory);
    also what the profile's identity command prints there."""
    workspace = Path(tempfile.mkdtemp(prefix="azihsm-probe-"))
    try:
        env = backend.prepare(workspace)
        info, result = probe_provider(install, backend, env, workspace)
        return info, result, backend.read_identity(workspace, {**install.env, **env})
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
