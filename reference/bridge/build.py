"""Build ``azihsm_provider.so`` on demand and cache it.

The module is compiled with cffi's embedding mode from ``provider.c`` (the thin C layer)
and ``externs.h`` (the Python functions it calls). It is cached under a directory keyed
by a hash of those sources and of everything baked into the binary (Python paths and
version, cffi version, OpenSSL headers), so a changed source or a different interpreter
gets a fresh build and an unchanged one costs a stat.

Two builders racing (pytest-xdist workers, parallel CI jobs) each compile into a private
temporary directory and rename it into place; the loser discards its copy, so both end up
with the same complete module and nobody ever sees a half-written one.

Public API: ``provider_dir() -> pathlib.Path`` (the directory to pass to
``-provider-path``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent.parent
MODULE_NAME = "_azihsm_provider"  # the cffi module name inside the .so
MODULE_FILE = "azihsm_provider.so"  # what `-provider azihsm_provider` loads
CACHE_ENV = "AZIHSM_PROVIDER_CACHE"
OPENSSL_INCLUDE_ENV = "AZIHSM_OPENSSL_INCLUDE"
SOURCES = ("provider.c", "externs.h", "build.py")

# Types, constants and C helpers the Python side uses (implemented in provider.c).
CDEF = """
typedef struct {
    const char *key;
    unsigned int data_type;
    void *data;
    size_t data_size;
    size_t return_size;
} OSSL_PARAM;
typedef int (OSSL_CALLBACK)(const OSSL_PARAM params[], void *arg);

#define OSSL_PARAM_INTEGER ...
#define OSSL_PARAM_UNSIGNED_INTEGER ...
#define OSSL_PARAM_UTF8_STRING ...
#define OSSL_PARAM_OCTET_STRING ...
#define OSSL_PARAM_UTF8_PTR ...
#define OSSL_PARAM_OCTET_PTR ...
#define OSSL_KEYMGMT_SELECT_PRIVATE_KEY ...
#define OSSL_KEYMGMT_SELECT_PUBLIC_KEY ...
#define OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS ...
#define OSSL_KEYMGMT_SELECT_OTHER_PARAMETERS ...
#define OSSL_OBJECT_PKEY ...
#define OSSL_STORE_INFO_PUBKEY ...
#define OSSL_STORE_INFO_PKEY ...

void bridge_put_error(void *cprov, int reason, const char *func, const char *message);
int bridge_bio_write(void *cprov, void *cbio, const unsigned char *data, size_t len);
const char *bridge_core_param(void *cprov, const char *name);
int bridge_add_reason(int code, const char *text);
"""

# Runs inside the embedded interpreter on the first call into Python. It must never
# raise: a failure becomes an OpenSSL error from provider init, not a traceback.
INIT_CODE = """
import sys
for _path in reversed({paths!r}):
    if _path not in sys.path:
        sys.path.insert(0, _path)
from {module} import ffi, lib
try:
    from azihsm_conformance.reference.bridge import externs
    externs.install(ffi, lib)
except BaseException as _exc:
    _reason = " ".join(f"{{type(_exc).__name__}}: {{_exc}}".split())

    @ffi.def_extern()
    def py_provider_init(cprov, instance):
        message = ("cannot import the reference bridge from {root}: " + _reason
                   + "; reinstall the project or rebuild with `azihsm-conformance provider-path`")
        lib.bridge_put_error(cprov, 250, b"OSSL_provider_init", message.encode("utf-8", "replace"))
        return 0
"""


class BuildError(Exception):
    """The module could not be built; the message says why and where the log is."""


def provider_dir() -> Path:
    """The directory holding a current ``azihsm_provider.so`` (built if needed)."""
    config = _baked_config()
    target = cache_root() / _build_key(config)
    if (target / MODULE_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        _compile(staging, config)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / MODULE_FILE).is_file():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def cache_root() -> Path:
    """``$AZIHSM_PROVIDER_CACHE`` or ``$XDG_CACHE_HOME/azihsm-conformance/provider``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser().resolve() / "azihsm-conformance" / "provider"


def _openssl_include() -> Path:
    return Path(os.environ.get(OPENSSL_INCLUDE_ENV) or "/usr/include")


