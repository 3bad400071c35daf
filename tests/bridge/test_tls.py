"""TLS with HSM keys: ``openssl s_server -key azihsm://...`` against ``openssl s_client``
(verifying the chain) and Python's ``ssl`` module, TLS 1.2 and 1.3, P-256/P-384, RSA-2048
and RSA-PSS keys; then the same server with ``-propquery ?provider=azihsm``, where the
outcome per TLS version and group is the one recorded in the bridge README ("TLS and
ECDHE"). Loopback only; every process runs under pexpect with bounded timeouts and is
killed (with its process group) at teardown. The full matrix is marked slow."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
from bridge_helpers import OPENSSL, PROV, OpenSSL

from azihsm_conformance.fixtures import ROOT as FIXTURES_ROOT

START_TIMEOUT = 30  # s_server start-up (builds nothing, but loads Python)
HANDSHAKE_TIMEOUT = 20

CERT_CONFIG = (FIXTURES_ROOT / "tls-server-cert.cnf").read_text()


@dataclass
class ServerKey:
    name: str
    uri: str
    cert: Path


@pytest.fixture(scope="module")
def server_keys(session_openssl, ec_key, rsa_key) -> dict[str, ServerKey]:
    """Key name -> azihsm URI and a self-signed certificate made by ``req -x509 -key``
    with explicit extensions (defaults differ between OpenSSL versions)."""
    config = session_openssl.cwd / "tls_cert.cnf"
    config.write_text(CERT_CONFIG)
    uris = {
        "ec-P256": f"azihsm://{ec_key('P-256')};type=ec",
        "ec-P384": f"azihsm://{ec_key('P-384')};type=ec",
        "rsa-2048": f"azihsm://{rsa_key.blob};type=rsa",
        "rsa_pss-2048": f"azihsm://{rsa_key.pss_blob};type=rsa-pss",
    }
    keys = {}
    for name, uri in uris.items():
        cert = session_openssl.cwd / f"tls_{name}.pem"
        session_openssl("req", "-new", "-x509", PROV, "-config", config, "-key", uri, "-days", "2", "-out", cert)
        keys[name] = ServerKey(name, uri, cert)
    return keys


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(openssl: OpenSSL) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSSL_")}
    env["AZIHSM_DEVICE_DIR"] = str(openssl.device_dir)
    return env


class TlsServer:
    """``openssl s_server -www`` on a free loopback port, with or without -propquery."""

    def __init__(self, openssl: OpenSSL, key: ServerKey, propquery: bool):
        self.key = key
        flags = openssl.flags()
        if not propquery:
            index = flags.index("-propquery")
            del flags[index : index + 2]
        for _attempt in range(3):  # a port taken between probe and bind: try another
            self.port = _free_port()
            self.child = pexpect.spawn(
                OPENSSL,
                [
                    "s_server",
                    *flags,
                    "-key",
                    key.uri,
                    "-cert",
                    str(key.cert),
                    "-accept",
                    f"127.0.0.1:{self.port}",
                    "-www",
                ],
                cwd=str(openssl.cwd),
                env=_environment(openssl),
                encoding="utf-8",
                timeout=START_TIMEOUT,
            )
            if self.child.expect(["ACCEPT", "Address already in use", pexpect.EOF]) == 0:
                return
            self.stop()
        raise AssertionError(f"s_server did not start:\n{self.child.before}")

    def log(self) -> str:
        """What the server printed since the last call (its errors, one line each)."""
        try:
            self.child.expect(pexpect.TIMEOUT, timeout=0.5)
        except pexpect.EOF:
            pass
        text, self.child.before = self.child.before or "", ""
        return text

    def stop(self) -> None:
        try:
            os.killpg(self.child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.child.close(force=True)


@pytest.fixture(scope="module")
def servers(provider_dir, device_dir, tmp_path_factory, server_keys):
    """(key name, propquery) -> a running server, started on first use, all killed at the
    end of the module."""
    openssl = OpenSSL(provider_dir, tmp_path_factory.mktemp("tls"), device_dir)
    running: dict[tuple[str, bool], TlsServer] = {}

    def get(name: str, propquery: bool = False) -> TlsServer:
        if (name, propquery) not in running:
            running[name, propquery] = TlsServer(openssl, server_keys[name], propquery)
        return running[name, propquery]

    try:
        yield get
    finally:
        for server in running.values():
            server.stop()


@dataclass
class Handshake:
    ok: bool
    version: str | None
    key_exchange: str | None  # s_client's "Server Temp Key" kind: X25519, ECDH, DH
    output: str


def s_client(server: TlsServer, version: str, groups: str) -> Handshake:
    """One ``s_client`` handshake (verifying the certificate), then an HTTP request."""
    child = pexpect.spawn(
        OPENSSL,
        [
            "s_client",
            "-connect",
            f"127.0.0.1:{server.port}",
            "-servername",
            "localhost",
            "-verify_return_error",
            "-CAfile",
            str(server.key.cert),
            f"-{version}",
            "-groups",
            groups,
        ],
        env={k: v for k, v in os.environ.items() if not k.startswith("OPENSSL_")},
        encoding="utf-8",
        timeout=HANDSHAKE_TIMEOUT,
    )
    try:
        found = child.expect([r"New, (TLSv1\.[23]), Cipher is (?!\(NONE\))", pexpect.EOF])
        if found == 1:
            return Handshake(False, None, None, child.before)
        negotiated = child.match.group(1)
        temp_key = re.search(r"Server Temp Key: (\w+)", child.before)
        child.expect(r"Verify return code: (\d+)")
        verified = child.match.group(1) == "0"
        child.sendline("GET / HTTP/1.0")
        child.sendline("")
        child.expect("HTTP/1.0 200 ok")
        child.expect(pexpect.EOF)
        return Handshake(verified, negotiated, temp_key and temp_key.group(1), child.before)
    finally:
        child.close(force=True)


def python_client(server: TlsServer, version: ssl.TLSVersion) -> str:
    """A handshake by Python's ssl module verifying the chain and the host name."""
    context = ssl.create_default_context(cafile=str(server.key.cert))
    context.minimum_version = context.maximum_version = version
    with socket.create_connection(("127.0.0.1", server.port), timeout=HANDSHAKE_TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            reply = tls.recv(64)
            assert reply.startswith(b"HTTP/1.0 200 ok"), reply
            return tls.version()


# -- without -propquery: every key type, both versions -----------------------

KEYS = ["ec-P256", "ec-P384", "rsa-2048", "rsa_pss-2048"]
VERSIONS = ["tls1_2", "tls1_3"]
# TLS 1.2 clients also announce the curve of an ECDSA certificate in supported_groups.
CLIENT_GROUPS = "X25519:P-256:P-384"


@pytest.mark.parametrize(
    "key,version",
    [("ec-P256", "tls1_3"), ("ec-P384", "tls1_2"), ("rsa-2048", "tls1_2"), ("rsa_pss-2048", "tls1_3")],
    ids=lambda value: value,
)
def test_openssl_client_handshake(servers, key, version):
    result = s_client(servers(key), version, CLIENT_GROUPS)
    assert result.ok, result.output
    assert result.version == {"tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}[version]


@pytest.mark.parametrize("key", KEYS)
def test_python_ssl_handshake(servers, key):
    assert python_client(servers(key), ssl.TLSVersion.TLSv1_3) == "TLSv1.3"


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("key", KEYS)
def test_handshake_matrix(servers, key, version):
    result = s_client(servers(key), version, CLIENT_GROUPS)
    assert result.ok and result.version == {"tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}[version]
    python_version = {"tls1_2": ssl.TLSVersion.TLSv1_2, "tls1_3": ssl.TLSVersion.TLSv1_3}[version]
    assert python_client(servers(key), python_version) == result.version


# -- with -propquery "?provider=azihsm": the recorded behaviour ----------------


def propquery_outcome(key: str, version: str, group: str) -> tuple[bool, str]:
    """(completes, key exchange) or (fails, the server's error); README: TLS and ECDHE.

    Our EC keymgmt shadows the default provider's, and the provider declares no TLS
    groups, so libssl disables the NIST groups (P-256/P-384) in such a server: ECDHE
    never reaches the provider's ECDH. X25519 stays with the default provider. In TLS 1.2
    an ECDSA certificate's curve must be one of the server's groups, hence no cipher;
    an RSA certificate falls back to finite-field DHE when only NIST groups are offered."""
    if version == "tls1_2" and key.startswith("ec-"):
        return False, "no shared cipher"
    if group == "X25519":
        return True, "X25519"
    return (False, "no suitable key share") if version == "tls1_3" else (True, "DH")


GROUPS = ["X25519", "P-256", "P-384"]


def _client_groups(key: str, version: str, group: str) -> str:
    # in TLS 1.2 an ECDSA certificate's curve must be offered as well
    if version == "tls1_2" and key.startswith("ec-") and key[3:] != group.replace("-", ""):
        return f"{group}:P-{key[4:]}"
    return group


def _check_propquery(servers, key, version, group):
    server = servers(key, propquery=True)
    server.log()
    result = s_client(server, version, _client_groups(key, version, group))
    completes, detail = propquery_outcome(key, version, group)
    log = server.log()
    if completes:
        assert result.ok, result.output + log
        assert result.key_exchange == detail
    else:
        assert not result.ok
        assert detail in log, log
    assert server.child.isalive()  # a failed handshake never takes the server down


@pytest.mark.parametrize(
    "key,version,group",
    [
        ("ec-P256", "tls1_3", "X25519"),
        ("ec-P256", "tls1_3", "P-256"),
        ("rsa-2048", "tls1_2", "X25519"),
        ("ec-P256", "tls1_2", "X25519"),
    ],
    ids=lambda value: value,
)
def test_propquery_outcome(servers, key, version, group):
    _check_propquery(servers, key, version, group)


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("key", KEYS)
def test_propquery_matrix(servers, key, version, group):
    _check_propquery(servers, key, version, group)
