"""The harness's pytest plugin: fixtures and markers for the conformance suite (the
contract is docs/suite-api.md), levels, backend deviations, and the results record.

Loaded with ``-p harness.pytest_plugin`` (``azihsm-conformance run`` does this) or by
``conformance/conftest.py``. Under pytest-xdist the workers collect and run the cases;
the controller alone writes the results store, from the reports the workers send back,
so there is exactly one writer and every case is stored as soon as it finishes.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import __version__
from harness.backends import BackendProfile, resolve_backend
from harness.clauses import DEFAULT_PATH as CATALOGUE_PATH
from harness.clauses import Clause, load_clauses
from harness.errors import UsageError
from harness.openssl import OpenSSLInstall, resolve_openssl
from harness.provider_info import ProviderInfo, ProviderLoadError, identify_provider
from harness.runner import DEFAULT_TIMEOUT, CommandResult, excerpt, run_command
from harness import store as st

LEVELS = ("quick", "full")
DEFAULT_RESULTS = Path("azihsm-results") / st.DEFAULT_FILENAME
CASE_PROPERTY = "azihsm.case"
COMMANDS_PROPERTY = "azihsm.commands"
OBSERVED_PROPERTY = "azihsm.observed"
STDERR_EXCERPT = 2000


class _ProviderFlags:
    """The PROV marker argument: replaced by the backend's provider flags in place."""

    def __repr__(self) -> str:
        return "PROV"


PROV = _ProviderFlags()


@dataclass
class HarnessState:
    install: OpenSSLInstall
    backend: BackendProfile
    clauses: dict[str, Clause]
    clauses_path: Path | None
    level: str
    timeout: float
    provider: ProviderInfo | None = None
    store: st.ResultsStore | None = None
    run_id: str = ""


_STATE = pytest.StashKey[HarnessState]()
_RESOLVED_KEY = "azihsm_resolved"
_COMMANDS = pytest.StashKey[list]()


# -- options and set-up ------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("azihsm", "azihsm conformance harness")
    group.addoption("--backend", default=None, help="backend profile name or NAME.toml file (default: reference, or external with --provider-path)")
    group.addoption("--openssl", default=None, help="openssl binary path, name on PATH, or version like 3.5 (default: $AZIHSM_OPENSSL, then PATH)")
    group.addoption("--provider-path", default=None, help="directory holding the provider .so: defines an external backend")
    group.addoption("--provider-module", default=None, help="provider module name (default azihsm_provider)")
    group.addoption("--openssl-conf", default=None, help="openssl.cnf (or template) that loads the provider")
    group.addoption("--results", default=str(DEFAULT_RESULTS), help=f"results database (default ./{DEFAULT_RESULTS})")
    group.addoption("--level", default="full", choices=LEVELS, help="quick: one representative case per clause, no slow cases; full: everything")
    group.addoption("--clauses", default=None, help="clause catalogue (default fixtures/clauses.toml)")
    group.addoption("--command-timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds before one openssl command counts as hung")
    group.addoption("--run-id", default=None, help="id for this run in the results database (default: generated)")


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "clause(id): the catalogue clause a conformance case checks (exactly one per case)",
        "needs(*capabilities): backend capabilities the case requires",
        "quick: the representative case(s) of a clause run at --level quick",
        "slow: long-running cases (only at --level full)",
    ):
        config.addinivalue_line("markers", line)
    if _informational(config):
        return  # pytest --help, --markers, --fixtures: nothing runs, nothing to resolve
    controller = not hasattr(config, "workerinput")
    try:
        state = _build_state(config, controller)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_STATE] = state
    if state.store is not None:
        config.pluginmanager.register(ResultsRecorder(state), "azihsm-results-recorder")


def _informational(config: pytest.Config) -> bool:
    option = config.option
    return any(getattr(option, name, False) for name in ("help", "version", "markers", "showfixtures", "show_fixtures_per_test"))


