"""A real OpenSSL build from the pinned Debian source (minutes when not cached yet).

Uses the user's cache, so after the first run it only checks the cached build.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from harness.openssl import probe
from harness.provision import VersionRequest, ensure_openssl, find_build
from harness.provision_debian import is_debian_like

pytestmark = [
    pytest.mark.slow,
    pytest.mark.openssl,
    pytest.mark.skipif(not is_debian_like(), reason="needs apt to fetch the pinned Debian source"),
]


def _run(build, *args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENSSL_", "LD_LIBRARY_PATH"))}
    env.update(build.environment)
    return subprocess.run([str(build.binary), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


@pytest.mark.parametrize("series", ["3.5", "3.6", "4.0"], ids=["openssl-3.5", "openssl-3.6", "openssl-4.0"])
def test_pinned_build_runs_on_its_own_libraries(series, tmp_path):
    binary = ensure_openssl(series)
    build = find_build(VersionRequest.parse(series))
    assert build is not None and build.binary == binary

    install = probe(binary)
    assert install.version_string == build.version
    assert install.openssldir == str(build.prefix / "ssl")
    assert install.modulesdir == str(build.prefix / "lib" / "ossl-modules")

    version = _run(build, "version", cwd=tmp_path).stdout
    assert version.startswith(f"OpenSSL {build.version} ") and f"(Library: OpenSSL {build.version} " in version
    # DT_RPATH: even a library path pointing at the system's libcrypto does not swap it in
    env = {**os.environ, "LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu:/usr/lib64"}
    assert subprocess.run([str(binary), "version"], capture_output=True, text=True, env=env).stdout == version

    providers = _run(build, "list", "-providers", cwd=tmp_path)
    assert providers.returncode == 0 and "default" in providers.stdout

    # the minimal openssl.cnf suffices for req -x509 with an explicit subject
    made = _run(
        build, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=provision-check", cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
