"""Fetch an OpenSSL upstream tarball from the Debian archive, verified, without touching apt.

The machine's own apt configuration is only *read* (to learn which Debian mirror it uses).
Everything apt writes goes to a private directory under the cache: its own sources.list
with ``deb-src`` lines for the system's suites plus trixie, sid and experimental, its own
lists/, cache/ and status file.

Trust chain: ``apt-get update`` checks each suite's signed InRelease and the Sources index
against it; ``apt-get source --print-uris`` then reports each file's SHA256 from that verified
index. We download only the ``.orig.tar.gz`` (we build pristine upstream, not Debian's
patched package) and check its SHA256 against the index. That also covers versions whose
``.dsc`` the mirror no longer serves (OpenSSL 3.0.22 in bookworm-security, when measured).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.fileutil import write_atomic
from azihsm_conformance.harness.provision_files import file_lock, sha256_of
from azihsm_conformance.harness.versions import version_key

SYSTEM_APT_DIR = Path("/etc/apt")
# suites added to the system's own: where OpenSSL 3.5 (trixie), 3.6 (sid) and 4.0
# (experimental) sources live
EXTRA_SUITES = ("trixie", "sid", "experimental")
# the private lists are refreshed when older than this (new Debian uploads replace pins)
INDEX_MAX_AGE_SECONDS = 24 * 3600
APT_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class AptSource:
    """One Debian archive entry of the system's apt configuration."""

    uri: str  # e.g. http://MIRROR/debian (no trailing slash)
    suites: tuple[str, ...]
    signed_by: str | None  # keyring path, or None for apt's default trusted keys


@dataclass(frozen=True)
class RemoteFile:
    """A file of a Debian source package, as the verified Sources index lists it."""

    uri: str
    name: str
    size: int
    sha256: str


# --- reading the system's apt sources -------------------------------------------------


def _is_debian_archive(uri: str) -> bool:
    """The main archive (``.../debian``) or the security archive (``.../debian-security``)."""
    return uri.rstrip("/").rsplit("/", 1)[-1] in ("debian", "debian-security")


def _parse_one_line_sources(text: str) -> list[AptSource]:
    """Entries of the classic ``deb [opts] URI suite comp...`` format."""
    found = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] not in ("deb", "deb-src") or len(words) < 3:
            continue
        rest = words[1:]
        signed_by = None
        if rest[0].startswith("["):
            options = []
            while rest:
                word = rest.pop(0)
                options.append(word)
                if word.endswith("]"):
                    break
            for option in " ".join(options).strip("[]").split():
                key, _, value = option.partition("=")
                if key == "signed-by":
                    signed_by = value
        if len(rest) < 2:
            continue
        uri, suite = rest[0].rstrip("/"), rest[1]
        if _is_debian_archive(uri):
            found.append(AptSource(uri, (suite,), signed_by))
    return found


def _parse_deb822_sources(text: str) -> list[AptSource]:
    """Entries of the ``.sources`` (deb822) format."""
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:
                fields[key] += " " + raw.strip()
                continue
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        types = fields.get("types", "").split()
        if not {"deb", "deb-src"} & set(types):
            continue
        signed_by = fields.get("signed-by") or None
        if signed_by and not signed_by.startswith("/"):
            signed_by = None  # an inline key block: fall back to apt's trusted keys
        suites = tuple(fields.get("suites", "").split())
        for uri in fields.get("uris", "").split():
            if _is_debian_archive(uri) and suites:
                found.append(AptSource(uri.rstrip("/"), suites, signed_by))
    return found


def system_debian_sources(apt_dir: Path | None = None) -> list[AptSource]:
    """The Debian archives the system's apt configuration uses (read only)."""
    apt_dir = apt_dir or SYSTEM_APT_DIR
    found: list[AptSource] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        found += _parse_one_line_sources(main_list.read_text(errors="replace"))
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                found += _parse_one_line_sources(path.read_text(errors="replace"))
            elif path.suffix == ".sources":
                found += _parse_deb822_sources(path.read_text(errors="replace"))
    return found


def private_sources_list(system: list[AptSource]) -> str:
    """``deb-src`` lines for the system's Debian suites, plus trixie/sid/experimental."""
    if not system:
        raise UsageError(
            f"no Debian archive found in {SYSTEM_APT_DIR}/sources.list*; this is not a Debian-like "
            "machine, so pass the OpenSSL source with --source TARBALL|DIRECTORY|URL"
        )
    suites_by_archive: dict[tuple[str, str | None], list[str]] = {}
    for entry in system:
        suites = suites_by_archive.setdefault((entry.uri, entry.signed_by), [])
        suites += [s for s in entry.suites if s not in suites]
    for (uri, _signed_by), suites in suites_by_archive.items():
        if uri.endswith("/debian"):
            suites += [s for s in EXTRA_SUITES if s not in suites]
    lines = ["# generated by azihsm-conformance from the system's apt sources; regenerated on use"]
    for (uri, signed_by), suites in suites_by_archive.items():
        option = f"[signed-by={signed_by}] " if signed_by else ""
        lines += [f"deb-src {option}{uri} {suite} main" for suite in suites]
    return "\n".join(lines) + "\n"