def _build_state(config: pytest.Config, controller: bool) -> HarnessState:
    opt = config.option
    # xdist workers take the controller's resolved binary and provider directory, so one
    # run uses one build even if the reference's sources change while it runs
    resolved = getattr(config, "workerinput", {}).get(_RESOLVED_KEY, {})
    install = resolve_openssl(resolved.get("openssl") or opt.openssl)
    backend = resolve_backend(
        resolved.get("backend") or opt.backend,
        provider_path=resolved.get("provider_path") or opt.provider_path,
        provider_module=opt.provider_module,
        openssl_conf=opt.openssl_conf,
    )
    backend.check()
    # the catalogue is optional until the suite ships one; a --clauses file must exist
    catalogue = Path(opt.clauses) if opt.clauses else CATALOGUE_PATH
    clauses = load_clauses(catalogue) if (opt.clauses or catalogue.is_file()) else {}
    state = HarnessState(
        install=install,
        backend=backend,
        clauses=clauses,
        clauses_path=catalogue if clauses else None,
        level=opt.level,
        timeout=opt.command_timeout,
    )
    if controller:
        try:
            state.provider, _ = identify_provider(install, backend)
        except ProviderLoadError as exc:
            raise UsageError(
                f"backend {backend.name}: {exc}; replay: {exc.result.command_line} ; "
                "run 'azihsm-conformance doctor' for what to fix"
            ) from None
        if not opt.collectonly:  # a run is recorded only when cases run
            state.store = st.ResultsStore(opt.results)
            state.run_id = state.store.begin_run(_run_record(config, state))
    return state


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist: hand each worker what the controller resolved."""
    state = node.config.stash.get(_STATE, None)
    if state is not None:
        directory = state.backend.provider_directory()
        # the profile file too: a worker given only a provider directory would take it for
        # an external backend (and lose the reference's per-worker device directory)
        node.workerinput[_RESOLVED_KEY] = {
            "openssl": str(state.install.path),
            "backend": state.backend.source,
            "provider_path": str(directory) if directory else "",
        }


def _run_record(config: pytest.Config, state: HarnessState) -> st.RunRecord:
    provider = state.provider
    directory = state.backend.provider_directory()
    return st.RunRecord(
        id=config.option.run_id or "",
        backend=state.backend.name,
        backend_source=state.backend.source,
        provider_dir=str(directory or state.backend.openssl_conf or ""),
        provider_name=provider.name if provider else "",
        provider_version=provider.version if provider else "",
        provider_buildinfo=provider.buildinfo if provider else "",
        openssl_version=state.install.version_string,
        openssl_version_text=state.install.version_text,
        openssl_path=str(state.install.path),
        level=state.level,
        host=f"{socket.gethostname()} ({platform.system()} {platform.machine()}, Python {platform.python_version()})",
        project_version=__version__,
        command=" ".join([Path(sys.argv[0]).name, *config.invocation_params.args]),
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(_STATE, None)
    if state is None:
        return []
    lines = [
        f"azihsm backend: {state.backend.name} ({state.backend.source})",
        f"azihsm openssl: {state.install.describe()}",
    ]
    if state.provider:
        lines.append(f"azihsm provider: {state.provider.describe()} (loaded as {state.provider.load_name})")
    lines.append(f"azihsm level: {state.level}; clauses: {state.clauses_path or 'no catalogue'}")
    if state.store:
        lines.append(f"azihsm results: {state.store.path} (run {state.run_id})")
    return lines


# -- collection: clauses, levels, capabilities, deviations -----------------------------------


def _clause_of(item: pytest.Item) -> str:
    marks = list(item.iter_markers("clause"))
    if len(marks) != 1 or len(marks[0].args) != 1 or not isinstance(marks[0].args[0], str):
        found = "no clause marker" if not marks else f"{len(marks)} clause markers"
        raise UsageError(f"{item.nodeid}: {found}; every conformance case needs exactly one @pytest.mark.clause(\"CLAUSE-ID\")")
    return marks[0].args[0]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[_STATE]
    try:
        clause_ids = {item.nodeid: _clause_of(item) for item in items}
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    if state.clauses:
        unknown = sorted({cid for cid in clause_ids.values() if cid not in state.clauses})
        if unknown:
            raise pytest.UsageError(
                f"clause id(s) {', '.join(unknown)} are not in {state.clauses_path}; add them to the catalogue or fix the marker"
            )
    keep, dropped = _select_level(items, clause_ids, state.level)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    for item in items:
        _apply_backend(item, clause_ids[item.nodeid], state)


def _select_level(items, clause_ids, level):
    """quick: no slow cases, and per clause the cases marked @pytest.mark.quick, or the
    first collected case when none is marked."""
    if level == "full":
        return items, []
    candidates = [item for item in items if item.get_closest_marker("slow") is None]
    marked = {clause_ids[item.nodeid] for item in candidates if item.get_closest_marker("quick")}
    chosen, seen = set(), set()
    for item in candidates:
        clause = clause_ids[item.nodeid]
        if clause in marked:
            if item.get_closest_marker("quick"):
                chosen.add(item.nodeid)
        elif clause not in seen:
            chosen.add(item.nodeid)
        seen.add(clause)
    keep = [item for item in items if item.nodeid in chosen]
    return keep, [item for item in items if item.nodeid not in chosen]


def _apply_backend(item: pytest.Item, clause_id: str, state: HarnessState) -> None:
    clause = state.clauses.get(clause_id)
    deviation = state.backend.deviations.get(clause_id)
    item.user_properties.append(
        (
            CASE_PROPERTY,
            {
                "case_id": stable_case_id(Path(item.path), item.nodeid),
                "clause": clause_id,
                "level": clause.level if clause else "",
                "params": _params(item),
                "deviation": deviation.reason if deviation else "",
            },
        )
    )
    if clause and not clause.applies_to(state.install.version):
        item.add_marker(pytest.mark.skip(reason=f"clause {clause_id} applies to OpenSSL {clause.openssl}, not {state.install.version_string}"))
    for mark in item.iter_markers("needs"):
        for capability in mark.args:
            if not state.backend.has_capability(capability):
                item.add_marker(pytest.mark.skip(reason=f"backend lacks {capability}"))
    if deviation:
        item.add_marker(pytest.mark.xfail(reason=f"known deviation of backend {state.backend.name}: {deviation.reason}", strict=True))


def _params(item: pytest.Item) -> dict:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    params = {name: value if isinstance(value, (str, int, float, bool, type(None))) else str(value) for name, value in callspec.params.items()}
    params["id"] = callspec.id
    return params


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _backend_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The backend's environment in this process's own workspace: pytest's temp dirs are
    per run and per xdist worker, so the reference gets a fresh device per worker."""
    state = request.config.stash[_STATE]
    try:
        return state.backend.prepare(tmp_path_factory.mktemp(f"backend-{state.backend.name}"))
    except UsageError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> BackendProfile:
    return request.config.stash[_STATE].backend


