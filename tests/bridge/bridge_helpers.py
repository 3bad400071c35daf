"""Helpers for the provider bridge tests: run the real ``openssl`` with the documented
provider flags (``PROV``), and fail on crashes and Python tracebacks whatever the exit code."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = os.environ.get("AZIHSM_OPENSSL", "/usr/bin/openssl")
PROV = object()  # stands for the documented provider flags, where the spec writes ${PROV}
# the device is opened on the first operation that needs it (listing the provider does not)
FIRST_USE = ("genpkey", PROV, "-algorithm", "EC", "-pkeyopt", "group:P-256", "-outform", "DER", "-out", "/dev/null")
TIMEOUT = 60


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


class OpenSSL:
    """Runs ``openssl`` in one working directory against one device directory."""

    def __init__(self, provider_dir: Path, cwd: Path, device_dir: Path):
        self.provider_dir = provider_dir
        self.cwd = cwd
        self.device_dir = device_dir

    def flags(self) -> list[str]:
        return [
            "-provider-path",
            str(self.provider_dir),
            "-propquery",
            "?provider=azihsm",
            "-provider",
            "default",
            "-provider",
            "azihsm_provider",
        ]

    def __call__(
        self,
        *args,
        ok: bool = True,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = TIMEOUT,
    ) -> Result:
        argv = [OPENSSL]
        for arg in args:
            # bytes stay bytes: a path that is not UTF-8 goes to openssl as it is
            argv.extend(self.flags() if arg is PROV else [arg if isinstance(arg, bytes) else str(arg)])
        environment = {k: v for k, v in os.environ.items() if not k.startswith("OPENSSL_")}
        environment["AZIHSM_DEVICE_DIR"] = str(self.device_dir)
        environment.update(env or {})
        proc = subprocess.run(argv, cwd=self.cwd, env=environment, input=input, capture_output=True, timeout=timeout)
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))
        command = " ".join(os.fsdecode(arg) for arg in argv)
        assert proc.returncode >= 0, f"openssl crashed (signal {-proc.returncode}): {command}"
        assert "Traceback" not in result.stderr, f"Python traceback from {command}:\n{result.stderr}"
        if ok:
            assert proc.returncode == 0, f"{command} failed ({proc.returncode}):\n{result.stderr}"
        else:
            assert proc.returncode != 0, f"{command} unexpectedly succeeded:\n{result.stderr}"
        return result

    def at(self, cwd: Path | None = None, device_dir: Path | None = None) -> OpenSSL:
        return OpenSSL(self.provider_dir, cwd or self.cwd, device_dir or self.device_dir)


@dataclass
class RsaKey:
    private: object  # pyca private key
    der: Path  # the external DER (PKCS#1) given to azihsm.input_key
    blob: Path  # masked key, imported as RSA, digitalSignature
    pss_blob: Path  # the same key imported as RSA-PSS


def copy_into(path: Path, workdir: Path) -> str:
    """Copy a masked key into the test's working directory; returns './name'."""
    shutil.copy(path, workdir / path.name)
    return f"./{path.name}"


def load_public(der_or_pem: bytes):
    from cryptography.hazmat.primitives import serialization

    if der_or_pem.lstrip().startswith(b"-----"):
        return serialization.load_pem_public_key(der_or_pem)
    return serialization.load_der_public_key(der_or_pem)


def argv(openssl: OpenSSL, *args) -> list:
    """The command line OPENSSL would run for ARGS (PROV: the provider flags), to run by hand
    (many at once, or killed on purpose)."""
    out = [OPENSSL]
    for arg in args:
        out.extend(openssl.flags() if arg is PROV else [str(arg)])
    return out


def environment(device: Path, **extra) -> dict:
    """The environment those commands run in: device DEVICE, no OPENSSL_* of the host."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSSL_")}
    env["AZIHSM_DEVICE_DIR"] = str(device)
    env.update(extra)
    return env


def servers_of(device: Path) -> set[int]:
    """Pids of the device servers of DEVICE: the processes holding its server lock (the
    session processes they fork let go of it)."""
    found = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                target = os.readlink(fd)
                if target.startswith(str(device) + "/.azihsm-server-") and target.endswith(".lock"):
                    found.add(int(fd_dir.parent.name))
        except OSError:
            continue  # a process that ended meanwhile
    return found
