"""The fixtures the suite uses, above all ``openssl``: it runs commands for one case, keeps
every command for the report and replay, and collects the case's *proofs*:

- ``openssl(..., prove=True)``: after the documented command succeeds, its isolated twin
  (see ``harness.isolation``) must succeed too, showing the provider under test performed
  the clause's operation classes itself;
- ``openssl.refuses(faulty..., control=(...), because=KIND)``: the positive control must
  succeed, the faulty command must be refused, and the refusal must come from the provider
  (its error on the stack, matching the profile's pattern for KIND if it declares one; or,
  when nobody says anything, isolated twins of both).

A passing case of a clause that ``performs`` something but holds no proof is inconclusive
(``azihsm_conformance.harness.plugin.outcome``): a test that forgets to prove cannot pass.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from azihsm_conformance.harness.backends import BackendProfile
from azihsm_conformance.harness.evidence import check_reason, first_error_line, foreign_cause, provider_errors
from azihsm_conformance.harness.isolation import WITHHOLD_VARIABLE, withhold_value
from azihsm_conformance.harness.markers import PROV, Inconclusive
from azihsm_conformance.harness.plugin.collection import CASE
from azihsm_conformance.harness.plugin.target import STATE, HarnessState
from azihsm_conformance.harness.runner import CommandResult, excerpt, run_command

STDERR_EXCERPT = 2000
OBSERVED_PROPERTY = "azihsm.observed"
STEP, PREREQUISITE, CONTROL, REFUSAL, TWIN = "step", "prerequisite", "control", "refusal", "twin"


@dataclass
class LoggedCommand:
    result: CommandResult
    role: str

    def to_record(self) -> dict:
        return {**self.result.to_record(), "role": self.role}


@dataclass(frozen=True)
class Proof:
    """Evidence that the provider under test is behind a case's verdict."""

    kind: str  # "isolated" (a positive result) or "refusal"
    performed_by: str
    detail: str


COMMANDS = pytest.StashKey[list]()
PROOFS = pytest.StashKey[list]()


@dataclass(frozen=True)
class Workspace:
    """The backend's private directory in this process (per run and xdist worker)."""

    path: Path
    env: dict[str, str]

    def isolated_env(self, backend: BackendProfile, classes) -> dict[str, str]:
        return {**backend.isolated_environment(self.env, self.path), WITHHOLD_VARIABLE: withhold_value(classes)}