@pytest.fixture
def openssl_version(request: pytest.FixtureRequest) -> tuple[int, int, int]:
    return request.config.stash[_STATE].install.version


@pytest.fixture
def observe(request: pytest.FixtureRequest):
    """``observe(text)`` records what the backend did in this case (one short sentence).
    INFO clauses use it, so the report says what each backend does, not only "pass"."""

    def record(text: str) -> None:
        request.node.user_properties.append((OBSERVED_PROPERTY, str(text)))

    return record


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    directory = tmp_path / "work"
    directory.mkdir()
    return directory


class OpenSSLCommand:
    """The ``openssl`` fixture: runs commands for one case and fails it on surprises."""

    def __init__(self, state: HarnessState, env: dict[str, str], cwd: Path, stdin_dir: Path, log: list):
        self._state = state
        self._env = {**state.install.env, **env}
        self.cwd = cwd
        self._stdin_dir = stdin_dir
        self._log = log

    def argv(self, *args) -> list[str]:
        flags = self._state.backend.provider_flags()
        expanded: list[str] = [str(self._state.install.path)]
        for arg in args:
            expanded.extend(flags if arg is PROV else [os.fspath(arg) if isinstance(arg, os.PathLike) else str(arg)])
        return expanded

    def __call__(
        self,
        *args,
        input: bytes | str | None = None,
        expect_fail: bool | None = False,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> CommandResult:
        """Run ``openssl ARGS`` (PROV expanded). EXPECT_FAIL: False = must exit 0, True = must
        not, None = either is fine (an INFO case recording what the backend does). A hang,
        a crash or a Python traceback fails the case whatever EXPECT_FAIL says."""
        if isinstance(input, str):
            input = input.encode()
        result = run_command(
            self.argv(*args),
            cwd=self.cwd,
            env={**self._env, **(env or {})},
            input=input,
            timeout=timeout or self._state.timeout,
            stdin_dir=self._stdin_dir,
        )
        self._log.append(result)
        if result.abnormal:
            pytest.fail(_failure("openssl " + result.describe(), result), pytrace=False)
        if expect_fail is True and result.returncode == 0:
            pytest.fail(_failure("openssl succeeded but this case expects it to fail", result), pytrace=False)
        if expect_fail is False and result.returncode != 0:
            pytest.fail(_failure(f"openssl failed ({result.describe()})", result), pytrace=False)
        return result


def _failure(headline: str, result: CommandResult) -> str:
    stderr = excerpt(result.stderr.strip(), STDERR_EXCERPT) or "(empty)"
    return f"{headline}\n  replay: {result.command_line}\n  stderr: {stderr}"


@pytest.fixture
def openssl(request: pytest.FixtureRequest, _backend_env: dict[str, str], workdir: Path, tmp_path: Path) -> OpenSSLCommand:
    log = request.node.stash.setdefault(_COMMANDS, [])
    return OpenSSLCommand(request.config.stash[_STATE], _backend_env, workdir, tmp_path / "stdin", log)


# -- recording -------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    commands: list[CommandResult] = item.stash.get(_COMMANDS, [])
    if commands:
        report.user_properties.append((COMMANDS_PROPERTY, [c.to_record() for c in commands]))
        if report.when == "call" or report.failed:
            report.sections.append(("openssl commands", "\n".join(f"$ {c.command_line}  # {c.describe()}" for c in commands)))
    return report


class ResultsRecorder:
    """Writes each case to the store when its teardown report arrives (controller only)."""

    def __init__(self, state: HarnessState):
        self.state = state
        self.pending: dict[str, list[pytest.TestReport]] = {}
        self.collection_errors = 0

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a suite module that does not import: the run is not a real run
            self.collection_errors += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.pending.setdefault(report.nodeid, []).append(report)
        if report.when == "teardown":
            case = case_from_reports(self.pending.pop(report.nodeid))
            if case is not None:
                self.state.store.record_case(self.state.run_id, case)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        status = {
            pytest.ExitCode.INTERRUPTED: st.INTERRUPTED,
            pytest.ExitCode.USAGE_ERROR: st.ABORTED,
            pytest.ExitCode.INTERNAL_ERROR: st.ABORTED,
        }.get(exitstatus, st.COMPLETE)
        if self.collection_errors:
            status = st.ABORTED
        self.state.store.finish_run(self.state.run_id, status, int(exitstatus))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.write_line(f"azihsm: run {self.state.run_id} recorded in {self.state.store.path}")

    def pytest_unconfigure(self) -> None:
        self.state.store.close()


def stable_case_id(path: Path, nodeid: str) -> str:
    """The case's id without the part that depends on where the suite lives or which
    rootdir pytest picked: ``conformance/test_sign.py::test_ecdsa[P384]`` from a checkout
    and from site-packages both become ``test_sign.py::test_ecdsa[P384]``."""
    parts = path.parts
    if "conformance" in parts:
        relative = "/".join(parts[len(parts) - parts[::-1].index("conformance"):])
    else:
        relative = path.name
    _, sep, rest = nodeid.partition("::")
    return relative + sep + rest


def case_from_reports(reports: list[pytest.TestReport]) -> st.CaseRecord | None:
    """One stored case from the setup/call/teardown reports of one test."""
    info, commands, observed = {}, [], []
    for report in reports:
        for name, value in report.user_properties:
            if name == CASE_PROPERTY:
                info = value
            elif name == COMMANDS_PROPERTY:
                commands = value
            elif name == OBSERVED_PROPERTY and value not in observed:
                observed.append(value)
    if not info:
        return None  # not a conformance case (no clause): nothing to record
    outcome, message = _outcome(reports, info)
    if outcome == st.PASSED and observed:
        message = "; ".join(observed)
    abnormal = [c for c in commands if c["outcome"] in (st.TIMEOUT, st.CRASH, st.TRACEBACK)]
    if abnormal and st.CATEGORY[outcome] == "fail":
        outcome = abnormal[-1]["outcome"]
    failing = [c for c in commands if c["outcome"] != "ok"] or commands
    return st.CaseRecord(
        case_id=info["case_id"],
        clause_id=info["clause"],
        clause_level=info["level"],
        params=info["params"],
        outcome=outcome,
        duration=sum(r.duration for r in reports),
        message=message,
        stderr_excerpt=excerpt(failing[-1]["stderr"], STDERR_EXCERPT) if failing else "",
        commands=[st.CommandRecord(c["command_line"], c["returncode"], c["outcome"], c["duration"], c["stderr"]) for c in commands],
    )


def _outcome(reports: list[pytest.TestReport], info: dict) -> tuple[str, str]:
    for report in reports:
        if report.failed:
            text = report.longreprtext.strip()
            if report.when != "call":
                return st.ERROR, f"{report.when} failed: {_last_line(text)}"
            if "XPASS(strict)" in text and info.get("deviation"):
                return st.FIXED_DEVIATION, f"known deviation no longer observed: {info['deviation']}; remove it from the backend profile"
            return st.FAILED, _headline(report)
    for report in reports:
        if hasattr(report, "wasxfail") and report.skipped:
            return (st.DEVIATION if info.get("deviation") else st.XFAILED), report.wasxfail
        if report.skipped:
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            return st.SKIPPED, reason.removeprefix("Skipped: ")
    return st.PASSED, ""


def _headline(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else report.longreprtext
    return excerpt(message.strip().removeprefix("Failed: "), 1500)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
