"""bigquery_cdc_before_after end to end on DuckDB: the destination equals the reference model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from platform_ops.core.cdc import CdcSpec, reference_net
from platform_ops.operators.cdc import WATERMARKS
from platform_ops.state import RunStateStore
from scripts.cdc_demo_data import generate
from tests.airflow_runner import run_dag

pytestmark = pytest.mark.integration

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_ID = "bigquery_cdc_before_after"
DAY = datetime(2026, 11, 21, 15, tzinfo=UTC)  # 2026-11-22 00:00 Tokyo: the window is the Tokyo 21st
WS, WE = DAY - timedelta(days=1), DAY


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cdc.duckdb"
    generate(str(path), "2026-11-22")
    monkeypatch.setenv("PLATFORM_OPS_CDC_DUCKDB_PATH", str(path))
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    monkeypatch.setenv("PLATFORM_OPS_RETRY_DELAY_SECONDS", "0")
    return path


def rows(path: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def expected(path: Path) -> list[dict]:
    spec = CdcSpec(
        source_table="main.orders_ct_log", primary_key=("order_id",), columns=("customer", "status", "amount")
    )
    log = rows(path, "SELECT * FROM orders_ct_log")
    snap = rows(path, "SELECT * FROM orders_snapshot_261120")
    return reference_net(spec, log, snap, WS, WE)


def destination(path: Path) -> list[dict]:
    out = rows(path, "SELECT * FROM orders_before_after ORDER BY order_id")
    for r in out:
        assert (r.pop("window_start"), r.pop("window_end")) == (WS, WE)
    return out


def test_destination_matches_the_reference_and_a_rerun_changes_nothing(warehouse: Path) -> None:
    result = run_dag(DAGS, DAG_ID, DAY, {})
    assert result.state == "success"
    want = expected(warehouse)
    assert destination(warehouse) == want
    assert {r["before_source"] for r in want} == {"log", "snapshot", "none", "missing"}
    assert len(rows(warehouse, "SELECT * FROM order_lines_before_after")) > 0

    again = run_dag(DAGS, DAG_ID, DAY, {"tables": ["orders"]})
    assert again.state == "success"
    assert destination(warehouse) == want, "re-running a window must replace it, not add to it"
    mark = RunStateStore().get_shared(WATERMARKS, "main.orders_before_after")
    assert mark == {"window_start": WS.isoformat(), "window_end": WE.isoformat()}


def test_too_many_missing_before_images_fail_and_write_nothing(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    con.execute(
        "INSERT INTO orders_ct_log VALUES (9002, 'c2', 'paid', 1.0, 'U', 99999999, ?)",
        [WS + timedelta(hours=2)],
    )
    con.close()
    result = run_dag(DAGS, DAG_ID, DAY, {"tables": ["orders"]})
    assert result.state == "failed"
    tables = "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'orders_before_after'"
    assert rows(warehouse, tables)[0]["n"] == 0, "the failed window must leave no trace"
    assert RunStateStore().get_shared(WATERMARKS, "main.orders_before_after") is None


def test_unknown_table_param_fails(warehouse: Path) -> None:
    assert run_dag(DAGS, DAG_ID, DAY, {"tables": ["nope"]}).state == "failed"
