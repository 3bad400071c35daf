"""The benchmarks' inputs stay usable as the code they point into changes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "bench"))

import bench_mutation  # noqa: E402

MUTANTS = bench_mutation.load_mutants()


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m["id"] for m in MUTANTS])
def test_each_mutant_applies_exactly_once(mutant):
    """A mutant whose find text no longer occurs once (code reformatted or moved) would
    be reported as an error by the mutation bench instead of being run."""
    text = (PROJECT / mutant["file"]).read_text()
    assert text.count(mutant["find"]) == 1, f"{mutant['file']}: update the mutant's find text"
    assert mutant["find"] != mutant["replace"]
    assert mutant["defect"] and mutant.get("expect"), "say what the defect is and which clauses should catch it"
