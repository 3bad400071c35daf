"""Cached OpenSSL builds, one per version, for running the suite across OpenSSL releases.

``ensure_openssl("3.5")`` returns ``bin/openssl`` of a cached 3.5.x build, building it on
first use. Sources, in order of preference:

- ``--source``: a release tarball or unpacked tree, by path or URL (any machine);
- on Debian-like machines, the upstream tarball of a pinned Debian source upload, fetched
  through a private apt configuration (see ``provision_debian``).

Builds live side by side in ``<cache>/openssl/<version>`` (see ``provision_build`` for the
layout and the locking); nothing outside the cache directory is written.

Command line: ``azihsm-conformance openssl provision|list|available|remove``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.provision_build import (
    build_and_install,
    build_environment,
    is_complete,
    read_marker,
    read_source_version,
    remove_leftovers,
    version_lock,
)
from azihsm_conformance.harness.provision_debian import (
    PrivateApt,
    fetch_debian_tarball,
    is_debian_like,
    private_sources_list,
    system_debian_sources,
    upstream_of,
)
from azihsm_conformance.harness.provision_files import check_sha256, download_url, is_url, unpack_tarball
from azihsm_conformance.harness.versions import version_key

CACHE_ENV_VAR = "AZIHSM_CACHE_DIR"

# Series -> the Debian source upload of its pinned version. Measured 2026-11: the archive
# lists newer uploads (3.5.9, 3.6.5, 4.0.3) whose files the mirror does not serve yet, and
# for 3.0.22 it serves the upstream tarball but no .dsc. Debian drops superseded uploads:
# a stale pin fails with the list of versions still there.
DEBIAN_PINS: dict[str, str] = {
    "3.0": "3.0.22-1~deb12u2",  # bookworm-security
    "3.5": "3.5.7-1~deb13u2",  # trixie
    "3.6": "3.6.3-1",  # sid
    "4.0": "4.0.2-1",  # experimental
}

_REQUEST = re.compile(r"^(?P<series>\d+\.\d+)(?:\.(?P<patch>\d+)(?P<tag>-[A-Za-z0-9.]+)?)?$")


@dataclass(frozen=True)
class VersionRequest:
    """``3.5`` (any 3.5.x: the cached one, else the pin) or ``3.5.7`` (exactly that)."""

    series: str
    exact: str | None

    @classmethod
    def parse(cls, text: str) -> VersionRequest:
        match = _REQUEST.match(text.strip())
        if not match:
            raise UsageError(
                f"'{text}' is not an OpenSSL version; write a series like 3.5 or an exact version like 3.5.7"
            )
        if match.group("patch") is None:
            return cls(match.group("series"), None)
        return cls(match.group("series"), text.strip())

    def matches(self, version: str) -> bool:
        if self.exact:
            return version == self.exact
        return version.startswith(self.series + ".")

    def __str__(self) -> str:
        return self.exact or self.series


@dataclass(frozen=True)
class Build:
    """One complete cached OpenSSL installation."""

    version: str
    prefix: Path

    @property
    def binary(self) -> Path:
        return self.prefix / "bin" / "openssl"

    @property
    def environment(self) -> dict[str, str]:
        """OPENSSL_CONF and OPENSSL_MODULES of this build (keeps the system's out)."""
        return build_environment(self.prefix)

    @property
    def origin(self) -> dict:
        return read_marker(self.prefix).get("origin", {})

    @property
    def build_seconds(self) -> float | None:
        return read_marker(self.prefix).get("build_seconds")


def cache_dir() -> Path:
    """``$AZIHSM_CACHE_DIR``, else ``$XDG_CACHE_HOME/azihsm-conformance``, else ``~/.cache/...``."""
    explicit = os.environ.get(CACHE_ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "azihsm-conformance"


def builds_root() -> Path:
    return cache_dir() / "openssl"


def installed_builds() -> list[Build]:
    """Complete cached builds, oldest version first."""
    root = builds_root()
    if not root.is_dir():
        return []
    found = [Build(p.name, p) for p in root.iterdir() if _REQUEST.match(p.name) and is_complete(p)]
    return sorted(found, key=lambda b: version_key(b.version))


def find_build(request: VersionRequest) -> Build | None:
    matching = [b for b in installed_builds() if request.matches(b.version)]
    return matching[-1] if matching else None


def ensure_openssl(version: str) -> Path:
    """The ``bin/openssl`` of a cached build of VERSION (``3.5`` or ``3.5.7``), built on first use."""
    request = VersionRequest.parse(version)
    build = find_build(request) or provision(request)
    return build.binary


def provision(
    request: VersionRequest | None,
    source: str | None = None,
    sha256: str | None = None,
    jobs: int | None = None,
) -> Build:
    """Build and cache the requested OpenSSL (no-op if cached); return the build."""
    if request is None and source is None:
        raise UsageError("name a version (e.g. 3.5) or pass --source TARBALL|DIRECTORY|URL")
    jobs = jobs or os.cpu_count() or 1
    root = builds_root()
    root.mkdir(parents=True, exist_ok=True)
    unpack_dir = root / f".unpack-{os.getpid()}"
    try:
        if source is not None:
            return _provision_from_source(request, source, sha256, jobs, root, unpack_dir)
        assert request is not None
        return _provision_from_debian(request, jobs, root, unpack_dir)
    finally:
        shutil.rmtree(unpack_dir, ignore_errors=True)


def _provision_from_source(
    request: VersionRequest | None, source: str, sha256: str | None, jobs: int, root: Path, unpack_dir: Path
) -> Build:
    origin: dict = {"source": source}
    downloaded = None
    if is_url(source):
        tarball = downloaded = download_url(source, cache_dir() / "downloads", sha256)
        origin["sha256"] = check_sha256(tarball, sha256, source)
        tree = unpack_tarball(tarball, unpack_dir)
    else:
        path = Path(source).expanduser().resolve()
        if path.is_dir():
            if sha256:
                raise UsageError("--sha256 checks a tarball; drop it when --source is a directory")
            if not (path / "Configure").is_file():
                raise UsageError(f"{path} has no Configure script; pass the top of an OpenSSL source tree")
            tree = path
        elif path.is_file():
            origin["sha256"] = check_sha256(path, sha256, str(path))
            tree = unpack_tarball(path, unpack_dir)
        else:
            raise UsageError(f"--source {source} does not exist; pass an OpenSSL tarball, source directory or URL")
        origin["source"] = str(path)
    version = read_source_version(tree)
    if request is not None and not request.matches(version):
        raise UsageError(
            f"--source holds OpenSSL {version}, not the requested {request}; drop the version or pass its source"
        )
    with version_lock(root, version):
        if is_complete(root / version):
            return Build(version, root / version)
        remove_leftovers(root, version)
        build = Build(version, build_and_install(tree, version, root, origin, jobs))
    if downloaded:
        downloaded.unlink(missing_ok=True)  # kept only to retry a failed build without downloading
    return build


def _provision_from_debian(request: VersionRequest, jobs: int, root: Path, unpack_dir: Path) -> Build:
    if not is_debian_like():
        raise UsageError(
            f"no cached OpenSSL {request} and no Debian archive to fetch it from; build it with "
            f"'azihsm-conformance openssl provision {request} --source TARBALL|DIRECTORY|URL'"
        )
    if request.exact:
        upstream, debian_version = request.exact, None
        pinned = DEBIAN_PINS.get(request.series)
        if pinned and upstream_of(pinned) == upstream:
            debian_version = pinned
    elif request.series in DEBIAN_PINS:
        debian_version = DEBIAN_PINS[request.series]
        upstream = upstream_of(debian_version)
    else:
        raise UsageError(
            f"no pinned Debian source for OpenSSL {request.series} (pinned: {', '.join(DEBIAN_PINS)}); "
            f"ask for an exact version such as {request.series}.0, or build it from a tarball with "
            f"'azihsm-conformance openssl provision {request.series}.0 --source TARBALL|URL'"
        )
    with version_lock(root, upstream):
        if is_complete(root / upstream):
            return Build(upstream, root / upstream)
        remove_leftovers(root, upstream)
        apt = PrivateApt(cache_dir() / "apt", private_sources_list(system_debian_sources()))
        tarball, debian_version = fetch_debian_tarball(apt, upstream, debian_version, cache_dir() / "downloads")
        tree = unpack_tarball(tarball, unpack_dir)
        found = read_source_version(tree)
        if found != upstream:
            raise UsageError(f"{tarball.name} unpacks to OpenSSL {found}, not {upstream}; delete it and retry")
        origin = {"source": f"debian:openssl={debian_version}", "tarball": tarball.name}
        build = Build(upstream, build_and_install(tree, upstream, root, origin, jobs))
        tarball.unlink(missing_ok=True)  # kept only to retry a failed build without downloading
        return build


# --- command line ------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "openssl",
        help="build and cache OpenSSL versions to run the suite against",
        description=f"Cached OpenSSL builds live in {builds_root()} (set ${CACHE_ENV_VAR} to move them).",
    )
    commands = parser.add_subparsers(dest="openssl_command", metavar="ACTION", required=True)

    build = commands.add_parser(
        "provision",
        help="build VERSION (3.5, 3.5.7) into the cache unless it is there; print its openssl path",
    )
    build.add_argument(
        "version", nargs="?", help="series (3.0, 3.5, 3.6, 4.0) or exact version; optional with --source"
    )
    build.add_argument("--source", metavar="PATH|URL", help="OpenSSL release tarball or source tree, by path or URL")
    build.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of the --source tarball")
    build.add_argument("--jobs", "-j", type=int, metavar="N", help="parallel compile jobs (default: all cores)")
    build.set_defaults(func=_cmd_provision)

    listing = commands.add_parser("list", help="cached builds and the pinned series")
    listing.set_defaults(func=_cmd_list)

    available = commands.add_parser("available", help="OpenSSL versions in the Debian source index (refreshes it)")
    available.set_defaults(func=_cmd_available)

    remove = commands.add_parser("remove", help="delete a cached build")
    remove.add_argument("version", help="exact version, as 'list' shows it")
    remove.set_defaults(func=_cmd_remove)


def _cmd_provision(args: argparse.Namespace) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be 1 or more")
    if args.sha256 and not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256):
        raise UsageError("--sha256 takes 64 hex digits")
    request = VersionRequest.parse(args.version) if args.version else None
    cached = find_build(request) if request and not args.source else None
    build = cached or provision(request, args.source, args.sha256, args.jobs)
    print(build.binary)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    builds = installed_builds()
    print(f"cache: {builds_root()}")
    for build in builds:
        seconds = build.build_seconds
        took = f"built in {seconds:.0f}s" if seconds is not None else ""
        print(f"  {build.version:<10} {build.origin.get('source', '?'):<44} {took}")
    for series, debian_version in DEBIAN_PINS.items():
        if not any(b.version.startswith(series + ".") for b in builds):
            print(f"  {series:<10} not built (pin: Debian {debian_version}; 'openssl provision {series}')")
    return 0


