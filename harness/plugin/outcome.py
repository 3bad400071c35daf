"""Each case's verdict, decided from pytest's report objects and the case's proofs, never
from report text. The verdict travels with the report (``user_properties``), so under
pytest-xdist the controller records exactly what the worker decided.

Rules (the table is in ``harness.verdicts``):

- a case whose clause does not apply is *not applicable*, with the reason;
- a passing case of a clause that ``performs`` something must hold a proof (an isolated
  twin or an attributed refusal), else it is *inconclusive*: a vacuous pass is impossible;
- ``Inconclusive`` (a prerequisite failed, OpenSSL refused instead of the provider) and a
  skip without a declared reason are *inconclusive*;
- a command that hung, crashed or printed a traceback labels the failure so;
- a declared deviation turns a failure into *deviation* and a pass into *fixed-deviation*.
"""

from __future__ import annotations

import pytest

from azihsm_conformance.harness import verdicts as v
from azihsm_conformance.harness.markers import Inconclusive, NotApplicable
from azihsm_conformance.harness.plugin.collection import CASE
from azihsm_conformance.harness.plugin.fixtures import COMMANDS, PROOFS
from azihsm_conformance.harness.plugin.target import STATE
from azihsm_conformance.harness.runner import excerpt

VERDICT_PROPERTY = "azihsm.verdict"
COMMANDS_PROPERTY = "azihsm.commands"
MESSAGE_LIMIT = 1500


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    commands = item.stash.get(COMMANDS, [])
    if commands:
        report.user_properties.append((COMMANDS_PROPERTY, [c.to_record() for c in commands]))
        if report.when == "call" or report.failed:
            report.sections.append(
                (
                    "openssl commands",
                    "\n".join(f"$ {c.result.command_line}  # {c.role}: {c.result.describe()}" for c in commands),
                )
            )
    info = item.stash.get(CASE, None)
    if info is None:
        return report
    verdict = _judge(item, call, report, info)
    if verdict is not None:
        report.user_properties.append((VERDICT_PROPERTY, verdict))
        _show(report, item, verdict)
    return report


def _judge(item, call, report, info) -> dict | None:
    excinfo = call.excinfo
    if call.when == "teardown":
        return _verdict(v.ERROR, f"teardown failed: {_headline(report)}") if report.failed else None
    if call.when == "setup":
        if excinfo is None:
            return None
        if excinfo.errisinstance(NotApplicable):
            return _verdict(v.NOT_APPLICABLE, str(excinfo.value.msg))
        if excinfo.errisinstance(Inconclusive):
            return _verdict(v.INCONCLUSIVE, str(excinfo.value.msg))
        return _verdict(v.ERROR, f"setup failed: {_headline(report)}")
    commands = item.stash.get(COMMANDS, [])
    proofs = item.stash.get(PROOFS, [])
    if excinfo is None:
        outcome, message = v.PASSED, ""
    elif excinfo.errisinstance(NotApplicable):
        outcome, message = v.NOT_APPLICABLE, str(excinfo.value.msg)
    elif excinfo.errisinstance(Inconclusive):
        outcome, message = v.INCONCLUSIVE, str(excinfo.value.msg)
    elif excinfo.errisinstance(pytest.skip.Exception):
        outcome, message = v.INCONCLUSIVE, f"skipped without a declared reason: {excinfo.value.msg}"
    else:
        outcome, message = v.FAILED, _headline(report)
        abnormal = [c.result.outcome for c in commands if c.result.abnormal]
        if abnormal:
            outcome = abnormal[-1]
    clause = item.config.stash[STATE].clauses.get(info.clause)
    if outcome == v.PASSED and clause is not None and clause.performs and not proofs:
        outcome = v.INCONCLUSIVE
        message = (
            f"no command of this case showed that the provider under test performed {', '.join(clause.performs)} "
            "(no isolated twin, no refusal attributed to it): the pass could have been another provider's"
        )
    if info.deviation:
        if outcome == v.PASSED:
            outcome, message = (
                v.FIXED_DEVIATION,
                (f"known deviation no longer observed: {info.deviation}; remove it from the backend profile"),
            )
        elif outcome == v.FAILED:
            outcome, message = v.DEVIATION, f"known deviation: {info.deviation} (observed: {message})"
    performer = item.config.stash[STATE].target.performer
    return _verdict(outcome, message, performed_by=performer if proofs else "", evidence=[p.detail for p in proofs])


def _verdict(outcome: str, message: str, *, performed_by: str = "", evidence: list | None = None) -> dict:
    return {
        "outcome": outcome,
        "message": excerpt(message.strip(), MESSAGE_LIMIT),
        "performed_by": performed_by,
        "evidence": list(dict.fromkeys(evidence or [])),
    }


def _show(report: pytest.TestReport, item: pytest.Item, verdict: dict) -> None:
    """Make pytest's own status agree with the verdict (what the terminal and plain pytest show)."""
    outcome, message = verdict["outcome"], verdict["message"]
    if outcome == v.PASSED:
        return
    if outcome == v.NOT_APPLICABLE:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"not applicable: {message}")
    elif outcome == v.DEVIATION:
        report.outcome = "skipped"
        report.wasxfail = message
        report.longrepr = None
    elif report.outcome != "failed" or outcome in (v.FIXED_DEVIATION, v.INCONCLUSIVE):
        report.outcome = "failed"
        report.longrepr = f"[{outcome}] {message}"


def _headline(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else report.longreprtext
    return excerpt(message.strip().removeprefix("Failed: "), MESSAGE_LIMIT)
