"""The Databricks DR migration on the production-shaped stack, against two sandbox workspaces.

A real run of ``databricks_dr_migrate`` (triggered through the REST API) loses its Celery worker
(SIGKILL of the whole process tree) while ``migrate_jobs`` is creating jobs in the secondary: the
scheduler notices the missing heartbeats, the DAG's own retry runs on the other worker, and the
secondary ends with exactly one object per source object (counted by marker), validation green.
The secret values come from a Variable (a name Airflow does not mask by itself): they reach the
secondary's scope and no task log (read back through the API) nor XCom. A second manual run of the
same pair then writes nothing: the checkpoint belongs to the workspace pair, not to a run.

The pair starts with this module, after the stack: its two connections and the Variable are created
through the REST API (stored in the metadata DB, as on a running deployment), not in the
environment the stack's processes started with.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_stack import Stack

from sandbox import dr_seed
from sandbox.databricks.launcher import DatabricksSandbox
from tests.stack.helpers import run, task_instances, task_log, tries, unpause, wait_run, xcom

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("stack")]

DAG_ID = "databricks_dr_migrate"
PRIMARY_CONN, SECONDARY_CONN = "dr_e2e_primary", "dr_e2e_secondary"
# No sensitive word in the name: only the migration's own masking can hide its values.
VALUES_VARIABLE = "dr_e2e_scope_values"
SECRET_CANARY = f"DR-E2E-VALUE-{secrets.token_hex(8)}"
SIZES = {"notebooks": 6, "files": 2, "clusters": 8, "jobs": 8, "repos_notebooks": 1}


class Pair:
    def __init__(self, primary: DatabricksSandbox, secondary: DatabricksSandbox, manifest: Any) -> None:
        self.primary, self.secondary, self.manifest = primary, secondary, manifest


@pytest.fixture(scope="module")
def pair(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """A seeded primary and an empty secondary (same principals), reached by the stack's tasks through
    two Databricks connections and the secret values' Variable created with the REST API."""
    root: Path = tmp_path_factory.mktemp("dr-pair")
    primary = DatabricksSandbox(root / "primary", workspace_id="7300000000000001")
    secondary = DatabricksSandbox(root / "secondary", workspace_id="7300000000000002")
    try:
        primary.start()
        secondary.start()
        manifest = dr_seed.seed(primary.client(), sandbox=primary, **SIZES)
        dr_seed.ensure_principals(secondary.client())
        for conn_id, sandbox in ((PRIMARY_CONN, primary), (SECONDARY_CONN, secondary)):
            stack.api(
                "POST", "/connections", json={"connection_id": conn_id, **json.loads(sandbox.connection())}
            )
        values = {dr_seed.SCOPE: {key: f"{SECRET_CANARY}-{key}" for key in dr_seed.SECRET_KEYS}}
        stack.api("POST", "/variables", json={"key": VALUES_VARIABLE, "value": json.dumps(values)})
        yield Pair(primary, secondary, manifest)
    finally:
        for path in (
            f"/connections/{PRIMARY_CONN}",
            f"/connections/{SECONDARY_CONN}",
            f"/variables/{VALUES_VARIABLE}",
        ):
            with contextlib.suppress(RuntimeError):  # never created: the fixture failed before
                stack.api("DELETE", path)
        secondary.stop()
        primary.stop()


def _trigger(stack: Stack) -> str:
    conf = {
        "source_conn_id": PRIMARY_CONN,
        "target_conn_id": SECONDARY_CONN,
        "dry_run": False,
        "secret_values_variable": VALUES_VARIABLE,
        "parallelism": 2,
    }
    created = stack.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf})
    return str(created["dag_run_id"])


def _wait_end(stack: Stack, run_id: str) -> str:
    def ended() -> str | None:
        state = str(run(stack, DAG_ID, run_id)["state"])
        return state if state in ("success", "failed") else None

    return str(stack.wait_for(ended, 300, f"{DAG_ID} {run_id} to end", every=2))


def _migrated_jobs(secondary: DatabricksSandbox) -> int:
    """Jobs in the secondary carrying a migration marker (committed creates)."""
    jobs = secondary.client().jobs.list()
    return sum(1 for j in jobs if j.settings is not None and dr_seed.MARKER_KEY in (j.settings.tags or {}))


def _creating_jobs_on(stack: Stack, run_id: str, secondary: DatabricksSandbox) -> tuple[str, int] | None:
    """The worker running this run's migrate_jobs and the jobs it has created so far, once it has
    created at least one in the secondary. The secondary answers slowly from the moment the task is
    scheduled: its jobs then take seconds, and the kill lands among them."""
    ti = stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/migrate_jobs")
    if ti["state"] in ("scheduled", "queued", "running"):
        secondary.configure(latency_seconds=0.3)  # not an API request: the stats do not count it
    if ti["state"] != "running" or ti["hostname"] not in stack.procs:
        return None
    created = _migrated_jobs(secondary)
    return (ti["hostname"], created) if created else None


