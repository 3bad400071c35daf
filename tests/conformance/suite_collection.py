"""Collecting the conformance suite without a backend (for the suite-shape tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def collect_suite(tmp_path: Path, *extra: str) -> list[dict]:
    """The conformance suite's collected cases (see collect_plugin.py), without any backend."""
    out = tmp_path / "collected.json"
    env = {
        **os.environ,
        "AZIHSM_COLLECT_OUT": str(out),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).parent), str(PROJECT), os.environ.get("PYTHONPATH")])
        ),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:azihsm",
            "-p",
            "collect_plugin",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            *extra,
            str(PROJECT / "conformance"),
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"collecting the conformance suite failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return json.loads(out.read_text())
