"""Machine-readable exports of runs: JSON (everything in the store) and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

from azihsm_conformance.harness import verdicts
from azihsm_conformance.harness.fileutil import write_atomic
from azihsm_conformance.harness.report.model import RunResults

JSON_FORMAT_VERSION = 2


def to_json(results: list[RunResults]) -> str:
    document = {
        "format": "azihsm-conformance-results",
        "version": JSON_FORMAT_VERSION,
        "runs": [
            {
                "run": result.run.to_record(),
                "conforms": result.conforms,
                "counts": {name: result.counts().get(name, 0) for name in verdicts.CATEGORIES},
                "cases": [{**asdict(case), "category": case.category} for case in result.cases],
            }
            for result in results
        ],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def write_json(results: list[RunResults], path: Path) -> Path:
    return write_atomic(path, to_json(results))


def to_junit(results: list[RunResults], *, all_commands: bool = False) -> str:
    """One <testsuite> per run; classname is the clause id so CI tools group by clause.

    What CI systems parse: <failure> for a failure or a fixed deviation, <error> for an
    inconclusive case (it could not be decided), <skipped> for not applicable and declared
    deviations; INFO clauses never fail (their record is in system-out). Command lines are
    kept for cases that did not pass (ALL_COMMANDS: for every case), and a pass carries only
    its level, who performed it and its evidence, so a full run's file stays under 1 MB.
    """
    suites = ET.Element("testsuites", name="azihsm-conformance")
    for result in results:
        run = result.run
        counts = result.counts()
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{run.backend} / OpenSSL {run.openssl_version}",
            id=run.id,
            timestamp=run.started_at,
            tests=str(len(result.cases)),
            failures=str(counts[verdicts.FAIL] + counts[verdicts.FIXED_DEVIATION]),
            errors=str(counts[verdicts.INCONCLUSIVE]),
            skipped=str(counts[verdicts.NOT_APPLICABLE] + counts[verdicts.DEVIATION]),
            time=f"{sum(c.duration for c in result.cases):.3f}",
            hostname=run.host,
        )
        properties = ET.SubElement(suite, "properties")
        for name in (
            "id",
            "backend",
            "provider_name",
            "provider_version",
            "provider_buildinfo",
            "openssl_version_text",
            "level",
            "status",
            "revision",
            "capabilities",
            "project_version",
        ):
            ET.SubElement(properties, "property", name=name, value=str(getattr(run, name) or ""))
        ET.SubElement(
            properties, "property", name="verdict", value="conforms" if result.conforms else "does not conform"
        )
        for case in result.cases:
            _junit_case(suite, case, all_commands)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _junit_case(suite: ET.Element, case, all_commands: bool) -> None:
    element = ET.SubElement(suite, "testcase", classname=case.clause_id, name=case.case_id, time=f"{case.duration:.3f}")
    category = case.category
    # a pass needs only its level and who performed it (its name carries the parameters);
    # everything else is kept for the cases someone will read
    brief = category == verdicts.PASS and not all_commands
    case_properties = ET.SubElement(element, "properties")
    for name, value in (
        ("clause_level", case.clause_level),
        ("outcome", None if brief else case.outcome),
        ("category", None if brief else case.category),
        ("performed_by", case.performed_by),
    ):
        if value is not None:
            ET.SubElement(case_properties, "property", name=name, value=value)
    for key, value in sorted(case.params.items()) if not brief else ():
        ET.SubElement(case_properties, "property", name=f"param.{key}", value=str(value))
    commands = "\n".join(f"$ {c.command_line}  # {c.role}: {c.outcome}, exit {c.returncode}" for c in case.commands)
    details = "\n\n".join(part for part in (case.message, commands, case.stderr_excerpt) if part)
    headline = case.message.splitlines()[0] if case.message else case.outcome
    if category in (verdicts.FAIL, verdicts.FIXED_DEVIATION):
        ET.SubElement(element, "failure", type=case.outcome, message=headline).text = details
    elif category == verdicts.INCONCLUSIVE:
        ET.SubElement(element, "error", type=case.outcome, message=headline).text = details
    elif category in (verdicts.NOT_APPLICABLE, verdicts.DEVIATION):
        ET.SubElement(element, "skipped", message=f"{verdicts.LABELS[category]}: {headline}")
    out = []
    if case.evidence:
        out.append("evidence: " + "; ".join(case.evidence))
    if category == verdicts.INFO:
        out.append(f"recorded ({case.outcome}): {case.message}")
    if commands and (all_commands or category != verdicts.PASS):
        out.append(commands)
    if out:
        ET.SubElement(element, "system-out").text = "\n".join(out)


def write_junit(results: list[RunResults], path: Path, *, all_commands: bool = False) -> Path:
    return write_atomic(path, to_junit(results, all_commands=all_commands))
