"""A Celery worker dies (SIGKILL of its whole process tree, as a crashed host or an OOM-killed
container) in the middle of a dbt build: the scheduler notices the missing heartbeats, the retry
runs on the other worker (which shares only PostgreSQL, Redis and S3 with the dead one), it
succeeds with a full, correct build, and nothing of the dead try is left running."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
import pytest
from airflow_stack import Stack

from tests.stack.helpers import runs, tries, unpause, wait_run, xcom

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("stack")]

DAG_ID = "dbt_transform"


def _dbt_processes(project: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        is_dbt = any(part.endswith(("/dbt", "retry_session.py")) for part in cmdline[:2])
        if is_dbt and str(project) in " ".join(cmdline):
            found.append(proc)
    return found


def _running_on(stack: Stack, run_id: str, project: Path) -> str | None:
    """The worker whose process tree runs this run's dbt build right now, if any."""
    ti = stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/dbt_run")
    worker = ti["hostname"]
    if ti["state"] != "running" or worker not in stack.procs:
        return None
    try:
        tree = {c.pid for c in psutil.Process(stack.procs[worker].pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return None
    return worker if tree & {p.pid for p in _dbt_processes(project)} else None


def test_a_worker_killed_mid_build_is_retried_on_the_other_worker(stack: Stack, dbt_project: Path) -> None:
    unpause(stack, DAG_ID)
    # only this run's build may be running when a worker is killed (unpausing schedules one)
    stack.wait_for(
        lambda: all(r["state"] in ("success", "failed") for r in runs(stack, DAG_ID)),
        300, "earlier dbt_transform runs to finish", every=2,
    )  # fmt: skip
    # one thread: the build lasts long enough for the kill to land inside it
    run = stack.api(
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        json={"logical_date": "2026-09-01T00:00:00+00:00", "conf": {"threads": 1}},
    )
    run_id = run["dag_run_id"]
    victim = stack.wait_for(lambda: _running_on(stack, run_id, dbt_project), 300, "dbt to start", every=0.2)
    stack.kill(victim, signal.SIGKILL)
    survivor = next(n for n in stack.procs if n.startswith("worker-") and n != victim)
    try:
        wait_run(stack, DAG_ID, run_id, "success", timeout=300)
    finally:
        stack.start_worker(victim)  # the later tests get both workers back

    # The scheduler saw try 1's heartbeats stop and failed it; try 2 ran on the other worker.
    dbt_tries = tries(stack, DAG_ID, run_id, "dbt_run")
    assert [(t["try_number"], t["state"], t["hostname"]) for t in dbt_tries] == [
        (1, "failed", victim),
        (2, "success", survivor),
    ], dbt_tries
    summary = xcom(stack, DAG_ID, run_id, "dbt_run", "summary")
    assert summary["failed"] == []
    assert {"model.shop.stg_orders", "model.shop.orders", "model.shop.customers"} <= set(summary["executed"])
    assert not _dbt_processes(dbt_project), "a dbt process of the killed try is still running"
