"""The CDC SQL and operator on BigQuery: google-cloud-bigquery against the bqemulator sandbox.

The BigQuery SQL (wildcard snapshot family, QUALIFY, STRUCTs, parameters) must give exactly what
the reference model gives, like the DuckDB SQL does; the operator's BigQuery path (staging table,
checks, MERGE into a partitioned destination) must replace a window, never duplicate it.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections import Counter
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from platform_ops.core.cdc import (
    CdcMode,
    CdcSpec,
    Dialect,
    build_bad_rows_sql,
    build_sql,
    query_params,
    run_digest,
    step_job_id,
)
from platform_ops.hooks.cdc import CdcBigQueryHook, query_parameters
from platform_ops.operators.cdc import JOB_ATTEMPTS, CdcBeforeAfterOperator
from platform_ops.state import RunStateStore
from sandbox.bigquery.emulator import copy_from_duckdb, load_rows
from scripts.cdc_demo_data import generate
from tests import airflow_runner
from tests.airflow_runner import ensure_db, run_dag
from tests.cdc_reference import reference, reference_bad_rows
from tests.core.test_cdc import WE, WS  # the Tokyo day 2026-11-22

pytestmark = pytest.mark.integration

DAGS = Path(__file__).parent / "dags"
SPEC = CdcSpec(
    source_table="fixed.log",
    primary_key=("a", "b"),
    columns=("name", "qty"),
    snapshot_table_prefix="fixed.snap_",
)
# The demo data's window: the Tokyo day 2026-11-21 (runs with logical date DEMO_WE get it).
DEMO_WS, DEMO_WE = WS - timedelta(days=1), WS
LOG_SCHEMA = [
    ("a", "INT64"),
    ("b", "STRING"),
    ("name", "STRING"),
    ("qty", "INT64"),
    ("changetrack_type", "STRING"),
    ("changetrack_ver", "INT64"),
    ("bigquery_insert_time", "TIMESTAMP"),
]


def change(a, b, op, ver, at: datetime, name="n", qty=1) -> dict:
    return {
        "a": a,
        "b": b,
        "name": name,
        "qty": qty,
        "changetrack_type": op,
        "changetrack_ver": ver,
        "bigquery_insert_time": at,
    }


def snap(a, b, name, qty) -> dict:
    return {"a": a, "b": b, "name": name, "qty": qty}


# A Tokyo day boundary on both sides, a re-delivery, out-of-order arrival, composite keys, NULLs,
# and two snapshot days of which only the day before the window may be read.
LOG = [
    change(1, "x", "I", 10, WS - timedelta(microseconds=1), "born", 1),  # the previous Tokyo day
    change(1, "x", "U", 11, WS, "first", 2),  # 00:00:00 Tokyo: inside the window
    change(1, "x", "U", 13, WS + timedelta(hours=2), "third", 4),
    change(1, "x", "U", 12, WS + timedelta(hours=3), "second", 3),  # arrives late, older version
    change(2, "x", "U", 20, WS + timedelta(hours=1), None, None),  # before image from the snapshot
    change(2, "y", "D", 21, WS + timedelta(hours=1)),  # snapshot has no such key: missing
    change(3, "x", "U", 30, WS + timedelta(hours=1), "v30", 1),
    change(3, "x", "U", 30, WS + timedelta(hours=4), "v30-again", 1),  # re-delivered: latest wins
    change(4, "x", "U", 40, WE, "tomorrow", 1),  # the next Tokyo day: outside
    change(5, "x", "U", 50, WS - timedelta(days=3), "too old", 1),  # before the lookback
    change(5, "x", "D", 51, WS + timedelta(hours=5)),
    # bad rows: left out and counted, as on DuckDB
    change(None, "x", "I", 60, WS + timedelta(hours=1), "null key", 1),
    change(6, "x", "U", None, WS + timedelta(hours=2), "null version", 1),
    change(1, "x", "u", 14, WS + timedelta(hours=6), "lowercase", 9),  # not an update of (1, x)
    change(3, "x", "X", 31, WS + timedelta(hours=6), "unknown", 9),
]
SNAP_DAY_BEFORE = [snap(2, "x", "snap-2", 7), snap(5, "x", "snap-5", 8)]
SNAP_OTHER_DAY = [snap(2, "y", "wrong-day", 0), snap(2, "x", "wrong-day", 0)]


@pytest.fixture(scope="module")
def fixed(bigquery_emulator):
    client = bigquery_emulator.client()
    client.create_dataset("fixed", exists_ok=True)
    load_rows(client, "fixed.log", LOG_SCHEMA, LOG)
    snap_schema = LOG_SCHEMA[:4]
    load_rows(client, f"fixed.snap_{SPEC.snapshot_suffix(WS)}", snap_schema, SNAP_DAY_BEFORE)
    load_rows(
        client, f"fixed.snap_{SPEC.snapshot_suffix(WS - timedelta(days=1))}", snap_schema, SNAP_OTHER_DAY
    )
    return client


def bigquery_rows(client, sql: str, params: dict) -> list[dict]:
    from google.cloud import bigquery

    job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=query_parameters(params)))
    out = []
    for r in job.result():
        rec = dict(r.items())
        assert (rec.pop("window_start"), rec.pop("window_end")) == (WS, WE)
        out.append(rec)
    return out


@pytest.mark.parametrize("mode", list(CdcMode))
def test_bigquery_sql_matches_the_reference(fixed, mode: CdcMode) -> None:
    got = bigquery_rows(fixed, build_sql(SPEC, Dialect.BIGQUERY, mode), query_params(SPEC, WS, WE))
    assert got == reference(SPEC, mode, LOG, SNAP_DAY_BEFORE, WS, WE)
    assert {r["before_source"] for r in got} >= {"log", "snapshot", "missing"}
    assert all(r["a"] != 4 for r in got), "the next Tokyo day is outside the window"
    by_key = {(r["a"], r["b"]): r for r in got}
    if mode is CdcMode.NET:
        assert by_key[(1, "x")]["before"] == {"name": "born", "qty": 1}, (
            "the previous day's row is the before"
        )
        assert by_key[(1, "x")]["after"] == {"name": "third", "qty": 4}, "version order decides"
        assert by_key[(2, "x")]["before"] == {"name": "snap-2", "qty": 7}, "the day before's snapshot only"
        assert by_key[(3, "x")]["after"] == {"name": "v30-again", "qty": 1}


def test_bigquery_counts_the_bad_rows_as_the_reference_does(fixed) -> None:
    from google.cloud import bigquery

    params = query_parameters({"window_start": WS, "window_end": WE})
    job = fixed.query(
        build_bad_rows_sql(SPEC, Dialect.BIGQUERY),
        job_config=bigquery.QueryJobConfig(query_parameters=params),
    )
    [counts] = [dict(r.items()) for r in job.result()]
    assert counts == reference_bad_rows(SPEC, LOG, WS, WE)
    assert counts == {"null_key": 1, "null_version": 1, "unknown_change_type": 2, "total": 4}


def test_empty_window_and_no_snapshot(fixed) -> None:
    params = query_params(SPEC, WS + timedelta(days=10), WE + timedelta(days=10))
    spec = CdcSpec(source_table="fixed.log", primary_key=("a", "b"), columns=("name", "qty"))
    params.pop("snapshot_suffix")
    assert bigquery_rows(fixed, build_sql(spec, Dialect.BIGQUERY, CdcMode.NET), params) == []


# -- the operator, through Airflow --------------------------------------------------------------


@pytest.fixture
def warehouse(bigquery_emulator, bq_emulator_conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The demo's change log and snapshot, generated in DuckDB and copied into dataset ``cdc``."""
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    local = tmp_path / "cdc.duckdb"
    generate(str(local), "2026-11-22")
    client = bigquery_emulator.client()
    client.delete_dataset("cdc", delete_contents=True, not_found_ok=True)
    con = duckdb.connect(str(local), read_only=True)
    try:
        copy_from_duckdb(con, client, "cdc")
        cur = con.execute("SELECT * FROM orders_ct_log")
        log = [dict(zip([d[0] for d in cur.description], r, strict=True)) for r in cur.fetchall()]
        snapshot_rows = con.execute("SELECT * FROM orders_snapshot_261120").fetchall()
    finally:
        con.close()
    spec = CdcSpec(
        source_table="cdc.orders_ct_log", primary_key=("order_id",), columns=("customer", "status", "amount")
    )
    snapshot = [
        dict(zip(["order_id", "customer", "status", "amount"], r, strict=True)) for r in snapshot_rows
    ]
    return client, spec, log, snapshot


