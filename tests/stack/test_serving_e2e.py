"""Model-serving waits in the real triggerer, and the Databricks token nowhere it could leak.

``dag.test()`` runs a trigger inline in the task's process; on the stack the wait is handed to the
triggerer and the worker slot is released. 20 endpoint waits at once must all show ``deferred``
with no task slot in use; the triggerer killed (SIGKILL) and restarted mid-wait, every wait
resumes in the new triggerer and succeeds. Then every run of the session is searched for the
canary token of databricks_default: task logs (read back through the API), XComs, rendered
fields, and every object in S3 (run state and remote logs).
"""

from __future__ import annotations

import signal
import time

import pytest
from airflow_stack import LOG_BUCKET, STATE_BUCKET, Stack

from tests.stack.conftest import CANARY_TOKEN, WAITS, wait_dag_ids
from tests.stack.helpers import runs, task_instances, task_log, unpause

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("stack")]


def _wait_states(stack: Stack, run_ids: dict[str, str]) -> dict[str, str]:
    states = {}
    for dag_id, run_id in run_ids.items():
        tis = {ti["task_id"]: ti["state"] for ti in task_instances(stack, dag_id, run_id)}
        states[dag_id] = tis.get("wait_ready")
    return states


def _default_pool(stack: Stack) -> dict:
    return stack.api("GET", "/pools/default_pool")


def test_waits_hold_no_worker_slot_and_survive_a_triggerer_restart(stack: Stack) -> None:
    stack.databricks.configure(deploy_seconds=3600)  # every endpoint stays IN_PROGRESS until released
    run_ids = {}
    for dag_id in wait_dag_ids():
        unpause(stack, dag_id)
        run_ids[dag_id] = stack.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})[
            "dag_run_id"
        ]

    stack.wait_for(
        lambda: set(_wait_states(stack, run_ids).values()) == {"deferred"},
        300,
        f"{WAITS} endpoint waits to be deferred",
        every=3,
    )
    pool = _default_pool(stack)
    assert pool["deferred_slots"] == WAITS, pool
    assert pool["running_slots"] == 0, pool
    assert pool["queued_slots"] == 0, pool

    # The triggerer dies mid-wait; nothing moves until a new one takes the triggers over.
    stack.kill("triggerer", signal.SIGKILL)
    time.sleep(3)
    assert set(_wait_states(stack, run_ids).values()) == {"deferred"}
    stack.start_component("triggerer")
    stack.databricks.configure(deploy_seconds=0)  # the endpoints are ready only now

    def all_done() -> bool:
        states = [stack.api("GET", f"/dags/{d}/dagRuns/{r}")["state"] for d, r in run_ids.items()]
        if "failed" in states:
            raise AssertionError(f"a wait failed: {dict(zip(run_ids, states, strict=True))}")
        return set(states) == {"success"}

    stack.wait_for(all_done, 300, "every wait to resume and succeed", every=3)
    for dag_id, run_id in run_ids.items():
        wait = next(ti for ti in task_instances(stack, dag_id, run_id) if ti["task_id"] == "wait_ready")
        assert wait["try_number"] == 1, (dag_id, wait)  # resumed, not retried


def _all_strings(value: object) -> str:
    return repr(value)


def test_the_databricks_token_surfaces_nowhere(stack: Stack) -> None:
    """After the session's runs (dbt and serving, which authenticate with the token), the canary
    is in no task log, no XCom, no rendered field and no object in S3."""
    # every DAG that ran, also one the DAG processor marked stale meanwhile (its runs and logs stay)
    listed = stack.api("GET", "/dags", params={"limit": 100, "exclude_stale": False})
    dags = [d["dag_id"] for d in listed["dags"]]
    assert listed["total_entries"] == len(dags), listed["total_entries"]
    assert set(wait_dag_ids()) <= set(dags), sorted(set(wait_dag_ids()) - set(dags))
    serving_logs = 0
    for dag_id in dags:
        serving = dag_id in wait_dag_ids()
        for run in runs(stack, dag_id):
            run_id = run["dag_run_id"]
            for ti in task_instances(stack, dag_id, run_id):
                where = f"{dag_id}/{run_id}/{ti['task_id']}"
                assert CANARY_TOKEN not in _all_strings(ti.get("rendered_fields")), where
                for try_number in range(1, (ti["try_number"] or 0) + 1):
                    # a try whose worker another test killed never uploads its log: only the
                    # serving runs' logs are awaited in S3 (every object there is searched below)
                    log = task_log(stack, dag_id, run_id, ti["task_id"], try_number, ti["map_index"],
                                   wait=120 if serving else 0)  # fmt: skip
                    assert CANARY_TOKEN not in log, f"{where} try {try_number}"
                    serving_logs += serving
                xcoms = stack.api(
                    "GET",
                    f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/xcomEntries",
                    params={"map_index": ti["map_index"], "limit": 100},
                )["xcom_entries"]
                for entry in xcoms:
                    value = stack.api(
                        "GET",
                        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/xcomEntries/{entry['key']}",
                        params={"map_index": ti["map_index"], "deserialize": True},
                    )
                    assert CANARY_TOKEN not in _all_strings(value), f"{where} xcom {entry['key']}"
    assert serving_logs >= WAITS * 2  # every serving run's deploy and wait log, read from S3

    s3 = stack.s3_client()
    objects = 0
    for bucket in (STATE_BUCKET, LOG_BUCKET):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                assert CANARY_TOKEN.encode() not in body, f"s3://{bucket}/{obj['Key']}"
                objects += 1
    assert objects > WAITS