def _run_text(stack: Stack, run_id: str, victim: str | None = None) -> tuple[str, str]:
    """Every try's task log (as the API serves it from S3) and every XCom value of the run.

    A try that ran on ``victim`` (the worker killed mid-run) is read from the file that worker
    wrote: the kill can land before its supervisor uploads the log, for the try it killed and for
    any other try that had just finished there."""
    logs, xcoms = [], []
    for ti in task_instances(stack, DAG_ID, run_id):
        task_id, map_index = ti["task_id"], ti["map_index"]
        hosts = {t["try_number"]: t["hostname"] for t in tries(stack, DAG_ID, run_id, task_id)}
        for try_number in range(1, (ti["try_number"] or 0) + 1):
            if victim is not None and hosts.get(try_number) == victim:
                folder = stack.root / victim / "home" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
                files = list((folder / f"task_id={task_id}").glob(f"attempt={try_number}.log"))
                assert len(files) == 1, (folder, files)
                logs.append(files[0].read_text())
                continue
            logs.append(task_log(stack, DAG_ID, run_id, task_id, try_number, map_index))
        entries = stack.api(
            "GET",
            f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries",
            params={"map_index": map_index, "limit": 100},
        )["xcom_entries"]
        xcoms += [repr(xcom(stack, DAG_ID, run_id, task_id, e["key"], map_index)) for e in entries]
    return "\n".join(logs), "\n".join(xcoms)


def test_a_worker_killed_mid_migration_retries_to_one_copy_per_object_and_masks_values(
    stack: Stack, pair: Pair
) -> None:
    unpause(stack, DAG_ID)
    pair.primary.reset()
    pair.secondary.reset()
    run_id = _trigger(stack)
    victim, created = stack.wait_for(
        lambda: _creating_jobs_on(stack, run_id, pair.secondary),
        240,
        "migrate_jobs to create a job",
        every=0.1,
    )
    stack.kill(victim, signal.SIGKILL)
    pair.secondary.configure(latency_seconds=0)
    survivor = next(n for n in stack.procs if n.startswith("worker-") and n != victim)
    try:
        final = _wait_end(stack, run_id)
    finally:
        stack.start_worker(victim)  # the later tests get both workers back
    assert created < len(pair.manifest.eligible("jobs")), "the kill landed after the last job was created"

    # One object per source object in the secondary, by marker, whatever the run's tries did.
    report = dr_seed.target_report(pair.secondary.client(), pair.manifest)
    assert report.duplicates == 0, report.per_marker
    assert report.missing == {}, report.missing
    prefix = f"{pair.manifest.workspace_id}:"
    for kind, per_marker in report.per_marker.items():
        expected = {f"{prefix}{source_id}": 1 for source_id in pair.manifest.eligible(kind)}
        assert per_marker == expected, kind
    assert report.running_clusters == []
    states = {ti["task_id"]: ti["state"] for ti in task_instances(stack, DAG_ID, run_id)}
    assert final == "success", states

    # Try 1 died with its worker and was failed by the scheduler; the DAG's retry finished the job.
    job_tries = [
        (t["try_number"], t["state"], t["hostname"]) for t in tries(stack, DAG_ID, run_id, "migrate_jobs")
    ]
    assert job_tries == [(1, "failed", victim), (2, "success", survivor)], job_tries

    assert states["validate"] == "success", states
    counts = xcom(stack, DAG_ID, run_id, "validate", "counts")
    assert counts["ok"] is True, counts
    assert counts["failures"] == 0, counts

    # The values reached the secondary's scope, and no log or XCom of the run, the dead try's included.
    keys = {s.key for s in pair.secondary.client().secrets.list_secrets(dr_seed.SCOPE)}
    assert keys == set(dr_seed.SECRET_KEYS)
    logs, xcoms = _run_text(stack, run_id, victim=victim)
    assert "validation passed" in logs  # the logs were read back, not empty
    assert "secret_scopes" in xcoms
    assert SECRET_CANARY not in logs
    assert SECRET_CANARY not in xcoms


def test_a_second_manual_run_of_the_pair_writes_nothing(stack: Stack, pair: Pair) -> None:
    before = pair.primary.stats()["writes"], pair.secondary.stats()["writes"]
    run_id = _trigger(stack)
    wait_run(stack, DAG_ID, run_id, "success", timeout=300)
    assert (pair.primary.stats()["writes"], pair.secondary.stats()["writes"]) == before
    assert xcom(stack, DAG_ID, run_id, "validate", "counts")["ok"] is True
