"""The hostile-input judge: classes, findings, and the key-leak scan."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from azihsm_conformance.harness.hostile import (
    CLEAN_ERROR,
    CRASHED,
    EMPTY_MESSAGE,
    HANG,
    INTERNAL_ERROR,
    SUCCESS,
    TRACEBACK_SHOWN,
    Tally,
    classify,
    leaked,
    parse_summary,
)
from azihsm_conformance.harness.runner import CommandResult, parse_error_stack
from azihsm_conformance.harness.runner import classify as outcome_of


def result(returncode, stderr="", timed_out=False):
    return CommandResult(
        ["openssl"],
        returncode,
        b"",
        stderr,
        0.1,
        "openssl x",
        outcome_of(returncode, stderr, timed_out),
        parse_error_stack(stderr),
    )


def test_classes():
    assert classify(result(0)) == SUCCESS
    assert classify(result(None, timed_out=True)) == HANG
    assert classify(result(-11)) == CRASHED
    assert classify(result(1, "Traceback (most recent call last):\n  x")) == TRACEBACK_SHOWN
    assert (
        classify(result(1, "40:error:4080:azihsm_provider:f:internal-error:b:0:internal error: UnicodeEncodeError"))
        == INTERNAL_ERROR
    )
    assert (
        classify(
            result(
                1,
                "dgst: unable to load provider\n40:error:408000CF:lib(129):py_provider_init:reason(207):azihsm-bridge:0:\n",
            )
        )
        == EMPTY_MESSAGE
    )
    assert classify(result(1, "")) == EMPTY_MESSAGE
    # OpenSSL's own errors name their reason even without text: a clean error
    assert (
        classify(
            result(1, "Could not read peer key\n40:error:1608010C:STORE routines:f:unsupported:store_result.c:149:\n")
        )
        == CLEAN_ERROR
    )
    assert (
        classify(result(1, "40:error:408000C9:azihsm_provider:f:invalid-uri:azihsm-bridge:0:'x' lacks a type"))
        == CLEAN_ERROR
    )


def test_an_echoed_path_that_reads_internal_error_is_a_clean_error():
    """Hypothesis draws strings from the suite's own source: a URI path "internal-error" is
    echoed in a clean refusal and must not count as an internal error."""
    stderr = "40:error:408000CA:azihsm_provider:py_store_open:file-error:azihsm-bridge:0:cannot read masked key file internal-error: No such file or directory"
    assert classify(result(1, stderr)) == CLEAN_ERROR
    assert (
        classify(result(1, "40:error:408000C8:azihsm_provider:f:internal-error:b:0:internal error: KeyError"))
        == INTERNAL_ERROR
    )
    assert classify(result(1, "40:error:1C8000C5:Provider routines:f:internal error:p.c:1:")) == INTERNAL_ERROR


def test_findings_and_refusals():
    tally = Tally("blobs")
    tally.judge(result(1, "40:error:4080:azihsm_provider:f:blob-tampered:b:0:tampered"), "flip", must_refuse=True)
    tally.judge(result(0), "truncate", must_refuse=True)
    tally.judge(result(-6), "extend")
    assert [f.what for f in tally.findings] == ["truncate: accepted, must be refused", "extend: crash (SIGABRT)"]
    assert tally.classes == {CLEAN_ERROR: 1, SUCCESS: 1, CRASHED: 1}


def test_a_finding_keeps_what_the_replay_line_cannot_show():
    tally = Tally("uris")
    tally.judge(result(-11), "pkey x")
    tally.judge(
        result(1, "40:error:408000CA:azihsm_provider:f:internal-error:b:0:internal error: KeyError: 'P-999'"), "pkey y"
    )
    assert [f.what for f in tally.findings] == [
        "pkey x: crash (SIGSEGV)",
        "pkey y: internal-error (40:error:408000CA:azihsm_provider:f:internal-error:b:0:internal error: KeyError: 'P-999')",
    ]


def test_a_summary_reads_back_from_a_pass_or_a_failure_message():
    tally = Tally("blobs")
    tally.inputs = 3
    tally.judge(result(1, "40:error:4080:azihsm_provider:f:blob-tampered:b:0:tampered"), "flip", must_refuse=True)
    tally.judge(result(0), "truncate", must_refuse=True)
    tally.judge(result(-6), "extend")
    tally.notes["mutated blobs refused"] += 1
    expected = {
        "inputs": 3,
        "classes": {CLEAN_ERROR: 1, CRASHED: 1, SUCCESS: 1},
        "notes": {"mutated blobs refused": 1},
        "findings": 2,
    }
    assert parse_summary(tally.summary()) == expected
    assert parse_summary(f"blobs: {tally.summary()}\n- extend: crash\n  replay: openssl x") == expected
    assert parse_summary("a message of another kind") is None
    assert parse_summary("") is None


def test_leak_scan_finds_every_printed_form():
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    hexed = scalar.hex()
    colons = ":".join(hexed[i : i + 2] for i in range(0, 64, 2))
    wrapped = "priv:\n    00:" + "\n    ".join(colons[i : i + 45] for i in range(0, len(colons), 45))  # openssl -text
    for output in (
        hexed.encode(),
        hexed.upper().encode(),
        colons.encode(),
        wrapped.encode(),
        str(key.private_numbers().private_value).encode(),
        b"junk" + scalar + b"junk",
    ):
        assert leaked(output, key) == ["private scalar"], output[:40]
    assert leaked(b"public key only", key) == []
    rsa_key = rsa.generate_private_key(65537, 2048)
    prime = rsa_key.private_numbers().p.to_bytes(128, "big").hex().encode()
    assert leaked(prime, rsa_key) == ["prime p"]
