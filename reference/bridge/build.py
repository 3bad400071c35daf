"""Build ``azihsm_provider.so`` on demand and cache it, in either mode.

* ``server`` (the default): ``provider.c`` + ``client.c`` + one stub per line of
  ``externs.h``, compiled by ``cc`` into a module with no interpreter; every call goes to
  the device server (``server.py``), which the module starts when it needs one.
* ``in-process``: ``provider.c`` + ``embed.c``, compiled with cffi's embedding mode; the
  Python side runs inside the ``openssl`` process (what a debugger wants).

A build is cached under a directory keyed by a hash of its generated source and of
everything baked into the binary (Python paths and version, cffi version, OpenSSL
headers), so a changed source or a different interpreter gets a fresh build and an
unchanged one costs a stat.

Two builders racing (pytest-xdist workers, parallel CI jobs) each compile into a private
temporary directory and rename it into place; the loser discards its copy, so both end up
with the same complete module and nobody ever sees a half-written one.

Public API: ``provider_dir(mode="server") -> pathlib.Path`` (the directory to pass to
``-provider-path``), ``in_process_provider_dir()``, ``MODES``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
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
SOURCES = ("provider.c", "externs.h", "build.py", "embed.c", "client.c", "protocol.py")
MODES = ("server", "in-process")

# Types, constants and C helpers the Python side uses (implemented in provider.c).
CDEF = """
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


def provider_dir(mode: str = "server") -> Path:
    """The directory holding a current ``azihsm_provider.so`` of MODE (built if needed)."""
    if mode not in MODES:
        raise BuildError(f"unknown provider mode {mode!r}: use one of {', '.join(MODES)}")
    config = _baked_config()
    config["mode"] = mode
    target = cache_root() / _build_key(config)
    if (target / MODULE_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        if mode == "server":
            _compile_client(staging, config)
        else:
            _compile(staging, config)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / MODULE_FILE).is_file():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def in_process_provider_dir() -> Path:
    """The in-process build (a profile's ``path_from`` names a function without arguments)."""
    return provider_dir("in-process")


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
    if config["mode"] == "server":  # answers baked into the client
        digest.update(_client_tables().encode())
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


def _provider_source(defines: dict[str, str], mode_code: str) -> str:
    """provider.c with the BRIDGE_* macros, the externs.h declarations and the mode's code."""
    from . import protocol

    prologue = "".join(f"#define {name} {_c_string(str(value))}\n" for name, value in defines.items())
    prologue += "".join(f"static {decl};\n" for decl in protocol.declarations())
    source = (PACKAGE_DIR / "provider.c").read_text()
    return source.replace("/* @BRIDGE_PROLOGUE@ */", prologue, 1).replace("/* @BRIDGE_MODE@ */", mode_code, 1)


def _sources(config: dict[str, object]) -> tuple[str, str]:
    """(cdef, C source) for cffi (in-process mode)."""
    from . import protocol

    cdef = (
        protocol.OSSL_PARAM_CDEF
        + CDEF
        + 'extern "Python" {\n'
        + "".join(f"{decl};\n" for decl in protocol.declarations())
        + "}\n"
    )
    defines = {
        "BRIDGE_PYTHON_PATHS": "\n".join(config["python_paths"]),
        "BRIDGE_PYTHON_HOME": config["python_home"],
        "BRIDGE_PYTHON_EXE": config["python_exe"],
        "BRIDGE_LIBPYTHON": config["libpython"],
    }
    return cdef, _provider_source(defines, (PACKAGE_DIR / "embed.c").read_text())


# The device server's start: the baked search path first (as the embedded interpreter's),
# then the package's own main.
SERVER_BOOT = """import os, sys
extra = os.environ.get("AZIHSM_BRIDGE_PYTHONPATH", "")
sys.path[:0] = [p for p in extra.split(":") if p] + {paths!r}
try:
    from azihsm_conformance.reference.bridge.server import main
except BaseException as exc:
    os.write(4, ("cannot import the reference bridge: %s: %s" % (type(exc).__name__, exc)).encode()[:900] + b"\\n")
    raise SystemExit(1)
main(sys.argv[1:])
"""


def _client_source(config: dict[str, object], build_key: str) -> str:
    """The C source of the server-mode module."""
    defines = {
        "BRIDGE_PYTHON_EXE": config["python_exe"],
        "BRIDGE_SERVER_BOOT": SERVER_BOOT.format(paths=list(config["python_paths"])),
        "BRIDGE_SERVER_NAME": f".azihsm-server-{build_key[:12]}",
        "BRIDGE_BUILD_KEY": build_key,
    }
    from . import protocol

    mode_code = "".join(f"#define BRIDGE_FN_{f.name} {f.index}\n" for f in protocol.functions())
    mode_code += (PACKAGE_DIR / "client.c").read_text()
    mode_code = mode_code.replace("/* @BRIDGE_TABLES@ */", _client_tables(), 1)
    mode_code = mode_code.replace("/* @BRIDGE_STUBS@ */", _client_stubs(), 1)
    return _provider_source(defines, mode_code)


def _baked_params(name: str, values: dict[str, object]) -> str:
    rows = []
    for key, value in values.items():
        value = value() if callable(value) else value
        if isinstance(value, str):
            rows.append(f"    {{ {_c_string(key)}, 1, 0, {_c_string(value)} }},\n")
        else:
            rows.append(f"    {{ {_c_string(key)}, 0, {int(value)}LL, NULL }},\n")
    return f"static const baked_param {name}[] = {{\n{''.join(rows)}    {{ NULL, 0, 0, NULL }}\n}};\n"


