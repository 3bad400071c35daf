"""Version requests, Debian version strings, source-tree versions and the cache location."""

from __future__ import annotations

from pathlib import Path

import pytest

from azihsm_conformance.harness import provision
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.provision import VersionRequest
from azihsm_conformance.harness.provision_build import read_source_version
from azihsm_conformance.harness.provision_debian import _newest_upload, upstream_of


@pytest.mark.parametrize(
    "text, series, exact",
    [
        ("3.5", "3.5", None),
        ("4.0", "4.0", None),
        ("3.0.17", "3.0", "3.0.17"),
        (" 3.6.3 ", "3.6", "3.6.3"),
        ("4.0.0-alpha1", "4.0", "4.0.0-alpha1"),
    ],
    ids=["series-3.5", "series-4.0", "exact-3.0.17", "exact-padded", "exact-prerelease"],
)
def test_version_request_parses(text, series, exact):
    request = VersionRequest.parse(text)
    assert (request.series, request.exact) == (series, exact)


@pytest.mark.parametrize("text", ["3", "v3.5", "3.5.x", "", "openssl-3.5.7", "3.5.7.1"])
def test_version_request_rejects_with_hint(text):
    with pytest.raises(UsageError, match=r"not an OpenSSL version; write a series like 3\.5"):
        VersionRequest.parse(text)


@pytest.mark.parametrize(
    "request_text, version, matches",
    [
        ("3.5", "3.5.7", True),
        ("3.5", "3.50.1", False),
        ("3.5", "3.6.0", False),
        ("3.5.7", "3.5.7", True),
        ("3.5.7", "3.5.9", False),
    ],
    ids=["series-hit", "series-prefix-trap", "series-miss", "exact-hit", "exact-miss"],
)
def test_version_request_matching(request_text, version, matches):
    assert VersionRequest.parse(request_text).matches(version) is matches


@pytest.mark.parametrize(
    "debian_version, upstream",
    [("3.5.7-1~deb13u2", "3.5.7"), ("4.0.2-1", "4.0.2"), ("1:3.0.2-0ubuntu1.10", "3.0.2"), ("3.6.3", "3.6.3")],
    ids=["backport-revision", "plain-revision", "epoch", "native"],
)
def test_upstream_of_debian_version(debian_version, upstream):
    assert upstream_of(debian_version) == upstream


def test_newest_upload_prefers_the_unsuffixed_revision():
    uploads = ["3.0.17-1~deb12u2", "3.0.17-1~deb12u3", "3.0.20-1~deb12u2", "3.0.17-1"]
    assert _newest_upload(uploads, "3.0.17") == "3.0.17-1"
    assert _newest_upload(uploads[:2], "3.0.17") == "3.0.17-1~deb12u3"
    assert _newest_upload(uploads, "3.0.18") is None


def test_pins_name_each_series_they_serve():
    for series, debian_version in provision.DEBIAN_PINS.items():
        assert upstream_of(debian_version).startswith(series + ".")
    assert {"3.0", "3.5", "3.6", "4.0"} <= set(provision.DEBIAN_PINS)


def _version_dat(tmp_path: Path, text: str) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "VERSION.dat").write_text(text)
    return tree


def test_source_version_from_version_dat(tmp_path):
    tree = _version_dat(tmp_path, 'MAJOR=3\nMINOR=5\nPATCH=7\nPRE_RELEASE_TAG=\nRELEASE_DATE="9 Jun 2026"\n')
    assert read_source_version(tree) == "3.5.7"


def test_source_version_keeps_prerelease_tag(tmp_path):
    tree = _version_dat(tmp_path, "MAJOR=4\nMINOR=0\nPATCH=0\nPRE_RELEASE_TAG=alpha1\n")
    assert read_source_version(tree) == "4.0.0-alpha1"


def test_source_without_version_dat_is_not_openssl3(tmp_path):
    with pytest.raises(UsageError, match="not an OpenSSL 3.0 or later source tree"):
        read_source_version(tmp_path)


def test_source_version_dat_without_numbers(tmp_path):
    tree = _version_dat(tmp_path, "MAJOR=three\n")
    with pytest.raises(UsageError, match="lacks MAJOR/MINOR/PATCH"):
        read_source_version(tree)


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(provision.CACHE_ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert provision.cache_dir() == tmp_path / "home" / ".cache" / "azihsm-conformance"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert provision.cache_dir() == tmp_path / "xdg" / "azihsm-conformance"
    monkeypatch.setenv(provision.CACHE_ENV_VAR, str(tmp_path / "explicit"))
    assert provision.builds_root() == tmp_path / "explicit" / "openssl"
