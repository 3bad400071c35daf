"""The distribution installs one top-level package, azihsm_conformance, so it lives beside
anything else: a fresh virtual environment that already holds the PyPI ``fixtures`` package
installs the project, ``import fixtures`` still gives the PyPI package, and the suite runs.
Slow (it builds a venv and installs from the package index)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run(*argv, cwd: Path) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def test_installs_beside_the_pypi_fixtures_package(tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "fixtures", cwd=tmp_path)
    run(python, "-m", "pip", "install", "--quiet", f"{PROJECT}[vectors]", cwd=tmp_path)
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip()
    top_level = sorted(p.name for p in Path(site).iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert "azihsm_conformance" in top_level
    assert not {"harness", "reference", "conformance"} & set(top_level), top_level
    where = run(python, "-c", "import fixtures; print(fixtures.__file__)", cwd=tmp_path)
    assert "site-packages/fixtures/" in where and "azihsm" not in where
    version = run(venv / "bin" / "azihsm-conformance", "--version", cwd=tmp_path)
    assert version.startswith("azihsm-conformance")
    out = tmp_path / "out"
    run(
        venv / "bin" / "azihsm-conformance", "run", "--level", "quick", "--out", out, "--", "-k", "digest", cwd=tmp_path
    )
    assert "CONFORMS" in (out / "report.md").read_text()
