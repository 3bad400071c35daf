"""How a case proves its verdict: who performed an operation, and why a command was refused.

*Provenance.* A positive case re-runs its operation as an isolated twin (see
``harness.isolation``): the default provider is replaced by the isolation provider with
the clause's operation classes withheld. The twin succeeding shows that the provider under
test performed those operations; the twin failing while the documented command succeeded
shows another provider served them.

*Refusals.* A refusal counts only when it is the provider under test that refused, for the
fault the case introduced: the same command without the fault (the positive control) must
succeed, and the refusal must come with an error from the provider (its library name on
OpenSSL's error stack), optionally matching the reason the backend profile declares for
that kind of refusal. A refusal raised by OpenSSL itself (option parsing, an unregistered
URI scheme, a provider that did not load, no provider offering the algorithm) proves
nothing about the provider: the case is *inconclusive*. A refusal with no error at all
(a verification that simply says "failure") is attributed by isolated twins of the control
and the faulty command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from azihsm_conformance.harness.runner import CommandResult, OpenSSLError

# causes OpenSSL reports itself, before or instead of asking the provider
_FOREIGN = (
    (re.compile(r"unable to load provider|provider_init:init fail", re.I), "the provider under test did not load"),
    (re.compile(r"unregistered scheme|No store loader found", re.I), "no store loader knows the URI's scheme"),
    (
        re.compile(r"fixup_args:command not supported|ctrl_params_translate", re.I),
        "OpenSSL's option translation rejected an option no loaded provider declares",
    ),
    (
        re.compile(r"Unknown option|Use -help for summary|Extra option", re.I),
        "openssl rejected the command line itself",
    ),
    (
        re.compile(r"inner_evp_generic_fetch:unsupported|fetch.*unsupported", re.I),
        "no loaded provider offers the algorithm",
    ),
    (
        re.compile(r"operation not supported for this keytype", re.I),
        "no loaded provider implements the operation for this key",
    ),
    (
        re.compile(
            r"Could not (read|open|load)|Error reading|unable to load|ossl_store_handle_load_result|"
            r"DECODER routines",
            re.I,
        ),
        "openssl could not read an input (no store or decoder accepted it), so no operation was attempted",
    ),
)


def provider_errors(result: CommandResult, origin: str) -> list[OpenSSLError]:
    """The error-stack entries raised by the provider under test: ORIGIN is a regex over
    ``LIBRARY:FUNCTION`` (a provider's errors carry its name as the library, or a library
    shared with others and its own function names)."""
    regex = re.compile(origin)
    return [error for error in result.errors if regex.search(f"{error.library}:{error.function}")]


def foreign_cause(result: CommandResult) -> str:
    """The reason OpenSSL itself gives for a failure, or '' if it names none we know."""
    for pattern, cause in _FOREIGN:
        if pattern.search(result.stderr):
            return cause
    return ""


@dataclass(frozen=True)
class ReasonCheck:
    """Whether a refusal's error names the expected kind of reason."""

    matched: bool
    expected: str  # the profile's pattern ('' when it declares none for this kind)
    shown: str  # what the provider said

    @property
    def checked(self) -> bool:
        return bool(self.expected)


def check_reason(errors: list[OpenSSLError], pattern: str) -> ReasonCheck:
    shown = "; ".join(f"{e.reason}: {e.data}" if e.data else e.reason for e in errors)
    if not pattern:
        return ReasonCheck(True, "", shown)
    regex = re.compile(pattern, re.I)
    matched = any(regex.search(f"{e.reason} {e.data}") for e in errors)
    return ReasonCheck(matched, pattern, shown)


def first_error_line(result: CommandResult) -> str:
    """A one-line account of a failed command, for verdict messages."""
    if result.errors:
        return str(result.errors[-1])
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return lines[-1][:300] if lines else result.describe()
