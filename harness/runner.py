"""Runs one ``openssl`` invocation and records everything needed to judge and replay it.

No conformance case calls ``subprocess`` itself: every command goes through
:func:`run_command`, which bounds the time, classifies the outcome and builds a command
line a user can paste into a shell to reproduce the exact invocation.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TIMEOUT = 60.0
TRACEBACK_MARKER = "Traceback (most recent call last)"

# outcomes of one command; everything but "ok" and "error" is a failure whatever was expected
OK, ERROR, TIMEOUT, CRASH, TRACEBACK = "ok", "error", "timeout", "crash", "traceback"
ABNORMAL_OUTCOMES = (TIMEOUT, CRASH, TRACEBACK)

# one OpenSSL 3 error-stack line:
# 40C7E1A1A17F0000:error:1E08010C:DECODER routines:OSSL_DECODER_from_bio:unsupported:decoder_lib.c:102:data
_ERROR_LINE = re.compile(
    r"^(?P<thread>[0-9A-Fa-f]+):error:(?P<code>[0-9A-Fa-f]+):(?P<library>[^:]*):(?P<function>[^:]*):"
    r"(?P<reason>[^:]*):(?P<file>[^:]*):(?P<line>\d+):?(?P<data>.*)$"
)


@dataclass(frozen=True)
class OpenSSLError:
    """One entry of OpenSSL's error stack as printed on stderr."""

    library: str
    function: str
    reason: str
    data: str
    code: str = ""
    file: str = ""
    line: int = 0

    def __str__(self) -> str:
        text = f"{self.library}: {self.function}: {self.reason}"
        return f"{text} ({self.data})" if self.data else text


def parse_error_stack(stderr: str) -> list[OpenSSLError]:
    errors = []
    for line in stderr.splitlines():
        match = _ERROR_LINE.match(line.strip())
        if match:
            errors.append(
                OpenSSLError(
                    library=match["library"],
                    function=match["function"],
                    reason=match["reason"],
                    data=match["data"].strip(),
                    code=match["code"],
                    file=match["file"],
                    line=int(match["line"]),
                )
            )
    return errors


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int | None  # None after a timeout; negative: killed by that signal
    stdout: bytes
    stderr: str
    duration: float
    command_line: str
    outcome: str
    errors: list[OpenSSLError] = field(default_factory=list)

    @property
    def abnormal(self) -> bool:
        """A hang, a crash or a Python traceback: never an expected failure."""
        return self.outcome in ABNORMAL_OUTCOMES

    def describe(self) -> str:
        """A short human summary of how the command ended."""
        if self.outcome == TIMEOUT:
            return f"timed out after {self.duration:.1f}s (process group killed)"
        if self.outcome == CRASH:
            signum = -(self.returncode or 0)
            try:
                name = signal.Signals(signum).name
            except ValueError:
                name = f"signal {signum}"
            return f"crashed: killed by {name}"
        if self.outcome == TRACEBACK:
            return f"a Python traceback was printed on stderr (exit code {self.returncode})"
        return f"exit code {self.returncode}"

    def to_record(self, stderr_limit: int = 4000) -> dict:
        """The JSON-friendly form kept in the results store."""
        return {
            "command_line": self.command_line,
            "returncode": self.returncode,
            "outcome": self.outcome,
            "duration": round(self.duration, 6),
            "stderr": excerpt(self.stderr, stderr_limit),
        }


def excerpt(text: str, limit: int) -> str:
    """TEXT cut to about LIMIT characters, keeping its start and its end."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def replay_line(argv: Sequence[str], cwd: Path | None, env: dict[str, str], stdin_file: str | None = None) -> str:
    """A shell command line that reproduces ARGV: cd, the environment it needs, redirections."""
    parts = []
    if cwd is not None:
        parts.append(f"cd {shlex.quote(str(cwd))} &&")
    parts.extend(f"{name}={shlex.quote(value)}" for name, value in sorted(env.items()))
    parts.extend(shlex.quote(arg) for arg in argv)
    if stdin_file:
        parts.append(f"< {shlex.quote(stdin_file)}")
    return " ".join(parts)


def classify(returncode: int | None, stderr: str, timed_out: bool) -> str:
    if timed_out:
        return TIMEOUT
    if returncode is not None and returncode < 0:
        return CRASH
    if TRACEBACK_MARKER in stderr:
        return TRACEBACK
    return OK if returncode == 0 else ERROR


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stdin_dir: Path | None = None,
) -> CommandResult:
    """Run ARGV with ENV added to the inherited environment, at most TIMEOUT seconds.

    The child gets its own process group, so a timeout kills whatever it started too.
    Input given as bytes is also saved in STDIN_DIR (kept apart from the case's working
    directory, whose contents tests inspect), so the replay line can feed it back with ``<``.
    """
    argv = [str(arg) for arg in argv]
    env = dict(env or {})
    stdin_file = None
    if input is not None and stdin_dir is not None:
        stdin_file = _save_stdin(Path(stdin_dir), input)
    command_line = replay_line(argv, cwd, env, stdin_file)
    started = time.monotonic()
    timed_out = False
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return CommandResult(argv, 127, b"", f"cannot start {argv[0]}: {exc}", 0.0, command_line, ERROR)
    try:
        stdout, stderr_bytes = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        stdout, stderr_bytes = proc.communicate()
    duration = time.monotonic() - started
    stderr = stderr_bytes.decode("utf-8", errors="replace")
    returncode = None if timed_out else proc.returncode
    return CommandResult(
        argv=argv,
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        duration=duration,
        command_line=command_line,
        outcome=classify(returncode, stderr, timed_out),
        errors=parse_error_stack(stderr),
    )


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _save_stdin(directory: Path, data: bytes) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    index = 1
    while (directory / f"stdin-{index}.bin").exists():
        index += 1
    path = directory / f"stdin-{index}.bin"
    path.write_bytes(data)
    return str(path)
