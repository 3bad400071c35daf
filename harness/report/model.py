"""What every report is made of: runs with their cases, the clause matrix, run diffs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from azihsm_conformance.harness import verdicts
from azihsm_conformance.harness.clauses import Clause
from azihsm_conformance.harness.store import COMPLETE, CaseRecord, ResultsStore, RunRecord
from azihsm_conformance.harness.versions import version_key


@dataclass
class RunResults:
    run: RunRecord
    cases: list[CaseRecord]

    def counts(self) -> Counter:
        return verdicts.tally(self.cases)

    def failing(self) -> list[CaseRecord]:
        """The cases that count against conformance (harness.verdicts): failures of MUST and
        SHOULD clauses (or of clauses missing from the catalogue), inconclusive cases, fixed
        deviations, and any hang, crash or traceback."""
        return [case for case in self.cases if case.category in verdicts.AGAINST]

    @property
    def conforms(self) -> bool:
        return not self.failing()

    def verdict(self) -> Verdict:
        levels: dict[str, Counter] = {}
        for case in self.cases:
            levels.setdefault(case.clause_level or "?", Counter())[case.category] += 1
        order = {"MUST": 0, "SHOULD": 1, "INFO": 2}
        return Verdict(
            column=self.run.column,
            revision=self.run.revision or "?",
            conforms=self.conforms,
            complete=self.run.status == COMPLETE,
            by_level=dict(sorted(levels.items(), key=lambda item: order.get(item[0], 3))),
            first_failures=sorted(self.failing(), key=lambda case: _WORST_FIRST.index(case.category))[:FIRST_FAILURES],
        )


FIRST_FAILURES = 5
_WORST_FIRST = (verdicts.FAIL, verdicts.FIXED_DEVIATION, verdicts.INCONCLUSIVE)


@dataclass
class Verdict:
    """The banner of one backend × OpenSSL column: does it conform, and why not."""

    column: str
    revision: str
    conforms: bool
    complete: bool
    by_level: dict[str, Counter]  # clause level -> category -> cases
    first_failures: list[CaseRecord]

    @property
    def headline(self) -> str:
        word = "CONFORMS" if self.conforms else "DOES NOT CONFORM"
        incomplete = "" if self.complete else " (the run did not complete)"
        return f"{word} to revision {self.revision}{incomplete}"


def case_anchor(column: str, case_id: str) -> str:
    """A stable HTML id for a case's details in one column."""
    import hashlib

    return "case-" + hashlib.sha1(f"{column}|{case_id}".encode()).hexdigest()[:12]


def load_run(store: ResultsStore, ref: str) -> RunResults:
    run = store.get_run(ref)
    return RunResults(run, store.cases(run.id))


def latest_per_column(store: ResultsStore) -> list[RunRecord]:
    """The newest run of every (backend, OpenSSL version, host) series: backends in
    first-seen order, each backend's OpenSSL versions in version order (3.0.19 before
    3.5.7); the host is named in a column only when one pair comes from several hosts."""
    latest: dict[tuple, RunRecord] = {}
    for run in store.runs():
        latest[run.series] = run
    pairs = Counter((run.backend, run.openssl_version) for run in latest.values())
    for run in latest.values():
        run.show_host = pairs[(run.backend, run.openssl_version)] > 1
    backends = list(dict.fromkeys(run.backend for run in latest.values()))
    return sorted(
        latest.values(), key=lambda run: (backends.index(run.backend), version_key(run.openssl_version), run.host_name)
    )


def previous_run(store: ResultsStore, run: RunRecord) -> RunRecord | None:
    """The last complete run of the same column before RUN, for "what changed since last
    time" (a killed or aborted run would make every case look new or removed)."""
    earlier = [
        other
        for other in store.runs()
        if other.series == run.series
        and other.started_at <= run.started_at
        and other.id != run.id
        and other.status == COMPLETE
    ]
    return earlier[-1] if earlier else None


@dataclass
class MatrixRow:
    clause_id: str
    section: str
    level: str
    text: str
    cells: list[Counter]  # one per column: category -> count
    performers: list[Counter] = field(default_factory=list)  # one per column: performed_by -> passing cases

    @property
    def failing(self) -> bool:
        return any(cell[name] for cell in self.cells for name in verdicts.AGAINST)


def clause_matrix(results: list[RunResults], clauses: dict[str, Clause]) -> list[MatrixRow]:
    """Clauses × runs with a count per verdict category (and who performed the passing
    cases); catalogue order first, then clauses only seen in results."""
    order = list(clauses)
    for result in results:
        for case in result.cases:
            if case.clause_id not in clauses and case.clause_id not in order:
                order.append(case.clause_id)
    rows = []
    for clause_id in order:
        clause = clauses.get(clause_id)
        cells = [Counter(c.category for c in result.cases if c.clause_id == clause_id) for result in results]
        performers = [
            Counter(
                c.performed_by
                for c in result.cases
                if c.clause_id == clause_id and c.category == verdicts.PASS and c.performed_by
            )
            for result in results
        ]
        if clause is None:
            level = next(
                (c.clause_level for r in results for c in r.cases if c.clause_id == clause_id and c.clause_level), ""
            )
            rows.append(MatrixRow(clause_id, "(not in catalogue)", level, "", cells, performers))
        else:
            rows.append(MatrixRow(clause_id, clause.section, clause.level, clause.text, cells, performers))
    return rows


