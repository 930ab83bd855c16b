"""The DR migration end to end against the sandbox pair (primary, secondary), through dag.test().

Each test wipes both workspaces, seeds a small primary through databricks-sdk, and runs the test DAGs
of tests/operators/dags/dr_scenarios.py (the migration wired as the shipped DAG wires it). Writes are
counted by the sandbox (POST/PUT/PATCH/DELETE requests on the API).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from platform_ops.core.dr_migrate import DrParams
from platform_ops.core.dr_objects import MARKER_KEY
from platform_ops.hooks.dr_migrate import DrWorkspaceHook
from platform_ops.operators.dr_migrate import permission_objects
from tests.airflow_runner import RunResult, run_dag

pytestmark = pytest.mark.integration

DAGS = Path(__file__).parent / "dags"
REPO = Path(__file__).resolve().parents[2]
SECRET_CANARY = "canary-secret-7f3e9b21"
NOTEBOOK_CANARY = "canary-notebook-5d0c44aa"
SPARK = "15.4.x-scala2.12"
NODE = "i3.xlarge"
ROOT = "/Shared/dr-test"


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def pair(
    databricks_sandbox_pair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Any, Any]]:
    """Both workspaces empty, default knobs, the connections and a fresh state root."""
    primary, secondary = databricks_sandbox_pair
    for sandbox in (primary, secondary):
        sandbox.wipe()  # empty workspace, default knobs, counters from zero
    monkeypatch.setenv("AIRFLOW_CONN_DBX_PRIMARY", primary.connection())
    monkeypatch.setenv("AIRFLOW_CONN_DBX_SECONDARY", secondary.connection())
    monkeypatch.setenv("AIRFLOW_CONN_DBX_PRIMARY_AGAIN", primary.connection())
    monkeypatch.setenv("AIRFLOW_VAR_DR_SECRETS", json.dumps({"app-secrets": {"password": SECRET_CANARY}}))
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    yield primary, secondary
    for sandbox in (primary, secondary):
        sandbox.reset()


@pytest.fixture
def output(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """What the runs printed and logged since the last call (dag.test() uses either way)."""

    def read() -> str:
        text = "".join(capfd.readouterr()) + caplog.text
        caplog.clear()
        return text

    return read


# -- seeding -------------------------------------------------------------------------------------
def notebook(text: str) -> str:
    return base64.b64encode(f"# Databricks notebook source\nprint({text!r})\n".encode()).decode()


def seed(primary: Any, *, unpaused_job: bool = True) -> dict[str, str]:
    """A policy, a pool, a scope, an init script, notebooks and a file, a cluster on the policy and
    pool, and three jobs: scheduled (un-paused), continuous (paused) and one that runs the first."""
    w = primary.client()
    api = w.api_client
    ids: dict[str, str] = {}
    ids["policy"] = api.do(
        "POST",
        "/api/2.0/policies/clusters/create",
        body={
            "name": "etl-policy",
            "definition": json.dumps({"spark_version": {"type": "fixed", "value": SPARK}}),
        },
    )["policy_id"]
    ids["pool"] = api.do(
        "POST",
        "/api/2.0/instance-pools/create",
        body={"instance_pool_name": "etl-pool", "node_type_id": NODE, "min_idle_instances": 2},
    )["instance_pool_id"]
    api.do("POST", "/api/2.0/secrets/scopes/create", body={"scope": "app-secrets"})
    api.do(
        "POST", "/api/2.0/secrets/put", body={"scope": "app-secrets", "key": "password", "string_value": "x"}
    )
    api.do(
        "POST",
        "/api/2.0/global-init-scripts",
        body={
            "name": "deps",
            "script": base64.b64encode(b"#!/bin/bash\necho deps\n").decode(),
            "enabled": True,
        },
    )
    api.do("POST", "/api/2.0/workspace/mkdirs", body={"path": ROOT})
    for name, text in (("ingest", NOTEBOOK_CANARY), ("report", "report")):
        api.do(
            "POST",
            "/api/2.0/workspace/import",
            body={
                "path": f"{ROOT}/{name}",
                "format": "SOURCE",
                "language": "PYTHON",
                "content": notebook(text),
            },
        )
    ids["cluster"] = api.do(
        "POST",
        "/api/2.1/clusters/create",
        body={
            "cluster_name": "etl-shared",
            "spark_version": SPARK,
            "instance_pool_id": ids["pool"],
            "policy_id": ids["policy"],
            "num_workers": 1,
            "autotermination_minutes": 30,
        },
    )["cluster_id"]
    task = {"task_key": "main", "notebook_task": {"notebook_path": f"{ROOT}/ingest"}}
    schedule = {"quartz_cron_expression": "0 0 5 * * ?", "timezone_id": "UTC"}
    ids["scheduled"] = str(
        api.do(
            "POST",
            "/api/2.2/jobs/create",
            body={
                "name": "nightly-ingest",
                "tasks": [{**task, "existing_cluster_id": ids["cluster"]}],
                "schedule": {**schedule, "pause_status": "UNPAUSED" if unpaused_job else "PAUSED"},
            },
        )["job_id"]
    )
    ids["continuous"] = str(
        api.do(
            "POST",
            "/api/2.2/jobs/create",
            body={
                "name": "stream",
                "tasks": [{**task, "job_cluster_key": "jc"}],
                "job_clusters": [
                    {
                        "job_cluster_key": "jc",
                        "new_cluster": {
                            "spark_version": SPARK,
                            "instance_pool_id": ids["pool"],
                            "num_workers": 1,
                        },
                    }
                ],
                "continuous": {"pause_status": "PAUSED"},
            },
        )["job_id"]
    )
    ids["runner"] = str(
        api.do(
            "POST",
            "/api/2.2/jobs/create",
            body={
                "name": "runner",
                "tasks": [{"task_key": "go", "run_job_task": {"job_id": int(ids["scheduled"])}}],
            },
        )["job_id"]
    )
    return ids


# -- running -------------------------------------------------------------------------------------
DATE = datetime(2026, 11, 20, tzinfo=UTC)


def dr(**changes: Any) -> dict[str, Any]:
    return {
        "source_conn_id": "dbx_primary",
        "target_conn_id": "dbx_secondary",
        "dry_run": False,
        "secret_values_variable": "dr_secrets",
        "parallelism": 4,
        "progress_every": 2,
        "flush_every": 2,
        **changes,
    }


# a confirmed cutover that also pauses the migrated schedules in the source
CUTOVER_PAUSING_SOURCE = {
    "source_conn_id": "dbx_primary",
    "target_conn_id": "dbx_secondary",
    "confirm": True,
    "pause_source": True,
}


def run(dag_id: str = "dr_scenarios", **conf: Any) -> RunResult:
    return run_dag(DAGS, dag_id, DATE, {"dr": dr(**conf.pop("dr", {})), **conf})


def writes(sandbox: Any) -> int:
    return int(sandbox.stats()["writes"])


def posts(sandbox: Any) -> dict[str, int]:
    return {k: v for k, v in sandbox.stats()["by_route"].items() if not k.startswith("GET ")}


def target_objects(secondary: Any) -> dict[str, Counter[str]]:
    """Per type, how many target objects carry each source marker (or path / scope name)."""
    api = secondary.client().api_client
    out: dict[str, Counter[str]] = {}
    clusters = api.do("GET", "/api/2.1/clusters/list").get("clusters") or []
    out["clusters"] = Counter((c.get("custom_tags") or {}).get(MARKER_KEY) for c in clusters)
    pools = api.do("GET", "/api/2.0/instance-pools/list").get("instance_pools") or []
    out["instance_pools"] = Counter((p.get("custom_tags") or {}).get(MARKER_KEY) for p in pools)
    policies = api.do("GET", "/api/2.0/policies/clusters/list").get("policies") or []
    out["cluster_policies"] = Counter(p["name"] for p in policies if not p.get("is_default"))
    jobs = api.do("GET", "/api/2.2/jobs/list", query={"limit": 100}).get("jobs") or []
    out["jobs"] = Counter((j["settings"].get("tags") or {}).get(MARKER_KEY) for j in jobs)
    scripts = api.do("GET", "/api/2.0/global-init-scripts").get("scripts") or []
    out["global_init_scripts"] = Counter(s["name"] for s in scripts)
    return out


def one_each(secondary: Any, ids: dict[str, str]) -> None:
    """Exactly one target object per migrated source object, no extra ones."""
    found = target_objects(secondary)
    assert found["cluster_policies"] == Counter({"etl-policy": 1})
    assert found["instance_pools"] == Counter({f"{PRIMARY_ID}:{ids['pool']}": 1})
    assert found["clusters"] == Counter({f"{PRIMARY_ID}:{ids['cluster']}": 1})
    assert found["global_init_scripts"] == Counter({"deps": 1})
    assert found["jobs"] == Counter(
        {f"{PRIMARY_ID}:{ids[k]}": 1 for k in ("scheduled", "continuous", "runner")}
    )


PRIMARY_ID = ""  # filled in by the autouse fixture below


@pytest.fixture(autouse=True)
def _primary_id(databricks_sandbox_pair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(globals(), "PRIMARY_ID", str(databricks_sandbox_pair[0].workspace_id))


# -- tests ---------------------------------------------------------------------------------------
def test_dry_run_plans_every_type_and_writes_nothing(pair, output):
    primary, secondary = pair
    seed(primary)
    primary.reset()
    result = run(dr={"dry_run": True})
    assert result.state == "success", output()[-4000:]
    assert writes(primary) == 0
    assert writes(secondary) == 0
    plan = result.xcom[("preflight", "return_value")]
    assert plan["dry_run"] is True
    counts = plan["counts"]
    assert counts["jobs"] == {"create": 3}
    assert counts["clusters"] == {"create": 1}
    assert counts["secret_scopes"] == {"create": 1}
    assert counts["workspace_objects"]["create"] == 3  # the folder and its two notebooks
    text = output()
    assert "DR plan (objects per action):" in text
    assert "out of scope, not migrated: repos" in text
    # the preflight walks the source tree once and reads each ACL once (it read both twice)
    seen = primary.stats()["by_route"]
    objects = permission_objects(DrWorkspaceHook("dbx_primary"), DrParams.from_params(dr()))
    walk = primary.stats()["by_route"]["GET /api/2.0/workspace/list"] - seen["GET /api/2.0/workspace/list"]
    assert seen["GET /api/2.0/workspace/list"] == walk + 1  # and /Repos once, for the Git folders' users
    acl_reads = (
        seen["GET /api/2.0/permissions/{object_type}/{object_id}"] + seen["GET /api/2.0/secrets/acls/list"]
    )
    assert acl_reads == len(objects) > 3


def test_full_run_validates_green_and_a_rerun_writes_nothing(pair, output, tmp_path):
    primary, secondary = pair
    ids = seed(primary)
    first = run()
    text = output()
    assert first.state == "success", text[-6000:]
    one_each(secondary, ids)
    counts = first.xcom[("validate", "counts")]
    assert counts["ok"] is True
    assert counts["failures"] == 0
    assert "DR validation (objects per check):" in text
    assert "validation passed" in text
    assert "jobs: 3/3 done" in text  # the progress line
    # the migrated schedule is paused; the cluster the run created is terminated
    api = secondary.client().api_client
    jobs = api.do("GET", "/api/2.2/jobs/list", query={"limit": 100, "expand_tasks": "true"})["jobs"]
    nightly = next(j for j in jobs if j["settings"]["name"] == "nightly-ingest")
    assert nightly["settings"]["schedule"]["pause_status"] == "PAUSED"
    cluster = api.do("GET", "/api/2.1/clusters/list")["clusters"][0]
    assert cluster["state"] in ("TERMINATED", "TERMINATING")
    runner = next(j for j in jobs if j["settings"]["name"] == "runner")
    assert str(runner["settings"]["tasks"][0]["run_job_task"]["job_id"]) == str(nightly["job_id"])
    report = json.loads(next((tmp_path / "state").rglob("dr_validation.json")).read_text())
    assert report["ok"] is True

    before = writes(secondary), writes(primary)
    again = run()
    assert again.state == "success", output()[-4000:]
    assert (writes(secondary), writes(primary)) == before  # nothing to do
    one_each(secondary, ids)

    # without the checkpoint a re-run still creates nothing: objects are found by their markers
    for doc in (tmp_path / "state" / "_shared" / "dr_migrate").glob("*.json"):
        doc.unlink()
    third = run()
    assert third.state == "success", output()[-4000:]
    assert (writes(secondary), writes(primary)) == before


def exports(sandbox: Any) -> int:
    return int(sandbox.stats()["by_route"].get("GET /api/2.0/workspace/export", 0))


def overwrite(sandbox: Any, path: str, text: str) -> None:
    """An edit of a notebook, as the UI or a user's import makes it (its modified_at changes)."""
    body = {"path": path, "format": "SOURCE", "language": "PYTHON", "content": notebook(text)}
    sandbox.client().api_client.do("POST", "/api/2.0/workspace/import", body={**body, "overwrite": True})


