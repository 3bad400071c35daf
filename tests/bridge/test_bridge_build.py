"""Building the module: cached by source hash, safe under concurrent builders, and the
``provider-path`` subcommand that prints the directory for ``-provider-path``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from azihsm_conformance.reference.bridge import build

pytestmark = pytest.mark.bridge

BUILD_ONE = "from azihsm_conformance.reference.bridge.build import provider_dir; print(provider_dir())"


def test_provider_dir_is_cached(provider_dir, provider_mode):
    module = provider_dir / build.MODULE_FILE
    before = module.stat().st_mtime_ns
    assert build.provider_dir(provider_mode) == provider_dir
    assert module.stat().st_mtime_ns == before
    assert provider_dir.parent == build.cache_root()


@pytest.mark.parametrize("mode", build.MODES)
def test_cache_key_follows_sources(mode):
    config = dict(build._baked_config(), mode=mode)
    key = build._build_key(config)
    assert build._build_key(config) == key
    assert build._build_key(dict(config, python_exe="/elsewhere/python")) != key
    other = "in-process" if mode == "server" else "server"
    assert build._build_key(dict(config, mode=other)) != key


def test_concurrent_builders_share_one_valid_module(tmp_path):
    env = dict(os.environ, AZIHSM_PROVIDER_CACHE=str(tmp_path / "cache"))
    builders = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_ONE], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [b.communicate(timeout=300) for b in builders]
    assert all(b.returncode == 0 for b in builders), outputs
    paths = {out.strip() for out, _err in outputs}
    assert len(paths) == 1
    directory = Path(paths.pop())
    assert (directory / build.MODULE_FILE).is_file()
    leftovers = [p.name for p in directory.parent.iterdir() if p != directory]
    assert leftovers == []
    (tmp_path / "dev").mkdir()
    proc = subprocess.run(
        ["openssl", "list", "-providers", "-provider-path", str(directory), "-provider", "azihsm_provider"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(env, AZIHSM_DEVICE_DIR=str(tmp_path / "dev")),
    )
    assert proc.returncode == 0 and "name: azihsm" in proc.stdout, proc.stderr


def test_provider_path_subcommand_prints_only_the_directory(provider_dir, provider_mode):
    proc = subprocess.run(
        [sys.executable, "-m", "azihsm_conformance.harness.cli", "provider-path", "--mode", provider_mode],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{provider_dir}\n"


def test_build_failure_is_one_clear_line(tmp_path):
    env = dict(os.environ, AZIHSM_PROVIDER_CACHE=str(tmp_path / "cache"), CC="false")  # a compiler that always fails
    proc = subprocess.run(
        [sys.executable, "-m", "azihsm_conformance.harness.cli", "provider-path"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "compiling azihsm_provider.so failed" in lines[0] and ".log" in lines[0]
    assert not list((tmp_path / "cache").glob("*/azihsm_provider.so"))


def test_module_needs_no_libcrypto_symbol(provider_dir):
    """The module must load into any host, including one that opened libcrypto with
    RTLD_LOCAL (Python's ctypes): everything it needs from OpenSSL comes through the core
    dispatch table, never from a libcrypto symbol."""
    undefined = subprocess.run(
        ["nm", "-D", "--undefined-only", str(provider_dir / build.MODULE_FILE)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    openssl_symbols = [name for name in undefined if name.startswith(("OSSL_", "EVP_", "ERR_", "BIO_", "CRYPTO_"))]
    assert openssl_symbols == []