@dataclass
class Observation:
    """What each run's cases of one INFO clause did: message -> number of cases."""

    clause_id: str
    text: str
    cells: list[Counter]


def info_observations(results: list[RunResults], clauses: dict[str, Clause]) -> list[Observation]:
    """INFO clauses record a behaviour: per run, the distinct behaviours its cases saw (a
    passing case's observation, or a failing case's "recorded: ..." message)."""
    rows = []
    for clause_id, clause in clauses.items():
        if clause.level != "INFO":
            continue
        cells = [
            Counter(
                case.message.splitlines()[0] if case.message else case.outcome
                for case in result.cases
                if case.clause_id == clause_id
            )
            for result in results
        ]
        if any(cells):
            rows.append(Observation(clause_id, clause.text, cells))
    return rows


def observation_text(cell: Counter) -> str:
    if not cell:
        return "–"
    return "; ".join(text if count == 1 else f"{text} (×{count})" for text, count in cell.most_common())


def cell_text(cell: Counter, performers: Counter | None = None) -> str:
    """'3 pass (by azihsm), 1 not applicable'; '–' for no cases."""
    parts = []
    for name in verdicts.CATEGORIES:
        if not cell[name]:
            continue
        text = f"{cell[name]} {verdicts.LABELS[name]}"
        if name == verdicts.PASS and performers:
            text += " (by " + ", ".join(performers) + ")"
        parts.append(text)
    return ", ".join(parts) if parts else "–"


def cell_category(cell: Counter) -> str:
    """The category a cell is coloured by: the worst one present."""
    for name in (
        verdicts.FAIL,
        verdicts.INCONCLUSIVE,
        verdicts.FIXED_DEVIATION,
        verdicts.DEVIATION,
        verdicts.INFO,
        verdicts.PASS,
        verdicts.NOT_APPLICABLE,
    ):
        if cell[name]:
            return name
    return ""


@dataclass
class Change:
    case_id: str
    clause_id: str
    before: str  # outcome in run A ("" when absent)
    after: str  # outcome in run B ("" when absent)
    case: CaseRecord | None  # the case in run B (or A when removed), for drill-down


@dataclass
class RunDiff:
    a: RunRecord
    b: RunRecord
    newly_failing: list[Change] = field(default_factory=list)
    newly_passing: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)  # other outcome changes
    added: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.newly_failing or self.newly_passing or self.changed or self.added or self.removed)

    @property
    def regressions(self) -> list[Change]:
        """What ``compare --check`` fails on: cases that count against conformance in B and
        did not in A (newly failing ones, and new cases that are against from the start)."""
        return self.newly_failing + [
            c for c in self.added if c.case is not None and c.case.category in verdicts.AGAINST
        ]


def diff_runs(a: RunResults, b: RunResults) -> RunDiff:
    """Case by case, keyed by the stable case id."""
    before = {case.case_id: case for case in a.cases}
    after = {case.case_id: case for case in b.cases}
    diff = RunDiff(a.run, b.run)
    for case_id, new in after.items():
        old = before.get(case_id)
        if old is None:
            diff.added.append(Change(case_id, new.clause_id, "", new.outcome, new))
        elif new.category in verdicts.AGAINST and old.category not in verdicts.AGAINST:
            diff.newly_failing.append(Change(case_id, new.clause_id, old.outcome, new.outcome, new))
        elif new.category == verdicts.PASS and old.category in verdicts.AGAINST:
            diff.newly_passing.append(Change(case_id, new.clause_id, old.outcome, new.outcome, new))
        elif new.outcome != old.outcome or new.performed_by != old.performed_by:
            diff.changed.append(Change(case_id, new.clause_id, old.outcome, new.outcome, new))
    for case_id, old in before.items():
        if case_id not in after:
            diff.removed.append(Change(case_id, old.clause_id, old.outcome, "", old))
    return diff


def histories(store: ResultsStore, results: list[RunResults]) -> dict[str, list]:
    """For each column, the runs of its series so far (oldest first), as chart points."""
    from azihsm_conformance.harness.report.charts import HistoryPoint

    series = {result.run.series: result.run.column for result in results}
    points: dict[str, list] = {column: [] for column in series.values()}
    for run in store.runs():
        if run.series not in series or run.status != COMPLETE:
            continue
        tally = verdicts.tally(store.cases(run.id))
        applicable = sum(tally.values()) - tally[verdicts.NOT_APPLICABLE]
        points[series[run.series]].append(
            HistoryPoint(
                run.id,
                run.started_at,
                tally[verdicts.PASS] / applicable if applicable else 0.0,
                sum(tally[name] for name in verdicts.AGAINST),
            )
        )
    return points
