"""The private apt configuration and fetching a verified tarball from a (fake) Debian archive."""

from __future__ import annotations

import os
import textwrap

import pytest
from provision_fakes import make_source_tree, make_tarball, sha256_hex

from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.provision_debian import (
    AptSource,
    PrivateApt,
    fetch_debian_tarball,
    private_sources_list,
    system_debian_sources,
)

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_reads_debian_archives_from_both_formats(tmp_path):
    etc = tmp_path / "apt"
    _write(
        etc / "sources.list",
        f"""\
        # comment line
        deb [arch=amd64 signed-by={KEYRING}] http://mirror.invalid/debian/ bookworm main contrib
        deb http://other.invalid/ubuntu jammy main
        """,
    )
    _write(
        etc / "sources.list.d" / "debian.sources",
        f"""\
        Types: deb deb-src
        URIs: http://mirror.invalid/debian-security
        Suites: bookworm-security
        Components: main
        Signed-By: {KEYRING}

        Types: deb
        URIs: http://mirror.invalid/debian
        Suites: trixie
        Components: main
        Enabled: no
        """,
    )
    _write(
        etc / "sources.list.d" / "nodesource.sources",
        "Types: deb\nURIs: https://deb.nodesource.invalid/node_20.x\nSuites: nodistro\n",
    )
    _write(etc / "sources.list.d" / "old.list.disabled", "deb http://mirror.invalid/debian buster main\n")

    assert system_debian_sources(etc) == [
        AptSource("http://mirror.invalid/debian", ("bookworm",), KEYRING),
        AptSource("http://mirror.invalid/debian-security", ("bookworm-security",), KEYRING),
    ]


def test_private_sources_add_newer_suites_to_the_main_archive_only():
    text = private_sources_list(
        [
            AptSource("http://mirror.invalid/debian", ("bookworm", "bookworm-updates"), KEYRING),
            AptSource("http://mirror.invalid/debian", ("bookworm",), KEYRING),
            AptSource("http://mirror.invalid/debian-security", ("bookworm-security",), None),
        ]
    )
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    main = f"deb-src [signed-by={KEYRING}] http://mirror.invalid/debian"
    assert lines == [
        f"{main} bookworm main",
        f"{main} bookworm-updates main",
        f"{main} trixie main",
        f"{main} sid main",
        f"{main} experimental main",
        "deb-src http://mirror.invalid/debian-security bookworm-security main",
    ]


def test_no_debian_archive_fails_fast_with_the_fix():
    with pytest.raises(UsageError, match=r"no Debian archive .* pass the OpenSSL source with --source"):
        private_sources_list([])


def test_private_apt_keeps_all_state_under_its_root(tmp_path):
    apt = PrivateApt(tmp_path / "apt", "deb-src http://mirror.invalid/debian sid main\n")
    options = apt.options()
    pairs = dict(options[i + 1].split("=", 1) for i in range(0, len(options), 2))
    assert all(options[i] == "-o" for i in range(0, len(options), 2))
    assert pairs["Dir::Etc::SourceParts"] == "/dev/null"
    for key in ("Dir::Etc::SourceList", "Dir::State", "Dir::State::Lists", "Dir::State::status", "Dir::Cache"):
        assert pairs[key].startswith(str(tmp_path / "apt")), key


def test_changed_sources_force_a_fresh_index(tmp_path):
    apt = PrivateApt(tmp_path / "apt", "deb-src http://mirror.invalid/debian sid main\n")
    apt.prepare()
    assert apt.sources_file.read_text() == apt.sources_text
    (tmp_path / "apt" / "state" / "updated").touch()
    assert apt.index_age() is not None
    PrivateApt(tmp_path / "apt", "deb-src http://mirror.invalid/debian trixie main\n").prepare()
    assert apt.index_age() is None


@pytest.fixture
def tarball_357(tmp_path):
    return make_tarball(make_source_tree(tmp_path / "upstream", "3.5.7"), tmp_path)


def _apt(cache):
    return PrivateApt(cache / "apt", private_sources_list(system_debian_sources()))


def test_fetches_and_verifies_the_pinned_upload(cache, fake_archive, tarball_357):
    fake_archive.add_upload("3.5.7-1~deb13u2", tarball_357)
    got, debian_version = fetch_debian_tarball(_apt(cache), "3.5.7", "3.5.7-1~deb13u2", cache / "downloads")
    assert (got, debian_version) == (cache / "downloads" / "openssl_3.5.7.orig.tar.gz", "3.5.7-1~deb13u2")
    assert sha256_hex(got) == sha256_hex(tarball_357)
    assert fake_archive.update_calls() == 1
    # the second fetch reuses both the index and the download
    fetch_debian_tarball(_apt(cache), "3.5.7", "3.5.7-1~deb13u2", cache / "downloads")
    assert fake_archive.update_calls() == 1


def test_tarball_only_upload_is_enough(cache, fake_archive, tarball_357):
    """The mirror may drop the .dsc (as for 3.0.22); the tarball is checked against the index."""
    fake_archive.add_upload("3.5.7-1~deb13u2", tarball_357)
    assert not any(p.name.endswith(".dsc") for p in fake_archive.pool.iterdir())
    fake_archive.add_upload("3.5.7-1", tarball_357)
    got, debian_version = fetch_debian_tarball(_apt(cache), "3.5.7", None, cache / "downloads")
    assert got.is_file() and debian_version == "3.5.7-1"  # the newest upload of 3.5.7


def test_superseded_pin_fails_fast_listing_what_is_there(cache, fake_archive, tarball_357):
    fake_archive.add_upload("3.5.9-1~deb13u1", tarball_357)
    fake_archive.add_upload("4.0.2-1", tarball_357)
    with pytest.raises(
        UsageError, match=r"OpenSSL 3\.5\.7 .* not in the Debian Sources index \(it has: 3\.5\.9, 4\.0\.2\)"
    ):
        fetch_debian_tarball(_apt(cache), "3.5.7", "3.5.7-1~deb13u2", cache / "downloads")


def test_stale_index_is_refreshed_once_before_giving_up(cache, fake_archive, tarball_357):
    fake_archive.add_upload("4.0.2-1", tarball_357)
    apt = _apt(cache)
    apt.ensure_index()
    stamp = cache / "apt" / "state" / "updated"
    os.utime(stamp, (stamp.stat().st_mtime - 3600,) * 2)
    with pytest.raises(UsageError, match="not in the Debian Sources index"):
        fetch_debian_tarball(apt, "3.0.17", None, cache / "downloads")
    assert fake_archive.update_calls() == 2


def test_listed_but_unserved_upload_fails_with_404(cache, fake_archive, tarball_357):
    """Newest uploads are often binary-only on the mirror: a clear error, no partial file."""
    fake_archive.add_upload("3.6.5-1", tarball_357, served=False)
    with pytest.raises(UsageError, match=r"openssl_3\.6\.5\.orig\.tar\.gz failed: the mirror does not serve it \(404"):
        fetch_debian_tarball(_apt(cache), "3.6.5", None, cache / "downloads")
    assert list((cache / "downloads").iterdir()) == []


def test_tarball_not_matching_the_index_is_rejected(cache, fake_archive, tarball_357):
    fake_archive.add_upload("3.5.7-1~deb13u2", tarball_357, sha256="ab" * 32)
    with pytest.raises(UsageError, match="does not match the signed Sources index"):
        fetch_debian_tarball(_apt(cache), "3.5.7", None, cache / "downloads")
    assert list((cache / "downloads").iterdir()) == []
