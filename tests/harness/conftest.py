"""Fixtures for the harness tests (the data lives in harness_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness_helpers import CATALOGUE, DEFAULT_PROVIDER_PROFILE


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "default-provider.toml"
    path.write_text(DEFAULT_PROVIDER_PROFILE)
    return path


@pytest.fixture
def catalogue_file(tmp_path: Path) -> Path:
    path = tmp_path / "clauses.toml"
    path.write_text(CATALOGUE)
    return path
