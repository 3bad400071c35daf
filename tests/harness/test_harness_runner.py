"""The command runner, against the real openssl and small shell stand-ins."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from azihsm_conformance.harness.runner import CRASH, ERROR, OK, TIMEOUT, TRACEBACK, parse_error_stack, run_command

pytestmark = pytest.mark.openssl
OPENSSL = shutil.which("openssl")


def test_success_records_everything(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"abc")
    result = run_command(
        [OPENSSL, "dgst", "-sha256", "-r", "data.bin"], cwd=tmp_path, env={"AZIHSM_DEVICE_DIR": "/dev/null/x y"}
    )
    assert result.outcome == OK and result.returncode == 0
    assert result.stdout.startswith(b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert result.duration > 0 and result.errors == []
    assert (
        result.command_line == f"cd {tmp_path} && AZIHSM_DEVICE_DIR='/dev/null/x y' {OPENSSL} dgst -sha256 -r data.bin"
    )


def test_replay_line_reproduces_the_command(tmp_path):
    stdin_dir = tmp_path / "stdin"
    work = tmp_path / "work dir"
    work.mkdir()
    result = run_command([OPENSSL, "dgst", "-sha384", "-r"], cwd=work, input=b"hello", stdin_dir=stdin_dir)
    replay = subprocess.run(["bash", "-c", result.command_line], capture_output=True)
    assert replay.returncode == 0 and replay.stdout == result.stdout
    assert list(work.iterdir()) == []  # the saved input stays out of the case's directory


def test_failure_parses_the_error_stack(tmp_path):
    result = run_command(
        [OPENSSL, "pkeyutl", "-sign", "-inkey", "/nonexistent/key.pem", "-in", "/etc/hostname"], cwd=tmp_path
    )
    assert result.outcome == ERROR and result.returncode != 0
    assert result.errors, result.stderr
    assert any(
        e.reason == "No such file or directory" and "stat(/nonexistent/key.pem)" in e.data for e in result.errors
    )
    assert all(e.library and e.code for e in result.errors)


def test_error_stack_data_may_hold_colons():
    line = "40C7E1A1A17F0000:error:1E08010C:DECODER routines:OSSL_DECODER_from_bio:unsupported:decoder_lib.c:102:No supported data: Input type: DER"
    [error] = parse_error_stack("some text\n" + line + "\n")
    assert (error.library, error.function, error.reason) == ("DECODER routines", "OSSL_DECODER_from_bio", "unsupported")
    assert error.data == "No supported data: Input type: DER" and error.line == 102


def test_hang_is_a_timeout_and_kills_the_process_group(tmp_path):
    marker = tmp_path / "child-survived"
    # the shell starts a grandchild that would outlive a plain kill of the shell
    script = f"(sleep 1; touch {marker}) & sleep 30"
    result = run_command(["sh", "-c", script], timeout=0.5)
    assert result.outcome == TIMEOUT and result.returncode is None and result.abnormal
    assert "timed out" in result.describe()
    subprocess.run(["sleep", "1.3"])
    assert not marker.exists()


def test_signal_is_a_crash():
    result = run_command(["sh", "-c", "kill -SEGV $$"])
    assert result.outcome == CRASH and result.returncode == -11
    assert "SIGSEGV" in result.describe()


def test_python_traceback_is_its_own_outcome():
    result = run_command([sys.executable, "-c", "import sys; print('x'); sys.exit(0) if False else 1/0"])
    assert result.outcome == TRACEBACK and result.abnormal
    # even with exit code 0 a traceback is not a success
    result = run_command(
        [
            sys.executable,
            "-c",
            "import traceback,sys; sys.stderr.write('Traceback (most recent call last):\\n  boom\\n')",
        ]
    )
    assert result.returncode == 0 and result.outcome == TRACEBACK


def test_missing_program_is_an_error_not_an_exception():
    result = run_command(["/no/such/openssl", "version"])
    assert result.outcome == ERROR and result.returncode == 127 and "cannot start" in result.stderr
