"""pytest-xdist: every worker receives the controller's target file, so workers neither
resolve the backend again nor load the provider (and cannot drift to another build)."""

from __future__ import annotations

import pytest

from azihsm_conformance.harness.plugin.target import STATE, TARGET_KEY


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    state = node.config.stash.get(STATE, None)
    if state is not None:
        node.workerinput[TARGET_KEY] = str(state.target_file)
