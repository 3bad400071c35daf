"""Progress a person can follow on long runs (controller only):

    azihsm progress: 120/265 cases (45%), 12 s elapsed, about 15 s left, 2 against conformance;
                     running long: test_tls.py::test_handshake_with_hsm_key[ec-P-384-tls1_2] (8 s)

One line every few seconds on a terminal, every ``--azihsm-progress`` seconds otherwise
(CI logs get plain lines, never control characters), on stderr, so pytest's own output
stays as it is. A case running longer than a few seconds is named, so a hang toward the
command timeout is visible while it happens.
"""

from __future__ import annotations

import sys
import threading
import time

import pytest

from azihsm_conformance.harness import verdicts
from azihsm_conformance.harness.plugin.collection import CASE_PROPERTY
from azihsm_conformance.harness.plugin.outcome import VERDICT_PROPERTY

LONG_CASE_SECONDS = 5.0


class Progress:
    def __init__(self, interval: float, stream=None):
        self.interval = interval
        self.stream = stream or sys.stderr
        self.total = 0
        self.done = 0
        self.against = 0
        self.started = time.monotonic()
        self.running: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="azihsm-progress", daemon=True)

    # -- pytest hooks -------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        with self.lock:
            self.total = max(self.total, len(session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        with self.lock:
            self.total = max(self.total, len(ids))

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        with self.lock:
            self.running[nodeid] = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        verdict = properties.get(VERDICT_PROPERTY)
        level = (properties.get(CASE_PROPERTY) or {}).get("level", "")
        with self.lock:
            if verdict and verdicts.counts_against(verdict["outcome"], level):
                self.against += 1
            if report.when == "teardown":
                self.done += 1
                self.running.pop(report.nodeid, None)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = time.monotonic()
        self.thread.start()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.stop.set()

    # -- the line -----------------------------------------------------------------------

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        with self.lock:
            done, total, against = self.done, self.total, self.against
            long = sorted(
                ((now - since, nodeid) for nodeid, since in self.running.items() if now - since >= LONG_CASE_SECONDS),
                reverse=True,
            )
        elapsed = now - self.started
        share = f" ({100 * done // total}%)" if total else ""
        text = f"azihsm progress: {done}/{total or '?'} cases{share}, {elapsed:.0f} s elapsed"
        if done and total > done:
            text += f", about {elapsed / done * (total - done):.0f} s left"
        text += f", {against} against conformance"
        if long:
            text += "; running long: " + ", ".join(
                f"{nodeid.split('/')[-1]} ({seconds:.0f} s)" for seconds, nodeid in long[:3]
            )
        return text

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                # pytest's dots may be mid-line on the same terminal or log
                self.stream.write("\n" + self.line() + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # the stream went away with the session
                return


def interval_for(option: float | None, stream) -> float:
    """The option if given, else 5 s on a terminal and 15 s in a log; 0 turns it off."""
    if option is not None:
        return option
    return 5.0 if getattr(stream, "isatty", lambda: False)() else 15.0
