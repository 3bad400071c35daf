"""Building into the cache: sources by path/URL, idempotence, locking, atomic install, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from provision_fakes import builds_done, make_source_tree, make_tarball, sha256_hex

from azihsm_conformance.harness import provision
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.provision import VersionRequest, ensure_openssl


def _only_complete_builds(root):
    """Nothing but finished versions (and the lock/log/download bookkeeping) in ROOT."""
    leftovers = [
        p.name for p in root.iterdir() if p.name not in (".locks", "logs") and not (p / "azihsm-build.json").is_file()
    ]
    assert leftovers == []


def test_build_from_directory(cache, source_tree, build_counter):
    build = provision.provision(VersionRequest.parse("3.5"), source=str(source_tree))
    prefix = cache / "openssl" / "3.5.7"
    assert build.prefix == prefix and build.version == "3.5.7"
    assert subprocess.run([build.binary, "version"], capture_output=True, text=True).stdout.startswith("OpenSSL 3.5.7")
    marker = json.loads((prefix / "azihsm-build.json").read_text())
    assert marker["origin"] == {"source": str(source_tree)}
    assert marker["openssl_version"].startswith("OpenSSL 3.5.7")
    for expected in (
        f"--prefix={prefix}",
        f"--openssldir={prefix}/ssl",
        "--libdir=lib",
        "shared",
        "no-tests",
        f"-Wl,-rpath,{prefix}/lib",
    ):
        assert expected in marker["configure"], expected
    assert builds_done(build_counter) == 1
    _only_complete_builds(cache / "openssl")
    assert not (source_tree / "Makefile").exists(), "the build must happen out of the source tree"


def test_build_gets_its_own_minimal_openssl_cnf(cache, source_tree):
    build = provision.provision(None, source=str(source_tree))
    cnf = (build.prefix / "ssl" / "openssl.cnf").read_text()
    assert ".include" not in cnf and "/etc/" not in cnf
    assert "x509_extensions" not in cnf  # `req -x509` must show each version's own defaults
    assert build.environment == {
        "OPENSSL_CONF": str(build.prefix / "ssl" / "openssl.cnf"),
        "OPENSSL_MODULES": str(build.prefix / "lib" / "ossl-modules"),
    }


def test_second_provision_reuses_the_build(cache, source_tree, build_counter):
    first = provision.provision(None, source=str(source_tree))
    second = provision.provision(VersionRequest.parse("3.5.7"), source=str(source_tree))
    assert first == second
    assert builds_done(build_counter) == 1


def test_build_from_tarball_with_checksum(cache, tmp_path, source_tree):
    tarball = make_tarball(source_tree, tmp_path)
    build = provision.provision(None, source=str(tarball), sha256=sha256_hex(tarball))
    assert build.origin == {"source": str(tarball), "sha256": sha256_hex(tarball)}
    assert not (cache / "openssl" / f".unpack-{os.getpid()}").exists()


def test_tarball_with_wrong_checksum_builds_nothing(cache, tmp_path, source_tree, build_counter):
    tarball = make_tarball(source_tree, tmp_path)
    with pytest.raises(UsageError, match="not the expected"):
        provision.provision(None, source=str(tarball), sha256="00" * 32)
    assert builds_done(build_counter) == 0
    assert provision.installed_builds() == []


def test_build_from_file_url(cache, tmp_path, source_tree):
    tarball = make_tarball(source_tree, tmp_path)
    build = provision.provision(VersionRequest.parse("3.5"), source=tarball.as_uri(), sha256=sha256_hex(tarball))
    assert build.version == "3.5.7"
    assert not (cache / "downloads" / tarball.name).exists(), "a successful build needs the download no more"


def test_download_is_reused_after_a_failed_build(cache, tmp_path, source_tree, monkeypatch):
    tarball = make_tarball(source_tree, tmp_path)
    digest = sha256_hex(tarball)
    monkeypatch.setenv("FAKE_FAIL_STEP", "build")
    with pytest.raises(UsageError, match="failed at 'compiling'"):
        provision.provision(None, source=tarball.as_uri(), sha256=digest)
    assert (cache / "downloads" / tarball.name).is_file()
    tarball.unlink()  # the retry must not need the URL again
    monkeypatch.delenv("FAKE_FAIL_STEP")
    assert provision.provision(None, source=tarball.as_uri(), sha256=digest).version == "3.5.7"


def test_unreachable_url_is_one_clear_error(cache, tmp_path):
    with pytest.raises(UsageError, match=r"downloading file://.* failed .*pass a local tarball"):
        provision.provision(None, source=(tmp_path / "missing" / "openssl-3.5.7.tar.gz").as_uri())


@pytest.mark.parametrize(
    "source_name, message",
    [
        ("missing-dir", "does not exist"),
        ("not-a-tarball.tar.gz", "not a readable tarball"),
        ("empty-dir", "has no Configure script"),
    ],
    ids=["missing-path", "corrupt-tarball", "directory-without-configure"],
)
def test_bad_sources_are_rejected(cache, tmp_path, source_name, message):
    (tmp_path / "not-a-tarball.tar.gz").write_text("not gzip")
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(UsageError, match=message):
        provision.provision(None, source=str(tmp_path / source_name))


def test_source_of_another_version_is_refused(cache, source_tree, build_counter):
    with pytest.raises(UsageError, match=r"holds OpenSSL 3\.5\.7, not the requested 3\.6"):
        provision.provision(VersionRequest.parse("3.6"), source=str(source_tree))
    assert builds_done(build_counter) == 0


@pytest.mark.parametrize("step", ["configure", "build", "install_sw", "install_ssldirs"])
def test_failed_step_leaves_nothing_installed(cache, tmp_path, monkeypatch, step):
    tree = make_source_tree(tmp_path / "src", "3.5.7")
    if step == "configure":
        (tree / "Configure").write_text("#!/bin/sh\necho 'Configure: unsupported option' >&2\nexit 1\n")
        label = "configuring"
    else:
        monkeypatch.setenv("FAKE_FAIL_STEP", step)
        label = "compiling" if step == "build" else "installing"
    with pytest.raises(UsageError, match=rf"failed at '{label}' \(exit \d+: .*\); see .*3\.5\.7\.log"):
        provision.provision(None, source=str(tree))
    assert provision.installed_builds() == []
    _only_complete_builds(cache / "openssl")
    assert (cache / "openssl" / "logs" / "3.5.7.log").is_file()


def test_binary_running_on_another_libcrypto_is_not_installed(cache, source_tree, monkeypatch):
    monkeypatch.setenv("FAKE_LIBRARY_VERSION", "3.0.19")
    with pytest.raises(UsageError, match="does not run on its own OpenSSL 3.5.7 libraries"):
        provision.provision(None, source=str(source_tree))
    assert provision.installed_builds() == []
    _only_complete_builds(cache / "openssl")


def test_leftovers_of_a_killed_build_are_cleared(cache, source_tree):
    root = cache / "openssl"
    for stale in ("3.5.7.tmp-999999", ".work-3.5.7-999999", "3.5.7"):
        (root / stale / "bin").mkdir(parents=True)  # "3.5.7" without a marker: incomplete
    build = provision.provision(None, source=str(source_tree))
    assert build.binary.is_file()
    _only_complete_builds(root)


def test_concurrent_callers_build_once(cache, source_tree, build_counter, monkeypatch):
    monkeypatch.setenv("FAKE_BUILD_SECONDS", "1")
    script = textwrap.dedent(
        f"""
        from azihsm_conformance.harness import provision
        print(provision.provision(None, source={str(source_tree)!r}).binary)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    assert results[0][0] == results[1][0] == f"{cache / 'openssl' / '3.5.7' / 'bin' / 'openssl'}\n"
    assert builds_done(build_counter) == 1
    assert any("waiting for it" in stderr for _, stderr in results)


