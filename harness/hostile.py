"""The hostile-input campaign's judge: how one hostile input ended, and what is a finding.

Every input the campaign (``conformance/test_hostile.py``, ``--azihsm-level hostile``) feeds
through ``openssl`` ends in one class:

| class           | meaning                                                          | finding |
|-----------------|------------------------------------------------------------------|---------|
| clean-error     | non-zero exit with a message that names the problem               | no      |
| success         | exit 0 (a finding only where the input must be refused)           | depends |
| crash           | killed by a signal                                                | yes     |
| hang            | did not end within the command timeout                            | yes     |
| traceback       | a Python traceback reached the user                               | yes     |
| internal-error  | the provider reported an internal error (a bug, not a refusal)    | yes     |
| empty-message   | a failure with no message, or an error OpenSSL cannot name whose  | yes     |
|                 | text is empty (e.g. ``lib(129):...:reason(207):...:0:``)          |         |

A key-leak scan looks for a key's private parts in any output: the private scalar or
exponent and primes, in hex (with or without colons, any case), in decimal, and as raw bytes.
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from dataclasses import dataclass, field

from azihsm_conformance.harness.runner import CRASH, TIMEOUT, TRACEBACK, CommandResult

CLEAN_ERROR, SUCCESS, CRASHED, HANG, TRACEBACK_SHOWN = "clean-error", "success", "crash", "hang", "traceback"
INTERNAL_ERROR, EMPTY_MESSAGE = "internal-error", "empty-message"
CLASSES = (CLEAN_ERROR, SUCCESS, CRASHED, HANG, TRACEBACK_SHOWN, INTERNAL_ERROR, EMPTY_MESSAGE)
ALWAYS_FINDINGS = frozenset({CRASHED, HANG, TRACEBACK_SHOWN, INTERNAL_ERROR, EMPTY_MESSAGE})

_INTERNAL = re.compile(r"internal[- ]error", re.I)
# an unreadable library or reason: OpenSSL has no name for it (a provider that failed to
# start, or one that registers no reason strings), so only the text could explain it
_UNNAMED = re.compile(r"^(lib|reason)\(\d+\)$")


def classify(result: CommandResult) -> str:
    if result.outcome == TIMEOUT:
        return HANG
    if result.outcome == CRASH:
        return CRASHED
    if result.outcome == TRACEBACK:
        return TRACEBACK_SHOWN
    if result.returncode == 0:
        return SUCCESS
    # the reason says so (OpenSSL's "internal error", the reference's internal-error slug), or
    # the message starts with it; never a mere mention (an echoed path may read "internal-error")
    if any(_INTERNAL.fullmatch(error.reason.strip()) or _INTERNAL.match(error.data.strip()) for error in result.errors):
        return INTERNAL_ERROR
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    unexplained = [
        error
        for error in result.errors
        if not error.data and (_UNNAMED.match(error.library) or _UNNAMED.match(error.reason))
    ]
    if not lines or unexplained:
        return EMPTY_MESSAGE
    return CLEAN_ERROR


def detail(result: CommandResult, kind: str) -> str:
    """What a finding's replay line alone would not show: the signal of a crash, the
    message of an internal error or traceback (the run may be gone when someone reads it)."""
    if kind == CRASHED and result.returncode is not None and result.returncode < 0:
        try:
            return f" ({signal.Signals(-result.returncode).name})"
        except ValueError:
            return f" (signal {-result.returncode})"
    if kind in (INTERNAL_ERROR, TRACEBACK_SHOWN):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        said = next((line for line in reversed(lines) if _INTERNAL.search(line)), lines[-1] if lines else "")
        return f" ({said.strip()[-300:]})" if said else ""
    return ""


@dataclass
class Finding:
    family: str
    what: str  # one sentence: the input and why it is a finding
    command_line: str


@dataclass
class Tally:
    """What one family of hostile inputs did: counts per class, findings with replay lines."""

    family: str
    classes: Counter = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    inputs: int = 0
    notes: Counter = field(default_factory=Counter)  # family-specific counts (refused tampers...)

    def judge(self, result: CommandResult, what: str, *, must_refuse: bool = False) -> str:
        """Classify RESULT (one hostile input, WHAT it was); a crash, hang, traceback,
        internal error, empty message, or a success where the input MUST_REFUSE, is a finding."""
        kind = classify(result)
        self.classes[kind] += 1
        if kind in ALWAYS_FINDINGS:
            self.findings.append(Finding(self.family, f"{what}: {kind}{detail(result, kind)}", result.command_line))
        elif must_refuse and kind == SUCCESS:
            self.findings.append(Finding(self.family, f"{what}: accepted, must be refused", result.command_line))
        return kind

    def finding(self, what: str, command_line: str) -> None:
        self.findings.append(Finding(self.family, what, command_line))

    def summary(self) -> str:
        """One line for the report; ``parse_summary`` reads it back."""
        classes = ", ".join(f"{count} {name}" for name, count in sorted(self.classes.items()))
        notes = "".join(f"; {count} {name}" for name, count in sorted(self.notes.items()))
        return f"{self.inputs} hostile inputs ({classes}){notes}; {len(self.findings)} finding(s)"


_SUMMARY = re.compile(
    r"(?P<inputs>\d+) hostile inputs \((?P<classes>[^)]*)\)(?P<notes>.*); (?P<findings>\d+) finding\(s\)$"
)


def parse_summary(text: str) -> dict | None:
    """A family's counts from the first line of TEXT, a ``Tally.summary`` line or a failure
    message that starts with one (None if it is neither):
    {"inputs": n, "classes": {class: n}, "notes": {note: n}, "findings": n}."""
    lines = text.strip().splitlines()
    match = _SUMMARY.search(lines[0]) if lines else None
    if match is None:
        return None

    def counted(parts: str, separator: str) -> dict[str, int]:
        pairs = (part.strip().split(" ", 1) for part in parts.split(separator) if part.strip())
        return {name: int(count) for count, name in pairs}

    return {
        "inputs": int(match["inputs"]),
        "classes": counted(match["classes"], ","),
        "notes": counted(match["notes"], ";"),
        "findings": int(match["findings"]),
    }


# -- key leaks -----------------------------------------------------------------------------


def secret_forms(value: int, length: int) -> list[bytes]:
    """How a secret number could appear in output: hex (plain, colon-separated, either case),
    decimal, and raw big-endian bytes of LENGTH."""
    raw = value.to_bytes(length, "big")
    plain = raw.hex()
    colons = ":".join(plain[i : i + 2] for i in range(0, len(plain), 2))
    forms = [plain, plain.upper(), colons, colons.upper(), str(value)]
    return [form.encode() for form in forms] + [raw]


def private_numbers(private_key) -> list[tuple[str, int, int]]:
    """(name, value, byte length) of each secret part of a pyca private key."""
    numbers = private_key.private_numbers()
    if hasattr(numbers, "private_value"):
        return [("private scalar", numbers.private_value, (private_key.curve.key_size + 7) // 8)]
    size = (private_key.key_size + 7) // 8
    return [("private exponent", numbers.d, size), ("prime p", numbers.p, size // 2), ("prime q", numbers.q, size // 2)]


def leaked(output: bytes, private_key) -> list[str]:
    """The names of PRIVATE_KEY's secret parts found in OUTPUT (long enough to be no accident:
    a form shorter than 16 bytes is searched only as text it would not appear in by chance)."""
    found = []
    squeezed = re.sub(rb"[\s:]", b"", output).lower()
    for name, value, length in private_numbers(private_key):
        hexed = value.to_bytes(length, "big").hex().encode()
        if any(form in output for form in secret_forms(value, length)) or hexed.lstrip(b"0") in squeezed:
            found.append(name)
    return found
