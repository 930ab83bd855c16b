"""The shipped DR DAGs: manual, typed params, dry run by default, the migration's tasks in dependency
order; a manual dry-run trigger against the sandbox pair writes nothing to either workspace."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.airflow_runner import run_dag
from tests.dags.integrity import REPO, parse_folder

FILES = ("databricks_dr_migrate.py", "databricks_dr_cutover.py")


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    dags = {}
    for name in FILES:
        parsed = DagBag(dag_folder=str(REPO / "dags" / name), load_op_links=False)
        assert not parsed.import_errors, parsed.import_errors
        dags.update(parsed.dags)
    return dags


def test_both_dags_parse_offline_and_follow_the_rules() -> None:
    parsed = parse_folder(REPO / "dags")
    assert not {k: v for k, v in parsed["import_errors"].items() if Path(k).name in FILES}
    for dag_id in ("databricks_dr_migrate", "databricks_dr_cutover"):
        info = parsed["dags"][dag_id]
        assert "manual" in info["tags"]
        assert info["min_retries"] >= 1
        assert "managed disaster recovery" in info["doc_md"]


def test_migration_params_are_typed_and_a_dry_run_by_default(bag) -> None:
    dag = bag["databricks_dr_migrate"]
    assert dag.schedule is None
    params = dag.params.dump()
    assert params["dry_run"] is True
    assert params["roots"] == ["/Users", "/Shared"]
    assert params["keep_clusters_running"] is False
    schema = {name: dag.params.get_param(name).schema for name in params}
    assert schema["dry_run"]["type"] == "boolean"
    assert (
        schema["parallelism"]["type"],
        schema["parallelism"]["minimum"],
        schema["parallelism"]["maximum"],
    ) == (
        "integer",
        1,
        64,
    )
    assert "permissions" in schema["object_types"]["items"]["enum"]
    assert "mounts" not in schema["object_types"]["items"]["enum"]


def test_tasks_run_in_dependency_order_with_a_teardown_that_always_runs(bag) -> None:
    dag = bag["databricks_dr_migrate"]
    up = {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}
    assert up["preflight"] == set()
    for first in (
        "instance_pools",
        "secret_scopes",
        "global_init_scripts",
        "workspace_objects",
    ):
        assert up[f"migrate_{first}"] == {"preflight"}
    assert up["migrate_cluster_policies"] == {"migrate_instance_pools"}  # a policy may fix a pool
    assert {"migrate_cluster_policies", "migrate_instance_pools"} <= up["migrate_clusters"]
    assert "migrate_clusters" in up["migrate_jobs"]
    assert up["migrate_cluster_libraries"] == {"migrate_clusters"}
    assert len(up["migrate_permissions"]) == 8
    assert dag.get_task("teardown").trigger_rule == "all_done"
    assert len(up["teardown"]) == 9
    assert up["validate"] == {"migrate_permissions", "teardown"}


def test_cutover_needs_confirm_and_pauses_the_source_only_when_asked(bag) -> None:
    dag = bag["databricks_dr_cutover"]
    assert dag.schedule is None
    params = dag.params.dump()
    assert params["confirm"] is False
    assert params["pause_source"] is False
    assert [t.task_id for t in dag.tasks] == ["cutover"]


@pytest.mark.integration
def test_a_manual_dry_run_of_the_shipped_dag_writes_nothing(
    databricks_sandbox_pair, monkeypatch, tmp_path
) -> None:
    primary, secondary = databricks_sandbox_pair
    for sandbox in databricks_sandbox_pair:
        sandbox.reset()
    primary.client().api_client.do(
        "POST",
        "/api/2.0/instance-pools/create",
        body={"instance_pool_name": f"dag-test-{tmp_path.name}", "node_type_id": "i3.xlarge"},
    )
    primary.reset()
    monkeypatch.setenv("AIRFLOW_CONN_DBX_PRIMARY", primary.connection())
    monkeypatch.setenv("AIRFLOW_CONN_DBX_SECONDARY", secondary.connection())
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    folder = tmp_path / "dags"
    folder.mkdir()
    shutil.copy(REPO / "dags" / "databricks_dr_migrate.py", folder)
    conf = {
        "source_conn_id": "dbx_primary",
        "target_conn_id": "dbx_secondary",
        "object_types": ["instance_pools"],
    }
    result = run_dag(folder, "databricks_dr_migrate", datetime(2026, 11, 21, tzinfo=UTC), conf)
    assert result.state == "success"
    assert primary.stats()["writes"] == 0
    assert secondary.stats()["writes"] == 0
    plan = result.xcom[("preflight", "return_value")]
    assert plan["dry_run"] is True
    assert plan["counts"]["instance_pools"]["create"] >= 1
    assert json.dumps(plan)  # JSON-safe


def test_the_init_script_relocation_params_have_a_title_a_description_and_stay_off(bag) -> None:
    from platform_ops.core.dr_migrate import DrParams

    dag = bag["databricks_dr_migrate"]
    params = dag.params.dump()
    assert params["relocate_dbfs_init_scripts"] is False
    assert params["init_scripts_folder"] == "/Shared/dr-init-scripts"
    for name in ("relocate_dbfs_init_scripts", "init_scripts_folder"):
        param = dag.params.get_param(name)
        assert param.schema["title"]
        assert len(param.description or "") > 30
    assert dag.params.get_param("relocate_dbfs_init_scripts").schema["type"] == "boolean"
    assert "instance_pools:docker_basic_auth" in (
        dag.params.get_param("secret_values_conn_id").description or ""
    )
    # every DAG param is one the migration reads, and parses as the DAG gives it
    assert DrParams.from_params(params).init_scripts_folder == "/Shared/dr-init-scripts"