def test_unchanged_notebooks_are_compared_without_exports_and_an_edit_on_either_side_is_seen(pair, output):
    """The copy records both sides' modification times: a re-run and its validation export nothing
    while both workspaces still list them, and export again whatever either side changed since."""
    primary, secondary = pair
    seed(primary)
    assert run().state == "success", output()[-4000:]
    before = exports(primary), exports(secondary)
    again = run()
    assert again.state == "success", output()[-4000:]
    assert again.xcom[("validate", "counts")]["ok"] is True
    assert (exports(primary), exports(secondary)) == before  # nothing exported on either side

    overwrite(secondary, f"{ROOT}/report", "edited in the secondary")
    time.sleep(0.01)  # the sandbox's times are in milliseconds, as Databricks'
    before = exports(primary), exports(secondary)
    edited = run()
    text = output()
    assert edited.state == "failed"
    assert edited.states["validate"] == "failed"
    assert f"workspace_objects differs: {ROOT}/report ({ROOT}/report): the target copy differs" in text
    assert edited.xcom[("validate", "counts")]["failures"] == 1
    # only the edited pair was exported again, by the copy task and by the validation
    assert exports(primary) - before[0] >= 1
    assert exports(secondary) - before[1] >= 1
    assert exports(primary) - before[0] + exports(secondary) - before[1] <= 4

    overwrite(primary, f"{ROOT}/report", "changed in the source")
    fixed = run()
    assert fixed.state == "success", output()[-4000:]
    copied = secondary.client().api_client.do(
        "GET", "/api/2.0/workspace/export", query={"path": f"{ROOT}/report", "format": "SOURCE"}
    )
    assert "changed in the source" in base64.b64decode(copied["content"]).decode()


