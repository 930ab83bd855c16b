"""CdcDuckDBHook: where the CDC DuckDB file is, and the operator reaching DuckDB only through it."""

from __future__ import annotations

import ast
from pathlib import Path

import duckdb
import pytest

import platform_ops.operators.cdc as cdc_operator
from platform_ops.hooks.cdc_duckdb import PATH_ENV, CdcDuckDBHook


def test_the_path_is_the_argument_else_the_env_else_airflow_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(PATH_ENV, raising=False)
    assert CdcDuckDBHook().path == str(tmp_path / "home" / "cdc.duckdb")
    monkeypatch.setenv(PATH_ENV, str(tmp_path / "env.duckdb"))
    assert CdcDuckDBHook().path == str(tmp_path / "env.duckdb")
    assert CdcDuckDBHook(str(tmp_path / "arg.duckdb")).path == str(tmp_path / "arg.duckdb")


def test_a_failed_check_writes_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "w.duckdb")
    con = duckdb.connect(path)
    con.execute(
        "CREATE TABLE out AS SELECT 'u' AS op, 'log' AS before_source, 1 AS window_start, 2 AS window_end"
    )
    con.close()
    window = {"window_start": 1, "window_end": 2}
    sql = (
        "SELECT 'c' AS op, 'none' AS before_source, $window_start AS window_start, $window_end AS window_end"
    )

    def refuse(counts: dict[str, int]) -> None:
        assert counts == {"c:none": 1}, "the check sees the new rows"
        raise RuntimeError("too many")

    with CdcDuckDBHook(path) as hook:
        assert hook.schema("out") == {
            "op": "VARCHAR",
            "before_source": "VARCHAR",
            "window_start": "INTEGER",
            "window_end": "INTEGER",
        }
        assert hook.schema("main.nope") is None
        with pytest.raises(RuntimeError, match="too many"):
            hook.replace_window("out", sql, window, refuse)
        assert hook.con.execute("SELECT op FROM out").fetchall() == [("u",)], "rolled back"
        counts, checked = hook.replace_window("out", sql, window, len)
        assert (counts, checked) == ({"c:none": 1}, 1)
        assert hook.con.execute("SELECT op FROM out").fetchall() == [("c",)], "the window replaced"


def test_the_operator_imports_no_engine_client_and_reads_no_env() -> None:
    """DuckDB and BigQuery (and their errors) are reached through the hooks only."""
    tree = ast.parse(Path(cdc_operator.__file__).read_text())
    modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in modules if m.split(".")[0] in ("duckdb", "google", "os")}, modules
    assert "environ" not in {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
