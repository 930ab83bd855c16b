"""bigquery_cdc_before_after end to end on DuckDB: the destination equals the reference model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from platform_ops.config_files import load_yaml
from platform_ops.core.cdc import CdcSpec
from platform_ops.operators.cdc import WATERMARKS
from platform_ops.state import RunStateStore
from scripts.cdc_demo_data import generate
from tests.airflow_runner import run_dag
from tests.cdc_reference import reference, reference_bad_rows, reference_net

pytestmark = pytest.mark.integration

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_ID = "bigquery_cdc_before_after"
CONFIG = Path(__file__).resolve().parents[2] / "include" / "config" / "cdc_tables.yaml"
DAY = datetime(2026, 11, 21, 15, tzinfo=UTC)  # 2026-11-22 00:00 Tokyo: the window is the Tokyo 21st
WS, WE = DAY - timedelta(days=1), DAY


@pytest.fixture
def reservation(bq_reservation_fake) -> tuple:
    """The reservation the config's slot_capacity block names, in the Reservation API fake."""
    name = bq_reservation_fake.seed_for(load_yaml(CONFIG)["slot_capacity"])
    return bq_reservation_fake.api, name


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reservation: tuple) -> Path:
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


ORDERS = CdcSpec(
    source_table="main.orders_ct_log", primary_key=("order_id",), columns=("customer", "status", "amount")
)


def expected(path: Path) -> list[dict]:
    log = rows(path, "SELECT * FROM orders_ct_log")
    snap = rows(path, "SELECT * FROM orders_snapshot_261120")
    return reference_net(ORDERS, log, snap, WS, WE)