def test_a_crash_between_creates_and_the_checkpoint_then_a_rerun_leaves_one_copy_each(pair, output, tmp_path):
    primary, secondary = pair
    ids = seed(primary)
    crashed = run("dr_scenarios_crash", crash_after=1)
    assert crashed.states["migrate_jobs"] == "failed", output()[-4000:]
    assert "killed after 1 creates" in output()
    checkpoint = json.loads(next((tmp_path / "state" / "_shared" / "dr_migrate").glob("*.json")).read_text())
    assert "jobs" not in checkpoint["id_map"]  # the created job never reached the checkpoint
    assert sum(1 for _ in target_objects(secondary)["jobs"].elements()) == 1

    # the teardown ran after the failure: the cluster the run created is not running
    clusters = secondary.client().api_client.do("GET", "/api/2.1/clusters/list")["clusters"]
    assert crashed.states["teardown"] == "success"
    assert {c["state"] for c in clusters} <= {"TERMINATING", "TERMINATED"}

    # a new run of the pair resumes: the job created before the crash is found by its marker
    again = run()
    assert again.state == "success", output()[-4000:]
    one_each(secondary, ids)
    assert again.xcom[("migrate_jobs", "return_value")]["actions"] == {"create": 2, "identical": 1}


def test_a_create_committed_then_answered_503_is_not_duplicated(pair, output):
    primary, secondary = pair
    ids = seed(primary)
    secondary.configure(commit_then_503=6)
    result = run()
    assert result.state == "success", output()[-4000:]
    assert secondary.stats()["committed_503"] == 6
    one_each(secondary, ids)


def test_a_429_storm_completes_without_duplicates(pair, output):
    primary, secondary = pair
    ids = seed(primary)
    for sandbox in pair:
        sandbox.configure(error_rate_429=0.3, retry_after_seconds=0, seed=7)
    result = run()
    assert result.state == "success", output()[-4000:]
    assert secondary.stats()["injected_429"] > 0
    assert primary.stats()["injected_429"] > 0
    one_each(secondary, ids)
    assert result.xcom[("validate", "counts")]["ok"] is True


def test_an_oversized_notebook_is_reported_and_the_rest_migrated(pair, output):
    primary, secondary = pair
    seed(primary)
    big = base64.b64encode(b"# Databricks notebook source\n" + b"x = 1\n" * 400).decode()
    primary.client().api_client.do(
        "POST",
        "/api/2.0/workspace/import",
        body={"path": f"{ROOT}/huge", "format": "SOURCE", "language": "PYTHON", "content": big},
    )
    primary.configure(export_limit_bytes=1000)
    result = run()
    text = output()
    assert result.states["migrate_workspace_objects"] == "success", text[-4000:]
    assert result.xcom[("migrate_workspace_objects", "return_value")]["actions"]["blocked"] == 1
    assert f"{ROOT}/huge" in text
    assert "over the export" in text
    paths = {o.path for o in secondary.client().workspace.list(ROOT)}
    assert paths == {f"{ROOT}/ingest", f"{ROOT}/report"}
    assert result.states["validate"] == "failed"  # the copy is incomplete, and says so
    assert f"workspace_objects blocked: {ROOT}/huge" in text


def filtered_cluster_job(primary: Any) -> str:
    """A JOB-source cluster (filtered) and a job pinned to it."""
    cluster = primary.seed_cluster(
        {"cluster_name": "job-run-cluster", "spark_version": SPARK, "cluster_source": "JOB"}
    )
    return str(
        primary.client().api_client.do(
            "POST",
            "/api/2.2/jobs/create",
            body={
                "name": "pinned",
                "tasks": [
                    {
                        "task_key": "t",
                        "existing_cluster_id": cluster["cluster_id"],
                        "notebook_task": {"notebook_path": f"{ROOT}/report"},
                    }
                ],
            },
        )["job_id"]
    )


def test_a_job_on_a_filtered_cluster_is_blocked_without_a_post_or_skipped_by_param(pair, output):
    primary, secondary = pair
    ids = seed(primary)
    pinned = filtered_cluster_job(primary)
    blocked = run()
    text = output()
    assert blocked.xcom[("migrate_jobs", "return_value")]["actions"] == {"blocked": 1, "create": 3}
    assert secondary.stats()["by_route"]["POST /api/2.2/jobs/create"] == 3  # none for the pinned job
    assert "job-run-cluster" in text or "cluster_source JOB" in text
    assert blocked.states["validate"] == "failed"
    one_each(secondary, ids)

    skipped = run(dr={"skip_blocked_jobs": True})
    assert skipped.state == "success", output()[-4000:]
    assert skipped.xcom[("migrate_jobs", "return_value")]["actions"] == {"identical": 3, "skipped": 1}
    assert f"{PRIMARY_ID}:{pinned}" not in target_objects(secondary)["jobs"]


def test_a_principal_missing_in_the_target_fails_the_preflight_before_any_write(pair, output):
    primary, secondary = pair
    ids = seed(primary)
    api = primary.client().api_client
    api.do(
        "POST",
        "/api/2.0/preview/scim/v2/Users",
        body={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "only-in-primary@example.com",
        },
    )
    api.do(
        "PATCH",
        f"/api/2.0/permissions/jobs/{ids['scheduled']}",
        body={
            "access_control_list": [
                {"user_name": "only-in-primary@example.com", "permission_level": "CAN_VIEW"}
            ]
        },
    )
    primary.reset()
    result = run()
    assert result.states["preflight"] == "failed"
    assert writes(secondary) == 0
    assert writes(primary) == 0
    text = output()
    assert "only-in-primary@example.com" in text
    assert "permissions:" in text


def test_scope_acls_are_copied_after_the_principal_check_and_vault_scopes_are_left_alone(pair, output):
    """A scope's ACL names a group: the preflight fails until the group exists in the target, then
    the run copies the ACL item, validation compares it, and a re-run writes nothing. A scope backed
    by an Azure Key Vault is filtered: not created, its ACL neither checked nor copied."""
    primary, secondary = pair
    seed(primary)
    api = primary.client().api_client
    group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "secret-readers"}
    api.do("POST", "/api/2.0/preview/scim/v2/Groups", body=group)
    api.do(
        "POST",
        "/api/2.0/secrets/acls/put",
        body={"scope": "app-secrets", "principal": "secret-readers", "permission": "READ"},
    )
    vault = {"resource_id": "/subscriptions/0/vaults/kv", "dns_name": "https://kv.vault.azure.net/"}
    api.do(
        "POST",
        "/api/2.0/secrets/scopes/create",
        body={"scope": "in-vault", "scope_backend_type": "AZURE_KEYVAULT", "backend_azure_keyvault": vault},
    )
    api.do(
        "POST",
        "/api/2.0/secrets/acls/put",
        body={"scope": "in-vault", "principal": "only-in-primary-group", "permission": "READ"},
    )
    primary.reset()

    refused = run()
    assert refused.states["preflight"] == "failed"
    assert (writes(primary), writes(secondary)) == (0, 0)
    text = output()
    assert "secret-readers (in secret_scopes/app-secrets)" in text
    assert "only-in-primary-group" not in text  # the vault scope's ACL is not checked

    target = secondary.client().api_client
    target.do("POST", "/api/2.0/preview/scim/v2/Groups", body=group)
    first = run()
    assert first.state == "success", output()[-6000:]
    plan = first.xcom[("preflight", "return_value")]["counts"]["secret_scopes"]
    assert plan == {"create": 1, "filtered": 1}
    scopes = {s["name"] for s in target.do("GET", "/api/2.0/secrets/scopes/list")["scopes"]}
    assert scopes == {"app-secrets"}
    items = target.do("GET", "/api/2.0/secrets/acls/list", query={"scope": "app-secrets"})["items"]
    assert {"principal": "secret-readers", "permission": "READ"} in items
    report = first.xcom[("validate", "counts")]
    assert report["ok"] is True

    before = writes(secondary)
    assert run().state == "success", output()[-4000:]
    assert writes(secondary) == before
    # a reader removed in the target is put back by the next run, with one write
    target.do(
        "POST", "/api/2.0/secrets/acls/delete", body={"scope": "app-secrets", "principal": "secret-readers"}
    )
    assert run().state == "success", output()[-4000:]
    assert posts(secondary).get("POST /api/2.0/secrets/acls/put") == 2
    items = target.do("GET", "/api/2.0/secrets/acls/list", query={"scope": "app-secrets"})["items"]
    assert {"principal": "secret-readers", "permission": "READ"} in items


