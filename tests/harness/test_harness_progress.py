"""The progress line: counts, ETA, cases against conformance, long-running cases."""

from __future__ import annotations

import io
from types import SimpleNamespace

from azihsm_conformance.harness.plugin.collection import CASE_PROPERTY
from azihsm_conformance.harness.plugin.outcome import VERDICT_PROPERTY
from azihsm_conformance.harness.plugin.progress import Progress, interval_for


def report(nodeid, when, outcome=None, level="MUST"):
    properties = [(CASE_PROPERTY, {"level": level})]
    if outcome:
        properties.append((VERDICT_PROPERTY, {"outcome": outcome}))
    return SimpleNamespace(nodeid=nodeid, when=when, user_properties=properties)


def test_the_line_counts_estimates_and_names_long_cases():
    progress = Progress(1.0, io.StringIO())
    progress.total = 4
    progress.started = 100.0
    for nodeid, outcome, level in (("a", "passed", "MUST"), ("b", "failed", "MUST"), ("c", "failed", "INFO")):
        progress.pytest_runtest_logstart(nodeid, None)
        progress.pytest_runtest_logreport(report(nodeid, "call", outcome, level))
        progress.pytest_runtest_logreport(report(nodeid, "teardown"))
    progress.running["conformance/test_tls.py::test_hang"] = 104.0
    line = progress.line(now=112.0)
    assert line.startswith("azihsm progress: 3/4 cases (75%), 12 s elapsed, about 4 s left, 1 against conformance")
    assert line.endswith("running long: test_tls.py::test_hang (8 s)")  # the INFO failure does not count against


def test_terminal_and_log_intervals():
    assert interval_for(None, SimpleNamespace(isatty=lambda: True)) == 5.0
    assert interval_for(None, io.StringIO()) == 15.0
    assert interval_for(0, io.StringIO()) == 0
