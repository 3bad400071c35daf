"""The results record: the controller writes each case when its teardown report arrives
(workers send theirs through xdist), so there is one writer and a killed run keeps every
case finished before it."""

from __future__ import annotations

import pytest

from azihsm_conformance.harness import store as st
from azihsm_conformance.harness import verdicts as v
from azihsm_conformance.harness.plugin.collection import CASE_PROPERTY
from azihsm_conformance.harness.plugin.fixtures import OBSERVED_PROPERTY
from azihsm_conformance.harness.plugin.outcome import COMMANDS_PROPERTY, VERDICT_PROPERTY
from azihsm_conformance.harness.plugin.target import HarnessState
from azihsm_conformance.harness.runner import excerpt

STDERR_EXCERPT = 2000


class ResultsRecorder:
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


def case_from_reports(reports: list[pytest.TestReport]) -> st.CaseRecord | None:
    """One stored case from the setup/call/teardown reports of one test."""
    info, commands, observed, verdicts = {}, [], [], {}
    for report in reports:
        for name, value in report.user_properties:
            if name == CASE_PROPERTY:
                info = value
            elif name == COMMANDS_PROPERTY:
                commands = value
            elif name == OBSERVED_PROPERTY and value not in observed:
                observed.append(value)
            elif name == VERDICT_PROPERTY:
                verdicts[report.when] = value
    if not info:
        return None  # not a conformance case (no clause): nothing to record
    verdict = (
        verdicts.get("call")
        or verdicts.get("setup")
        or {"outcome": v.PASSED, "message": "", "performed_by": "", "evidence": []}
    )
    teardown = verdicts.get("teardown")
    if teardown and verdict["outcome"] == v.PASSED:
        verdict = teardown
    message = verdict["message"]
    if verdict["outcome"] == v.PASSED and observed:
        message = "; ".join(observed)
    failing = [c for c in commands if c["outcome"] != "ok" and c.get("role") != "control"] or commands
    return st.CaseRecord(
        case_id=info["case_id"],
        clause_id=info["clause"],
        clause_level=info["level"],
        params=info["params"],
        outcome=verdict["outcome"],
        duration=sum(r.duration for r in reports),
        message=message,
        stderr_excerpt=excerpt(failing[-1]["stderr"], STDERR_EXCERPT) if failing else "",
        performed_by=verdict["performed_by"],
        evidence=verdict["evidence"],
        commands=[
            st.CommandRecord(
                c["command_line"], c["returncode"], c["outcome"], c["duration"], c["stderr"], c.get("role", "step")
            )
            for c in commands
        ],
    )
