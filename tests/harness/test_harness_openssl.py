"""The OpenSSL installation model: finding, probing and refusing binaries."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest
from harness_helpers import fake_script

from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.openssl import ENV_VAR, probe, resolve_openssl
from azihsm_conformance.harness.provision_build import BUILD_MARKER

pytestmark = pytest.mark.openssl


def test_system_openssl_is_probed():
    install = resolve_openssl("openssl")
    assert install.path == Path(shutil.which("openssl")).resolve()
    assert install.version >= (3, 0, 0)
    assert install.version_text.startswith("OpenSSL 3.")
    assert Path(install.modulesdir).is_absolute() and install.openssldir
    assert install.env == {}  # a system binary needs nothing extra


def test_environment_variable_selects_binary(monkeypatch):
    monkeypatch.setenv(ENV_VAR, shutil.which("openssl"))
    assert resolve_openssl(None).path == Path(shutil.which("openssl")).resolve()


PREFIX_BUILD = """\
if [ -n "$LD_LIBRARY_PATH" ] || [ "$HAS_RPATH" = 1 ]; then
    echo "OpenSSL 3.9.0 1 Jan 2027 (Library: OpenSSL 3.9.0 1 Jan 2027)"
else  # without its own libcrypto it would run on the system's
    echo "OpenSSL 3.9.0 1 Jan 2027 (Library: OpenSSL 3.0.19 27 Jan 2026)"
fi
echo 'OPENSSLDIR: "/x"'
echo 'MODULESDIR: "/y"'
"""


@pytest.fixture
def prefix_build(tmp_path):
    prefix = tmp_path / "openssl-3.9"
    (prefix / "lib64").mkdir(parents=True)
    (prefix / "lib64" / "libcrypto.so.3").write_bytes(b"")
    (prefix / "bin").mkdir()
    fake_script(prefix / "bin" / "openssl", PREFIX_BUILD)
    return prefix


def test_provisioned_build_keeps_its_own_configuration_and_modules(prefix_build, monkeypatch):
    monkeypatch.setenv("HAS_RPATH", "1")
    (prefix_build / BUILD_MARKER).write_text("{}")  # what `openssl provision` leaves in a complete build
    install = resolve_openssl(str(prefix_build))
    assert install.env == {
        "OPENSSL_CONF": str(prefix_build / "ssl" / "openssl.cnf"),
        "OPENSSL_MODULES": str(prefix_build / "lib" / "ossl-modules"),
    }


def test_prefix_build_without_rpath_gets_its_library_path(prefix_build, monkeypatch):
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    install = resolve_openssl(str(prefix_build))  # a prefix directory resolves to its bin/openssl
    assert install.path == (prefix_build / "bin" / "openssl").resolve()
    assert install.version == (3, 9, 0)
    assert install.env == {"LD_LIBRARY_PATH": str(prefix_build / "lib64")}
    assert (install.openssldir, install.modulesdir) == ("/x", "/y")


def test_prefix_build_with_rpath_needs_nothing(prefix_build, monkeypatch):
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    monkeypatch.setenv("HAS_RPATH", "1")
    assert resolve_openssl(str(prefix_build)).env == {}


@pytest.mark.parametrize(
    "printed, problem",
    [
        ("OpenSSL 1.1.1w  11 Sep 2023", "older than 3.0"),
        ("LibreSSL 3.8.2", "is not OpenSSL"),
        ("hello from some other tool", "is not OpenSSL"),
    ],
    ids=["openssl-1.1.1", "libressl", "not-openssl"],
)
def test_unsuitable_binaries_are_refused(tmp_path, printed, problem):
    binary = fake_script(tmp_path / "openssl", f'echo "{printed}"\n')
    with pytest.raises(UsageError, match=problem) as caught:
        probe(binary)
    assert "--openssl" in str(caught.value) and "\n" not in str(caught.value)


def test_binary_that_fails_is_refused(tmp_path):
    binary = fake_script(tmp_path / "openssl", "echo 'segfault-ish' >&2\nexit 3\n")
    with pytest.raises(UsageError, match="is not OpenSSL"):
        probe(binary)


@pytest.mark.parametrize(
    "spec, problem",
    [("/no/such/openssl", "does not exist"), ("no-such-openssl-name", "no 'no-such-openssl-name' on PATH")],
    ids=["missing-path", "missing-on-path"],
)
def test_missing_binary(spec, problem):
    with pytest.raises(UsageError, match=problem):
        resolve_openssl(spec)


def test_non_executable_file(tmp_path):
    path = tmp_path / "openssl"
    path.write_text("not a program")
    with pytest.raises(UsageError, match="not executable"):
        resolve_openssl(str(path))


def test_version_spec_goes_through_provisioning(monkeypatch):
    asked = []

    def ensure_openssl(version):
        asked.append(version)
        return Path(shutil.which("openssl"))

    monkeypatch.setitem(
        sys.modules, "azihsm_conformance.harness.provision", types.SimpleNamespace(ensure_openssl=ensure_openssl)
    )
    install = resolve_openssl("3.0")
    assert asked == ["3.0"] and install.version >= (3, 0, 0)
