import subprocess
import sys

from azihsm_conformance.harness import __version__
from azihsm_conformance.harness.cli import main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"azihsm-conformance {__version__}"


def test_console_script_runs_as_module():
    proc = subprocess.run(
        [sys.executable, "-m", "azihsm_conformance.harness.cli", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("azihsm-conformance ")
