"""The C-API host: bad arguments are one line and exit 2, never a traceback; an operation
the libcrypto cannot do is a JSON answer, not a crash."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def host(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "azihsm_conformance.harness.capi_host", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args, problem",
    [
        ((), "usage"),
        (("--openssl", "/usr/bin/openssl", "--", "juggle", "{}"), "one of aes, raw_key, derive, kdf"),
        (("--openssl", "/usr/bin/openssl", "--", "aes", "{not json"), "do not parse"),
        (("--openssl", "/usr/bin/openssl", "-colour", "red", "--", "aes", "{}"), "unknown flag -colour"),
        (("--openssl", "/usr/bin/openssl", "--", "kdf", "{}"), "bad arguments for kdf"),
    ],
    ids=["nothing", "unknown-operation", "bad-json", "unknown-flag", "missing-argument"],
)
def test_bad_arguments_are_one_line(args, problem):
    done = host(*args)
    assert done.returncode == 2 and problem in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_failing_call_is_reported_with_the_error_queue():
    done = host("--openssl", "/usr/bin/openssl", "--", "kdf", json.dumps({"kdf": "NO-SUCH-KDF", "size": 8}))
    answer = json.loads(done.stdout)
    assert done.returncode == 1 and answer["ok"] is False and answer["step"] == "EVP_KDF_fetch"
    assert any("unsupported" in error or "fetch" in error for error in answer["errors"]), answer["errors"]