def test_cutover_unpauses_only_what_ran_in_the_source_and_is_idempotent(pair, output):
    primary, secondary = pair
    seed(primary)
    assert run().state == "success", output()[-4000:]

    refused = run("dr_cutover_scenarios", dr={"confirm": False})
    assert refused.state == "failed"
    assert "confirm: is false" in output()

    conf = CUTOVER_PAUSING_SOURCE
    done = run("dr_cutover_scenarios", dr=conf)
    assert done.state == "success", output()[-4000:]
    assert schedule_statuses(secondary) == {"nightly-ingest": "UNPAUSED", "stream": "PAUSED", "runner": None}
    assert schedule_statuses(primary) == {"nightly-ingest": "PAUSED", "stream": "PAUSED", "runner": None}
    before = writes(secondary), writes(primary)
    again = run("dr_cutover_scenarios", dr=conf)
    assert again.state == "success"
    assert (writes(secondary), writes(primary)) == before
    assert again.xcom[("cutover", "return_value")]["already_unpaused"]


def test_cutover_refuses_a_job_with_two_copies_in_the_target_and_changes_nothing(pair, output):
    """Un-pausing one of two marked copies (or both) would be a guess: the cutover names both ids
    and writes nothing in either workspace, pause_source included."""
    primary, secondary = pair
    ids = seed(primary)
    assert run().state == "success", output()[-4000:]
    api = secondary.client().api_client
    jobs = api.do("GET", "/api/2.2/jobs/list", query={"limit": 100, "expand_tasks": "true"})["jobs"]
    nightly = next(j for j in jobs if j["settings"]["name"] == "nightly-ingest")
    copy = str(api.do("POST", "/api/2.2/jobs/create", body=nightly["settings"])["job_id"])
    before = writes(secondary), writes(primary)

    conf = CUTOVER_PAUSING_SOURCE
    refused = run("dr_cutover_scenarios", dr=conf)
    text = output()
    assert refused.state == "failed"
    assert "Cutover refused: the target holds more than one copy of 1 job(s)" in text
    assert f"job {ids['scheduled']}: {', '.join(sorted([str(nightly['job_id']), copy]))}" in text
    assert (writes(secondary), writes(primary)) == before
    assert schedule_statuses(primary)["nightly-ingest"] == "UNPAUSED"  # the source still runs it


def test_canaries_never_reach_state_xcom_or_logs(pair, output, tmp_path):
    primary, secondary = pair
    seed(primary)
    result = run()
    text = output()
    assert result.state == "success", text[-4000:]
    state = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    assert state
    xcom = json.dumps(list(result.xcom.values()), default=str)
    for canary in (SECRET_CANARY, NOTEBOOK_CANARY):
        assert canary not in text
        assert canary not in state
        assert canary not in xcom
    # the secret did reach the target's scope, and the notebook its copy
    keys = [s.key for s in secondary.client().secrets.list_secrets("app-secrets")]
    assert keys == ["password"]
    exported = secondary.client().workspace.export(f"{ROOT}/ingest").content
    assert NOTEBOOK_CANARY in base64.b64decode(exported).decode()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"target_conn_id": "dbx_primary_again"}, "target_conn_id: reaches the source's host"),
        ({"object_types": ["jobs", "dashboards"]}, "object_types: unknown object type 'dashboards'"),
        ({"parallelism": 0}, "parallelism: 0 is out of range"),
    ],
)
def test_bad_params_fail_before_any_call(pair, output, changes, words):
    primary, secondary = pair
    seed(primary)
    primary.reset()
    result = run(dr=changes)
    assert result.states["preflight"] == "failed"
    assert primary.stats()["requests"] == 0
    assert secondary.stats()["requests"] == 0
    assert words in output()


def test_clusters_kept_running_stay_up_and_a_later_teardown_stops_only_its_own_run(pair, output):
    primary, secondary = pair
    seed(primary)
    kept = run(dr={"keep_clusters_running": True})
    assert kept.state == "success", output()[-4000:]
    api = secondary.client().api_client
    (cluster,) = api.do("GET", "/api/2.1/clusters/list")["clusters"]
    assert cluster["state"] not in ("TERMINATING", "TERMINATED")
    assert "POST /api/2.1/clusters/delete" not in posts(secondary)

    later = run()  # nothing to create: this run's teardown has no cluster of its own to stop
    assert later.state == "success", output()[-4000:]
    assert later.xcom[("teardown", "return_value")] == {"terminated": [], "created": []}
    state = api.do("GET", "/api/2.1/clusters/get", query={"cluster_id": cluster["cluster_id"]})["state"]
    assert state not in ("TERMINATING", "TERMINATED")


def test_the_rich_seed_migrates_validates_green_and_a_rerun_writes_nothing(pair, output, monkeypatch):
    from sandbox import dr_seed

    primary, secondary = pair
    manifest = dr_seed.seed(primary.client(), sandbox=primary, notebooks=12, files=3, clusters=8, jobs=10)
    dr_seed.ensure_principals(secondary.client())
    values = {dr_seed.SCOPE: {key: f"value-of-{key}" for key in dr_seed.SECRET_KEYS}}
    monkeypatch.setenv("AIRFLOW_VAR_DR_SECRETS", json.dumps(values))
    first = run()
    text = output()
    assert first.state == "success", text[-6000:]
    assert first.xcom[("validate", "counts")]["ok"] is True
    jobs = first.xcom[("migrate_jobs", "return_value")]["actions"]
    assert jobs.get("create") == len(manifest.eligible("jobs"))
    assert first.xcom[("migrate_permissions", "return_value")]["actions"].get("update", 0) > 0
    assert first.xcom[("migrate_clusters", "return_value")]["actions"] == {
        "create": len(manifest.eligible("clusters")),
        "filtered": len(manifest.filtered["clusters"]),
    }
    before = writes(secondary), writes(primary)
    again = run()
    assert again.state == "success", output()[-4000:]
    assert (writes(secondary), writes(primary)) == before


