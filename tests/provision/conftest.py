"""Fixtures for provisioning tests: a private cache, fake source trees, a fake Debian archive."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from provision_fakes import FAKE_APT_CACHE, FAKE_APT_GET, FAKE_APT_HELPER, FakeArchive, make_source_tree

from azihsm_conformance.harness import provision


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache directory that provisioning uses instead of the user's."""
    directory = tmp_path / "cache"
    monkeypatch.setenv(provision.CACHE_ENV_VAR, str(directory))
    for name in ("FAKE_FAIL_STEP", "FAKE_BUILD_COUNTER", "FAKE_LIBRARY_VERSION", "FAKE_BUILD_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    return directory


@pytest.fixture
def source_tree(tmp_path) -> Path:
    return make_source_tree(tmp_path / "src", "3.5.7")


@pytest.fixture
def build_counter(tmp_path, monkeypatch) -> Path:
    """A file that gets one line per fake compile."""
    counter = tmp_path / "builds.txt"
    monkeypatch.setenv("FAKE_BUILD_COUNTER", str(counter))
    return counter


@pytest.fixture
def fake_archive(tmp_path, monkeypatch) -> FakeArchive:
    """Fake apt-get/apt-cache/apt-helper on PATH and a fake /etc/apt naming a Debian mirror."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    for name, text in (("apt-get", FAKE_APT_GET), ("apt-cache", FAKE_APT_CACHE), ("apt-helper", FAKE_APT_HELPER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    archive = FakeArchive(tmp_path / "archive")
    monkeypatch.setenv("FAKE_APT", str(archive.root))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    etc_apt = tmp_path / "etc-apt"
    (etc_apt / "sources.list.d").mkdir(parents=True)
    (etc_apt / "sources.list.d" / "debian.sources").write_text(
        textwrap.dedent(
            """\
            Types: deb
            URIs: http://mirror.invalid/debian
            Suites: bookworm bookworm-updates
            Components: main
            """
        )
    )
    from azihsm_conformance.harness import provision_debian

    monkeypatch.setattr(provision_debian, "SYSTEM_APT_DIR", etc_apt)
    return archive
