"""dbt_transform under a real scheduler (LocalExecutor): concurrency, backfills and the repair story.

What ``dag.test()`` cannot show: a backfill runs several dates at once (its own max_active_runs,
default 10, not the DAG's), a Clear keeps the run's conf, and a second trigger of a logical date
is refused. Each test drives Airflow through the REST API and the CLI only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.scheduler.harness import LocalAirflow

pytestmark = pytest.mark.integration

DAG_ID = "dbt_transform"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAirflow]:
    stack = LocalAirflow(tmp_path_factory.mktemp("scheduler"))
    try:
        stack.start()
        stack.wait_dag(DAG_ID)
        yield stack
    finally:
        stack.stop()


def _dbt_tries(airflow: LocalAirflow, run_id: str) -> list[dict]:
    return airflow.tries(DAG_ID, run_id, "dbt_run")


def _interval(ti: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(ti["start_date"]), datetime.fromisoformat(ti["end_date"])


def _summary(airflow: LocalAirflow, run_id: str) -> dict:
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/dbt_run/xcomEntries/summary"
    return airflow.api("GET", path, params={"deserialize": True})["value"]


def test_backfilled_dates_never_build_the_same_target_at_once(airflow: LocalAirflow) -> None:
    """Two dates of a backfill are serialised by the dbt pool: each date succeeds on its first try
    (no try spent on the DuckDB file lock) and their dbt builds do not overlap in time."""
    airflow.cli(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", "2026-11-02", "--to-date", "2026-11-03"
    )
    runs = airflow.wait_runs_finished(DAG_ID, 2, timeout=600, run_type="backfill")
    assert sorted(r["state"] for r in runs) == ["success", "success"], runs

    intervals = []
    for run in runs:
        tries = _dbt_tries(airflow, run["dag_run_id"])
        assert [t["try_number"] for t in tries] == [1], (run["dag_run_id"], tries)
        assert tries[0]["pool"] == "platform_ops_dbt"
        intervals.append(_interval(tries[0]))
    (_, first_end), (second_start, _) = sorted(intervals)
    assert first_end <= second_start, f"the two dbt builds overlapped: {intervals}"


def test_repairing_a_date_failed_by_a_trigger_param(airflow: LocalAirflow) -> None:
    """The README's repair story as Airflow 3.3 really behaves: tries 2 and 3 retry only the failed
    model; a second trigger of the date is refused; Clear keeps the breaking conf; a backfill with
    --reprocess-behavior failed and a corrected --dag-run-conf re-runs only the failed models."""
    date = "2026-11-10T00:00:00+00:00"
    conf = {"vars": {"fail_models": ["stg_orders"]}}
    run = airflow.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": date, "conf": conf})
    run_id = run["dag_run_id"]
    airflow.wait_for(
        lambda: airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"] == "failed",
        600,
        "the broken run to fail",
        every=3,
    )
    tries = _dbt_tries(airflow, run_id)
    assert [t["try_number"] for t in tries] == [1, 2, 3]
    summary = _summary(airflow, run_id)
    assert summary["mode"] == "retry"  # try 3 was a `dbt retry`
    assert [f["unique_id"] for f in summary["failed"]] == ["model.shop.stg_orders"]

    # One run per logical date: triggering the date again is refused.
    with pytest.raises(RuntimeError, match="409"):
        airflow.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": date, "conf": {}})

    # Clear keeps the run's conf: the breaking var is still there and the date fails again.
    airflow.api("POST", f"/dags/{DAG_ID}/clearTaskInstances", json={"dry_run": False, "dag_run_id": run_id})
    airflow.wait_for(
        lambda: (
            airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"] == "failed"
            and len(_dbt_tries(airflow, run_id)) > 3
        ),
        600,
        "the cleared run to fail again",
        every=3,
    )
    assert airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["conf"] == conf

    # The repair: a backfill of the failed date with the corrected conf replaces the conf and
    # re-runs only the stored failures.
    airflow.cli(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", date[:10], "--to-date", date[:10],
        "--reprocess-behavior", "failed", "--dag-run-conf", "{}",
    )  # fmt: skip
    airflow.wait_for(
        lambda: airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"] == "success",
        600,
        "the backfill to repair the date",
        every=3,
    )
    summary = _summary(airflow, run_id)
    assert summary["mode"] == "retry"
    assert summary["failed"] == []
    executed = set(summary["executed"])
    assert "model.shop.stg_orders" in executed
    assert "model.shop.stg_customers" not in executed  # not a descendant: not rebuilt
