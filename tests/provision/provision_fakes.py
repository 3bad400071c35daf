"""Fake OpenSSL source trees and a fake Debian archive for provisioning tests.

The fake source tree has OpenSSL's shape (VERSION.dat, Configure, a Makefile with build_sw,
install_sw and install_ssldirs) but its "build" is a few shell commands, so the lock,
atomic-install and failure paths run in milliseconds with the real ``make``. The fake
archive puts apt-get/apt-cache/apt-helper stand-ins on PATH that serve file:// uploads.
"""

from __future__ import annotations

import hashlib
import stat
import tarfile
from pathlib import Path

CONFIGURE = r"""#!/bin/sh
# fake OpenSSL Configure: writes a Makefile driving fake-build.sh
src=$(cd "$(dirname "$0")" && pwd)
prefix=
for arg in "$@"; do
    case "$arg" in --prefix=*) prefix="${arg#--prefix=}" ;; esac
done
cat > Makefile <<EOF
build_sw:
	sh $src/fake-build.sh build "$prefix" ""
install_sw:
	sh $src/fake-build.sh install_sw "$prefix" "\$(DESTDIR)"
install_ssldirs:
	sh $src/fake-build.sh install_ssldirs "$prefix" "\$(DESTDIR)"
EOF
"""

FAKE_BUILD = r"""#!/bin/sh
# fake compile/install steps; FAKE_FAIL_STEP makes one of them fail, FAKE_BUILD_COUNTER
# counts compiles, FAKE_LIBRARY_VERSION makes the installed binary report another libcrypto
set -e
step=$1 prefix=$2 destdir=$3
[ "$step" = "${FAKE_FAIL_STEP:-none}" ] && { echo "fake-build: $step failed on purpose" >&2; exit 3; }
case "$step" in
build)
    [ -n "$FAKE_BUILD_COUNTER" ] && echo built >> "$FAKE_BUILD_COUNTER"
    sleep "${FAKE_BUILD_SECONDS:-0}"
    ;;
install_sw)
    mkdir -p "$destdir$prefix/bin" "$destdir$prefix/lib/ossl-modules"
    lib=${FAKE_LIBRARY_VERSION:-@VERSION@}
    printf '#!/bin/sh\necho "OpenSSL @VERSION@ 1 Jan 2026 (Library: OpenSSL %s 1 Jan 2026)"\n' "$lib" > "$destdir$prefix/bin/openssl"
    chmod +x "$destdir$prefix/bin/openssl"
    ;;
install_ssldirs)
    mkdir -p "$destdir$prefix/ssl"
    echo ".include /etc/ssl/openssl.cnf" > "$destdir$prefix/ssl/openssl.cnf"
    ;;
esac
"""


def make_source_tree(where: Path, version: str) -> Path:
    """A directory shaped like openssl-VERSION/ whose build takes milliseconds."""
    major, minor, patch = version.split(".")
    tree = where / f"openssl-{version}"
    tree.mkdir(parents=True)
    (tree / "VERSION.dat").write_text(
        f'MAJOR={major}\nMINOR={minor}\nPATCH={patch}\nPRE_RELEASE_TAG=\nRELEASE_DATE="1 Jan 2026"\n'
    )
    for name, text in (("Configure", CONFIGURE), ("fake-build.sh", FAKE_BUILD.replace("@VERSION@", version))):
        path = tree / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return tree


def make_tarball(tree: Path, into: Path) -> Path:
    tarball = into / f"{tree.name}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tree, arcname=tree.name)
    return tarball


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


FAKE_APT_GET = r"""#!/bin/sh
# fake apt-get: 'update' succeeds, 'source --print-uris pkg=ver' lists $FAKE_APT/<ver>.uris
for arg in "$@"; do last=$arg; done
case " $* " in
*" update "*) echo "$*" >> "$FAKE_APT/calls"; exit 0 ;;
*" --print-uris "*)
    version=${last#openssl=}
    [ -f "$FAKE_APT/$version.uris" ] || { echo "E: Can not find version '$version' of package 'openssl'" >&2; exit 100; }
    cat "$FAKE_APT/$version.uris" ;;
esac
"""

FAKE_APT_CACHE = r"""#!/bin/sh
# fake apt-cache showsrc: one Version line per *.uris file
for f in "$FAKE_APT"/*.uris; do [ -f "$f" ] && printf 'Package: openssl\nVersion: %s\n\n' "$(basename "$f" .uris)"; done
exit 0
"""

FAKE_APT_HELPER = r"""#!/bin/sh
# fake apt-helper download-file URI TARGET HASH: copies file:// URIs, 404 for missing ones
while [ "$1" = "-o" ]; do shift 2; done
[ "$1" = download-file ] || exit 1
path=${2#file://}
[ -f "$path" ] || { echo "Err:1 $2"; echo "  404  Not Found"; echo "E: Download Failed" >&2; exit 100; }
cp "$path" "$3"
"""


class FakeArchive:
    """A Debian-archive stand-in: fake apt tools on PATH serving uploads from a directory."""

    def __init__(self, root: Path):
        self.root = root
        self.pool = root / "pool"
        self.pool.mkdir(parents=True)

    def add_upload(
        self, debian_version: str, tarball: Path | None, served: bool = True, sha256: str | None = None
    ) -> None:
        """List an upload in the index; SERVED=False lists it without serving its file."""
        upstream = debian_version.split("-")[0]
        name = f"openssl_{upstream}.orig.tar.gz"
        target = self.pool / name
        digest = sha256 or (sha256_hex(tarball) if tarball else "0" * 64)
        size = tarball.stat().st_size if tarball else 1
        if served and tarball:
            target.write_bytes(tarball.read_bytes())
        lines = [
            f"'file://{self.pool}/openssl_{debian_version}.dsc' openssl_{debian_version}.dsc 10 SHA256:{'1' * 64}",
            f"'file://{target}' {name} {size} SHA256:{digest}",
        ]
        (self.root / f"{debian_version}.uris").write_text("\n".join(lines) + "\n")

    def update_calls(self) -> int:
        calls = self.root / "calls"
        return len(calls.read_text().splitlines()) if calls.exists() else 0


def builds_done(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0
