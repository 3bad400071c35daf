"""Backend profiles: how to load a provider build, and what it is known to get wrong.

A backend is data (``fixtures/backends/NAME.toml``), not code::

    name = "reference"
    description = "..."
    capabilities = ["*"]                # what `@pytest.mark.needs(...)` may ask for; "*" = all
    fresh_device_dir = true             # a new AZIHSM_DEVICE_DIR per run and per xdist worker

    [provider]
    module = "azihsm_provider"          # -provider NAME (file stem of the .so)
    path = "/opt/azihsm/lib"            # -provider-path DIR, or:
    path_from = "reference.bridge.build:provider_dir"   # a function returning DIR
    openssl_conf = "azihsm.cnf.in"      # optional: load through openssl.cnf instead of flags;
                                        # ${PROVIDER_DIR} ${MODULE} ${DEVICE_DIR} are filled in
    propquery = "?provider=azihsm"

    [environment]                       # extra variables for every openssl command
    NAME = "value"

    [[deviation]]                       # known deviations, reported as such, strictly
    clause = "STORE-UNMASK-FAIL-VISIBLE"
    reason = "upstream prints 'Total found: 0' and exits 0"

``--provider-path DIR`` (with ``--provider-module``, ``--openssl-conf``) defines an
external backend on the spot, or points a named profile at another build.
"""

from __future__ import annotations

import importlib
import string
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.errors import UsageError
from harness.tomlfile import load_toml

PROFILE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "backends"
DEFAULT_MODULE = "azihsm_provider"
DEFAULT_PROPQUERY = "?provider=azihsm"
DEVICE_DIR_VAR = "AZIHSM_DEVICE_DIR"
EXTERNAL = "external"


@dataclass(frozen=True)
class Deviation:
    clause: str
    reason: str


@dataclass(frozen=True)
class BackendProfile:
    name: str
    description: str = ""
    provider_module: str = DEFAULT_MODULE
    provider_path: Path | None = None
    provider_path_from: str = ""  # "package.module:function" returning the provider directory
    openssl_conf: Path | None = None
    propquery: str = DEFAULT_PROPQUERY
    environment: dict[str, str] = field(default_factory=dict)
    fresh_device_dir: bool = False
    capabilities: frozenset[str] = frozenset({"*"})
    deviations: dict[str, Deviation] = field(default_factory=dict)
    source: str = ""  # where the profile came from, for messages

    def has_capability(self, name: str) -> bool:
        return "*" in self.capabilities or name in self.capabilities

    def provider_directory(self) -> Path | None:
        """The -provider-path directory; builds it on demand for a path_from profile."""
        if self.provider_path is not None:
            return self.provider_path
        if not self.provider_path_from:
            return None
        module_name, _, function_name = self.provider_path_from.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as exc:
            raise UsageError(
                f"backend {self.name}: cannot load {self.provider_path_from} ({exc}); "
                "reinstall the project (make venv) or pass --provider-path DIR"
            ) from None
        try:
            return Path(function())
        except UsageError:
            raise
        except Exception as exc:  # a failed on-demand build must read as one line
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(
                f"backend {self.name}: building the provider failed ({first_line}); "
                "fix the build or pass --provider-path DIR with a built provider"
            ) from None

    def check(self) -> Path | None:
        """Validate what can be checked before running anything; returns the provider dir."""
        directory = self.provider_directory()
        if directory is not None:
            if not directory.is_dir():
                raise UsageError(
                    f"backend {self.name}: provider directory {directory} does not exist; "
                    f"pass --provider-path with the directory holding {self.provider_module}.so"
                )
            if not (directory / f"{self.provider_module}.so").is_file():
                raise UsageError(
                    f"backend {self.name}: {directory} has no {self.provider_module}.so; "
                    "pass --provider-module NAME if the module has another name"
                )
        if self.openssl_conf is not None and not self.openssl_conf.is_file():
            raise UsageError(f"backend {self.name}: openssl config {self.openssl_conf} does not exist; fix --openssl-conf")
        return directory

    def provider_flags(self) -> list[str]:
        """What PROV stands for: the spec's documented flag order, or just -propquery when
        the provider is loaded through openssl.cnf."""
        flags = ["-propquery", self.propquery]
        if self.openssl_conf is not None:
            return flags
        directory = self.provider_directory()
        prefix = ["-provider-path", str(directory)] if directory is not None else []
        return prefix + flags + ["-provider", "default", "-provider", self.provider_module]

    def prepare(self, workspace: Path) -> dict[str, str]:
        """Set up WORKSPACE (this run's, or this worker's, private directory) and return the
        environment every openssl command of the backend gets."""
        workspace.mkdir(parents=True, exist_ok=True)
        env = dict(self.environment)
        device_dir = env.get(DEVICE_DIR_VAR, "")
        if self.fresh_device_dir:
            device = workspace / "device"
            device.mkdir(exist_ok=True)
            device_dir = env[DEVICE_DIR_VAR] = str(device)
        if self.openssl_conf is not None:
            env["OPENSSL_CONF"] = str(self._render_conf(workspace, device_dir))
        return env

    def _render_conf(self, workspace: Path, device_dir: str) -> Path:
        text = self.openssl_conf.read_text()
        if "${" not in text:
            return self.openssl_conf
        directory = self.provider_directory()
        values = {
            "PROVIDER_DIR": str(directory or ""),
            "MODULE": self.provider_module,
            "DEVICE_DIR": device_dir,
        }
        try:
            rendered = string.Template(text).substitute(values)
        except (KeyError, ValueError) as exc:
            raise UsageError(
                f"backend {self.name}: openssl config template {self.openssl_conf} uses an unknown "
                f"placeholder {exc}; only ${{PROVIDER_DIR}}, ${{MODULE}}, ${{DEVICE_DIR}} exist"
            ) from None
        target = workspace / "openssl.cnf"
        temporary = target.with_suffix(".cnf.tmp")
        temporary.write_text(rendered)
        temporary.replace(target)
        return target