@pytest.fixture(scope="session")
def _workspace(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """pytest's temp dirs are per run and per xdist worker, so the reference gets a fresh
    device (and a PKCS#11 backend a fresh token) per worker."""
    state = request.config.stash[STATE]
    path = tmp_path_factory.mktemp(f"backend-{state.backend.name}")
    try:
        return Workspace(path, state.backend.prepare(path, state.target.isolation_module))
    except Exception as exc:  # a UsageError from provisioning: one line, not a traceback
        pytest.fail(f"preparing backend {state.backend.name} failed: {exc}", pytrace=False)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> BackendProfile:
    return request.config.stash[STATE].backend


@pytest.fixture
def backend_values(request: pytest.FixtureRequest, _workspace: Workspace) -> dict[str, str]:
    """Placeholder values of the backend profile in this workspace (for key recipes)."""
    return request.config.stash[STATE].backend.values(_workspace.path)


@pytest.fixture
def openssl_version(request: pytest.FixtureRequest) -> tuple[int, int, int]:
    return request.config.stash[STATE].install.version


@pytest.fixture
def observe(request: pytest.FixtureRequest):
    """``observe(text)`` records what the backend did in this case (one short sentence).
    INFO clauses use it, so the report says what each backend does, not only "pass"."""

    def record(text: str) -> None:
        request.node.user_properties.append((OBSERVED_PROPERTY, str(text)))

    return record


@dataclass(frozen=True)
class HostileSettings:
    budget: int  # inputs per family
    seed: int


@pytest.fixture
def hostile_settings(request: pytest.FixtureRequest) -> HostileSettings:
    option = request.config.option
    return HostileSettings(max(1, option.azihsm_hostile_budget), option.azihsm_hostile_seed)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    directory = tmp_path / "work"
    directory.mkdir()
    return directory


@pytest.fixture
def openssl(request: pytest.FixtureRequest, _workspace: Workspace, workdir: Path, tmp_path: Path) -> OpenSSLCommand:
    state = request.config.stash[STATE]
    info = request.node.stash.get(CASE, None)
    clause = state.clauses.get(info.clause) if info else None
    return OpenSSLCommand(
        state,
        _workspace,
        workdir,
        tmp_path,
        log=request.node.stash.setdefault(COMMANDS, []),
        proofs=request.node.stash.setdefault(PROOFS, []),
        performs=clause.performs if clause else (),
    )


class OpenSSLCommand:
    """The ``openssl`` fixture: runs commands for one case and fails it on surprises."""

    def __init__(
        self,
        state: HarnessState,
        workspace: Workspace,
        cwd: Path,
        scratch: Path,
        *,
        log: list,
        proofs: list,
        performs: tuple[str, ...],
    ):
        self._state = state
        self._workspace = workspace
        self._env = {**state.install.env, **workspace.env}
        self.cwd = cwd
        self._scratch = scratch
        self._log = log
        self._proofs = proofs
        self.performs = performs
        self._twins = 0

    @property
    def backend(self) -> BackendProfile:
        return self._state.backend

    @property
    def performer(self) -> str:
        return self._state.target.performer

    def argv(self, *args, isolated: bool = False) -> list[str]:
        flags = self.backend.provider_flags(isolated=isolated)
        expanded: list[str] = [str(self._state.install.path)]
        for arg in args:
            expanded.extend(flags if arg is PROV else [os.fspath(arg) if isinstance(arg, os.PathLike) else str(arg)])
        return expanded

    # -- running ---------------------------------------------------------------------------

    def _run(
        self,
        argv: list[str],
        role: str,
        *,
        input=None,
        timeout=None,
        env=None,
        cwd: Path | None = None,
        base_env: dict[str, str] | None = None,
    ) -> CommandResult:
        if isinstance(input, str):
            input = input.encode()
        result = run_command(
            argv,
            cwd=cwd or self.cwd,
            env={**(base_env if base_env is not None else self._env), **(env or {})},
            input=input,
            timeout=timeout or self._state.timeout,
            stdin_dir=self._scratch / "stdin",
        )
        self._log.append(LoggedCommand(result, role))
        if result.abnormal:  # a hang, a crash or a traceback is a finding whatever was expected
            pytest.fail(failure("openssl " + result.describe(), result), pytrace=False)
        return result

    def __call__(
        self,
        *args,
        input: bytes | str | None = None,
        expect_fail: bool | None = False,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        prove: bool = False,
        prerequisite: bool = False,
    ) -> CommandResult:
        """Run ``openssl ARGS`` (PROV expanded). EXPECT_FAIL: False = must exit 0, True = must
        not, None = either (an INFO case recording what the backend does). PROVE: also run
        the isolated twin (the case's proof that the provider did the work). PREREQUISITE:
        a failure makes the case inconclusive (it could not reach what it checks)."""
        result = self._run(
            self.argv(*args), PREREQUISITE if prerequisite else STEP, input=input, timeout=timeout, env=env
        )
        if prerequisite and result.returncode != 0:
            raise Inconclusive(
                failure(
                    f"a prerequisite step failed ({result.describe()}), so the case cannot reach what it checks", result
                )
            )
        if expect_fail is True and result.returncode == 0:
            pytest.fail(failure("openssl succeeded but this case expects it to fail", result), pytrace=False)
        if expect_fail is False and result.returncode != 0:
            pytest.fail(failure(f"openssl failed ({result.describe()})", result), pytrace=False)
        if prove and result.returncode == 0:
            self.prove(*args, input=input, timeout=timeout, env=env)
        return result

    def attempt(
        self,
        *args,
        input=None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> CommandResult:
        """Run ``openssl ARGS`` and return however it ended, recording nothing (the hostile-
        input campaign runs thousands; it records the ones that are findings with ``keep``)."""
        if isinstance(input, str):
            input = input.encode()
        return run_command(
            self.argv(*args),
            cwd=cwd or self.cwd,
            env={**self._env, **(env or {})},
            input=input,
            timeout=timeout or self._state.timeout,
            stdin_dir=self._scratch / "stdin",
        )

    def keep(self, result: CommandResult, role: str = STEP) -> None:
        """Record RESULT among the case's commands (shown and stored, replayable)."""
        self._log.append(LoggedCommand(result, role))

    def capi(self, operation: str, arguments: dict, *, expect_ok: bool | None = True) -> dict:
        """Run one operation of the C-API host (``harness/capi_host.py``) against the
        libcrypto of the openssl under test, loading the providers as PROV does; returns its
        JSON answer (``ok``, the outputs, ``errors`` and the error ``queue`` left behind).
        EXPECT_OK True: the operation must succeed, False: must fail, None: either."""
        import json
        import sys

        flags = list(self.backend.provider_flags())
        argv = [
            sys.executable,
            "-m",
            "azihsm_conformance.harness.capi_host",
            "--openssl",
            str(self._state.install.path),
            *flags,
            "--",
            operation,
            json.dumps(arguments, sort_keys=True),
        ]
        result = self._run(argv, STEP)
        try:
            answer = json.loads(result.stdout.decode(errors="replace").strip().splitlines()[-1])
        except (ValueError, IndexError):
            pytest.fail(failure(f"the C-API host gave no answer ({result.describe()})", result), pytrace=False)
        if expect_ok is True and not answer.get("ok"):
            pytest.fail(
                failure(f"C API: {answer.get('step')} failed: {'; '.join(answer.get('errors', []))}", result),
                pytrace=False,
            )
        if expect_ok is False and answer.get("ok"):
            pytest.fail(
                failure(f"C API: {operation} succeeded but this case expects it to fail", result), pytrace=False
            )
        return answer

    def tool(self, argv: list[str], *, timeout: float | None = None) -> CommandResult:
        """A prerequisite command that is not openssl (e.g. a PKCS#11 key import)."""
        result = self._run([str(arg) for arg in argv], PREREQUISITE, timeout=timeout)
        if result.returncode != 0:
            raise Inconclusive(
                failure(
                    f"a prerequisite step failed ({result.describe()}), so the case cannot reach what it checks", result
                )
            )
        return result

    # -- proofs ----------------------------------------------------------------------------

    def _classes(self) -> tuple[str, ...]:
        if not self.performs:
            pytest.fail(
                "this case asks for a proof, but its clause declares no operation classes "
                "(`performs` in the catalogue); fix the catalogue",
                pytrace=False,
            )
        return self.performs

    def twin(self, *args, input=None, timeout=None, env=None) -> CommandResult:
        """ARGS again, isolated: the clause's operation classes withheld from every provider
        but the one under test, in a copy of the case's directory (the documented run's
        outputs stay as they are)."""
        if self._state.target.isolation_module is None:
            raise Inconclusive(
                f"backend {self.backend.name} cannot be isolated (its openssl.cnf template names no "
                "${SUPPORT_NAME}/${SUPPORT_MODULE}), so no case can show who performed an operation"
            )
        self._twins += 1
        directory = self._scratch / f"twin-{self._twins}"
        shutil.copytree(self.cwd, directory, symlinks=True)
        return self._run(
            self.argv(*args, isolated=True),
            TWIN,
            input=input,
            timeout=timeout,
            env=env,
            cwd=directory,
            base_env={**self._state.install.env, **self._workspace.isolated_env(self.backend, self._classes())},
        )

    def prove(self, *args, input=None, timeout=None, env=None) -> CommandResult:
        classes = self._classes()
        twin = self.twin(*args, input=input, timeout=timeout, env=env)
        withheld = ", ".join(classes)
        if twin.returncode != 0:
            pytest.fail(
                failure(
                    f"{self.performer} did not perform this itself: with {withheld} withheld from every other provider "
                    f"the same command fails ({first_error_line(twin)}), so another provider served the documented run",
                    twin,
                ),
                pytrace=False,
            )
        self._proofs.append(
            Proof(
                "isolated", self.performer, f"isolated twin ({withheld} withheld from every other provider) succeeded"
            )
        )
        return twin

    @property
    def forced_property(self) -> str:
        """The backend's property query without its '?': ``provider=azihsm`` selects the
        provider under test or nothing (for an operation's inner fetches, e.g. a KDF's digest)."""
        return self.backend.propquery.lstrip("?")

    def forced(self, *args, what: str, **options) -> CommandResult:
        """Run a command whose inner fetch (WHAT) is forced to the provider under test with
        ``forced_property`` among ARGS: it can only succeed with that provider's algorithm, so
        its success is the proof (an isolated twin cannot help there: a built-in algorithm of
        the support provider fetches what it needs in a library context of its own)."""
        if self.forced_property not in " ".join(str(arg) for arg in args):
            pytest.fail(f"forced(): the command does not carry {self.forced_property}", pytrace=False)
        result = self(*args, **options)
        self._proofs.append(
            Proof("forced", self.performer, f"{what} fetched with {self.forced_property} (no other provider qualifies)")
        )
        return result

    def refuses(
        self,
        *args,
        control,
        because: str,
        input=None,
        control_input=None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        control_env: dict[str, str] | None = None,
    ) -> CommandResult:
        """ARGS must be refused by the provider under test because of the one fault they
        carry (a refusal of kind BECAUSE, e.g. 'usage'); CONTROL, the same command without
        the fault, must succeed (with CONTROL_ENV, default ENV, when the fault is in the
        environment). Returns the refused command's result."""
        control = tuple(control)
        control_env = env if control_env is None else control_env
        # the faulty command first: accepting it is a failure whatever the control does
        result = self._run(self.argv(*args), REFUSAL, input=input, timeout=timeout, env=env)
        if result.returncode == 0:
            pytest.fail(
                failure(
                    f"accepted: this command carries a fault the provider must refuse ({because}), "
                    "but openssl exited 0",
                    result,
                ),
                pytrace=False,
            )
        checked = self._run(self.argv(*control), CONTROL, input=control_input, timeout=timeout, env=control_env)
        if checked.returncode != 0:
            raise Inconclusive(
                failure(
                    "the positive control (the same command without the fault) fails too, so the refusal proves "
                    f"nothing ({first_error_line(checked)})",
                    checked,
                )
            )
        pattern = self.backend.refusal_reasons.get(because, "")
        own = provider_errors(result, self.backend.error_pattern)
        if own:
            reason = check_reason(own, pattern)
            if not reason.matched:
                pytest.fail(
                    failure(
                        f"refused, but not for the fault this case introduced: the profile expects a "
                        f"'{because}' reason (/{pattern}/), {self.performer} said: {reason.shown}",
                        result,
                    ),
                    pytrace=False,
                )
            note = "" if reason.checked else f" (reason not checked: the profile declares no pattern for '{because}')"
            self._proofs.append(
                Proof("refusal", self.performer, f"refused by {self.performer}: {excerpt(reason.shown, 300)}{note}")
            )
            return result
        cause = foreign_cause(result)
        if cause:
            raise Inconclusive(failure(f"refused by OpenSSL, not by the provider under test: {cause}", result))
        if pattern:
            pytest.fail(
                failure(
                    f"refused without a reason: no error from {self.performer} on the stack, and the profile "
                    f"expects a '{because}' reason (/{pattern}/)",
                    result,
                ),
                pytrace=False,
            )
        return self._refusal_by_isolation(args, control, input, control_input, timeout, env, control_env, result)

    def _refusal_by_isolation(
        self, args, control, input, control_input, timeout, env, control_env, result
    ) -> CommandResult:
        """Nobody named a reason: the refusal is the provider's if, with the clause's classes
        withheld from every other provider, the control still passes and the fault is still refused."""
        twin_control = self.twin(*control, input=control_input, timeout=timeout, env=control_env)
        if twin_control.returncode != 0:
            raise Inconclusive(
                failure(
                    f"refused without any error message, and {self.performer} cannot run the control "
                    f"alone ({first_error_line(twin_control)}), so nothing shows who refused",
                    twin_control,
                )
            )
        twin_faulty = self.twin(*args, input=input, timeout=timeout, env=env)
        if twin_faulty.returncode == 0:
            pytest.fail(
                failure(
                    f"{self.performer} accepts this when no other provider can step in: the documented "
                    "run's refusal came from another provider",
                    twin_faulty,
                ),
                pytrace=False,
            )
        self._proofs.append(
            Proof(
                "refusal",
                self.performer,
                f"refused with only {self.performer} performing {', '.join(self._classes())} "
                f"(isolated twins: control exit 0, faulty exit {twin_faulty.returncode}); "
                "no error message named the reason",
            )
        )
        return result


def failure(headline: str, result: CommandResult) -> str:
    stderr = excerpt(result.stderr.strip(), STDERR_EXCERPT) or "(empty)"
    return f"{headline}\n  replay: {result.command_line}\n  exit: {result.describe()}\n  stderr: {stderr}"
