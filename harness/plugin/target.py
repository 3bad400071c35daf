"""Options, and the state every other part of the plugin reads: what is being tested.

The plugin is installed as a pytest11 entry point, so it is present in every pytest run of
the environment; it stays dormant (no option but its own, no hook doing anything) until a
run asks for it: any ``--azihsm-...`` target option, or the conformance suite's conftest
calling :func:`activate`.

The target (openssl, backend, provider identity, isolation provider) is resolved once: by
``azihsm-conformance run``, which passes it in ``--azihsm-target FILE``, or else by this
controller; xdist workers always receive the controller's file, so one run tests exactly
one build even if sources change meanwhile, and the provider is loaded once.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from azihsm_conformance.harness import __version__
from azihsm_conformance.harness import store as st
from azihsm_conformance.harness.clauses import DEFAULT_PATH as CATALOGUE_PATH
from azihsm_conformance.harness.clauses import Catalogue, load_catalogue
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.markers import MARKERS
from azihsm_conformance.harness.runner import DEFAULT_TIMEOUT
from azihsm_conformance.harness.target import Target, load_target, resolve_target

LEVELS = ("quick", "full", "hostile")
DEFAULT_RESULTS = Path("azihsm-results") / st.DEFAULT_FILENAME
TARGET_KEY = "azihsm_target"  # xdist workerinput: the controller's target file


@dataclass
class HarnessState:
    target: Target
    catalogue: Catalogue
    level: str
    timeout: float
    target_file: Path
    store: st.ResultsStore | None = None
    run_id: str = ""

    @property
    def install(self):
        return self.target.install

    @property
    def backend(self):
        return self.target.backend

    @property
    def clauses(self):
        return self.catalogue.clauses


STATE = pytest.StashKey[HarnessState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("azihsm", "azihsm conformance harness")
    add = group.addoption
    add(
        "--azihsm-backend",
        default=None,
        help="backend profile name or NAME.toml file (default: reference, or external with --azihsm-provider-path)",
    )
    add(
        "--azihsm-openssl",
        default=None,
        help="openssl binary path, name on PATH, or version like 3.5 (default: $AZIHSM_OPENSSL, then PATH)",
    )
    add("--azihsm-provider-path", default=None, help="directory holding the provider .so: defines an external backend")
    add("--azihsm-provider-module", default=None, help="provider module name (default azihsm_provider)")
    add("--azihsm-openssl-conf", default=None, help="openssl.cnf (or template) that loads the provider")
    add(
        "--azihsm-target",
        default=None,
        help="a target file written by 'azihsm-conformance run' (replaces the options above)",
    )
    add("--azihsm-results", default=str(DEFAULT_RESULTS), help=f"results database (default ./{DEFAULT_RESULTS})")
    add(
        "--azihsm-level",
        default="full",
        choices=LEVELS,
        help="quick: representative cases per clause, no slow cases; full: everything but the hostile-input campaign; "
        "hostile: only the campaign",
    )
    add(
        "--azihsm-hostile-budget",
        type=int,
        default=25,
        metavar="N",
        help="hostile level: inputs per family of the campaign (default 25; a long campaign: 2000)",
    )
    add(
        "--azihsm-hostile-seed",
        type=int,
        default=1,
        metavar="SEED",
        help="hostile level: the campaign's random seed (default 1: the same inputs on every run)",
    )
    add("--azihsm-clauses", default=None, help="clause catalogue (default fixtures/clauses.toml)")
    add(
        "--azihsm-command-timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        help="seconds before one openssl command counts as hung",
    )
    add("--azihsm-run-id", default=None, help="id for this run in the results database (default: generated)")
    add(
        "--azihsm-progress",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a progress line (done/total, ETA, cases against, long-running cases) every SECONDS on stderr "
        "(default 5 on a terminal, 15 otherwise; 0: none)",
    )


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise pytest.UsageError(f"--azihsm-command-timeout {text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise pytest.UsageError(f"--azihsm-command-timeout {text} must be more than 0 and at most 3600 seconds")
    return value


_TARGET_OPTIONS = ("azihsm_target", "azihsm_backend", "azihsm_openssl", "azihsm_provider_path", "azihsm_openssl_conf")


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    asked = any(getattr(config.option, name, None) for name in _TARGET_OPTIONS)
    if asked or TARGET_KEY in getattr(config, "workerinput", {}):
        activate(config)


def activate(config: pytest.Config) -> None:
    """Resolve the target and open the record: from here on the plugin's hooks and fixtures
    work. Called once per process (a second call changes nothing)."""
    if STATE in config.stash or _informational(config):
        return  # already active; or pytest --help, --markers, --fixtures: nothing runs
    controller = not hasattr(config, "workerinput")
    try:
        state = _build_state(config, controller)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[STATE] = state
    if state.store is not None:
        from azihsm_conformance.harness.plugin.progress import Progress, interval_for
        from azihsm_conformance.harness.plugin.recording import ResultsRecorder

        config.pluginmanager.register(ResultsRecorder(state), "azihsm-results-recorder")
        interval = interval_for(config.option.azihsm_progress, sys.stderr)
        if interval > 0:
            config.pluginmanager.register(Progress(interval), "azihsm-progress")


def active(config: pytest.Config) -> bool:
    return STATE in config.stash


def _informational(config: pytest.Config) -> bool:
    option = config.option
    return any(
        getattr(option, name, False)
        for name in ("help", "version", "markers", "showfixtures", "show_fixtures_per_test")
    )


def _build_state(config: pytest.Config, controller: bool) -> HarnessState:
    opt = config.option
    given = getattr(config, "workerinput", {}).get(TARGET_KEY) or opt.azihsm_target
    if given:
        target, target_file = load_target(given), Path(given)
    else:
        target = resolve_target(
            opt.azihsm_openssl,
            opt.azihsm_backend,
            provider_path=opt.azihsm_provider_path,
            provider_module=opt.azihsm_provider_module,
            openssl_conf=opt.azihsm_openssl_conf,
        )
        handle, name = tempfile.mkstemp(prefix="azihsm-target-", suffix=".json")
        os.close(handle)
        target_file = target.write(Path(name))
        config.add_cleanup(lambda: Path(name).unlink(missing_ok=True))
    catalogue = load_catalogue(opt.azihsm_clauses or CATALOGUE_PATH)
    unknown = sorted(set(target.backend.capabilities) - set(catalogue.capabilities) - {"*"})
    if unknown and catalogue.path == CATALOGUE_PATH:  # a custom catalogue may define fewer
        raise UsageError(
            f"backend {target.backend.name} claims unknown capability {', '.join(unknown)}; "
            f"the catalogue {catalogue.path} defines {', '.join(sorted(catalogue.capabilities))}"
        )
    unknown = sorted(set(target.backend.deviations) - set(catalogue.clauses))
    if unknown:
        raise UsageError(
            f"backend {target.backend.name} declares deviations of clause(s) {', '.join(unknown)} missing from {catalogue.path}"
        )
    state = HarnessState(
        target=target,
        catalogue=catalogue,
        level=opt.azihsm_level,
        timeout=opt.azihsm_command_timeout,
        target_file=target_file,
    )
    if controller and not opt.collectonly:  # a run is recorded only when cases run
        state.store = st.ResultsStore(opt.azihsm_results)
        state.run_id = state.store.begin_run(_run_record(config, state))
    return state


def _run_record(config: pytest.Config, state: HarnessState) -> st.RunRecord:
    provider, backend = state.target.provider, state.backend
    directory = backend.provider_directory()
    return st.RunRecord(
        id=config.option.azihsm_run_id or "",
        backend=backend.name,
        backend_source=backend.source,
        provider_dir=str(directory or backend.openssl_conf or ""),
        provider_name=provider.name,
        provider_version=provider.version,
        provider_buildinfo=provider.buildinfo,
        openssl_version=state.install.version_string,
        openssl_version_text=state.install.version_text,
        openssl_path=str(state.install.path),
        level=state.level,
        host=f"{socket.gethostname()} ({platform.system()} {platform.machine()}, Python {platform.python_version()})",
        project_version=__version__,
        command=" ".join([Path(sys.argv[0]).name, *config.invocation_params.args]),
        revision=backend.revision,
        capabilities=" ".join(sorted(backend.capabilities)),
        identity=state.target.identity,
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None:
        return []
    backend = state.backend
    lines = [
        f"azihsm backend: {backend.name} ({backend.source}); revision {backend.revision}; "
        f"capabilities {', '.join(sorted(backend.capabilities))}",
        f"azihsm openssl: {state.install.describe()}",
        f"azihsm provider: {state.target.provider.describe()} (loaded as {state.target.provider.load_name})",
        "azihsm provenance: "
        + (
            f"isolated twins through {state.target.isolation_module}"
            if state.target.isolation_module
            else "none possible (the backend's openssl.cnf names no ${SUPPORT_NAME})"
        ),
        f"azihsm level: {state.level}; clauses: {state.catalogue.path}",
    ]
    if state.store:
        lines.append(f"azihsm results: {state.store.path} (run {state.run_id})")
    return lines
