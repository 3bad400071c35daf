"""One verdict model for every output: case outcomes, the category each counts in, and
whether a run conforms. The exit code, JUnit, JSON, the Markdown and HTML reports and
``compare --check`` all read these functions, so they cannot disagree.

A case's *outcome* says what happened; its *category* says how it counts:

| outcome          | category                  | counts against conformance |
|------------------|---------------------------|----------------------------|
| passed           | pass                      | no                         |
| failed, error    | fail (MUST/SHOULD) / info | MUST/SHOULD only           |
| timeout, crash, traceback | fail (any level) | yes: never acceptable     |
| inconclusive     | inconclusive / info       | MUST/SHOULD only           |
| deviation        | deviation (declared)      | no                         |
| fixed-deviation  | fixed-deviation           | yes: update the profile    |
| not-applicable   | not-applicable            | no                         |
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

PASSED, FAILED, ERROR = "passed", "failed", "error"
TIMEOUT, CRASH, TRACEBACK = "timeout", "crash", "traceback"
INCONCLUSIVE, NOT_APPLICABLE = "inconclusive", "not-applicable"
DEVIATION, FIXED_DEVIATION = "deviation", "fixed-deviation"
OUTCOMES = (PASSED, FAILED, ERROR, TIMEOUT, CRASH, TRACEBACK, INCONCLUSIVE, NOT_APPLICABLE, DEVIATION, FIXED_DEVIATION)
ABNORMAL = (TIMEOUT, CRASH, TRACEBACK)

# categories, in the order reports show them
PASS, FAIL, INFO = "pass", "fail", "info"
CATEGORIES = (PASS, FAIL, INCONCLUSIVE, FIXED_DEVIATION, DEVIATION, INFO, NOT_APPLICABLE)
AGAINST = frozenset({FAIL, INCONCLUSIVE, FIXED_DEVIATION})
REQUIRED_LEVELS = ("MUST", "SHOULD")

LABELS = {
    PASS: "pass",
    FAIL: "fail",
    INCONCLUSIVE: "inconclusive",
    FIXED_DEVIATION: "fixed deviation",
    DEVIATION: "deviation",
    INFO: "info",
    NOT_APPLICABLE: "not applicable",
}


def category(outcome: str, level: str) -> str:
    """How a case with OUTCOME of a clause of LEVEL counts. An unknown level (a clause
    missing from the catalogue) counts as required; an unknown outcome as a failure."""
    if outcome == PASSED:
        return PASS
    if outcome in (NOT_APPLICABLE, DEVIATION, FIXED_DEVIATION):
        return outcome
    if outcome in ABNORMAL:
        return FAIL
    if level == "INFO":
        return INFO
    return INCONCLUSIVE if outcome == INCONCLUSIVE else FAIL


def counts_against(outcome: str, level: str) -> bool:
    return category(outcome, level) in AGAINST


def tally(cases: Iterable) -> Counter:
    """Category -> number of cases, for objects with ``outcome`` and ``clause_level``."""
    return Counter(category(case.outcome, case.clause_level) for case in cases)


def conforms(cases: Iterable) -> bool:
    return not any(counts_against(case.outcome, case.clause_level) for case in cases)


def summary(counter: Counter) -> str:
    """'12 pass, 1 fail, 3 not applicable' (categories in report order, zeros left out)."""
    parts = [f"{counter[name]} {LABELS[name]}" for name in CATEGORIES if counter.get(name)]
    return ", ".join(parts) if parts else "no cases"
