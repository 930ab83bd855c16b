"""dbt_transform on the production-shaped stack: the README's retry and repair promises.

What ``dag.test()`` cannot show: the scheduler's own retries (tries 2 and 3 on any worker), a
Clear from the API, a backfill running several dates at once (its own max_active_runs, not the
DAG's), one run per logical date. Everything goes through the REST API v2 and the `airflow` CLI;
the remote task log is read back from S3 through the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from itertools import combinations
from pathlib import Path

import pytest
from airflow_stack import LOG_BUCKET, Stack

from tests.stack.helpers import log_key, runs, task_log, tries, unpause, wait_run, xcom

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("stack")]

DAG_ID = "dbt_transform"
DOWNSTREAM_OF_STG_ORDERS = {"model.shop.orders", "model.shop.customers"}
# the command line the operator logs before it runs dbt
RETRY_LINE = re.compile(r"Running\b.*\bdbt( --[\w-]+)* retry\b")
BUILD_LINE = re.compile(r"Running\b.*\bdbt( --[\w-]+)* build\b")


@pytest.fixture(scope="module", autouse=True)
def _unpaused(stack: Stack) -> None:
    unpause(stack, DAG_ID)


@pytest.fixture
def broken_stg_orders(dbt_project: Path) -> Iterator[Path]:
    """stg_orders fails at run time (a column that does not exist), as after a bad commit."""
    model = dbt_project / "models" / "staging" / "stg_orders.sql"
    good = model.read_text()
    model.write_text(
        good.replace("from {{ ref('raw_orders') }}", "from {{ ref('raw_orders') }} where no_such_column > 0")
    )
    try:
        yield model
    finally:
        model.write_text(good)


def _summary(stack: Stack, run_id: str) -> dict:
    try:
        return xcom(stack, DAG_ID, run_id, "dbt_run", "summary")
    except RuntimeError as exc:  # show what the tries logged
        logs = [task_log(stack, DAG_ID, run_id, "dbt_run", t["try_number"])[-3000:]
                for t in tries(stack, DAG_ID, run_id, "dbt_run")]  # fmt: skip
        raise AssertionError(f"{exc}\n" + "\n----\n".join(logs)) from exc


def _interval(ti: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(ti["start_date"]), datetime.fromisoformat(ti["end_date"])


def _remote_log(stack: Stack, run_id: str, try_number: int) -> str:
    """The log file of one try as the worker uploaded it to the S3 log folder."""
    key = log_key(stack, DAG_ID, run_id, "dbt_run", try_number)
    return stack.s3_client().get_object(Bucket=LOG_BUCKET, Key=key)["Body"].read().decode()


def test_scheduler_retries_then_clear_rerun_only_the_failed_models(
    stack: Stack, broken_stg_orders: Path
) -> None:
    """A model broken in the project: try 1 builds everything, the scheduler's tries 2 and 3 run
    `dbt retry` (the failed model and its descendants only); after the fix, a Clear through the
    API re-runs only those models and the date goes green."""
    run = stack.api(
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        json={"logical_date": "2026-10-05T00:00:00+00:00", "conf": {"threads": 2}},
    )
    run_id = run["dag_run_id"]
    wait_run(stack, DAG_ID, run_id, "failed", timeout=300)

    assert [t["try_number"] for t in tries(stack, DAG_ID, run_id, "dbt_run")] == [1, 2, 3]
    summary = _summary(stack, run_id)
    assert summary["mode"] == "retry"
    assert [f["unique_id"] for f in summary["failed"]] == ["model.shop.stg_orders"]
    assert BUILD_LINE.search(task_log(stack, DAG_ID, run_id, "dbt_run", 1))
    for try_number in (2, 3):
        assert RETRY_LINE.search(task_log(stack, DAG_ID, run_id, "dbt_run", try_number)), try_number
        assert RETRY_LINE.search(_remote_log(stack, run_id, try_number)), try_number

    # Fix the project, then Clear the failed task: the run's conf is kept, only the failures re-run.
    broken_stg_orders.write_text(broken_stg_orders.read_text().replace(" where no_such_column > 0", ""))
    stack.api(
        "POST",
        f"/dags/{DAG_ID}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "task_ids": ["dbt_run"], "only_failed": True},
    )
    wait_run(stack, DAG_ID, run_id, "success", timeout=300)
    summary = _summary(stack, run_id)
    assert summary["mode"] == "retry"
    assert summary["failed"] == []
    executed = set(summary["executed"])
    assert {"model.shop.stg_orders", *DOWNSTREAM_OF_STG_ORDERS} <= executed
    assert not executed & {"model.shop.stg_customers", "model.shop.stg_payments"}  # not descendants
    last = tries(stack, DAG_ID, run_id, "dbt_run")[-1]
    assert RETRY_LINE.search(task_log(stack, DAG_ID, run_id, "dbt_run", last["try_number"]))


GREEN_DATES = ("2026-11-02", "2026-11-03", "2026-11-04")
BROKEN_DATE = "2026-11-05T00:00:00+00:00"


def test_backfilled_dates_never_build_the_same_target_at_once(stack: Stack) -> None:
    """Three dates of a backfill are serialised by the dbt pool: each date succeeds on its first
    try (no try spent on the DuckDB file lock) and no two dbt builds overlap in time."""
    stack.cli(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", GREEN_DATES[0], "--to-date", GREEN_DATES[-1]
    )
    backfill = stack.wait_for(
        lambda: (
            (found := runs(stack, DAG_ID, "backfill")) and len(found) == 3
            and all(r["state"] in ("success", "failed") for r in found) and found
        ),
        400, "3 backfill runs to finish", every=3,
    )  # fmt: skip
    assert sorted(r["state"] for r in backfill) == ["success"] * 3, backfill

    intervals = []
    for run in backfill:
        dbt_tries = tries(stack, DAG_ID, run["dag_run_id"], "dbt_run")
        assert [t["try_number"] for t in dbt_tries] == [1], (run["dag_run_id"], dbt_tries)
        assert dbt_tries[0]["pool"] == "platform_ops_dbt"
        intervals.append(_interval(dbt_tries[0]))
    for (_, first_end), (second_start, _) in combinations(sorted(intervals), 2):
        assert first_end <= second_start, f"dbt builds overlapped: {intervals}"


def test_repairing_a_date_failed_by_a_trigger_param(stack: Stack) -> None:
    """The README's repair story as Airflow 3.3 really behaves: tries 2 and 3 retry only the failed
    model; a second trigger of the date is refused; Clear keeps the breaking conf; a backfill of
    the whole range with --reprocess-behavior failed and a corrected --dag-run-conf re-runs only
    the failed date, and only its failed models."""
    conf = {"vars": {"fail_models": ["stg_orders"]}}
    run = stack.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": BROKEN_DATE, "conf": conf})
    run_id = run["dag_run_id"]
    wait_run(stack, DAG_ID, run_id, "failed", timeout=300)
    assert [t["try_number"] for t in tries(stack, DAG_ID, run_id, "dbt_run")] == [1, 2, 3]
    summary = _summary(stack, run_id)
    assert summary["mode"] == "retry"  # try 3 was a `dbt retry`
    assert [f["unique_id"] for f in summary["failed"]] == ["model.shop.stg_orders"]

    # One run per logical date: triggering the date again is refused.
    with pytest.raises(RuntimeError, match="409"):
        stack.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": BROKEN_DATE, "conf": {}})

    # Clear keeps the run's conf: the breaking var is still there and the date fails again.
    stack.api("POST", f"/dags/{DAG_ID}/clearTaskInstances", json={"dry_run": False, "dag_run_id": run_id})
    stack.wait_for(
        lambda: (
            stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"] == "failed"
            and len(tries(stack, DAG_ID, run_id, "dbt_run")) > 3
        ),
        300, "the cleared run to fail again", every=3,
    )  # fmt: skip
    assert stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["conf"] == conf

    # The repair: a backfill of the whole range with the corrected conf replaces the conf of the
    # failed date and re-runs only its stored failures; the green dates are not touched.
    green_before = {r["dag_run_id"]: r["end_date"] for r in runs(stack, DAG_ID, "backfill")}
    stack.cli(
        "backfill", "create", "--dag-id", DAG_ID,
        "--from-date", GREEN_DATES[0], "--to-date", BROKEN_DATE[:10],
        "--reprocess-behavior", "failed", "--dag-run-conf", "{}",
    )  # fmt: skip
    wait_run(stack, DAG_ID, run_id, "success", timeout=300)
    summary = _summary(stack, run_id)
    assert summary["mode"] == "retry"
    assert summary["failed"] == []
    executed = set(summary["executed"])
    assert "model.shop.stg_orders" in executed
    assert "model.shop.stg_customers" not in executed  # not a descendant: not rebuilt
    green_after = {
        r["dag_run_id"]: r["end_date"] for r in runs(stack, DAG_ID) if r["dag_run_id"] in green_before
    }
    assert green_after == green_before, "a green date was re-run by the repair backfill"
    for green in green_before:
        assert [t["try_number"] for t in tries(stack, DAG_ID, green, "dbt_run")] == [1]
