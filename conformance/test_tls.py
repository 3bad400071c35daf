"""TLS with HSM keys, as a server such as nginx uses them: ``openssl s_server -key
azihsm://...`` with a certificate made by ``req -x509 -key azihsm://...``, and a software
``openssl s_client`` (default provider only) verifying the chain.

Server and client are both run through the ``openssl`` fixture, so each case records two
replayable command lines. The server accepts one connection (``-naccept 1``) on a free
loopback port and answers ``-www``; the client connects once the port is listening.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from azihsm_conformance.conformance import oracle
from azihsm_conformance.fixtures import ROOT as FIXTURES_ROOT
from azihsm_conformance.harness.markers import PROV

# explicit extensions (see the file): `req -x509` defaults differ between OpenSSL versions
CERT_CONFIG = (FIXTURES_ROOT / "tls-server-cert.cnf").read_text()
SERVER_KEYS = {
    "ec-P-256": ("ec", "P-256"),
    "ec-P-384": ("ec", "P-384"),
    "rsa-2048": ("rsa", 2048),
    "rsa_pss-2048": ("rsa-pss", 2048),
}
TLS_FLAGS = {"tls1_2": "-tls1_2", "tls1_3": "-tls1_3"}
LISTEN_TIMEOUT = 30  # the server loads the provider before it listens
HANDSHAKE_TIMEOUT = 30


def server_key(keys, name: str):
    kind, param = SERVER_KEYS[name]
    if kind == "ec":
        return keys.imported_ec(param)
    return keys.imported_rsa(param, algorithm="RSA-PSS" if kind == "rsa-pss" else "RSA")


def make_certificate(openssl, workdir: Path, key) -> Path:
    (workdir / "cert.cnf").write_text(CERT_CONFIG)
    # PSS asked for explicitly, so the certificate's algorithm does not hinge on the
    # backend's RSA-PSS default (that is clause CERT-RSA-PSS-ALGID, not this one)
    pss = ["-sigopt", "rsa_padding_mode:pss"] if key.type == "rsa-pss" else []
    openssl(
        "req",
        "-new",
        "-x509",
        PROV,
        "-config",
        "cert.cnf",
        "-key",
        key.uri(workdir),
        "-days",
        "30",
        "-sha256",
        *pss,
        "-out",
        "cert.pem",
        prerequisite=True,
    )
    oracle.assert_self_signed_certificate((workdir / "cert.pem").read_bytes(), key.private)
    return workdir / "cert.pem"


def provider_flags_without_propquery(openssl, *, isolated: bool = False) -> list[str]:
    """The backend's provider flags minus ``-propquery VALUE`` (what a server that only
    loads its key from the HSM uses); ISOLATED: as in the case's isolated twin."""
    flags = openssl.argv(PROV, isolated=isolated)[1:]
    if "-propquery" in flags:
        at = flags.index("-propquery")
        del flags[at : at + 2]
    return flags


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_listening(port: int) -> bool:
    """Whether a socket listens on 127.0.0.1:PORT, read from /proc (connecting to find out
    would use up the server's single accept)."""
    wanted = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1] == wanted and line.split()[3] == "0A" for line in lines)