def summaries(run_id: str, task_id: str = "before_after") -> dict[str, dict]:
    """Every mapped instance's summary (XCom return_value), by destination: one per table."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        found = (
            session.query(XComModel)
            .filter_by(dag_id=DAG_ID, run_id=run_id, task_id=task_id, key="return_value")
            .all()
        )
        values = {r.map_index: XComModel.deserialize_value(r) for r in found}
    assert len(values) == len(found)
    return {v.get("destination", f"map_index {i}"): v for i, v in values.items()}


def destination(path: Path) -> list[dict]:
    out = rows(path, "SELECT * FROM orders_before_after ORDER BY order_id")
    for r in out:
        assert (r.pop("window_start"), r.pop("window_end")) == (WS, WE)
    return out


def test_destination_matches_the_reference_and_a_rerun_changes_nothing(warehouse: Path, reservation) -> None:
    api, name = reservation
    result = run_dag(DAGS, DAG_ID, DAY, {})
    assert result.state == "success"
    assert result.xcom[("buy_slots", "summary")]["outcome"] == "reserved"
    assert api.changes == [(name, "slotCapacity", 200), (name, "slotCapacity", 100)], (
        "raised, then given back"
    )
    assert api.commitments == {}
    want = expected(warehouse)
    assert destination(warehouse) == want
    assert {r["before_source"] for r in want} == {"log", "snapshot", "none", "missing"}
    lines = rows(warehouse, "SELECT * FROM order_lines_before_after")
    assert len(lines) > 0
    # one summary per mapped table, each with its own counts
    by_table = summaries(result.run_id)
    assert sorted(by_table) == ["main.order_lines_before_after", "main.orders_before_after"]
    orders, order_lines = by_table["main.orders_before_after"], by_table["main.order_lines_before_after"]
    assert (orders["rows"], order_lines["rows"]) == (len(want), len(lines))
    assert orders["missing_before"] == 1
    assert order_lines["missing_before"] == 0
    log = rows(warehouse, "SELECT * FROM orders_ct_log")
    assert orders["bad_rows"] == reference_bad_rows(ORDERS, log, WS, WE)
    assert orders["bad_rows"] == {"null_key": 0, "null_version": 1, "unknown_change_type": 1, "total": 2}
    assert order_lines["bad_rows"]["total"] == 0

    again = run_dag(DAGS, DAG_ID, DAY, {"tables": ["orders"]})
    assert again.state == "success"
    assert destination(warehouse) == want, "re-running a window must replace it, not add to it"
    mark = RunStateStore().get_shared(WATERMARKS, "main.orders_before_after")
    assert mark == {"window_start": WS.isoformat(), "window_end": WE.isoformat()}


def test_too_many_missing_before_images_fail_and_write_nothing(warehouse: Path, reservation) -> None:
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
    api, name = reservation
    assert api.reservations[name]["slotCapacity"] == "100", "the teardown released after the failed work"
    assert api.commitments == {}


def test_dry_run_buys_nothing_and_writes_nothing(warehouse: Path, reservation) -> None:
    result = run_dag(DAGS, DAG_ID, DAY, {"dry_run": True, "mode": "events"})
    assert result.state == "success"
    planned = list(summaries(result.run_id).values())
    assert len(planned) == 2, "one dry run per configured table"
    assert all(s["dry_run"] for s in planned)
    tables = "SELECT count(*) AS n FROM information_schema.tables WHERE table_name LIKE '%before_after%'"
    assert rows(warehouse, tables)[0]["n"] == 0
    api, _ = reservation
    assert not [c for c in api.calls if not c.startswith("GET")], "a dry run changes nothing"


def test_events_mode_writes_one_row_per_change_beside_the_net_table(warehouse: Path, reservation) -> None:
    assert run_dag(DAGS, DAG_ID, DAY, {"mode": "events", "tables": ["orders"]}).state == "success"
    spec = CdcSpec(
        source_table="main.orders_ct_log", primary_key=("order_id",), columns=("customer", "status", "amount")
    )
    want = reference(
        spec,
        "events",
        rows(warehouse, "SELECT * FROM orders_ct_log"),
        rows(warehouse, "SELECT * FROM orders_snapshot_261120"),
        WS,
        WE,
    )
    got = rows(warehouse, "SELECT * FROM orders_before_after_events ORDER BY order_id, version_after")
    for r in got:
        assert (r.pop("window_start"), r.pop("window_end")) == (WS, WE)
    assert got == want
    assert len(got) > len(
        reference_net(
            spec,
            rows(warehouse, "SELECT * FROM orders_ct_log"),
            rows(warehouse, "SELECT * FROM orders_snapshot_261120"),
            WS,
            WE,
        )
    )


def test_unknown_table_param_is_refused_before_buying_anything(warehouse: Path, reservation) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    # the trigger form offers the configured tables; any other name is refused with the run
    with pytest.raises(ParamValidationError, match=r"param tables: 'nope' is not one of \['orders', "):
        run_dag(DAGS, DAG_ID, DAY, {"tables": ["nope"]})
    api, _ = reservation
    assert not [c for c in api.calls if "capacityCommitments" in c], "no purchase for a run that cannot work"


def test_bad_rows_above_the_threshold_fail_without_retries_and_write_nothing(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    con.execute(  # a third bad row (the config allows two): a NULL key
        "INSERT INTO orders_ct_log VALUES (NULL, 'c3', 'paid', 3.0, 'U', 99999998, ?)",
        [WS + timedelta(hours=4)],
    )
    con.close()
    result = run_dag(DAGS, DAG_ID, DAY, {"tables": ["orders"]})
    assert result.state == "failed"
    assert result.try_numbers["before_after"] == 1, "bad data is not retried"
    tables = "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'orders_before_after'"
    assert rows(warehouse, tables)[0]["n"] == 0
    assert RunStateStore().get_shared(WATERMARKS, "main.orders_before_after") is None


@pytest.mark.parametrize(
    "alter",
    [
        "ALTER TABLE orders_ct_log ALTER changetrack_ver TYPE VARCHAR",  # would order '9' after '10'
        "ALTER TABLE orders_ct_log DROP COLUMN order_id",
        "ALTER TABLE orders_snapshot_261120 DROP COLUMN status",
    ],
)
def test_a_source_or_snapshot_of_the_wrong_shape_fails_before_writing(warehouse: Path, alter: str) -> None:
    con = duckdb.connect(str(warehouse))
    con.execute(alter)
    con.close()
    result = run_dag(DAGS, DAG_ID, DAY, {"tables": ["orders"]})
    assert result.state == "failed"
    assert result.try_numbers["before_after"] == 1, "a wrong schema is not retried"
    tables = "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'orders_before_after'"
    assert rows(warehouse, tables)[0]["n"] == 0
