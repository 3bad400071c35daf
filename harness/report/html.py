"""A self-contained static HTML report: the clause matrix, drill-down to every failing
case with its replayable commands, and the difference between runs. No external assets."""

from __future__ import annotations

from collections import Counter
from html import escape

from azihsm_conformance.harness import verdicts
from azihsm_conformance.harness.clauses import Clause
from azihsm_conformance.harness.report import charts
from azihsm_conformance.harness.report.model import (
    RunDiff,
    RunResults,
    case_anchor,
    cell_category,
    cell_text,
    clause_matrix,
    info_observations,
    observation_text,
)

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#1b1b1b}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}
th{background:#f3f3f3;text-align:left}
td.fail{background:#fbd5d5}td.inconclusive{background:#f6d2f0}td.fixed-deviation{background:#f9c9a9}
td.deviation{background:#fdf0c4}td.info{background:#dbe9f7}td.pass{background:#d8f3dc}td.not-applicable{background:#eee}
code,pre{font-family:ui-monospace,monospace}pre{background:#f7f7f7;padding:.6em;overflow-x:auto;white-space:pre-wrap}
details{margin:.3em 0}summary{cursor:pointer}.muted{color:#666}
.outcome-fail{color:#a00;font-weight:600}.outcome-deviation{color:#8a6d00;font-weight:600}
.outcome-inconclusive{color:#8a2080;font-weight:600}.outcome-fixed-deviation{color:#b04a00;font-weight:600}
.outcome-info{color:#1f5c99}
.banner{border:2px solid;border-radius:6px;padding:.6em 1em;margin:.6em 0}
.banner h3{margin:.1em 0 .4em}.banner.conforms{border-color:#2d7a3e;background:#eef8f0}
.banner.fails{border-color:#a00;background:#fdf0f0}.banner table{margin:.3em 0}
.banner ul{margin:.3em 0}
.pictures{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.pictures h3{flex-basis:100%;margin:.4em 0 0}
.chartbox h4{margin:.2em 0;font-size:1em}table.slowest{font-size:12px;margin-top:.4em}
"""

# the only script: a filter for the matrix (also on load with report.html#failing, so a
# link can point at the failures); it marks the page ready, which the browser test checks
_JS = """
var onlyFailing = document.getElementById('only-failing');
function applyFilter() {
  document.querySelectorAll('#matrix tbody tr').forEach(function (row) {
    row.hidden = onlyFailing.checked && !row.classList.contains('failing');
  });
}
onlyFailing.addEventListener('change', applyFilter);
if (location.hash === '#failing') { onlyFailing.checked = true; applyFilter(); }
document.documentElement.dataset.ready = 'yes';
"""


def _e(value) -> str:
    return escape(str(value), quote=True)


def _anchor(clause_id: str) -> str:
    return "clause-" + "".join(ch if ch.isalnum() or ch == "-" else "_" for ch in clause_id)


def _banners(results: list[RunResults]) -> str:
    """One verdict banner per backend × OpenSSL column, first thing on the page."""
    parts = []
    for result in results:
        verdict = result.verdict()
        head = "<tr><th>level</th>" + "".join(f"<th>{verdicts.LABELS[c]}</th>" for c in verdicts.CATEGORIES) + "</tr>"
        rows = "".join(
            f"<tr><td>{_e(level)}</td>" + "".join(f"<td>{counts[c] or ''}</td>" for c in verdicts.CATEGORIES) + "</tr>"
            for level, counts in verdict.by_level.items()
        )
        failures = "".join(
            f"<li><a href='#{case_anchor(verdict.column, case.case_id)}'><code>{_e(case.case_id)}</code></a> "
            f"{_e(case.clause_id)}: <span class='outcome-{_e(case.category)}'>{_e(case.outcome)}</span></li>"
            for case in verdict.first_failures
        )
        more = len(result.failing()) - len(verdict.first_failures)
        if more > 0:
            failures += f"<li class=muted>… and {more} more below</li>"
        parts.append(
            f"<section class='banner {'conforms' if verdict.conforms else 'fails'}' data-column='{_e(verdict.column)}'>"
            f"<h3>{_e(verdict.column)}: {_e(verdict.headline)}</h3>"
            f"<table class=levels><thead>{head}</thead><tbody>{rows}</tbody></table>"
            + (
                f"<p>First cases against it (their replay commands are linked):</p><ul>{failures}</ul>"
                if failures
                else ""
            )
            + "</section>"
        )
    return "".join(parts)


def _runs_table(results: list[RunResults]) -> str:
    rows = []
    for result in results:
        run, counts = result.run, result.counts()
        rows.append(
            "<tr>"
            f"<td>{_e(run.column)}</td><td><code>{_e(run.id)}</code></td><td>{_e(run.status)}</td><td>{_e(run.level)}</td>"
            f"<td>{_e(run.provider_name)} {_e(run.provider_version)}<div class=muted>{_e(run.provider_buildinfo)}</div>"
            + (f"<pre class=identity>{_e(run.identity)}</pre>" if run.identity else "")
            + "</td>"
            f"<td>{_e(run.openssl_version_text)}</td><td>{_e(run.started_at)} → {_e(run.finished_at or '—')}</td>"
            + "".join(f"<td>{counts[c]}</td>" for c in verdicts.CATEGORIES)
            + "</tr>"
        )
    head = "<tr><th>backend / OpenSSL</th><th>run</th><th>status</th><th>level</th><th>provider</th><th>openssl</th><th>time</th>"
    head += "".join(f"<th>{verdicts.LABELS[c]}</th>" for c in verdicts.CATEGORIES) + "</tr>"
    return f"<table id=runs><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _matrix(results: list[RunResults], clauses: dict[str, Clause]) -> str:
    rows = clause_matrix(results, clauses)
    head = "<tr><th>clause</th><th>level</th><th>section</th>"
    head += "".join(f"<th>{_e(r.run.column)}<div class=muted>{_e(r.run.id)}</div></th>" for r in results) + "</tr>"
    body = []
    for row in rows:
        cells = "".join(
            f"<td class='{cell_category(cell)}'>{_e(cell_text(cell, performers))}</td>"
            for cell, performers in zip(row.cells, row.performers)
        )
        name = f"<code>{_e(row.clause_id)}</code>"
        if any(cell[c] for cell in row.cells for c in _DRILLED):  # it has a drill-down section
            name = f"<a href='#{_anchor(row.clause_id)}'>{name}</a>"
        body.append(
            f"<tr class='{'failing' if row.failing else ''}' title='{_e(row.text)}'>"
            f"<td>{name}</td>"
            f"<td>{_e(row.level or '?')}</td><td>{_e(row.section)}</td>{cells}</tr>"
        )
    return (
        "<label><input type=checkbox id=only-failing> only clauses with failures</label>"
        f"<table id=matrix><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
    )


def _observations(results: list[RunResults], clauses: dict[str, Clause]) -> str:
    rows = info_observations(results, clauses)
    if not rows:
        return "<p>No INFO clause was run.</p>"
    head = "<tr><th>clause</th>" + "".join(f"<th>{_e(r.run.column)}</th>" for r in results) + "</tr>"
    body = "".join(
        f"<tr title='{_e(row.text)}'><td><code>{_e(row.clause_id)}</code></td>"
        + "".join(f"<td>{_e(observation_text(cell))}</td>" for cell in row.cells)
        + "</tr>"
        for row in rows
    )
    return f"<table id=observations><thead>{head}</thead><tbody>{body}</tbody></table>"


# categories whose cases get a drill-down section
_DRILLED = (verdicts.FAIL, verdicts.INCONCLUSIVE, verdicts.FIXED_DEVIATION, verdicts.DEVIATION, verdicts.INFO)


def _case_details(case, column: str) -> str:
    commands = "\n".join(
        f"$ {c.command_line}\n# {c.role}: {c.outcome}, exit {c.returncode}, {c.duration:.3f}s" for c in case.commands
    )
    parts = [
        f"<summary><code>{_e(case.case_id)}</code> <span class='outcome-{_e(case.category)}'>{_e(case.outcome)}</span> <span class=muted>{_e(column)}</span></summary>"
    ]
    if case.message:
        parts.append(f"<pre class=message>{_e(case.message)}</pre>")
    if case.evidence:
        who = f"performed by {case.performed_by}: " if case.performed_by else ""
        parts.append(f"<p class=evidence>{_e(who)}{_e('; '.join(case.evidence))}</p>")
    if commands:
        parts.append(f"<p>Commands (paste to replay):</p><pre class=commands>{_e(commands)}</pre>")
    if case.stderr_excerpt:
        parts.append(f"<p>stderr:</p><pre class=stderr>{_e(case.stderr_excerpt)}</pre>")
    if case.params:
        parts.append(f"<p class=muted>parameters: <code>{_e(case.params)}</code></p>")
    return f"<details class=case id='{case_anchor(column, case.case_id)}' data-case='{_e(case.case_id)}'>{''.join(parts)}</details>"


def _drilldown(results: list[RunResults], clauses: dict[str, Clause]) -> str:
    sections = []
    for row in clause_matrix(results, clauses):
        cases = [
            (case, result.run.column)
            for result in results
            for case in result.cases
            if case.clause_id == row.clause_id and case.category in _DRILLED
        ]
        if not cases:
            continue
        body = "".join(_case_details(case, column) for case, column in cases)
        sections.append(
            f"<section id='{_anchor(row.clause_id)}' class=clause><h3><code>{_e(row.clause_id)}</code> "
            f"<span class=muted>{_e(row.level)} · {_e(row.section)}</span></h3><p>{_e(row.text)}</p>{body}</section>"
        )
    return "".join(sections) or "<p>No failing, inconclusive or deviating cases.</p>"


SLOWEST = 10


def _pictures(results: list[RunResults], clauses: dict[str, Clause], history: dict[str, list] | None) -> str:
    """Per column: where the verdicts fall per spec section, how the column moved over its
    stored runs, and where the time goes."""
    parts = []
    for result in results:
        column = result.run.column
        sections: dict[str, Counter] = {}
        for case in result.cases:
            clause = clauses.get(case.clause_id)
            sections.setdefault(clause.section if clause else "(not in catalogue)", Counter())[case.category] += 1
        slowest = sorted(result.cases, key=lambda case: case.duration, reverse=True)[:SLOWEST]
        rows = "".join(
            f"<tr><td>{case.duration:.2f} s</td><td><code>{_e(case.case_id)}</code></td>"
            f"<td>{_e(case.clause_id)}</td></tr>"
            for case in slowest
        )
        points = (history or {}).get(column, [])
        parts.append(
            f"<section class=pictures data-column='{_e(column)}'><h3>{_e(column)}</h3>"
            f"<div class=chartbox><h4>Verdicts per spec section</h4>{charts.section_bars(sections, f'{column}: verdicts per section')}</div>"
            + (
                f"<div class=chartbox><h4>Run history ({len(points)} stored runs)</h4>"
                f"{charts.history_strip(points, f'{column}: pass rate and cases against conformance per run')}</div>"
                if points
                else ""
            )
            + f"<div class=chartbox><h4>Case durations</h4>{charts.duration_histogram([c.duration for c in result.cases], f'{column}: case durations')}"
            f"<table class=slowest><thead><tr><th>duration</th><th>slowest cases</th><th>clause</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div></section>"
        )
    return "".join(parts)


def _diff(diff: RunDiff) -> str:
    parts = [
        f"<section class=diff><h3>{_e(diff.a.id)} → {_e(diff.b.id)} <span class=muted>({_e(diff.b.column)})</span></h3>"
    ]
    if diff.empty:
        parts.append("<p>No case changed outcome.</p>")
    for key, title, changes in (
        ("newly-failing", "Newly failing", diff.newly_failing),
        ("newly-passing", "Newly passing", diff.newly_passing),
        ("changed", "Other changes", diff.changed),
        ("added", "New cases", diff.added),
        ("removed", "Removed cases", diff.removed),
    ):
        if not changes:
            continue
        items = []
        for change in changes:
            line = f"<code>{_e(change.case_id)}</code> ({_e(change.clause_id)}): {_e(change.before or 'absent')} → {_e(change.after or 'absent')}"
            if key == "newly-failing" and change.case is not None:
                line += _case_details(change.case, diff.b.column)
            items.append(f"<li>{line}</li>")
        parts.append(f"<h4>{title} ({len(changes)})</h4><ul class='{key}'>{''.join(items)}</ul>")
    parts.append("</section>")
    return "".join(parts)


def render_report(
    results: list[RunResults],
    clauses: dict[str, Clause],
    diffs: list[RunDiff],
    title: str = "azihsm conformance",
    history: dict[str, list] | None = None,
) -> str:
    diff_html = "".join(_diff(d) for d in diffs) if diffs else "<p>No earlier run to compare with.</p>"
    return f"""<!DOCTYPE html>
<html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>
<meta name=viewport content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
{_banners(results)}
<h2 id=pictures>At a glance</h2>{_pictures(results, clauses, history)}
<h2>Runs</h2>{_runs_table(results)}
<h2>Clauses × backend / OpenSSL</h2>{_matrix(results, clauses)}
<h2>What each backend does (INFO clauses)</h2>{_observations(results, clauses)}
<h2>Failing, inconclusive and deviating cases</h2>{_drilldown(results, clauses)}
<h2 id=changes>Changes between runs</h2>{diff_html}
<script>{_JS}</script>
</body></html>
"""