class Server:
    """``openssl s_server`` in a thread, through the openssl fixture."""

    def __init__(self, openssl, flags: list[str], uri: str, tls: str, *, prove: bool = False):
        """PROVE: run the server as the case's isolated twin (the proof that the provider
        under test signed the handshake), which must end well."""
        self.port = free_port()
        self.result = None
        self.error: BaseException | None = None
        argv = [
            "s_server",
            *flags,
            "-accept",
            f"127.0.0.1:{self.port}",
            "-naccept",
            "1",
            "-www",
            "-key",
            uri,
            "-cert",
            "cert.pem",
            TLS_FLAGS[tls],
        ]
        self.thread = threading.Thread(target=self._serve, args=(openssl, argv, prove), daemon=True)

    def _serve(self, openssl, argv, prove: bool) -> None:
        timeout = LISTEN_TIMEOUT + HANDSHAKE_TIMEOUT
        try:  # a hang or crash fails the case: keep it for the main thread to raise
            self.result = (
                openssl.prove(*argv, timeout=timeout) if prove else openssl(*argv, expect_fail=None, timeout=timeout)
            )
        except BaseException as exc:  # noqa: BLE001 - pytest.fail raises a BaseException
            self.error = exc

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while not is_listening(self.port):
            if not self.thread.is_alive():
                self._raise()
                pytest.fail(
                    f"s_server exited before listening:\n  replay: {self.result.command_line}\n"
                    f"  stderr: {self.result.stderr.strip()[-800:]}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                break  # the thread's own timeout reports the hang
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.thread.is_alive() and self.result is None:
            # the client never got through: use up the single accept so the server ends now
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                pass
        self.thread.join(LISTEN_TIMEOUT + HANDSHAKE_TIMEOUT + 5)
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


def connect(openssl, port: int, tls: str, *, group: str | None = None, expect_fail: bool | None = False):
    """A software client (no provider flags) that verifies the server's chain."""
    argv = [
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        "localhost",
        "-verify_return_error",
        "-verify_hostname",
        "localhost",
        "-CAfile",
        "cert.pem",
        TLS_FLAGS[tls],
    ]
    if group:
        argv += ["-groups", group]
    return openssl(*argv, input=b"GET / HTTP/1.0\r\n\r\n", expect_fail=expect_fail, timeout=HANDSHAKE_TIMEOUT)


def failure_reason(stderr: str) -> str:
    """The reason of the last OpenSSL error line (…:error:CODE:LIBRARY:FUNCTION:REASON:…)."""
    for line in reversed(stderr.splitlines()):
        fields = line.split(":")
        if len(fields) > 5 and fields[1] == "error":
            return fields[5]
    return ""


def protocol_of(client_stdout: bytes) -> str:
    for line in client_stdout.decode(errors="replace").splitlines():
        if line.startswith("New, TLSv"):
            return line.split(",")[1].strip()
    return ""


@pytest.mark.clause("TLS-SERVER-HSM-KEY")
@pytest.mark.parametrize("tls", [pytest.param(t, id=t) for t in TLS_FLAGS])
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, id=name, marks=[pytest.mark.quick] if name in ("ec-P-384", "rsa_pss-2048") else [])
        for name in SERVER_KEYS
    ],
)
def test_handshake_with_hsm_key(openssl, workdir, keys, name, tls):
    """The documented server, then its isolated twin (no signature implementation but the
    provider's): both handshakes must verify."""
    key = server_key(keys, name)
    make_certificate(openssl, workdir, key)
    expected = {"tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}[tls]
    for isolated in (False, True):
        flags = provider_flags_without_propquery(openssl, isolated=isolated)
        with Server(openssl, flags, key.uri(workdir), tls, prove=isolated) as server:
            client = connect(openssl, server.port, tls)
        assert protocol_of(client.stdout) == expected, f"the client did not report a {expected} session"
        assert b"Verify return code: 0 (ok)" in client.stdout, "the client did not verify the server's chain"
        assert server.result.returncode == 0, f"s_server failed: {server.result.stderr.strip()[-800:]}"


@pytest.mark.clause("TLS-PROPQUERY-ECDHE")
@pytest.mark.parametrize("group", ["X25519", "P-256", "P-384"])
@pytest.mark.parametrize("tls", [pytest.param(t, id=t) for t in TLS_FLAGS])
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("ec-P-256", id="ec-P-256", marks=pytest.mark.quick),
        pytest.param("rsa-2048", id="rsa-2048"),
    ],
)
def test_handshake_with_documented_propquery(openssl, workdir, keys, observe, name, tls, group):
    """Records whether the ephemeral key exchange completes when the server uses the
    documented ``-propquery "?provider=azihsm"``; either way it must end cleanly (the
    fixture fails a hang, a crash signal or a traceback)."""
    key = server_key(keys, name)
    make_certificate(openssl, workdir, key)
    with Server(openssl, openssl.argv(PROV)[1:], key.uri(workdir), tls) as server:
        client = connect(openssl, server.port, tls, group=group, expect_fail=None)
    if client.returncode == 0:
        assert b"Verify return code: 0 (ok)" in client.stdout, "a completed handshake did not verify the chain"
        observe(f"{name} key, {tls}, client group {group}: completes")
    else:
        observe(
            f"{name} key, {tls}, client group {group}: refused cleanly "
            f"({failure_reason(server.result.stderr) or 'handshake failure'})"
        )