def test_secret_values_from_a_connection_extra_reach_the_target_and_nothing_else(
    pair, output, monkeypatch, tmp_path
):
    primary, secondary = pair
    seed(primary)
    extra = {"app-secrets": {"password": SECRET_CANARY}}
    monkeypatch.setenv("AIRFLOW_CONN_DR_SECRET_SOURCE", json.dumps({"conn_type": "generic", "extra": extra}))
    conf = {
        "secret_values_variable": None,
        "secret_values_conn_id": "dr_secret_source",
        "object_types": ["secret_scopes"],
    }
    result = run(dr=conf)
    text = output()
    assert result.state == "success", text[-4000:]
    assert [s.key for s in secondary.client().secrets.list_secrets("app-secrets")] == ["password"]
    state = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    for where in (text, state, json.dumps(list(result.xcom.values()), default=str)):
        assert SECRET_CANARY not in where

    # without a configured value the scope is reported, not created
    for sandbox in pair:
        sandbox.wipe()
    seed(primary)
    missing = run(dr={"secret_values_variable": None, "object_types": ["secret_scopes"], "dry_run": True})
    assert missing.xcom[("preflight", "return_value")]["counts"]["secret_scopes"] == {"needs_value": 1}
    assert "needs value: password" in output()


def secret_digest(sandbox: Any, scope: str, key: str) -> str:
    """The SHA-256 of the value the sandbox stores (the API never returns a value)."""
    return str(
        sandbox.client().api_client.do("GET", "/_sandbox/secrets/digest", query={"scope": scope, "key": key})[
            "sha256"
        ]
    )


def test_a_rotated_value_is_put_again_only_when_asked(pair, output, monkeypatch, tmp_path):
    """Keys already in the target are left alone (a re-run writes nothing); after a rotation,
    refresh_secret_values puts every configured value again, and the new value stays unlogged."""
    primary, secondary = pair
    seed(primary)
    only_scopes = {"object_types": ["secret_scopes"]}
    assert run(dr=only_scopes).state == "success", output()[-4000:]
    digest = hashlib.sha256(SECRET_CANARY.encode()).hexdigest()
    assert secret_digest(secondary, "app-secrets", "password") == digest

    rotated = "rotated-canary-91b0e5d2"
    monkeypatch.setenv("AIRFLOW_VAR_DR_SECRETS", json.dumps({"app-secrets": {"password": rotated}}))
    before = posts(secondary).get("POST /api/2.0/secrets/put", 0)
    assert run(dr=only_scopes).state == "success", output()[-4000:]
    # not noticed: no value can be read back to compare
    assert posts(secondary).get("POST /api/2.0/secrets/put", 0) == before
    assert secret_digest(secondary, "app-secrets", "password") == digest

    refreshed = run(dr={**only_scopes, "refresh_secret_values": True})
    text = output()
    assert refreshed.state == "success", text[-4000:]
    assert refreshed.xcom[("preflight", "return_value")]["counts"]["secret_scopes"] == {"update": 1}
    assert posts(secondary).get("POST /api/2.0/secrets/put", 0) == before + 1
    assert secret_digest(secondary, "app-secrets", "password") == hashlib.sha256(rotated.encode()).hexdigest()
    assert refreshed.xcom[("validate", "counts")]["ok"] is True
    state = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    for where in (text, state, json.dumps(list(refreshed.xcom.values()), default=str)):
        assert rotated not in where

    # asking for a refresh without any configured value is a params error, before any call
    requests_before = secondary.stats()["requests"]
    bad = run(dr={**only_scopes, "refresh_secret_values": True, "secret_values_variable": None})
    assert bad.states["preflight"] == "failed"
    assert "refresh_secret_values" in output()
    assert secondary.stats()["requests"] == requests_before


def test_a_cluster_single_user_missing_in_the_target_fails_the_preflight(pair, output):
    primary, secondary = pair
    seed(primary)
    primary.client().api_client.do(
        "POST",
        "/api/2.1/clusters/create",
        body={
            "cluster_name": "personal",
            "spark_version": SPARK,
            "num_workers": 0,
            "data_security_mode": "SINGLE_USER",
            "single_user_name": "nobody-in-the-target@example.com",
        },
    )
    primary.reset()
    result = run(dr={"object_types": ["clusters"]})
    assert result.states["preflight"] == "failed"
    assert writes(secondary) == 0
    assert "nobody-in-the-target@example.com (in clusters/" in output()


def test_a_same_name_object_without_marker_is_a_conflict_never_adopted_or_overwritten(pair, output):
    primary, secondary = pair
    seed(primary)
    theirs = {
        "name": "etl-policy",
        "definition": json.dumps({"spark_version": {"type": "fixed", "value": "other"}}),
    }
    policy_id = secondary.client().api_client.do("POST", "/api/2.0/policies/clusters/create", body=theirs)[
        "policy_id"
    ]
    secondary.reset()
    result = run(dr={"object_types": ["cluster_policies"]})
    text = output()
    assert result.xcom[("preflight", "return_value")]["counts"]["cluster_policies"] == {"conflict": 1}
    assert result.xcom[("migrate_cluster_policies", "return_value")]["actions"] == {"conflict": 1}
    assert writes(secondary) == 0
    kept = secondary.client().api_client.do(
        "GET", "/api/2.0/policies/clusters/get", query={"policy_id": policy_id}
    )
    assert json.loads(kept["definition"]) == json.loads(theirs["definition"])
    assert result.states["validate"] == "failed"
    assert "cluster_policies conflict: etl-policy" in text


def test_a_task_that_fails_midway_flushes_its_checkpoint_in_finally(pair, output, tmp_path):
    primary, secondary = pair
    seed(primary)
    failed = run("dr_scenarios_crash", crash_after=1, killed=False, dr={"flush_every": 1000})
    assert failed.states["migrate_jobs"] == "failed", output()[-4000:]
    checkpoint = json.loads(next((tmp_path / "state" / "_shared" / "dr_migrate").glob("*.json")).read_text())
    assert len(checkpoint["id_map"]["jobs"]) == 1  # the one job created before the failure
    (created,) = checkpoint["id_map"]["jobs"].values()
    assert target_objects(secondary)["jobs"] == Counter(
        {f"{PRIMARY_ID}:{next(iter(checkpoint['id_map']['jobs']))}": 1}
    )
    assert created


def test_a_policy_that_fixes_a_pool_is_migrated_by_the_first_run(pair, output):
    primary, secondary = pair
    api = primary.client().api_client
    pool = api.do(
        "POST",
        "/api/2.0/instance-pools/create",
        body={"instance_pool_name": "policy-pool", "node_type_id": NODE},
    )["instance_pool_id"]
    api.do(
        "POST",
        "/api/2.0/policies/clusters/create",
        body={
            "name": "pool-policy",
            "definition": json.dumps({"instance_pool_id": {"type": "fixed", "value": pool}}),
        },
    )
    primary.reset()
    types = ["cluster_policies", "instance_pools"]
    planned = run(dr={"object_types": types, "dry_run": True})
    assert planned.xcom[("preflight", "return_value")]["counts"]["cluster_policies"] == {"create": 1}

    first = run(dr={"object_types": types})
    assert first.state == "success", output()[-4000:]
    assert first.xcom[("migrate_cluster_policies", "return_value")]["actions"] == {"create": 1}
    target = secondary.client().api_client
    policies = target.do("GET", "/api/2.0/policies/clusters/list")["policies"]
    (copy,) = [p for p in policies if p["name"] == "pool-policy"]
    (target_pool,) = target.do("GET", "/api/2.0/instance-pools/list")["instance_pools"]
    assert json.loads(copy["definition"])["instance_pool_id"]["value"] == target_pool["instance_pool_id"]


