"""Fixtures the conformance modules share: keys, data and the vector root.

The harness plugin (harness/plugin/) provides ``openssl``, ``workdir``, ``backend``,
``observe``, ``openssl_version`` and the ``clause`` / ``quick`` / ``slow`` markers; this file
activates it (the plugin stays dormant in other pytest runs) and adds what belongs to the
suite itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from azihsm_conformance.conformance.vectors import absent_families, wycheproof_root
from azihsm_conformance.fixtures.loaders import DEFAULT_WYCHEPROOF_ROOT

# registered before anything imports it, so pytest can rewrite its asserts
pytest_plugins = ["azihsm"]  # the harness plugin (its pytest11 entry point)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("azihsm-vectors", "azihsm conformance vectors")
    group.addoption(
        "--azihsm-wycheproof-root",
        default=None,
        help=f"directory holding Wycheproof testvectors_v1 JSON files (default: $AZIHSM_WYCHEPROOF_ROOT, then {DEFAULT_WYCHEPROOF_ROOT})",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.is_blocked("azihsm"):
        return  # collected without the harness (tests/conformance): no backend to resolve
    from azihsm_conformance.harness.plugin.target import activate

    activate(config)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    missing = absent_families(wycheproof_root(config))
    if missing:
        terminalreporter.write_line(
            f"azihsm: Wycheproof families absent under {wycheproof_root(config)} (their cases were reported as inconclusive): "
            + ", ".join(missing),
            yellow=True,
        )


@pytest.fixture(scope="session")
def software_keys():
    from azihsm_conformance.conformance.keys import SoftwareKeys

    return SoftwareKeys()


@pytest.fixture(scope="session")
def _key_ring(tmp_path_factory: pytest.TempPathFactory, software_keys):
    from azihsm_conformance.conformance.keys import KeyRing

    # tmp_path_factory is per run and per xdist worker: each worker has its own keys
    return KeyRing(tmp_path_factory.mktemp("keyring"), software_keys)


@pytest.fixture
def keys(openssl, _key_ring, backend, backend_values):
    """Shared backend keys and masked secrets (conformance.keys.KeyMaker), made on first use."""
    from azihsm_conformance.conformance.keys import KeyMaker

    return KeyMaker(openssl, _key_ring, backend, backend_values)


@pytest.fixture
def data(workdir: Path) -> Path:
    """A 1010-byte message file in the working directory (not a multiple of any block size)."""
    path = workdir / "data.bin"
    path.write_bytes(bytes(range(256)) * 3 + b"azihsm conformance message" * 9 + b"!" * 8)
    return path