def table_rows(client, table: str) -> list[dict]:
    rows = [dict(r.items()) for r in client.query(f"SELECT * FROM `{table}` ORDER BY 1, 2").result()]
    for r in rows:
        assert (r.pop("window_start"), r.pop("window_end")) == (DEMO_WS, DEMO_WE)
    return rows


def tables(client) -> set[str]:
    return {t.table_id for t in client.list_tables("cdc")}


@pytest.mark.parametrize("mode", list(CdcMode))
def test_operator_replaces_the_window_and_leaves_no_staging_table(warehouse, mode: CdcMode) -> None:
    client, spec, log, snapshot = warehouse
    want = reference(spec, mode, log, snapshot, DEMO_WS, DEMO_WE)
    assert want, "the demo data changes keys in this window"
    first = run_dag(DAGS, "cdc_scenarios", DEMO_WE, {"mode": str(mode)})
    assert first.state == "success"
    got = table_rows(client, f"cdc.orders_{mode}")
    key = itemgetter("order_id", "version_after")
    assert sorted(got, key=key) == sorted(want, key=key)
    summary = first.xcom[("orders", "return_value")]
    assert (summary["rows"], summary["engine"], summary["snapshot"]) == (
        len(want),
        "bigquery",
        "cdc.orders_snapshot_261120",
    )
    assert summary["bad_rows"] == reference_bad_rows(spec, log, DEMO_WS, DEMO_WE)
    assert summary["bad_rows"]["total"] == 2, "the demo data's two mangled rows"

    again = run_dag(DAGS, "cdc_scenarios", DEMO_WE, {"mode": str(mode)})
    assert again.state == "success"
    assert len(table_rows(client, f"cdc.orders_{mode}")) == len(want), "a re-run replaces the window"
    assert not [t for t in tables(client) if "__staged_" in t]
    table = client.get_table(f"cdc.orders_{mode}")
    assert table.time_partitioning.field == "window_start"


