from __future__ import annotations

import pytest
from suite_collection import collect_suite


@pytest.fixture(scope="session")
def collected(tmp_path_factory) -> list[dict]:
    return collect_suite(tmp_path_factory.mktemp("collect"))


def pytest_configure(config: pytest.Config) -> None:
    # the harness plugin registers this marker for conformance runs; the suite's helper
    # modules (conformance.matrix) also build it when the project's own tests import them
    config.addinivalue_line("markers", "quick: the representative case(s) of a clause at --level quick")
