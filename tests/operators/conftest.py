"""Fixtures of the operator tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.dbt_failures import failure_project


@pytest.fixture
def dbt_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dbt test's own state root and DuckDB file, and the shipped project with its failure
    switches (vars fail_models, payments_in_cents) as the scenario DAGs' project; returns tmp_path."""
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    monkeypatch.setenv("PLATFORM_OPS_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("PLATFORM_OPS_DBT_PROJECT_DIR", str(failure_project(tmp_path / "dbt")))
    return tmp_path