def test_too_many_missing_before_images_write_nothing(warehouse) -> None:
    client, *_ = warehouse
    result = run_dag(DAGS, "cdc_scenarios", DEMO_WE, {"max_missing_before": 0})
    assert result.state == "failed"
    assert not [t for t in tables(client) if t.startswith("orders_net") or "__staged_" in t]


def test_dry_run_writes_nothing(warehouse) -> None:
    client, *_ = warehouse
    before = tables(client)
    result = run_dag(DAGS, "cdc_scenarios", DEMO_WE, {"dry_run": True})
    assert result.state == "success"
    assert result.xcom[("orders", "return_value")]["dry_run"] is True
    assert tables(client) == before


def test_a_missing_source_table_fails_naming_it(warehouse) -> None:
    client, *_ = warehouse
    client.delete_table("cdc.orders_ct_log")
    assert run_dag(DAGS, "cdc_scenarios", DEMO_WE, {}).state == "failed"


def test_bad_rows_above_the_threshold_write_nothing(warehouse) -> None:
    client, *_ = warehouse
    result = run_dag(DAGS, "cdc_scenarios", DEMO_WE, {"max_bad_rows": 1})
    assert result.state == "failed"
    assert not [t for t in tables(client) if t.startswith("orders_net") or "__staged_" in t]


def test_a_snapshot_zone_that_does_not_fit_the_windows_fails_before_reading(warehouse) -> None:
    """The DAG's windows are Tokyo days; with UTC the day before's snapshot is another day's."""
    client, *_ = warehouse
    lenient = {"snapshot_timezone": "UTC", "max_missing_before": 100_000}
    result = run_dag(DAGS, "cdc_scenarios", DEMO_WE, lenient)
    assert result.state == "failed"
    assert not [t for t in tables(client) if t.startswith("orders_net") or "__staged_" in t]
    warned = run_dag(DAGS, "cdc_scenarios", DEMO_WE, lenient | {"strict_snapshot_timezone": False})
    assert warned.state == "success", "not strict: a warning only"


def test_a_bigquery_source_of_the_wrong_shape_fails_naming_nothing_written(warehouse) -> None:
    client, _, log, _ = warehouse
    schema = [(f.name, f.field_type) for f in client.get_table("cdc.orders_ct_log").schema]
    strings = [(n, "STRING" if n == "changetrack_ver" else t) for n, t in schema]
    client.delete_table("cdc.orders_ct_log")  # the emulator keeps a table's schema on WRITE_TRUNCATE
    load_rows(
        client,
        "cdc.orders_ct_log",
        strings,
        [
            r | {"changetrack_ver": None if r["changetrack_ver"] is None else str(r["changetrack_ver"])}
            for r in log
        ],
    )
    assert run_dag(DAGS, "cdc_scenarios", DEMO_WE, {}).state == "failed"
    assert not [t for t in tables(client) if t.startswith("orders_net") or "__staged_" in t]