# --- the private apt configuration ------------------------------------------------------


class PrivateApt:
    """apt-get / apt-cache runs against a private state directory (``<cache>/apt``)."""

    def __init__(self, root: Path, sources_text: str):
        self.root = root
        self.sources_text = sources_text
        self.sources_file = root / "sources.list"
        self.lists = root / "state" / "lists"

    def options(self) -> list[str]:
        state, cache = self.root / "state", self.root / "cache"
        opts = {
            "Dir::Etc::SourceList": str(self.sources_file),
            "Dir::Etc::SourceParts": "/dev/null",
            "Dir::State": str(state),
            "Dir::State::Lists": str(self.lists),
            "Dir::State::status": str(state / "status"),
            "Dir::Cache": str(cache),
            "Dir::Cache::pkgcache": "",  # no binary caches to go stale or collide
            "Dir::Cache::srcpkgcache": "",
            "Acquire::Languages": "none",
            "APT::Get::List-Cleanup": "true",
        }
        if os.geteuid() == 0:
            # the _apt sandbox user cannot enter a root-only cache directory
            opts["APT::Sandbox::User"] = "root"
        return [arg for key, value in opts.items() for arg in ("-o", f"{key}={value}")]

    def lock(self):
        """Builds of different versions may run at once; apt's state is shared between them."""
        return file_lock(self.root / "lock", "another process is using the private apt index; waiting for it")

    def prepare(self) -> None:
        for sub in (self.lists / "partial", self.root / "cache" / "archives" / "partial"):
            sub.mkdir(parents=True, exist_ok=True)
        status = self.root / "state" / "status"
        if not status.exists():
            status.touch()
        if not self.sources_file.exists() or self.sources_file.read_text() != self.sources_text:
            write_atomic(self.sources_file, self.sources_text)
            self._stamp().unlink(missing_ok=True)  # new sources: the lists must be fetched again

    def _stamp(self) -> Path:
        return self.root / "state" / "updated"

    def index_age(self) -> float | None:
        stamp = self._stamp()
        return time.time() - stamp.stat().st_mtime if stamp.exists() else None

    def update(self) -> None:
        print("provision: updating the private Debian source index (apt-get update)", file=sys.stderr)
        proc = self._run(["apt-get", "-q", "update"])
        failed = [
            line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if line.startswith(("E:", "Err:"))
        ]
        if proc.returncode != 0 or failed:
            raise UsageError(
                "apt-get update of the private Debian source index failed "
                f"({(failed or proc.stderr.strip().splitlines() or ['exit ' + str(proc.returncode)])[0]}); "
                "check the network or build it from a tarball with 'azihsm-conformance openssl provision VERSION --source TARBALL|URL'"
            )
        self._stamp().touch()

    def ensure_index(self, refresh: bool = False) -> None:
        self.prepare()
        age = self.index_age()
        if refresh or age is None or age > INDEX_MAX_AGE_SECONDS:
            self.update()

    def source_versions(self, package: str = "openssl") -> list[str]:
        """Debian versions of PACKAGE's source in the private index, in index order."""
        proc = self._run(["apt-cache", "showsrc", package])
        versions = []
        for line in proc.stdout.splitlines():
            if line.startswith("Version: "):
                version = line.split(":", 1)[1].strip()
                if version not in versions:
                    versions.append(version)
        return versions

    def source_files(self, package: str, debian_version: str) -> list[RemoteFile]:
        """The files of one source version, with SHA256 from the verified index."""
        proc = self._run(["apt-get", "-qq", "source", "--print-uris", f"{package}={debian_version}"])
        files = []
        for line in proc.stdout.splitlines():
            words = shlex.split(line)
            if len(words) == 4 and words[3].startswith("SHA256:"):
                files.append(RemoteFile(words[0], words[1], int(words[2]), words[3].split(":", 1)[1].lower()))
        if proc.returncode != 0 or not files:
            reason = (proc.stderr.strip().splitlines() or ["no files listed"])[-1]
            raise UsageError(f"apt cannot list the source files of {package} {debian_version} ({reason})")
        return files

    def download(self, remote: RemoteFile, target: Path) -> None:
        """Download REMOTE with apt's own transport (proxy settings apply) and check its hash."""
        partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
        helper = shutil.which("apt-helper") or "/usr/lib/apt/apt-helper"
        try:
            proc = self._run([helper, "download-file", remote.uri, str(partial), f"SHA256:{remote.sha256}"])
            if proc.returncode != 0:
                output = (proc.stdout + proc.stderr).strip().splitlines()
                reason = (output or [f"exit {proc.returncode}"])[-1]
                if any(" 404 " in line for line in output):
                    reason = "the mirror does not serve it (404 Not Found)"
                raise UsageError(
                    f"downloading {remote.name} failed: {reason}; pick another version "
                    "(azihsm-conformance openssl available) or build it from a tarball with 'azihsm-conformance openssl provision VERSION --source TARBALL|URL'"
                )
            actual = sha256_of(partial)
            if actual != remote.sha256 or partial.stat().st_size != remote.size:
                raise UsageError(
                    f"{remote.name} does not match the signed Sources index (sha256 {actual}, expected "
                    f"{remote.sha256}); delete {self.root} and retry, or pass --source"
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess:
        command = [argv[0], *self.options(), *argv[1:]]
        env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
        try:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=APT_TIMEOUT_SECONDS,
                env=env,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
            )
        except FileNotFoundError:
            raise UsageError(
                f"{argv[0]} is not installed; on a non-Debian machine build from a tarball with 'azihsm-conformance openssl provision VERSION --source TARBALL|URL'"
            ) from None
        except subprocess.TimeoutExpired:
            raise UsageError(
                f"{argv[0]} took more than {APT_TIMEOUT_SECONDS}s; check the network or build from a tarball with 'azihsm-conformance openssl provision VERSION --source TARBALL|URL'"
            ) from None


