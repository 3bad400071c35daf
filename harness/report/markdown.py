"""Markdown reports, fit for a CI job summary (GitHub renders <details> blocks)."""

from __future__ import annotations

from azihsm_conformance.harness import verdicts
from azihsm_conformance.harness.clauses import Clause
from azihsm_conformance.harness.report.model import (
    RunDiff,
    RunResults,
    cell_text,
    clause_matrix,
    info_observations,
    observation_text,
)

_FAILURES_SHOWN = 50


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def run_summary(result: RunResults) -> str:
    run, counts = result.run, result.counts()
    provider = run.provider_name or "(unknown provider)"
    if run.provider_version:
        provider += f" {run.provider_version}"
    return (
        f"- **{run.column}** — run `{run.id}` ({run.status}, level {run.level}), {provider}"
        f"{f' [{run.provider_buildinfo}]' if run.provider_buildinfo else ''}: "
        f"{'conforms' if result.conforms else 'does not conform'} ({verdicts.summary(counts)})"
        + (
            f"; identity: {' | '.join(line.strip() for line in run.identity.splitlines() if line.strip())[:300]}"
            if run.identity
            else ""
        )
    )


def matrix_table(results: list[RunResults], clauses: dict[str, Clause]) -> list[str]:
    rows = clause_matrix(results, clauses)
    if not rows:
        return ["_No cases recorded._"]
    lines = ["| clause | level | " + " | ".join(_cell(r.run.column) for r in results) + " |"]
    lines.append("|---|---|" + "---|" * len(results))
    for row in rows:
        mark = "❌ " if row.failing else ""
        cells = [cell_text(cell, performers) for cell, performers in zip(row.cells, row.performers)]
        lines.append(f"| {mark}`{row.clause_id}` | {row.level or '?'} | " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def observations_table(results: list[RunResults], clauses: dict[str, Clause]) -> list[str]:
    rows = info_observations(results, clauses)
    if not rows:
        return []
    lines = [
        "## What each backend does (INFO clauses)",
        "",
        "| clause | " + " | ".join(_cell(r.run.column) for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    lines += [
        f"| `{row.clause_id}` | " + " | ".join(_cell(observation_text(c)) for c in row.cells) + " |" for row in rows
    ]
    return lines + [""]


def failures(result: RunResults) -> list[str]:
    failing = result.failing()
    if not failing:
        return []
    lines = [f"### Failing and inconclusive cases in {result.run.column} (run `{result.run.id}`)", ""]
    for case in failing[:_FAILURES_SHOWN]:
        lines.append(f"<details><summary><code>{case.case_id}</code> — {case.clause_id}: {case.outcome}</summary>")
        lines.append("")
        lines.append("```")
        if case.message:
            lines.append(case.message)
        lines.extend(f"$ {c.command_line}" for c in case.commands)
        lines.append("```")
        lines.append("</details>")
    if len(failing) > _FAILURES_SHOWN:
        lines.append(f"… and {len(failing) - _FAILURES_SHOWN} more (see the HTML report).")
    lines.append("")
    return lines


def diff_section(diff: RunDiff) -> list[str]:
    lines = [f"### Changes from `{diff.a.id}` to `{diff.b.id}`", ""]
    if diff.empty:
        return lines + ["No case changed outcome.", ""]
    for title, changes in (
        ("Newly failing", diff.newly_failing),
        ("Newly passing", diff.newly_passing),
        ("Other changes", diff.changed),
        ("New cases", diff.added),
        ("Removed cases", diff.removed),
    ):
        if changes:
            lines.append(f"**{title}** ({len(changes)})")
            lines.append("")
            lines.extend(
                f"- `{c.case_id}` ({c.clause_id}): {c.before or 'absent'} → {c.after or 'absent'}" for c in changes
            )
            lines.append("")
    return lines


def banners(results: list[RunResults]) -> list[str]:
    """One verdict line per backend × OpenSSL column, with counts by clause level."""
    lines = []
    for result in results:
        verdict = result.verdict()
        mark = "✅" if verdict.conforms else "❌"
        lines.append(f"> {mark} **{verdict.column}: {verdict.headline}**  ")
        for level, counts in verdict.by_level.items():
            lines.append(f"> {level}: {verdicts.summary(counts)}  ")
        for case in verdict.first_failures:
            lines.append(f"> - `{case.case_id}` ({case.clause_id}): {case.outcome}  ")
        lines.append("")
    return lines


def render_report(results: list[RunResults], clauses: dict[str, Clause], diffs: list[RunDiff]) -> str:
    lines = ["# azihsm conformance", ""]
    lines += banners(results)
    lines.extend(run_summary(result) for result in results)
    lines += ["", "## Clauses", ""]
    lines += matrix_table(results, clauses)
    lines.append("")
    lines += observations_table(results, clauses)
    for result in results:
        lines += failures(result)
    if diffs:
        lines += ["## Since the previous run", ""]
        for diff in diffs:
            lines += diff_section(diff)
    return "\n".join(lines).rstrip() + "\n"


def render_diff(diff: RunDiff) -> str:
    lines = [
        f"# Run {diff.a.id} → {diff.b.id}",
        "",
        f"- A: {diff.a.column}, {diff.a.started_at}",
        f"- B: {diff.b.column}, {diff.b.started_at}",
        "",
    ]
    return "\n".join(lines + diff_section(diff)).rstrip() + "\n"