# -- two runs of one window at once ---------------------------------------------------------------


def _run_at_once(dag_id: str, conf: dict, barrier: Any, results: Any) -> None:
    """One DAG run in its own process; each run waits, once its window is computed into its staging
    table, until the other run has computed its own: both are then between compute and MERGE."""
    from platform_ops.hooks.cdc import CdcBigQueryHook

    original = CdcBigQueryHook.run_query

    def run_query(self, sql: str, params: Any, labels: Any, dry_run: bool = False, **kw: Any) -> Any:
        job = original(self, sql, params, labels, dry_run, **kw)
        if sql.startswith("CREATE OR REPLACE TABLE"):
            barrier.wait(timeout=300)
        return job

    CdcBigQueryHook.run_query = run_query  # type: ignore[method-assign]
    airflow_runner._MIGRATED = True  # the parent migrated the metadata DB
    result = run_dag(DAGS, dag_id, DEMO_WE, conf)
    results.put((dag_id, result.state, result.xcom.get(("orders", "return_value"))))


def test_two_runs_of_one_window_at_once_each_merge_their_own_result(warehouse) -> None:
    client, spec, log, snapshot = warehouse
    ensure_db()
    conf = {"max_missing_before": 100_000}
    want = {
        "cdc_scenarios": reference(spec, "net", log, snapshot, DEMO_WS, DEMO_WE),
        "cdc_scenarios_twin": reference(
            dataclasses.replace(spec, lookback=timedelta(0)), "net", log, snapshot, DEMO_WS, DEMO_WE
        ),
    }
    key = itemgetter("order_id", "version_after")
    assert sorted(want["cdc_scenarios"], key=key) != sorted(want["cdc_scenarios_twin"], key=key)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_run_at_once, args=(d, conf, barrier, results)) for d in want]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    assert [p.exitcode for p in procs] == [0, 0]
    outcome = {dag_id: (state, summary) for dag_id, state, summary in (results.get(timeout=5) for _ in procs)}
    for dag_id, (state, summary) in outcome.items():
        assert state == "success", dag_id
        counts = Counter(f"{r['op']}:{r['before_source']}" for r in want[dag_id])
        assert summary["by_op_and_before_source"] == dict(counts), f"{dag_id} checked another run's result"
    assert outcome["cdc_scenarios"][1]["staged"] != outcome["cdc_scenarios_twin"][1]["staged"]
    got = sorted(table_rows(client, "cdc.orders_net"), key=key)
    assert got in (sorted(want["cdc_scenarios"], key=key), sorted(want["cdc_scenarios_twin"], key=key)), (
        "the window holds one run's whole result"
    )
    assert not [t for t in tables(client) if "__staged_" in t]


# -- durable jobs: a retry after a worker crash reattaches instead of paying again ---------------------


def test_a_second_attempt_of_a_step_reattaches_to_its_job(bigquery_emulator, bq_emulator_conn) -> None:
    """The same step asked twice with its job id: one job, run once (its INSERT lands once)."""
    client = bigquery_emulator.client()
    client.create_dataset("durable", exists_ok=True)
    client.query("CREATE OR REPLACE TABLE durable.side (x INT64)").result()
    hook = CdcBigQueryHook(gcp_conn_id=bq_emulator_conn)
    job_id = step_job_id("merge", 0, "dag", "manual__2026-11-21T15:00:00+00:00", "task", -1)
    before = {j.job_id for j in client.list_jobs()}
    first = hook.run_query("INSERT INTO durable.side (x) VALUES (1)", {}, {}, job_id=job_id)
    second = hook.run_query("INSERT INTO durable.side (x) VALUES (1)", {}, {}, job_id=job_id)
    assert {j.job_id for j in client.list_jobs()} - before == {job_id}
    assert second.job_id == first.job_id
    assert second.created == first.created, "the job was submitted again"
    [[n]] = client.query("SELECT COUNT(*) FROM durable.side").result()
    assert n == 1, "the step ran twice"