def _cmd_available(args: argparse.Namespace) -> int:
    if not is_debian_like():
        raise UsageError("no apt on this machine; provision with --source TARBALL|DIRECTORY|URL instead")
    apt = PrivateApt(cache_dir() / "apt", private_sources_list(system_debian_sources()))
    with apt.lock():
        apt.ensure_index(refresh=True)
        versions = apt.source_versions()
    pinned = set(DEBIAN_PINS.values())
    for debian_version in sorted(versions, key=lambda v: version_key(upstream_of(v))):
        note = "  (pinned)" if debian_version in pinned else ""
        print(f"  {upstream_of(debian_version):<10} Debian {debian_version}{note}")
    print(
        "Newer uploads may be listed before the mirror serves their files; pinned ones were checked.", file=sys.stderr
    )
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    request = VersionRequest.parse(args.version)
    if not request.exact:
        raise UsageError(f"remove takes an exact version (e.g. {request.series}.0), as 'openssl list' shows it")
    root = builds_root()
    if not (root / request.exact).exists():
        raise UsageError(f"OpenSSL {request.exact} is not in {root}; 'azihsm-conformance openssl list' shows what is")
    with version_lock(root, request.exact):
        shutil.rmtree(root / request.exact)
        remove_leftovers(root, request.exact)
    print(f"removed OpenSSL {request.exact} from {root}", file=sys.stderr)
    return 0
