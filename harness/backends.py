"""Backend profiles: how to load a provider build, what it claims, how its keys are made and
named, and what it is known to get wrong.

A backend is data (``fixtures/backends/NAME.toml``), not code::

    extends = "reference"               # optional: start from another profile of this folder
                                        # (its tables merged, everything else replaced)
    name = "reference"
    description = "..."
    revision = "2026-03"                # the spec revision it claims (clauses of a later
                                        # revision are not applicable to it)
    capabilities = ["*"]                # conformance profiles it claims ("*" = all); a
                                        # clause needing one it lacks is not applicable
    fresh_device_dir = true             # a new AZIHSM_DEVICE_DIR per run and per xdist worker
    keys = "azihsm"                     # how keys are made and named: fixtures/backends/keys/
                                        # azihsm.toml, or an inline [keys] table (format below)

    [provider]
    module = "azihsm_provider"          # -provider NAME (file stem of the .so)
    path = "/opt/azihsm/lib"            # -provider-path DIR, or:
    path_from = "azihsm_conformance.reference.bridge.build:provider_dir"   # a function returning DIR
    device = "in-process"               # with path_from: passed as mode= (the reference's
                                        # "server" (default) or "in-process" module)
    openssl_conf = "azihsm.cnf.in"      # optional: load through openssl.cnf instead of flags
    propquery = "?provider=azihsm"
    error_origin = "^azihsm_provider:"  # which error-stack entries are the provider's: a
                                        # regex over LIBRARY:FUNCTION as OpenSSL prints them
                                        # (default: the module name as the library)

    [environment]                       # extra variables for every command ({workspace} and
    NAME = "value"                      # [variables] are filled in)

    [variables]                         # values for {placeholders} in keys and provisioning
    token = "azihsm-conformance"

    [[provision]]                       # run once per workspace (per run and xdist worker)
    write = "softhsm2.conf"             # before any case: write a file, or
    text = "directories.tokendir = {workspace}/tokens\n"
    run = ["softhsm2-util", "--init-token", "..."]    # run a command

    identity = ["pkcs11-tool", "--module", "{softhsm_module}", "-T"]   # optional: a command
                                        # printing what the provider cannot say of itself
                                        # (firmware, hardware, serial), stored with each run

    [refusal_reasons]                   # per kind of refusal, a regex the provider's error
    usage = "usage-not-allowed"         # (reason and text) must match; kinds without one
                                        # accept any error from the provider

    [[deviation]]                       # known deviations, reported as such, strictly
    clause = "STORE-FAILURE-VISIBLE"
    reason = "upstream prints 'Total found: 0' and exits 0"

An openssl.cnf template is rendered per workspace; ``${PROVIDER_DIR}``, ``${MODULE}``,
``${MODULE_PATH}`` (the module file, or its name for OpenSSL's MODULESDIR),
``${DEVICE_DIR}``, ``${WORKSPACE}`` and the profile's variables are filled in, and ``${SUPPORT_NAME}`` /
``${SUPPORT_MODULE}`` name the provider that supplies what the backend does not (the
default provider normally, the isolation provider in a case's isolated twin): a template
without them cannot be isolated, so its positive cases cannot prove who did the work.

``--provider-path DIR`` (with ``--provider-module``, ``--openssl-conf``) defines an
external backend on the spot, or points a named profile at another build.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import string
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.tomlfile import load_toml

PROFILE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "backends"
KEYS_DIR = PROFILE_DIR / "keys"
DEFAULT_MODULE = "azihsm_provider"
DEFAULT_PROPQUERY = "?provider=azihsm"
DEFAULT_REVISION = "2026-03"
REVISIONS = ("2026-03", "2026-08")
DEVICE_DIR_VAR = "AZIHSM_DEVICE_DIR"
EXTERNAL = "external"
ISOLATED_CONF = "isolation.cnf"
KEY_TYPES = ("ec", "rsa", "rsa-pss")
# the suite's usage names (the spec's), which a profile maps to its own tool's words
USAGES = ("digitalSignature", "keyAgreement", "keyEncipherment")
_PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)\}")


@dataclass(frozen=True)
class Deviation:
    clause: str
    reason: str


@dataclass(frozen=True)
class KeyRecipes:
    """How a backend makes keys and how a case names one (``keys`` of a profile).

    ``uri`` is a template: ``{path}`` is the key file as the case sees it (for backends whose
    keys are files), ``{name}`` the key's unique name, ``{type}`` ec/rsa/rsa-pss, plus the
    profile's variables. ``generate`` and ``import`` hold, per key type, the commands that
    make a key (a command starting with ``openssl`` runs with ``{PROV}`` replaced by the
    provider flags; others run as they are). ``public_uri`` names the public half alone where
    the backend keeps it apart (a PKCS#11 public object): verification and encryption use it,
    with ``-pubin`` for pkeyutl. Placeholders: ``{blob}`` (where a file key
    goes), ``{name}``, ``{id}`` (hex, unique per name), ``{curve}`` (P-256), ``{curve_name}``
    (prime256v1), ``{bits}``, ``{algorithm}`` (EC/RSA/RSA-PSS), ``{type}``, ``{usage}`` (the
    backend's word for it), ``{pkcs8}`` (the private key to import, DER), ``{python}``,
    ``{workspace}`` and the variables.
    """

    uri: str
    public_uri: str = ""  # a URI naming only the public half, where the backend has one
    files: bool = True
    types: tuple[str, ...] = KEY_TYPES
    curves: tuple[str, ...] = ("P-256", "P-384", "P-521")
    rsa_sizes: tuple[int, ...] = (2048, 3072, 4096)
    usage: dict[str, str] = field(default_factory=lambda: {u: u for u in USAGES})
    generate: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    imports: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    source: str = ""

    def can_generate(self, key_type: str) -> bool:
        return key_type in self.generate

    def can_import(self, key_type: str) -> bool:
        return key_type in self.imports


@dataclass(frozen=True)
class ProvisionStep:
    write: str = ""  # file name in the workspace
    text: str = ""
    run: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackendProfile:
    name: str
    description: str = ""
    provider_module: str = DEFAULT_MODULE
    provider_path: Path | None = None
    provider_path_from: str = ""  # "package.module:function" returning the provider directory
    provider_device: str = ""  # passed to that function as mode= ("server", "in-process")
    openssl_conf: Path | None = None
    propquery: str = DEFAULT_PROPQUERY
    error_origin: str = ""
    revision: str = DEFAULT_REVISION
    environment: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    provision: tuple[ProvisionStep, ...] = ()
    identity: tuple[str, ...] = ()
    fresh_device_dir: bool = False
    capabilities: frozenset[str] = frozenset({"*"})
    keys: KeyRecipes | None = None
    refusal_reasons: dict[str, str] = field(default_factory=dict)
    deviations: dict[str, Deviation] = field(default_factory=dict)
    source: str = ""  # where the profile came from, for messages

    def has_capability(self, name: str) -> bool:
        return "*" in self.capabilities or name in self.capabilities

    def claims_revision(self, revision: str) -> bool:
        """Whether a clause introduced in REVISION applies (the profile's is that or later)."""
        return REVISIONS.index(revision) <= REVISIONS.index(self.revision)

    @property
    def error_pattern(self) -> str:
        """The regex picking this provider's entries on the error stack (LIBRARY:FUNCTION)."""
        return self.error_origin or f"^{re.escape(self.provider_module)}:"

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
            return Path(function(mode=self.provider_device) if self.provider_device else function())
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
            raise UsageError(
                f"backend {self.name}: openssl config {self.openssl_conf} does not exist; fix --openssl-conf"
            )
        return directory

    # -- what PROV stands for --------------------------------------------------------------

    def provider_flags(self, *, isolated: bool = False) -> list[str]:
        """The spec's documented flag order, or just -propquery when the provider is loaded
        through openssl.cnf. ISOLATED: without ``-provider default`` (the isolated twin gets
        the isolation provider from its openssl.cnf instead)."""
        flags = ["-propquery", self.propquery]
        if self.openssl_conf is not None:
            return flags
        directory = self.provider_directory()
        prefix = ["-provider-path", str(directory)] if directory is not None else []
        support = [] if isolated else ["-provider", "default"]
        return prefix + flags + support + ["-provider", self.provider_module]

    @property
    def isolatable(self) -> bool:
        """Whether a case can run an isolated twin (a conf template must name the support provider)."""
        if self.openssl_conf is None:
            return True
        text = self.openssl_conf.read_text() if self.openssl_conf.is_file() else ""
        return "${SUPPORT_NAME}" in text and "${SUPPORT_MODULE}" in text

    # -- the workspace ---------------------------------------------------------------------

    def values(self, workspace: Path) -> dict[str, str]:
        """Placeholder values for this workspace: the variables, plus workspace and python."""
        return {**self.variables, "workspace": str(workspace), "python": sys.executable}

    def prepare(self, workspace: Path, isolation_module: Path | None = None) -> dict[str, str]:
        """Set up WORKSPACE (this run's, or this worker's, private directory): provisioning
        steps, device directory, openssl.cnf; returns the environment every openssl command
        of the backend gets. With ISOLATION_MODULE, also writes WORKSPACE/isolation.cnf,
        what the isolated twins run with (``isolated_environment``)."""
        workspace.mkdir(parents=True, exist_ok=True)
        values = self.values(workspace)
        env = {
            name: fill(value, values, f"backend {self.name}: environment {name}")
            for name, value in self.environment.items()
        }
        device_dir = env.get(DEVICE_DIR_VAR, "")
        if self.fresh_device_dir:
            device = workspace / "device"
            device.mkdir(exist_ok=True)
            device_dir = env[DEVICE_DIR_VAR] = str(device)
        self._provision(workspace, values, env)
        if self.openssl_conf is not None:
            env["OPENSSL_CONF"] = str(self._render_conf(workspace, device_dir, "openssl.cnf", None))
        if isolation_module is not None:
            self._write_isolated_conf(workspace, device_dir, isolation_module)
        return env

    def read_identity(self, workspace: Path, env: dict[str, str]) -> str:
        """What the profile's identity command prints in WORKSPACE ('' without one); a
        failing command is reported in its output, it does not stop a run."""
        if not self.identity:
            return ""
        argv = [fill(arg, self.values(workspace), f"backend {self.name}: identity") for arg in self.identity]
        try:
            done = subprocess.run(
                argv,
                cwd=workspace,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                errors="replace",
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"(identity command {' '.join(argv)} could not run: {exc})"
        text = done.stdout.strip()
        if done.returncode != 0:
            text += f"\n(identity command exited {done.returncode}: {done.stderr.strip()[-300:]})"
        return text[:4000]

    def isolated_environment(self, env: dict[str, str], workspace: Path) -> dict[str, str]:
        """ENV (from ``prepare``) for an isolated twin; the withheld classes are added by the caller."""
        return {**env, "OPENSSL_CONF": str(workspace / ISOLATED_CONF)}

    def _provision(self, workspace: Path, values: dict[str, str], env: dict[str, str]) -> None:
        marker = workspace / ".provisioned"
        if not self.provision or marker.exists():
            return
        for number, step in enumerate(self.provision, start=1):
            where = f"backend {self.name}: provision step {number}"
            if step.write:
                target = workspace / fill(step.write, values, where)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(fill(step.text, values, where))
                continue
            argv = [fill(arg, values, where) for arg in step.run]
            try:
                done = subprocess.run(
                    argv,
                    cwd=workspace,
                    env={**os.environ, **env},
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=120,
                    stdin=subprocess.DEVNULL,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise UsageError(
                    f"{where} ({' '.join(argv)}) could not run: {exc}; install what the profile needs"
                ) from None
            if done.returncode != 0:
                last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
                raise UsageError(f"{where} ({' '.join(argv)}) failed with exit code {done.returncode}: {last[0]}")
        marker.write_text("")

    def _render_conf(self, workspace: Path, device_dir: str, target_name: str, isolation_module: Path | None) -> Path:
        text = self.openssl_conf.read_text()
        if "${" not in text:
            return self.openssl_conf
        directory = self.provider_directory()
        values = {
            "PROVIDER_DIR": str(directory or ""),
            "MODULE": self.provider_module,
            # the module file, or its bare name when OpenSSL is to find it in MODULESDIR
            "MODULE_PATH": f"{directory}/{self.provider_module}.so" if directory else self.provider_module,
            "DEVICE_DIR": device_dir,
            "WORKSPACE": str(workspace),
            "SUPPORT_NAME": "isolation" if isolation_module else "default",
            "SUPPORT_MODULE": f"module = {isolation_module}" if isolation_module else "",
            **self.variables,
        }
        try:
            rendered = string.Template(text).substitute(values)
        except (KeyError, ValueError) as exc:
            raise UsageError(
                f"backend {self.name}: openssl config template {self.openssl_conf} uses an unknown "
                f"placeholder {exc}; only {', '.join('${' + name + '}' for name in values)} exist"
            ) from None
        target = workspace / target_name
        temporary = target.with_suffix(".cnf.tmp")
        temporary.write_text(rendered)
        temporary.replace(target)
        return target

    def _write_isolated_conf(self, workspace: Path, device_dir: str, module: Path) -> None:
        from azihsm_conformance.harness.isolation import conf_text

        if self.openssl_conf is None:
            (workspace / ISOLATED_CONF).write_text(conf_text(module))
        elif self.isolatable:
            self._render_conf(workspace, device_dir, ISOLATED_CONF, module)


def fill(template: str, values: dict[str, str], where: str) -> str:
    """TEMPLATE with its {placeholders} replaced; an unknown one is a profile error."""

    def one(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise UsageError(f"{where}: unknown placeholder {{{name}}}; known: {', '.join(sorted(values))}")
        return str(values[name])

    return _PLACEHOLDER.sub(one, template)


def key_id(name: str) -> str:
    """A stable hex identifier for a key name (a PKCS#11 CKA_ID, say)."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


# -- loading ---------------------------------------------------------------------------------


def available_backends() -> list[str]:
    return sorted(path.stem for path in PROFILE_DIR.glob("*.toml"))


_TOP_KEYS = {
    "extends",
    "name",
    "description",
    "revision",
    "capabilities",
    "fresh_device_dir",
    "keys",
    "provider",
    "environment",
    "variables",
    "provision",
    "identity",
    "refusal_reasons",
    "deviation",
}
_PROVIDER_KEYS = {"module", "path", "path_from", "device", "openssl_conf", "propquery", "error_origin"}
DEVICE_MODES = ("server", "in-process")
_KEY_KEYS = {"uri", "public_uri", "files", "types", "curves", "rsa_sizes", "usage", "generate", "import"}


def _profile_data(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """PATH's data, over the data of the profile it ``extends`` (tables merge key by key,
    everything else is replaced; a [[deviation]] or [[provision]] list replaces the base's)."""
    data = load_toml(path, "backend profile")
    base = data.get("extends")
    if not base:
        return data
    base_path = (path.parent / f"{base}.toml").resolve()
    if base_path in seen or base_path == path.resolve():
        raise UsageError(f"backend profile {path}: extends '{base}' makes a cycle")
    if not base_path.is_file():
        raise UsageError(f"backend profile {path}: extends '{base}', but there is no {base_path}")
    merged = _profile_data(base_path, (*seen, path.resolve()))
    merged.pop("name", None)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    merged.pop("extends", None)
    return merged


def load_profile(path: Path) -> BackendProfile:
    data = _profile_data(path)
    where = f"backend profile {path}"
    provider = data.get("provider", {})
    unknown = set(data) - _TOP_KEYS
    unknown |= {f"provider.{key}" for key in set(provider) - _PROVIDER_KEYS}
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; see harness/backends.py for the format"
        )
    if provider.get("path") and provider.get("path_from"):
        raise UsageError(f"{where}: give provider.path or provider.path_from, not both")
    device = str(provider.get("device", ""))
    if device and (device not in DEVICE_MODES or not provider.get("path_from")):
        raise UsageError(f"{where}: provider.device must be one of {', '.join(DEVICE_MODES)}, with provider.path_from")
    revision = str(data.get("revision", DEFAULT_REVISION))
    if revision not in REVISIONS:
        raise UsageError(f"{where}: revision '{revision}' is not one of {', '.join(REVISIONS)}")
    deviations = {}
    for entry in data.get("deviation", []):
        if not entry.get("clause") or not entry.get("reason"):
            raise UsageError(f"{where}: every [[deviation]] needs a clause and a reason")
        deviations[entry["clause"]] = Deviation(entry["clause"], " ".join(str(entry["reason"]).split()))
    steps = []
    for number, entry in enumerate(data.get("provision", []), start=1):
        if bool(entry.get("write")) == bool(entry.get("run")) or set(entry) - {"write", "text", "run"}:
            raise UsageError(
                f"{where}: [[provision]] step {number} needs either write (+ text) or run, and nothing else"
            )
        steps.append(
            ProvisionStep(
                write=str(entry.get("write", "")),
                text=str(entry.get("text", "")),
                run=tuple(str(arg) for arg in entry.get("run", ())),
            )
        )
    for kind, pattern in [
        *data.get("refusal_reasons", {}).items(),
        ("provider.error_origin", provider.get("error_origin", "")),
    ]:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"{where}: refusal_reasons.{kind} is not a valid regular expression ({exc})") from None
    conf = provider.get("openssl_conf")
    return BackendProfile(
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        provider_module=str(provider.get("module", DEFAULT_MODULE)),
        provider_path=_relative_to(path, provider.get("path")),
        provider_path_from=str(provider.get("path_from", "")),
        provider_device=device,
        openssl_conf=_relative_to(path, conf),
        propquery=str(provider.get("propquery", DEFAULT_PROPQUERY)),
        error_origin=str(provider.get("error_origin", "")),
        revision=revision,
        environment={str(k): str(v) for k, v in data.get("environment", {}).items()},
        variables={str(k): str(v) for k, v in data.get("variables", {}).items()},
        provision=tuple(steps),
        identity=tuple(str(arg) for arg in data.get("identity", ())),
        fresh_device_dir=bool(data.get("fresh_device_dir", False)),
        capabilities=frozenset(data.get("capabilities", ["*"])),
        keys=_load_keys(data.get("keys"), where),
        refusal_reasons={str(k): str(v) for k, v in data.get("refusal_reasons", {}).items()},
        deviations=deviations,
        source=str(path.resolve()),
    )


def _load_keys(value, where: str) -> KeyRecipes | None:
    if value is None:
        return None
    if isinstance(value, str):
        path = KEYS_DIR / f"{value}.toml"
        if not path.is_file():
            names = ", ".join(sorted(p.stem for p in KEYS_DIR.glob("*.toml")))
            raise UsageError(f"{where}: keys = '{value}' names no file {path} (available: {names})")
        value, where = load_toml(path, "key recipes"), f"key recipes {path}"
    unknown = set(value) - _KEY_KEYS
    if unknown or "uri" not in value:
        raise UsageError(f"{where}: key recipes need 'uri'; unknown key(s): {', '.join(sorted(unknown)) or 'none'}")

    def commands(table_name: str) -> dict[str, tuple[tuple[str, ...], ...]]:
        table = value.get(table_name, {})
        bad = set(table) - set(KEY_TYPES)
        if bad:
            raise UsageError(
                f"{where}: {table_name} has unknown key type(s) {', '.join(sorted(bad))}; use {', '.join(KEY_TYPES)}"
            )
        return {kind: tuple(tuple(str(arg) for arg in command) for command in steps) for kind, steps in table.items()}

    usage = {**{u: u for u in USAGES}, **{str(k): str(v) for k, v in value.get("usage", {}).items()}}
    return KeyRecipes(
        uri=str(value["uri"]),
        public_uri=str(value.get("public_uri", "")),
        files=bool(value.get("files", True)),
        types=tuple(value.get("types", KEY_TYPES)),
        curves=tuple(value.get("curves", ("P-256", "P-384", "P-521"))),
        rsa_sizes=tuple(int(bits) for bits in value.get("rsa_sizes", (2048, 3072, 4096))),
        usage=usage,
        generate=commands("generate"),
        imports=commands("import"),
        source=where,
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
    if profile.name == EXTERNAL and not (
        provider_path or openssl_conf or profile.provider_path or profile.openssl_conf
    ):
        raise UsageError(
            "backend external needs --provider-path DIR (the directory holding azihsm_provider.so) or --openssl-conf FILE"
        )
    overrides: dict = {}
    if provider_path:
        overrides.update(provider_path=Path(provider_path).expanduser().resolve(), provider_path_from="")
    if provider_module:
        overrides["provider_module"] = provider_module
    if openssl_conf:
        overrides["openssl_conf"] = Path(openssl_conf).expanduser().resolve()
    return replace(profile, **overrides) if overrides else profile
