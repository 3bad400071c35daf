"""Real OpenSSL builds in the user's cache.

- each pinned series already cached is checked (fast: a few openssl commands each);
- provisioning the pinned 3.5 from Debian is ``slow`` (minutes when not cached yet).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from azihsm_conformance.harness.openssl import probe
from azihsm_conformance.harness.provision import DEBIAN_PINS, Build, VersionRequest, ensure_openssl, find_build
from azihsm_conformance.harness.provision_debian import is_debian_like


def _run(build: Build, *args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENSSL_", "LD_LIBRARY_PATH"))}
    env.update(build.environment)
    return subprocess.run([str(build.binary), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def check_build(build: Build, workdir) -> None:
    """The build runs on its own libraries, configuration and modules, and can make a certificate."""
    install = probe(build.binary)
    assert install.version_string == build.version.split("-")[0]
    assert install.openssldir == str(build.prefix / "ssl")
    assert install.modulesdir == str(build.prefix / "lib" / "ossl-modules")

    version = _run(build, "version", cwd=workdir).stdout
    assert version.startswith(f"OpenSSL {build.version} ") and f"(Library: OpenSSL {build.version} " in version
    # DT_RPATH: a library path naming the system's libcrypto does not swap it in
    env = {**os.environ, "LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu:/usr/lib64:/usr/lib"}
    assert subprocess.run([str(build.binary), "version"], capture_output=True, text=True, env=env).stdout == version

    providers = _run(build, "list", "-providers", cwd=workdir)
    assert providers.returncode == 0 and "default" in providers.stdout

    # the build's minimal openssl.cnf suffices for req -x509 with an explicit subject
    made = _run(
        build,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-subj",
        "/CN=provision-check",
        cwd=workdir,
    )
    assert made.returncode == 0, made.stderr
    assert (workdir / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.openssl
@pytest.mark.parametrize("series", sorted(DEBIAN_PINS), ids=lambda series: f"openssl-{series}")
def test_cached_build_is_sound(series, tmp_path):
    # a fixed list of ids (not the cache's contents), so parallel workers collect the same tests
    build = find_build(VersionRequest.parse(series))
    if build is None:
        pytest.skip(f"OpenSSL {series} is not provisioned here ('azihsm-conformance openssl provision {series}')")
    check_build(build, tmp_path)


@pytest.mark.slow
@pytest.mark.openssl
@pytest.mark.skipif(not is_debian_like(), reason="needs apt to fetch the pinned Debian source")
def test_provision_pinned_3_5_from_debian(tmp_path):
    binary = ensure_openssl("3.5")
    build = find_build(VersionRequest.parse("3.5"))
    assert build is not None and build.binary == binary
    assert build.origin["source"].startswith("debian:openssl=3.5.")
    check_build(build, tmp_path)