def _baked_config() -> dict[str, object]:
    """Everything the binary hard-codes about the interpreter that will run it."""
    paths = sysconfig.get_paths()
    stdlib, platstdlib = paths["stdlib"], paths["platstdlib"]
    search = [str(PROJECT_ROOT)]
    for entry in (
        str(Path(stdlib).parent / f"python{sys.version_info[0]}{sys.version_info[1]}.zip"),
        stdlib,
        platstdlib,
        str(Path(stdlib) / "lib-dynload"),
        paths["purelib"],
        paths["platlib"],
    ):
        if entry not in search:
            search.append(entry)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY")
    return {
        "python_paths": search,
        "python_home": sys.base_prefix,
        "python_exe": sys.executable,
        "libpython": soname,
        "libdir": libdir,
        "python_version": sys.version,
        "cffi_version": _cffi_version(),
        "openssl_include": str(_openssl_include()),
    }


def _cffi_version() -> str:
    try:
        import cffi
    except ImportError as exc:
        raise BuildError("cffi is not installed in this Python; run `make venv`") from exc
    return cffi.__version__


def _build_key(config: dict[str, object]) -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (PACKAGE_DIR / name).read_bytes() + b"\0")
    digest.update(repr(sorted(config.items())).encode())
    header = _openssl_include() / "openssl" / "opensslv.h"
    if header.is_file():
        digest.update(header.read_bytes())
    return digest.hexdigest()[:20]


def _c_string(text: str) -> str:
    """A C string literal for any text (octal escapes outside printable ASCII)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\' or not 32 <= byte < 127:
            out.append(f"\\{byte:03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _sources(config: dict[str, object]) -> tuple[str, str]:
    """(cdef, C source) for cffi."""
    # one declaration per entry, however clang-format wrapped it
    header = "\n".join(
        line
        for line in (PACKAGE_DIR / "externs.h").read_text().splitlines()
        if not line.lstrip().startswith(("/*", "*"))
    )
    externs = [" ".join(decl.split()) + ";" for decl in header.split(";") if decl.strip()]
    cdef = CDEF + 'extern "Python" {\n' + "\n".join(externs) + "\n}\n"
    defines = {
        "BRIDGE_PYTHON_PATHS": "\n".join(config["python_paths"]),
        "BRIDGE_PYTHON_HOME": config["python_home"],
        "BRIDGE_PYTHON_EXE": config["python_exe"],
        "BRIDGE_LIBPYTHON": config["libpython"],
    }
    prologue = "".join(f"#define {name} {_c_string(str(value))}\n" for name, value in defines.items())
    prologue += "".join(f"static {decl}\n" for decl in externs)
    source = (PACKAGE_DIR / "provider.c").read_text().replace("/* @BRIDGE_PROLOGUE@ */", prologue, 1)
    return cdef, source


def _compile(staging: Path, config: dict[str, object]) -> None:
    import cffi

    cdef, source = _sources(config)
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.embedding_init_code(INIT_CODE.format(paths=config["python_paths"], module=MODULE_NAME, root=str(PROJECT_ROOT)))
    libdir = str(config["libdir"])
    ffi.set_source(
        MODULE_NAME,
        source,
        include_dirs=[str(_openssl_include())],
        extra_compile_args=["-O2", "-fvisibility=hidden"],
        extra_link_args=[f"-Wl,-rpath,{libdir}"] if libdir else [],
    )
    workdir = staging / "build"
    log_path = cache_root() / f"build-{staging.name.lstrip('.')}.log"
    try:
        with _output_to(log_path):
            built = ffi.compile(tmpdir=str(workdir), target="azihsm_provider.*")
    except Exception as exc:
        raise BuildError(
            f"compiling {MODULE_FILE} failed ({type(exc).__name__}); see {log_path} "
            f"(needs gcc and OpenSSL headers in {_openssl_include()}: install libssl-dev "
            f"or set {OPENSSL_INCLUDE_ENV})"
        ) from exc
    os.replace(built, staging / MODULE_FILE)
    shutil.rmtree(workdir, ignore_errors=True)
    log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def _output_to(log_path: Path):
    """Send the compiler's chatter (fd 1 and 2) to a log, so stdout stays clean for
    ``$(azihsm-conformance provider-path)``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