# --- versions -------------------------------------------------------------------------


def upstream_of(debian_version: str) -> str:
    """``1:3.5.7-1~deb13u2`` -> ``3.5.7``."""
    without_epoch = debian_version.split(":", 1)[-1]
    return without_epoch.rsplit("-", 1)[0] if "-" in without_epoch else without_epoch


def is_debian_like() -> bool:
    return shutil.which("apt-get") is not None and SYSTEM_APT_DIR.is_dir()


def fetch_debian_tarball(
    apt: PrivateApt, upstream: str, debian_version: str | None, downloads: Path
) -> tuple[Path, str]:
    """Download (once) and verify the upstream tarball of OpenSSL UPSTREAM from Debian.

    DEBIAN_VERSION pins the exact source upload; without it the newest upload of UPSTREAM
    in the index is used. A version missing from the index fails fast with the list of
    versions that are there. Returns the tarball and the Debian version it came from.
    """
    with apt.lock():
        return _fetch_debian_tarball(apt, upstream, debian_version, downloads)


def _fetch_debian_tarball(
    apt: PrivateApt, upstream: str, debian_version: str | None, downloads: Path
) -> tuple[Path, str]:
    apt.ensure_index()
    versions = apt.source_versions()
    wanted = debian_version or _newest_upload(versions, upstream)
    if wanted not in versions and apt.index_age() is not None and apt.index_age() > 60:
        apt.ensure_index(refresh=True)  # the index may predate the upload we look for
        versions = apt.source_versions()
        wanted = debian_version or _newest_upload(versions, upstream)
    if wanted is None or wanted not in versions:
        have = ", ".join(sorted({upstream_of(v) for v in versions}, key=version_key)) or "none"
        what = f"Debian source {debian_version}" if debian_version else "any Debian source upload"
        raise UsageError(
            f"OpenSSL {upstream} ({what}) is not in the Debian Sources index (it has: {have}); "
            "Debian has superseded the pin: ask for one of those versions, or build it from a tarball with 'azihsm-conformance openssl provision VERSION --source TARBALL|URL'"
        )
    files = apt.source_files("openssl", wanted)
    orig = [f for f in files if re.fullmatch(rf"openssl_{re.escape(upstream)}\.orig\.tar\.(gz|xz)", f.name)]
    if not orig:
        raise UsageError(f"the Debian source {wanted} has no upstream tarball of OpenSSL {upstream}; pass --source")
    remote = orig[0]
    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / remote.name
    if not (target.exists() and sha256_of(target) == remote.sha256):
        print(
            f"provision: downloading {remote.name} ({remote.size // 1_000_000} MB) from Debian {wanted}",
            file=sys.stderr,
        )
        apt.download(remote, target)
    return target, wanted


def _newest_upload(debian_versions: list[str], upstream: str) -> str | None:
    matching = [v for v in debian_versions if upstream_of(v) == upstream]
    if not matching:
        return None
    return max(matching, key=_debian_revision_key)


def _debian_revision_key(debian_version: str) -> tuple:
    # enough for OpenSSL's revisions ("1", "1~deb13u2"): a "~" sorts before everything
    revision = debian_version.rsplit("-", 1)[-1]
    base, _, backport = revision.partition("~")
    return (version_key(base), 0 if backport else 1, version_key(backport))