def _crash_after(step: str, op: CdcBeforeAfterOperator, context: dict) -> None:
    """One try of ``op`` in its own process, whose worker dies once ``step``'s job is done."""
    import os

    original = CdcBigQueryHook.run_query

    def run_query(self, sql: str, params: Any, labels: Any, dry_run: bool = False, **kw: Any) -> Any:
        job = original(self, sql, params, labels, dry_run, **kw)
        if step in str(kw.get("job_id")):
            os._exit(3)
        return job

    CdcBigQueryHook.run_query = run_query  # type: ignore[method-assign]
    op.execute(context)


def test_a_retry_after_a_worker_crash_reattaches_to_the_crashed_jobs(warehouse) -> None:
    from types import SimpleNamespace

    client, spec, log, snapshot = warehouse
    op = CdcBeforeAfterOperator(
        task_id="orders",
        engine="bigquery",
        gcp_conn_id="bq_emulator",
        source_table="cdc.orders_ct_log",
        primary_key=["order_id"],
        snapshot_table_prefix="cdc.orders_snapshot_",
        destination_table="cdc.orders_durable",
        max_missing_before=1,
        max_bad_rows=2,
    )
    ti = SimpleNamespace(dag_id="cdc_durable", run_id="manual__2026-11-21T15:00:00+00:00", task_id="orders")
    ti.map_index = -1
    context = {"ti": ti, "data_interval_start": DEMO_WS, "data_interval_end": DEMO_WE}
    digest = run_digest(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)[:32]

    def ours() -> dict[str, Any]:
        return {j.job_id: j for j in client.list_jobs() if digest in j.job_id}

    ctx = multiprocessing.get_context("spawn")
    crashed = ctx.Process(target=_crash_after, args=("_compute_", op, context))
    crashed.start()
    crashed.join(timeout=300)
    assert crashed.exitcode == 3
    first = ours()
    assert sorted(first) == sorted(step_job_id(s, 0, *vars(ti).values()) for s in ("bad_rows", "compute"))

    summary = op.execute(context)  # the retry
    second = ours()
    assert len(second) == 4, f"the retry submitted the crashed try's steps again: {sorted(second)}"
    for job_id, job in first.items():
        assert second[job_id].created == job.created, f"{job_id} was submitted again"
    want = reference(spec, "net", log, snapshot, DEMO_WS, DEMO_WE)
    assert summary["rows"] == len(want)
    assert len(table_rows(client, "cdc.orders_durable")) == len(want)

    op.execute(context)  # a try after one that ended (a cleared task): it recomputes
    third = ours()
    assert len(third) == 8
    assert {j for j in third if j.endswith("_a1")} == {
        step_job_id(s, 1, *vars(ti).values()) for s in ("bad_rows", "compute", "count", "merge")
    }
    assert len(table_rows(client, "cdc.orders_durable")) == len(want), "the window is replaced"


def test_the_attempt_counter_lives_only_until_the_window_succeeds(warehouse) -> None:
    """A failed try moves its retry to fresh job ids; the window's success removes the counter."""
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    client, spec, log, snapshot = warehouse
    op = CdcBeforeAfterOperator(
        task_id="orders",
        engine="bigquery",
        gcp_conn_id="bq_emulator",
        source_table="cdc.orders_ct_log",
        primary_key=["order_id"],
        snapshot_table_prefix="cdc.orders_snapshot_",
        destination_table="cdc.orders_counted",
        max_missing_before=1,
        max_bad_rows=1,  # the demo data has 2 bad rows: the first try fails after its first job
    )
    ti = SimpleNamespace(dag_id="cdc_counter", run_id="manual__2026-11-21T17:00:00+00:00", task_id="orders")
    ti.map_index = -1
    context = {"ti": ti, "data_interval_start": DEMO_WS, "data_interval_end": DEMO_WE}
    run = tuple(vars(ti).values())
    store = RunStateStore()
    digest = run_digest(*run)

    def ours() -> set[str]:
        return {j.job_id for j in client.list_jobs() if digest[:32] in j.job_id}

    with pytest.raises(AirflowFailException, match="bad row"):
        op.execute(context)
    assert ours() == {step_job_id("bad_rows", 0, *run)}
    assert store.get_shared(JOB_ATTEMPTS, digest) == {"attempt": 1}, "a failed try moves the counter on"

    op.max_bad_rows = 2  # the rows were accepted; the retry
    summary = op.execute(context)
    assert ours() - {step_job_id("bad_rows", 0, *run)} == {
        step_job_id(s, 1, *run) for s in ("bad_rows", "compute", "count", "merge")
    }, "the retry after a failure uses the next attempt"
    assert summary["rows"] == len(reference(spec, "net", log, snapshot, DEMO_WS, DEMO_WE))
    assert store.list_shared(JOB_ATTEMPTS) == {}, "a counter document is left after the window succeeded"

    op.execute(context)  # cleared after its success: no counter, the used attempts are found on BigQuery
    assert {j for j in ours() if j.endswith("_a2")} == {
        step_job_id(s, 2, *run) for s in ("bad_rows", "compute", "count", "merge")
    }
    assert store.list_shared(JOB_ATTEMPTS) == {}


