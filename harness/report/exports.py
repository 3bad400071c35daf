"""Machine-readable exports of runs: JSON (everything in the store) and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

from harness.fileutil import write_atomic
from harness.report.model import RunResults
from harness.store import DEVIATION, SKIPPED, XFAILED  # reported as <skipped>

JSON_FORMAT_VERSION = 1


def to_json(results: list[RunResults]) -> str:
    document = {
        "format": "azihsm-conformance-results",
        "version": JSON_FORMAT_VERSION,
        "runs": [
            {
                "run": asdict(result.run),
                "counts": dict(result.counts()),
                "cases": [{**asdict(case), "category": case.category} for case in result.cases],
            }
            for result in results
        ],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def write_json(results: list[RunResults], path: Path) -> Path:
    return write_atomic(path, to_json(results))


def to_junit(results: list[RunResults]) -> str:
    """One <testsuite> per run; classname is the clause id so CI tools group by clause."""
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
            failures=str(counts["fail"]),
            errors="0",
            skipped=str(counts["skip"] + counts["deviation"]),
            time=f"{sum(c.duration for c in result.cases):.3f}",
            hostname=run.host,
        )
        properties = ET.SubElement(suite, "properties")
        for name in ("id", "backend", "provider_name", "provider_version", "provider_buildinfo", "openssl_version_text", "level", "status", "project_version"):
            ET.SubElement(properties, "property", name=name, value=str(getattr(run, name) or ""))
        for case in result.cases:
            element = ET.SubElement(suite, "testcase", classname=case.clause_id, name=case.case_id, time=f"{case.duration:.3f}")
            case_properties = ET.SubElement(element, "properties")
            ET.SubElement(case_properties, "property", name="clause_level", value=case.clause_level)
            ET.SubElement(case_properties, "property", name="outcome", value=case.outcome)
            for key, value in sorted(case.params.items()):
                ET.SubElement(case_properties, "property", name=f"param.{key}", value=str(value))
            commands = "\n".join(f"$ {c.command_line}  # {c.outcome}, exit {c.returncode}" for c in case.commands)
            if case.category == "fail":
                failure = ET.SubElement(element, "failure", type=case.outcome, message=case.message.splitlines()[0] if case.message else case.outcome)
                failure.text = "\n\n".join(part for part in (case.message, commands, case.stderr_excerpt) if part)
            elif case.outcome in (SKIPPED, XFAILED, DEVIATION):
                ET.SubElement(element, "skipped", message=case.message)
            if commands:
                ET.SubElement(element, "system-out").text = commands
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(results: list[RunResults], path: Path) -> Path:
    return write_atomic(path, to_junit(results))