def test_a_job_whose_for_each_task_runs_another_job_is_migrated_by_the_first_run(pair, output):
    primary, secondary = pair
    api = primary.client().api_client
    task = {"task_key": "main", "notebook_task": {"notebook_path": f"{ROOT}/ingest"}}
    inner = str(api.do("POST", "/api/2.2/jobs/create", body={"name": "inner", "tasks": [task]})["job_id"])
    loop = {
        "task_key": "loop",
        "for_each_task": {
            "inputs": "[1, 2]",
            "task": {"task_key": "each", "run_job_task": {"job_id": int(inner)}},
        },
    }
    api.do("POST", "/api/2.2/jobs/create", body={"name": "fan-out", "tasks": [loop]})
    first = run(dr={"object_types": ["jobs"]})
    assert first.state == "success", output()[-4000:]
    assert first.xcom[("migrate_jobs", "return_value")]["actions"] == {"create": 2}
    jobs = secondary.client().api_client.do(
        "GET", "/api/2.2/jobs/list", query={"limit": 100, "expand_tasks": "true"}
    )["jobs"]
    by_name = {j["settings"]["name"]: j for j in jobs}
    copied = by_name["fan-out"]["settings"]["tasks"][0]["for_each_task"]["task"]["run_job_task"]
    assert str(copied["job_id"]) == str(by_name["inner"]["job_id"])


def schedule_statuses(sandbox: Any) -> dict[str, str | None]:
    """Job name -> the pause status of its schedule, continuous run or trigger (None: none of them)."""
    jobs = sandbox.client().api_client.do("GET", "/api/2.2/jobs/list", query={"limit": 100})["jobs"]
    out = {}
    for j in jobs:
        s = j["settings"]
        block = s.get("schedule") or s.get("continuous") or s.get("trigger")
        out[s["name"]] = block.get("pause_status") if block else None
    return out


def test_a_migration_after_a_cutover_keeps_what_ran_in_the_source_for_the_next_cutover(
    pair, output, tmp_path
):
    primary, secondary = pair
    seed(primary)
    assert run().state == "success", output()[-4000:]
    conf = CUTOVER_PAUSING_SOURCE
    assert run("dr_cutover_scenarios", dr=conf).state == "success", output()[-4000:]
    assert schedule_statuses(primary)["nightly-ingest"] == "PAUSED"  # paused by the cutover
    wanted = {"nightly-ingest": "UNPAUSED", "stream": "PAUSED", "runner": None}
    assert schedule_statuses(secondary) == wanted

    # the migration runs again (the source is paused by us now, the target runs the job)
    again = run()
    assert again.state == "success", output()[-4000:]
    checkpoint = json.loads(next((tmp_path / "state" / "_shared" / "dr_migrate").glob("*.json")).read_text())
    assert sorted(checkpoint["pause"].values()) == ["", "PAUSED", "UNPAUSED"]

    # failing back pauses the target again; the next cutover un-pauses the same jobs
    api = secondary.client().api_client
    for job in api.do("GET", "/api/2.2/jobs/list", query={"limit": 100, "expand_tasks": "true"})["jobs"]:
        settings = job["settings"]
        if settings.get("schedule"):
            settings["schedule"]["pause_status"] = "PAUSED"
            api.do("POST", "/api/2.2/jobs/reset", body={"job_id": job["job_id"], "new_settings": settings})
    assert schedule_statuses(secondary)["nightly-ingest"] == "PAUSED"
    second = run("dr_cutover_scenarios", dr=conf)
    assert second.state == "success", output()[-4000:]
    assert schedule_statuses(secondary) == wanted
    assert schedule_statuses(primary) == {"nightly-ingest": "PAUSED", "stream": "PAUSED", "runner": None}


KILLED_TASK = """
import json, sys

from platform_ops.operators.dr_migrate import DrMigrateOperator

task = DrMigrateOperator(task_id="migrate_jobs", object_type="jobs", dr_params=json.loads(sys.argv[1]))
task.execute({"run_id": "killed-run", "params": {}})
"""


