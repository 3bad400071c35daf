"""The HTML report as a browser sees it: headless Chromium loads the page, runs its script,
and the DOM it dumps is checked (Debian package chromium, installed by .ci/system-deps)."""

from __future__ import annotations

import html as htmllib
import re
import shutil
import subprocess

import pytest

from azihsm_conformance.harness.clauses import load_clauses
from azihsm_conformance.harness.report import html
from azihsm_conformance.harness.report.model import diff_runs, load_run
from azihsm_conformance.harness.store import COMPLETE, CaseRecord, CommandRecord, ResultsStore, RunRecord

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (see .ci/system-deps)"),
]


def dump_dom(url: str, profile_dir) -> str:
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile_dir}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture
def report_page(tmp_path, catalogue_file):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        for run_id, outcome in (("run-a", "passed"), ("run-b", "failed")):
            store.begin_run(RunRecord(backend="reference", openssl_version="3.0.19", id=run_id))
            store.record_case(run_id, CaseRecord("t.py::test_ok", "DGST-SHA384", "passed", "MUST"))
            store.record_case(
                run_id,
                CaseRecord(
                    "t.py::test_sign[P-384]",
                    "DGST-SHA256",
                    outcome,
                    "MUST",
                    message="signature did not verify <&>",
                    commands=[
                        CommandRecord(
                            "cd /w && openssl dgst -sha384 -sign 'azihsm://k.bin;type=ec' data.bin", 1, "error", 0.02
                        )
                    ],
                ),
            )
            store.finish_run(run_id, COMPLETE, 0)
        a, b = load_run(store, "run-a"), load_run(store, "run-b")
    page = tmp_path / "report.html"
    page.write_text(html.render_report([b], load_clauses(catalogue_file), [diff_runs(a, b)]))
    return page


def test_page_renders_with_matrix_drilldown_and_diff(report_page, tmp_path):
    dom = dump_dom(report_page.as_uri(), tmp_path / "chromium-profile")
    assert 'data-ready="yes"' in dom  # the script ran without an error
    matrix = dom[dom.index('id="matrix"') : dom.index("</table>", dom.index('id="matrix"'))]
    assert len(re.findall(r"<tr class=", matrix)) == 8  # one row per catalogue clause
    assert '<td class="fail">1 fail</td>' in matrix and '<td class="pass">1 pass</td>' in matrix
    section = dom[dom.index('<section id="clause-DGST-SHA256"') :]
    assert "signature did not verify &lt;&amp;&gt;" in section
    commands = re.search(r'<pre class="commands">(.*?)</pre>', section, re.S).group(1)
    assert htmllib.unescape(commands).startswith(
        "$ cd /w && openssl dgst -sha384 -sign 'azihsm://k.bin;type=ec' data.bin"
    )
    newly_failing = dom[dom.index('<ul class="newly-failing">') :]
    assert "t.py::test_sign[P-384]" in newly_failing[: newly_failing.index("</ul>")]


def test_failing_filter_hides_passing_clauses(report_page, tmp_path):
    dom = dump_dom(report_page.as_uri() + "#failing", tmp_path / "chromium-profile")
    rows = re.findall(r'<tr class="(failing)?"[^>]*?( hidden="")?>\s*<td>(?:<a [^>]*>)?<code>([A-Z0-9-]+)</code>', dom)
    visible = [clause for failing, hidden, clause in rows if not hidden]
    assert visible == ["DGST-SHA256"] and len(rows) == 8


def test_banner_and_charts_render(tmp_path, catalogue_file):
    """The verdict banner and the three pictures (sections, history, durations) as a browser
    builds them, and a screenshot of the page (kept beside the test's files to look at)."""
    from azihsm_conformance.harness.report.model import histories
    from azihsm_conformance.harness.report.outputs import select

    with ResultsStore(tmp_path / "h.sqlite") as store:
        for number, outcome in enumerate(("passed", "failed", "passed")):
            run_id = f"run-{number}"
            store.begin_run(RunRecord(backend="reference", openssl_version="3.0.19", id=run_id, revision="2026-03"))
            store.record_case(run_id, CaseRecord("t.py::test_ok", "DGST-SHA384", "passed", "MUST", duration=0.05))
            store.record_case(
                run_id,
                CaseRecord(
                    "t.py::test_slow",
                    "DGST-SHA256",
                    outcome,
                    "MUST",
                    duration=3.5,
                    message="went wrong" if outcome == "failed" else "",
                ),
            )
            store.record_case(
                run_id, CaseRecord("t.py::test_na", "TLS-HANDSHAKE", "not-applicable", "INFO", duration=0.0)
            )
            store.finish_run(run_id, COMPLETE, 0)
        results, diffs = select(store, ["run-1"])
        page = tmp_path / "charts.html"
        page.write_text(
            html.render_report(results, load_clauses(catalogue_file), diffs, history=histories(store, results))
        )
    dom = dump_dom(page.as_uri(), tmp_path / "chromium-profile")
    assert 'class="banner fails"' in dom and "DOES NOT CONFORM to revision 2026-03" in dom
    assert (
        dom.count('<svg class="chart sections"') == 1
        and 'class="segment fail"' in dom
        and 'class="segment pass"' in dom
    )
    assert dom.count('<svg class="chart history"') == 1 and dom.count('class="run"') == 3  # all three stored runs
    assert '<svg class="chart durations"' in dom and "3 cases, 4 s in all" in dom
    assert "<td>3.50 s</td>" in dom  # the slowest case first
    shot = tmp_path / "charts.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-shot'}",
            "--window-size=1200,900",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=60,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000  # a real picture, not an empty page