def _client_tables() -> str:
    """What the client answers without the server: identity, digest and AES parameters,
    reason strings, and the provider-section keys it forwards."""
    from azihsm_conformance.reference.device import Reason

    from . import config, digest, identity, skey
    from .errors import BridgeReason

    out = [_baked_params("identity_answers", identity.provider_params())]
    for family, names, values in (
        ("digest", digest.NAMES, digest.fixed_params),
        ("aes", tuple(skey.CIPHERS), skey.cipher_params),
    ):
        symbols = []
        for name in names:
            symbol = f"{family}_{name.lower().replace('-', '_')}"
            out.append(_baked_params(symbol, values(name)))
            symbols.append(f"    {{ {_c_string(name)}, {symbol} }},\n")
        out.append(f"static const baked_answers {family}_answers[] = {{\n{''.join(symbols)}    {{ NULL, NULL }}\n}};\n")
    reasons = [*Reason, *BridgeReason]
    out.append(
        "static const baked_reason baked_reasons[] = {\n"
        + "".join(f"    {{ {int(r)}, {_c_string(r.slug)} }},\n" for r in reasons)
        + "};\n"
        + f"static const int baked_reason_count = {len(reasons)};\n"
    )
    for symbol, keys in (("config_keys", config.KEYS), ("provisioned_keys", tuple(config.FILE_KEYS))):
        out.append(f"static const char *const {symbol}[] = {{ {', '.join(_c_string(k) for k in keys)}, NULL }};\n")
    return "".join(out)


_STUB_FAILURE = {"INT": ("int", "0"), "HANDLE": ("void *", "NULL"), "STR": ("const char *", "NULL")}
_STUB_RESULT = {
    "INT": "(int)get_i64(&c.rep)",
    "HANDLE": "(void *)(uintptr_t)get_u64(&c.rep)",
    "STR": "get_str(&c)",
}
_STUB_PUT = {
    "INT": "put_i64(&c.req, {0});",
    "INSTANCE": "put_instance(&c, {0});",
    "HANDLE": "put_u64(&c.req, (uint64_t)(uintptr_t){0});",
    "STR": "put_str(&c.req, {0});",
    "BYTES": "put_blob(&c.req, {0}, {1});",
    "OUTBUF": "put_u8(&c.req, {0} == NULL);\n    put_u64(&c.req, {2});",
    "FIXEDOUT": "put_u64(&c.req, {1});",
    "PARAMS": "put_params(&c, {0}, 1);",
    "REQUEST": "put_params(&c, {0}, 0);",
    "CALLBACK": "c.cb = {0};\n    c.cbarg = {1};",
    "BIO": "c.cbio = {0};",
}
_STUB_GET = {
    "OUTBUF": "get_outbuf(&c, {0}, {1}, {2});",
    "FIXEDOUT": "get_fixed(&c, {0}, {1});",
    "REQUEST": "get_answers(&c, {0});",
}


def _client_stubs() -> str:
    """One C function per externs.h line: the request, then the reply's outputs."""
    from . import protocol

    out = []
    for function in protocol.functions():
        if function.name in protocol.LOCAL:
            continue
        puts, gets = [], []
        for kind, params in function.kinds:
            names = [p.name for p in params]
            if kind not in _STUB_PUT:
                raise BuildError(f"externs.h: {function.name}: a {kind} argument cannot cross to the server")
            puts.append("    " + _STUB_PUT[kind].format(*names))
            if kind in _STUB_GET:
                gets.append("        " + _STUB_GET[kind].format(*names))
        body = [f"static {function.declaration}\n{{\n    rpc c;\n"]
        if function.replies:
            ctype, failure = _STUB_FAILURE[function.returns]
            body.append(f"    {ctype} result = {failure};\n\n")
        body.append(f'    rpc_begin(&c, {function.index}, "{function.name}");\n')
        body.append("\n".join(puts) + "\n")
        if function.replies:
            body.append("    if (rpc_call(&c, 1)) {\n")
            body.append(f"        result = {_STUB_RESULT[function.returns]};\n")
            body.append("".join(g + "\n" for g in gets))
            body.append(f"        if (!rpc_finish(&c))\n            result = {failure};\n    }}\n")
            body.append("    rpc_end(&c);\n    return result;\n}\n")
        else:
            body.append("    rpc_call(&c, 0);\n    rpc_end(&c);\n}\n")
        out.append("\n" + "".join(body))
    return "".join(out)


def _compile_client(staging: Path, config: dict[str, object]) -> None:
    """Server mode: a plain shared object (no Python inside), compiled by $CC or cc."""
    source_path = staging / "azihsm_provider.c"
    source_path.write_text(_client_source(config, _build_key(config)))
    log_path = cache_root() / f"build-{staging.name.lstrip('.')}.log"
    command = [
        os.environ.get("CC") or "cc",
        "-shared",
        "-fPIC",
        "-O2",
        "-fvisibility=hidden",
        "-D_GNU_SOURCE",
        "-Wall",
        "-I",
        str(_openssl_include()),
        "-o",
        str(staging / MODULE_FILE),
        str(source_path),
        "-lpthread",
    ]
    try:
        result = subprocess.run(command, capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"cannot run the C compiler {command[0]!r}: {exc}; install gcc or set CC") from exc
    if result.returncode != 0:
        log_path.write_bytes(b" ".join(a.encode() for a in command) + b"\n" + result.stdout + result.stderr)
        raise BuildError(
            f"compiling {MODULE_FILE} failed (server mode); see {log_path} "
            f"(needs OpenSSL headers in {_openssl_include()}: install libssl-dev or set {OPENSSL_INCLUDE_ENV})"
        )


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