def test_bigquery_errors_come_out_of_the_hook_as_the_package_s_own(
    bigquery_emulator, bq_emulator_conn
) -> None:
    from platform_ops.exceptions import ExternalServiceError

    hook = CdcBigQueryHook(gcp_conn_id=bq_emulator_conn)
    with pytest.raises(ExternalServiceError) as err:
        hook.run_query("SELECT * FROM `nowhere.missing`", {}, {})
    assert not err.value.retryable, "a query of a table that does not exist cannot succeed on retry"
    assert type(err.value.__cause__).__module__.startswith("google.api_core")
    assert err.value.service == "BigQuery"


# -- on_kill: the job the task waits on is cancelled -------------------------------------------------


def test_on_kill_cancels_the_job_the_task_is_waiting_on(warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kill arrives while the task waits on its compute job: that job is cancelled on BigQuery.

    The emulator runs a job to its end before answering, so the kill is delivered from inside the
    wait (where Airflow's SIGTERM handler would find the task); the cancel goes to the emulator.
    """
    from types import SimpleNamespace

    from google.cloud import bigquery

    client = warehouse[0]
    op = CdcBeforeAfterOperator(
        task_id="orders",
        engine="bigquery",
        gcp_conn_id="bq_emulator",
        source_table="cdc.orders_ct_log",
        primary_key=["order_id"],
        snapshot_table_prefix="cdc.orders_snapshot_",
        destination_table="cdc.orders_killed",
        max_missing_before=1,
        max_bad_rows=2,
    )
    ti = SimpleNamespace(dag_id="cdc_kill", run_id="manual__2026-11-21T16:00:00+00:00", task_id="orders")
    ti.map_index = -1
    context = {"ti": ti, "data_interval_start": DEMO_WS, "data_interval_end": DEMO_WE}
    compute = step_job_id("compute", 0, ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
    answered: list[tuple[str, str]] = []  # (job id, state) as the emulator answered each cancel
    real_cancel, real_result = bigquery.Client.cancel_job, bigquery.QueryJob.result

    def cancel_job(self: bigquery.Client, job_id: Any, *args: Any, **kwargs: Any) -> Any:
        job = real_cancel(self, job_id, *args, **kwargs)
        answered.append((job.job_id, job.state))
        return job

    def result(job: bigquery.QueryJob, *args: Any, **kwargs: Any) -> Any:
        if job.job_id == compute:
            op.on_kill()
            raise RuntimeError("task terminated")
        return real_result(job, *args, **kwargs)

    monkeypatch.setattr(bigquery.Client, "cancel_job", cancel_job)
    monkeypatch.setattr(bigquery.QueryJob, "result", result)
    with pytest.raises(RuntimeError, match="task terminated"):
        op.execute(context)
    assert answered == [(compute, "DONE")], "the compute job was not cancelled"
    assert "orders_killed" not in tables(client), "nothing was merged"
    op.on_kill()  # no job running any more: nothing to cancel
    assert len(answered) == 1


def test_cancelling_a_job_bigquery_does_not_know_is_not_an_error(bigquery_emulator, bq_emulator_conn) -> None:
    """A kill between a job id's choice and its submission: the cancel finds no job, and says so."""
    hook = CdcBigQueryHook(gcp_conn_id=bq_emulator_conn)
    assert hook.cancel_query("platform_ops_no_such_job") is None
    job = hook.run_query("SELECT 1", {}, {})
    assert hook.running_job_id is None, "no job is running once run_query returned"
    assert hook.cancel_query(job.job_id) == "DONE"
