"""The target of a run: one openssl, one backend, its provider as it reports itself, and
the isolation provider built for that openssl.

Resolving it costs a provider load (``openssl list -providers``) and possibly builds: it is
done once, by ``azihsm-conformance run`` (or by a bare ``pytest`` controller), written to a
JSON file, and handed to the pytest controller and every xdist worker, which rebuild it
from the file without loading anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from azihsm_conformance.harness.backends import BackendProfile, resolve_backend
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.isolation import module_path
from azihsm_conformance.harness.openssl import OpenSSLInstall, resolve_openssl
from azihsm_conformance.harness.provider_info import ProviderInfo, ProviderLoadError, identify_provider

FORMAT = "azihsm-conformance-target"


@dataclass(frozen=True)
class Target:
    install: OpenSSLInstall
    backend: BackendProfile
    provider: ProviderInfo
    isolation_module: Path | None  # None when the backend cannot be isolated
    identity: str = ""  # what the profile's identity command printed

    @property
    def performer(self) -> str:
        """How reports name the provider under test when it performed an operation."""
        return self.provider.name or self.provider.load_name or self.backend.provider_module

    def to_json(self) -> str:
        install = {**asdict(self.install), "path": str(self.install.path), "version": list(self.install.version)}
        directory = self.backend.provider_directory()
        return json.dumps(
            {
                "format": FORMAT,
                "openssl": install,
                "backend": {
                    "source": self.backend.source,
                    "provider_path": str(directory) if directory else "",
                    "provider_module": self.backend.provider_module,
                    "openssl_conf": str(self.backend.openssl_conf or ""),
                },
                "provider": self.provider.to_record(),
                "isolation_module": str(self.isolation_module or ""),
                "identity": self.identity,
            },
            indent=2,
        )

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path


def resolve_target(
    openssl: str | None,
    backend: str | None,
    *,
    provider_path: str | None = None,
    provider_module: str | None = None,
    openssl_conf: str | None = None,
) -> Target:
    """Find the openssl, load the backend profile, load the provider once (a provider that
    does not load is a usage error naming the replay command), build the isolation provider."""
    install = resolve_openssl(openssl)
    profile = resolve_backend(
        backend, provider_path=provider_path, provider_module=provider_module, openssl_conf=openssl_conf
    )
    profile.check()
    try:
        provider, _, identity = identify_provider(install, profile)
    except ProviderLoadError as exc:
        raise UsageError(
            f"backend {profile.name}: {exc}; replay: {exc.result.command_line} ; "
            "run 'azihsm-conformance doctor' for what to fix"
        ) from None
    isolation = module_path(install) if profile.isolatable else None
    return Target(install, profile, provider, isolation, identity)


def load_target(path: Path | str) -> Target:
    """A target written by :meth:`Target.write` (no provider load, no build)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError("not a target file")
        raw = data["openssl"]
        install = OpenSSLInstall(
            path=Path(raw["path"]),
            version=tuple(raw["version"]),
            version_text=raw["version_text"],
            openssldir=raw["openssldir"],
            modulesdir=raw["modulesdir"],
            env=dict(raw["env"]),
        )
        spec = data["backend"]
        profile = resolve_backend(
            spec["source"],
            provider_path=spec["provider_path"] or None,
            provider_module=spec["provider_module"] or None,
            openssl_conf=spec["openssl_conf"] or None,
        )
        provider = ProviderInfo(**data["provider"])
        isolation = Path(data["isolation_module"]) if data["isolation_module"] else None
        identity = str(data.get("identity", ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read the run target {path} ({exc}); run 'azihsm-conformance run' again") from None
    return Target(install, profile, provider, isolation, identity)