def test_series_request_uses_any_cached_build_of_that_series(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(provision, "is_debian_like", lambda: False)
    provision.provision(None, source=str(make_source_tree(tmp_path / "a", "3.5.2")))
    provision.provision(None, source=str(make_source_tree(tmp_path / "b", "3.5.10")))
    assert ensure_openssl("3.5") == cache / "openssl" / "3.5.10" / "bin" / "openssl"
    assert ensure_openssl("3.5.2") == cache / "openssl" / "3.5.2" / "bin" / "openssl"
    assert [b.version for b in provision.installed_builds()] == ["3.5.2", "3.5.10"]


def test_uncached_version_without_apt_names_the_fix(cache, monkeypatch):
    monkeypatch.setattr(provision, "is_debian_like", lambda: False)
    with pytest.raises(UsageError, match=r"no cached OpenSSL 3\.6 .* openssl provision 3\.6 --source"):
        ensure_openssl("3.6")


def test_debian_path_builds_the_pinned_upload(cache, tmp_path, fake_archive, monkeypatch, build_counter):
    monkeypatch.setitem(provision.DEBIAN_PINS, "3.6", "3.6.3-1")
    fake_archive.add_upload("3.6.3-1", make_tarball(make_source_tree(tmp_path / "up", "3.6.3"), tmp_path))
    binary = ensure_openssl("3.6")
    assert binary == cache / "openssl" / "3.6.3" / "bin" / "openssl"
    assert provision.find_build(VersionRequest.parse("3.6")).origin["source"] == "debian:openssl=3.6.3-1"
    assert ensure_openssl("3.6.3") == binary
    assert builds_done(build_counter) == 1


def test_debian_path_superseded_pin_fails_before_building(cache, tmp_path, fake_archive, monkeypatch, build_counter):
    monkeypatch.setitem(provision.DEBIAN_PINS, "3.6", "3.6.3-1")
    fake_archive.add_upload("3.6.5-1", make_tarball(make_source_tree(tmp_path / "up", "3.6.5"), tmp_path))
    with pytest.raises(UsageError, match=r"OpenSSL 3\.6\.3 .*it has: 3\.6\.5"):
        ensure_openssl("3.6")
    assert builds_done(build_counter) == 0


def test_unpinned_series_on_debian_asks_for_an_exact_version(cache, fake_archive):
    with pytest.raises(UsageError, match=r"no pinned Debian source for OpenSSL 3\.4 .*exact version such as 3\.4\.0"):
        ensure_openssl("3.4")