def available_backends() -> list[str]:
    return sorted(path.stem for path in PROFILE_DIR.glob("*.toml"))


def load_profile(path: Path) -> BackendProfile:
    data = load_toml(path, "backend profile")
    where = f"backend profile {path}"
    provider = data.get("provider", {})
    unknown = set(data) - {"name", "description", "capabilities", "fresh_device_dir", "provider", "environment", "deviation"}
    unknown |= {f"provider.{key}" for key in set(provider) - {"module", "path", "path_from", "openssl_conf", "propquery"}}
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; see harness/backends.py for the format")
    if provider.get("path") and provider.get("path_from"):
        raise UsageError(f"{where}: give provider.path or provider.path_from, not both")
    deviations = {}
    for entry in data.get("deviation", []):
        if not entry.get("clause") or not entry.get("reason"):
            raise UsageError(f"{where}: every [[deviation]] needs a clause and a reason")
        deviations[entry["clause"]] = Deviation(entry["clause"], " ".join(str(entry["reason"]).split()))
    conf = provider.get("openssl_conf")
    return BackendProfile(
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        provider_module=str(provider.get("module", DEFAULT_MODULE)),
        provider_path=_relative_to(path, provider.get("path")),
        provider_path_from=str(provider.get("path_from", "")),
        openssl_conf=_relative_to(path, conf),
        propquery=str(provider.get("propquery", DEFAULT_PROPQUERY)),
        environment={str(k): str(v) for k, v in data.get("environment", {}).items()},
        fresh_device_dir=bool(data.get("fresh_device_dir", False)),
        capabilities=frozenset(data.get("capabilities", ["*"])),
        deviations=deviations,
        source=str(path.resolve()),
    )


def _relative_to(profile: Path, value: str | None) -> Path | None:
    """Paths in a profile are relative to the profile's own directory."""
    if not value:
        return None
    return (profile.parent / Path(value).expanduser()).resolve()


def resolve_backend(
    name: str | None = None,
    *,
    provider_path: str | None = None,
    provider_module: str | None = None,
    openssl_conf: str | None = None,
) -> BackendProfile:
    """The backend selected on the command line.

    NAME is a built-in profile name or a path to a profile file. --provider-path alone
    defines an external backend; with a NAME it points that profile at another build.
    """
    if name is None:
        name = EXTERNAL if (provider_path or openssl_conf) else "reference"
    if name.endswith(".toml") or "/" in name:
        profile = load_profile(Path(name).expanduser())
    elif (PROFILE_DIR / f"{name}.toml").is_file():
        profile = load_profile(PROFILE_DIR / f"{name}.toml")
    else:
        raise UsageError(
            f"unknown backend '{name}'; choose one of {', '.join(available_backends())}, "
            "a profile file NAME.toml, or pass --provider-path DIR"
        )
    if profile.name == EXTERNAL and not (provider_path or openssl_conf or profile.provider_path or profile.openssl_conf):
        raise UsageError("backend external needs --provider-path DIR (the directory holding azihsm_provider.so) or --openssl-conf FILE")
    overrides: dict = {}
    if provider_path:
        overrides.update(provider_path=Path(provider_path).expanduser().resolve(), provider_path_from="")
    if provider_module:
        overrides["provider_module"] = provider_module
    if openssl_conf:
        overrides["openssl_conf"] = Path(openssl_conf).expanduser().resolve()
    return replace(profile, **overrides) if overrides else profile