def test_a_migration_task_killed_midway_then_a_rerun_leaves_one_copy_each(pair, output, tmp_path):
    """The jobs task runs in a process of its own, SIGKILLed once the target holds some of its jobs."""
    primary, secondary = pair
    api = primary.client().api_client
    task = {"task_key": "main", "notebook_task": {"notebook_path": f"{ROOT}/ingest"}}
    sources = {
        str(api.do("POST", "/api/2.2/jobs/create", body={"name": f"job-{i:02d}", "tasks": [task]})["job_id"])
        for i in range(16)
    }
    secondary.configure(latency_seconds=0.15)
    params = dr(object_types=["jobs"], parallelism=2)
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins")}
    log = (tmp_path / "killed-task.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_TASK, json.dumps(params)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    checkpoints = tmp_path / "state" / "_shared" / "dr_migrate"

    def midway() -> bool:
        """Some jobs are created and a flush has reached the checkpoint (on a busy machine the
        first flush can land after the third create: kill only once there is one to resume from)."""
        creates = secondary.stats()["by_route"].get("POST /api/2.2/jobs/create", 0)
        return creates >= 3 and any(checkpoints.glob("*.json"))

    try:
        deadline = time.monotonic() + 60
        while not midway():
            assert child.poll() is None, (tmp_path / "killed-task.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the jobs task never created and flushed"
            time.sleep(0.02)
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the process and whatever it started: no finally runs
        child.wait()
        log.close()
    assert child.returncode == -signal.SIGKILL, (tmp_path / "killed-task.log").read_text()[-3000:]
    created = target_objects(secondary)["jobs"]
    assert 1 <= sum(created.values()) < len(sources)  # killed midway through the task
    # the batches flushed before the kill reached the checkpoint (flush_every=2: one per job)
    (doc,) = checkpoints.glob("*.json")
    flushed = {f"{PRIMARY_ID}:{sid}" for sid in json.loads(doc.read_text())["id_map"]["jobs"]}
    assert flushed
    assert flushed <= set(created)

    secondary.configure(latency_seconds=0)
    again = run(dr={"object_types": ["jobs"]})
    assert again.state == "success", output()[-4000:]
    assert again.xcom[("validate", "counts")]["ok"] is True
    assert target_objects(secondary)["jobs"] == Counter({f"{PRIMARY_ID}:{sid}": 1 for sid in sources})


def test_a_cluster_create_committed_then_answered_503_is_still_this_run_s_to_terminate(
    pair, output, tmp_path
):
    primary, secondary = pair
    ids = seed(primary)
    secondary.configure(commit_then_503=3)  # the pool, the policy and the cluster
    result = run(dr={"object_types": ["instance_pools", "cluster_policies", "clusters"]})
    assert result.state == "success", output()[-4000:]
    assert secondary.stats()["committed_503"] == 3
    (cluster,) = secondary.client().api_client.do("GET", "/api/2.1/clusters/list")["clusters"]
    assert (cluster["custom_tags"] or {})[MARKER_KEY] == f"{PRIMARY_ID}:{ids['cluster']}"
    assert cluster["state"] in ("TERMINATED", "TERMINATING")
    checkpoint = json.loads(next((tmp_path / "state" / "_shared" / "dr_migrate").glob("*.json")).read_text())
    assert checkpoint["clusters_created"] == {result.run_id: [cluster["cluster_id"]]}


def test_a_cluster_a_killed_run_never_recorded_is_stopped_by_the_next_run(pair, output, tmp_path):
    primary, secondary = pair
    seed(primary)
    types = ["instance_pools", "cluster_policies", "clusters"]
    crashed = run(
        "dr_scenarios_crash_clusters", crash_after=1, die_after_create=True, dr={"object_types": types}
    )
    assert crashed.states["migrate_clusters"] == "failed", output()[-4000:]
    api = secondary.client().api_client
    (cluster,) = api.do("GET", "/api/2.1/clusters/list")["clusters"]
    assert cluster["state"] not in ("TERMINATED", "TERMINATING")  # created, never recorded, left running

    again = run(dr={"object_types": types})
    assert again.state == "success", output()[-4000:]
    (cluster,) = api.do("GET", "/api/2.1/clusters/list")["clusters"]
    assert cluster["state"] in ("TERMINATED", "TERMINATING")
    checkpoint = json.loads(next((tmp_path / "state" / "_shared" / "dr_migrate").glob("*.json")).read_text())
    assert checkpoint["clusters_created"] == {again.run_id: [cluster["cluster_id"]]}


def test_an_update_after_the_cutover_keeps_the_jobs_it_un_paused_running(pair, output):
    primary, secondary = pair
    ids = seed(primary)
    assert run().state == "success", output()[-4000:]
    conf = {"source_conn_id": "dbx_primary", "target_conn_id": "dbx_secondary", "confirm": True}
    assert run("dr_cutover_scenarios", dr=conf).state == "success", output()[-4000:]
    assert schedule_statuses(secondary)["nightly-ingest"] == "UNPAUSED"

    # the source job changes; the next migration updates the target copy
    api = primary.client().api_client
    job = api.do("GET", "/api/2.2/jobs/get", query={"job_id": ids["scheduled"]})
    settings = {**job["settings"], "timeout_seconds": 3600}
    api.do("POST", "/api/2.2/jobs/reset", body={"job_id": job["job_id"], "new_settings": settings})
    again = run()
    assert again.state == "success", output()[-4000:]
    assert again.xcom[("migrate_jobs", "return_value")]["actions"].get("update") == 1
    assert schedule_statuses(secondary) == {"nightly-ingest": "UNPAUSED", "stream": "PAUSED", "runner": None}


def test_a_cluster_and_a_job_held_twice_in_the_target_fail_the_validation_naming_both_ids(
    pair, output, tmp_path
):
    """Copies made by hand in the secondary with a source marker (an earlier broken run, a manual
    copy) are never picked: the validation fails naming every id and counts them per type, and a
    later migration creates no third copy and writes nothing for them."""
    primary, secondary = pair
    ids = seed(primary)
    assert run().state == "success", output()[-4000:]
    api = secondary.client().api_client
    (first_cluster,) = api.do("GET", "/api/2.1/clusters/list")["clusters"]
    extra_cluster = api.do(
        "POST",
        "/api/2.1/clusters/create",
        body={
            "cluster_name": "etl-shared-by-hand",
            "spark_version": SPARK,
            "num_workers": 0,
            "custom_tags": {MARKER_KEY: f"{PRIMARY_ID}:{ids['cluster']}"},
        },
    )["cluster_id"]
    api.do("POST", "/api/2.1/clusters/delete", body={"cluster_id": extra_cluster})
    jobs = api.do("GET", "/api/2.2/jobs/list", query={"limit": 100, "expand_tasks": "true"})["jobs"]
    stream = next(j for j in jobs if j["settings"]["name"] == "stream")
    extra_job = str(api.do("POST", "/api/2.2/jobs/create", body=stream["settings"])["job_id"])
    before = writes(secondary)

    result = run()
    text = output()
    assert result.states["validate"] == "failed", text[-4000:]
    assert writes(secondary) == before  # nothing updated, and no third copy created
    assert target_objects(secondary)["clusters"] == Counter({f"{PRIMARY_ID}:{ids['cluster']}": 2})
    assert target_objects(secondary)["jobs"][f"{PRIMARY_ID}:{ids['continuous']}"] == 2
    assert result.xcom[("migrate_clusters", "return_value")]["actions"] == {"duplicate": 1}
    assert result.xcom[("migrate_jobs", "return_value")]["actions"]["duplicate"] == 1
    counts = result.xcom[("validate", "counts")]
    assert counts["ok"] is False
    assert counts["duplicates"] == {"clusters": 1, "jobs": 1}
    assert counts["counts"]["clusters"]["duplicate"] == 1
    report = json.loads(next((tmp_path / "state").rglob("dr_validation.json")).read_text())
    assert report["duplicates"] == {"clusters": 1, "jobs": 1}
    failed = {(v["object_type"], v["source_id"]): v for v in report["verdicts"] if v["check"] == "duplicate"}
    cluster_ids = ", ".join(sorted([first_cluster["cluster_id"], extra_cluster]))
    job_ids = ", ".join(sorted([str(stream["job_id"]), extra_job]))
    assert cluster_ids in failed[("clusters", ids["cluster"])]["reason"]
    assert job_ids in failed[("jobs", ids["continuous"])]["reason"]
    assert f"clusters duplicate: etl-shared ({ids['cluster']}): 2 target clusters objects" in text
    assert job_ids in text
    # the job on the doubled cluster is blocked naming both copies, not pointed at one of them
    nightly = next(v for v in report["verdicts"] if v["source_id"] == ids["scheduled"])
    assert nightly["check"] == "blocked"
    assert cluster_ids in nightly["reason"]


# -- DBFS init scripts, pool Docker passwords, Git credentials ---------------------------------------
INIT_SCRIPT = b"#!/bin/bash\necho installing deps\n"
DBFS_SCRIPT = "/databricks/init/deps.sh"
RELOCATED = f"/Shared/dr-init-scripts{DBFS_SCRIPT}"


def seed_dbfs_init_script(primary: Any) -> dict[str, str]:
    """A DBFS init script used by a cluster and by a job's job cluster."""
    api = primary.client().api_client
    body = {"path": DBFS_SCRIPT, "contents": base64.b64encode(INIT_SCRIPT).decode(), "overwrite": True}
    api.do("POST", "/api/2.0/dbfs/put", body=body)
    scripts = [{"dbfs": {"destination": f"dbfs:{DBFS_SCRIPT}"}}]
    cluster = api.do(
        "POST",
        "/api/2.1/clusters/create",
        body={"cluster_name": "legacy", "spark_version": SPARK, "num_workers": 0, "init_scripts": scripts},
    )["cluster_id"]
    api.do("POST", "/api/2.1/clusters/delete", body={"cluster_id": cluster})
    api.do("POST", "/api/2.0/workspace/mkdirs", body={"path": ROOT})
    api.do(
        "POST",
        "/api/2.0/workspace/import",
        body={"path": f"{ROOT}/ingest", "format": "SOURCE", "language": "PYTHON", "content": notebook("x")},
    )
    job = api.do(
        "POST",
        "/api/2.2/jobs/create",
        body={
            "name": "legacy-job",
            "tasks": [
                {
                    "task_key": "main",
                    "notebook_task": {"notebook_path": f"{ROOT}/ingest"},
                    "job_cluster_key": "jc",
                }
            ],
            "job_clusters": [
                {
                    "job_cluster_key": "jc",
                    "new_cluster": {
                        "spark_version": SPARK,
                        "num_workers": 1,
                        "node_type_id": NODE,
                        "init_scripts": scripts,
                    },
                }
            ],
        },
    )["job_id"]
    return {"cluster": cluster, "job": str(job)}


def relocated_content(secondary: Any) -> bytes:
    exported = secondary.client().api_client.do(
        "GET", "/api/2.0/workspace/export", query={"path": RELOCATED, "format": "SOURCE"}
    )
    return base64.b64decode(exported["content"])


def test_a_dbfs_init_script_is_blocked_naming_the_param_and_relocated_with_it(pair, output):
    primary, secondary = pair
    ids = seed_dbfs_init_script(primary)
    types = ["workspace_objects", "clusters", "jobs"]
    blocked = run(dr={"object_types": types})
    text = output()
    assert blocked.states["validate"] == "failed"
    assert blocked.xcom[("migrate_clusters", "return_value")]["actions"] == {"blocked": 1}
    assert "relocate_dbfs_init_scripts" in text

    for sandbox in pair:
        sandbox.wipe()
    ids = seed_dbfs_init_script(primary)
    moved = run(dr={"object_types": types, "relocate_dbfs_init_scripts": True})
    text = output()
    assert moved.state == "success", text[-4000:]
    assert moved.xcom[("validate", "counts")]["ok"] is True
    marker = f"# {MARKER_KEY} {PRIMARY_ID}:dbfs:{DBFS_SCRIPT}"
    assert relocated_content(secondary) == INIT_SCRIPT + marker.encode() + b"\n"
    api = secondary.client().api_client
    (cluster,) = api.do("GET", "/api/2.1/clusters/list")["clusters"]
    assert cluster["init_scripts"] == [{"workspace": {"destination": RELOCATED}}]
    (job,) = api.do("GET", "/api/2.2/jobs/list", query={"expand_tasks": "true"})["jobs"]
    new_cluster = job["settings"]["job_clusters"][0]["new_cluster"]
    assert new_cluster["init_scripts"] == [{"workspace": {"destination": RELOCATED}}]
    imports = {k: v for k, v in posts(secondary).items() if "import-file" in k}
    assert list(imports.values()) == [1], imports  # the cluster and the job share one file
    assert f"dbfs:{DBFS_SCRIPT} -> {RELOCATED}" in text  # the plan says so
    assert ids["cluster"]

    before = writes(secondary)
    again = run(dr={"object_types": types, "relocate_dbfs_init_scripts": True})
    assert again.state == "success", output()[-4000:]
    assert writes(secondary) == before  # no second file, nothing duplicated

    # a target file changed by hand fails the validation naming it; the next run writes it back
    api.do(
        "POST",
        f"/api/2.0/workspace-files/import-file{RELOCATED}",
        query={"overwrite": "true"},
        data=b"#!/bin/bash\necho tampered\n" + marker.encode() + b"\n",
    )
    checked = run("dr_validate_scenarios", dr={"object_types": types, "relocate_dbfs_init_scripts": True})
    text = output()
    assert checked.states["validate"] == "failed"
    report = checked.xcom[("validate", "counts")]
    assert report["counts"]["clusters"] == {"differs": 1}
    assert report["counts"]["jobs"] == {"differs": 1}
    assert f"init script {RELOCATED} differs from dbfs:{DBFS_SCRIPT}" in text
    repaired = run(dr={"object_types": types, "relocate_dbfs_init_scripts": True})
    assert repaired.state == "success", output()[-4000:]
    assert relocated_content(secondary) == INIT_SCRIPT + marker.encode() + b"\n"


DOCKER_URL = "registry.example.com/etl/runtime:1.4"
DOCKER_CANARY = "canary-docker-password-3c9e1b77"
DOCKER_KEY = "instance_pools:docker_basic_auth"


def test_a_pool_docker_password_is_needed_from_the_secret_values_and_never_logged(
    pair, output, monkeypatch, tmp_path
):
    primary, secondary = pair
    image = {"url": DOCKER_URL, "basic_auth": {"username": "etl", "password": "only-the-source-knows"}}
    primary.client().api_client.do(
        "POST",
        "/api/2.0/instance-pools/create",
        body={"instance_pool_name": "docker-pool", "node_type_id": NODE, "preloaded_docker_images": [image]},
    )
    (listed,) = primary.client().api_client.do("GET", "/api/2.0/instance-pools/list")["instance_pools"]
    assert listed["preloaded_docker_images"][0]["basic_auth"] == {"username": "etl"}  # never read back
    only_pools = {"object_types": ["instance_pools"]}

    missing = run(dr=only_pools)
    text = output()
    assert missing.xcom[("preflight", "return_value")]["counts"]["instance_pools"] == {"needs_value": 1}
    assert missing.states["validate"] == "failed"
    assert missing.xcom[("validate", "counts")]["counts"]["instance_pools"] == {"needs_value": 1}
    assert "instance_pools needs_value: docker-pool" in text
    assert f"preloaded_docker_images[0].basic_auth.password ({DOCKER_URL})" in text
    assert DOCKER_KEY in text
    assert "POST /api/2.0/instance-pools/create" not in posts(secondary)

    values = {
        "app-secrets": {"password": SECRET_CANARY},
        DOCKER_KEY: {"docker-pool": {DOCKER_URL: DOCKER_CANARY}},
    }
    monkeypatch.setenv("AIRFLOW_VAR_DR_SECRETS", json.dumps(values))
    supplied = run(dr=only_pools)
    text = output()
    assert supplied.state == "success", text[-4000:]
    assert supplied.xcom[("validate", "counts")]["ok"] is True
    api = secondary.client().api_client
    (pool,) = api.do("GET", "/api/2.0/instance-pools/list")["instance_pools"]
    digest = api.do(
        "GET",
        "/_sandbox/instance-pools/docker-digest",
        query={"instance_pool_id": pool["instance_pool_id"], "url": DOCKER_URL},
    )["sha256"]
    assert digest == hashlib.sha256(DOCKER_CANARY.encode()).hexdigest()
    state = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    xcom = json.dumps([*missing.xcom.values(), *supplied.xcom.values()], default=str)
    for where in (text, state, xcom):
        assert DOCKER_CANARY not in where

    before = writes(secondary)
    assert run(dr=only_pools).state == "success", output()[-4000:]
    assert writes(secondary) == before  # the password is not sent again unless refresh_secret_values


def test_the_dry_run_lists_git_credentials_as_out_of_scope_with_the_users_to_ask(pair, output):
    primary, secondary = pair
    w = primary.client()
    w.git_credentials.create(
        git_provider="gitHub", git_username="octocat", personal_access_token="ghp-canary-77"
    )
    assert [c.git_username for c in w.git_credentials.list()] == ["octocat"]  # the SDK reads the sandbox
    api = w.api_client
    api.do("POST", "/api/2.0/workspace/mkdirs", body={"path": "/Repos/bob@example.com/etl"})
    api.do(
        "POST",
        "/api/2.2/jobs/create",
        body={
            "name": "from-git",
            "git_source": {
                "git_url": "https://github.com/example/etl",
                "git_provider": "gitHub",
                "git_branch": "main",
            },
            "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "etl/main", "source": "GIT"}}],
        },
    )
    me = api.do("GET", "/api/2.0/preview/scim/v2/Me")["userName"]
    result = run(dr={"dry_run": True})
    text = output()
    assert result.state == "success", text[-4000:]
    assert writes(secondary) == 0
    git = result.xcom[("preflight", "return_value")]["git_credentials"]
    assert git == {"caller_credentials": 1, "users_to_ask": sorted({me, "bob@example.com"})}
    assert "out of scope, not migrated: git_credentials" in text
    assert "git_credentials of " + me + ": gitHub as octocat" in text
    assert (
        "ask bob@example.com to add theirs in the secondary (Git folders under /Repos/bob@example.com)"
        in text
    )
    assert "runs jobs from Git: from-git" in text
    assert "ghp-canary-77" not in text
