"""A pytest plugin that collects the conformance suite without any backend.

Loaded by tests/conformance/test_suite_shape.py in a child pytest with the harness plugin
blocked: it registers the suite's markers and writes what was collected (node id, clause
markers, level markers, parameter names and id) as JSON to $AZIHSM_COLLECT_OUT.
"""

from __future__ import annotations

import json
import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "clause(id): clause",
        "inconclusive(reason): undecidable",
        "quick: quick level",
        "slow: full level only",
        "hostile: the hostile-input campaign",
    ):
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(session, config, items) -> None:
    records = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        records.append(
            {
                "nodeid": item.nodeid,
                "function": item.originalname if hasattr(item, "originalname") else item.name,
                "clauses": [list(mark.args) for mark in item.iter_markers("clause")],
                "quick": item.get_closest_marker("quick") is not None,
                "slow": item.get_closest_marker("slow") is not None,
                "inconclusive": [str(mark.args[0]) for mark in item.iter_markers("inconclusive")],
                "argnames": sorted(callspec.params) if callspec else [],
                "id": callspec.id if callspec else "",
            }
        )
    with open(os.environ["AZIHSM_COLLECT_OUT"], "w") as handle:
        json.dump(records, handle)
