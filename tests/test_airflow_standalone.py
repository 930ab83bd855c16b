"""`make airflow` gives the CDC DAG a change log to read: the window of its runs, in its DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from platform_ops.core.cdc import CdcSpec
from scripts.airflow_standalone import cdc_demo_data
from tests.cdc_reference import reference_net

DAGS = Path(__file__).resolve().parents[1] / "dags"
ORDERS = CdcSpec(
    source_table="main.orders_ct_log", primary_key=("order_id",), columns=("customer", "status", "amount")
)
NOW = datetime(2026, 11, 29, 8, 30, tzinfo=UTC)


def window(now: datetime) -> tuple[datetime, datetime]:
    """The data interval of a run triggered at ``now`` (and of the latest scheduled run)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable

    dag = DagBag(dag_folder=str(DAGS / "bigquery_cdc_before_after.py"), load_op_links=False).dags[
        "bigquery_cdc_before_after"
    ]
    interval = coerce_to_core_timetable(dag.timetable).infer_manual_data_interval(run_after=now)
    return interval.start, interval.end


def changes(path: Path, start: datetime, end: datetime) -> list[dict]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cur = con.execute("SELECT * FROM orders_ct_log")
        log = [dict(zip([d[0] for d in cur.description], r, strict=True)) for r in cur.fetchall()]
        snapshot_table = f"orders_snapshot_{ORDERS.snapshot_suffix(start)}"
        cur = con.execute(f"SELECT * FROM {snapshot_table}")
        snapshot = [dict(zip([d[0] for d in cur.description], r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    return reference_net(ORDERS, log, snapshot, start, end)


def test_the_cdc_dag_finds_a_log_for_the_window_it_runs(tmp_path: Path) -> None:
    env = {"AIRFLOW_HOME": str(tmp_path)}
    path = cdc_demo_data(env, NOW)
    assert path == tmp_path / "cdc.duckdb"
    assert env["PLATFORM_OPS_CDC_DUCKDB_PATH"] == str(path)
    start, end = window(NOW)
    assert len(changes(path, start, end)) > 100, "the window's changes, with the day before's snapshot"


def test_a_log_already_there_is_kept_and_a_new_day_gets_its_own(tmp_path: Path) -> None:
    home = {"AIRFLOW_HOME": str(tmp_path)}
    path = cdc_demo_data(dict(home), NOW)
    assert path is not None
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE mine AS SELECT 1 AS x")
    con.execute("DELETE FROM orders_ct_log WHERE order_id = 1501")
    con.close()
    assert cdc_demo_data(dict(home), NOW + timedelta(hours=2)) == path
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM orders_ct_log WHERE order_id = 1501").fetchone()[0] == 0
    con.close()
    tomorrow = NOW + timedelta(days=1)
    cdc_demo_data(dict(home), tomorrow)
    start, end = window(tomorrow)
    assert changes(path, start, end), "the next day's window has its log"
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT x FROM mine").fetchall() == [(1,)], "other tables are left alone"
    con.close()


def test_a_cdc_file_of_your_own_is_left_alone(tmp_path: Path) -> None:
    own = tmp_path / "own.duckdb"
    env = {"AIRFLOW_HOME": str(tmp_path), "PLATFORM_OPS_CDC_DUCKDB_PATH": str(own)}
    assert cdc_demo_data(env, NOW) is None
    assert not own.exists()
    assert not (tmp_path / "cdc.duckdb").exists()


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATFORM_OPS_CDC_DUCKDB_PATH", raising=False)
