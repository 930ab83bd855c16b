"""The shipped databricks_workspace_provision DAGs: one per workspace file, manual, dry run by default;
a manual trigger of the shipped DAG on the hands-on VPC (moto) checks and plans with no account call;
the shipped local-demo file provisions there and hardens the new workspace once (a re-run writes nothing)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from sandbox.aws_vpc import boto3_factory, build_hands_on_vpc
from sandbox.databricks.launcher import ACCOUNT_ID
from tests.airflow_runner import run_dag
from tests.dags.integrity import REPO, parse_folder

CONFIGS = REPO / "include" / "config" / "workspaces"
REGION = "ap-northeast-1"
DEMO_DAG = "databricks_workspace_provision_local_demo"
HARDENING_WRITES = (
    "POST instance-profiles/add",
    "POST policies/clusters/create",
    "POST policies/clusters/edit",
)


def load_dag(monkeypatch: pytest.MonkeyPatch, folder: Path):
    monkeypatch.setenv("PLATFORM_OPS_WORKSPACE_CONFIG_DIR", str(folder))
    from airflow.dag_processing.dagbag import DagBag

    dags = tmp_dags(folder.parent)
    bag = DagBag(dag_folder=str(dags), load_op_links=False)
    assert not bag.import_errors, bag.import_errors
    return bag


def tmp_dags(root: Path) -> Path:
    dags = root / "dags"
    dags.mkdir(exist_ok=True)
    shutil.copy(REPO / "dags" / "databricks_workspace_provision.py", dags)
    return dags


def test_one_manual_dag_per_shipped_workspace_file_dry_run_by_default() -> None:
    parsed = parse_folder(REPO / "dags")["dags"]
    expected = {f"databricks_workspace_provision_{p.stem.replace('-', '_')}" for p in CONFIGS.glob("*.yaml")}
    assert expected
    assert expected <= set(parsed)
    for dag_id in expected:
        assert parsed[dag_id]["pools"] == ["default_pool"]


def test_two_workspace_files_that_map_to_one_dag_id_are_refused_naming_both(monkeypatch, tmp_path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path / "workspaces"
    folder.mkdir()
    for stem in ("team-a", "team_a"):
        shutil.copy(CONFIGS / "acme-dev.yaml", folder / f"{stem}.yaml")
    monkeypatch.setenv("PLATFORM_OPS_WORKSPACE_CONFIG_DIR", str(folder))
    bag = DagBag(dag_folder=str(tmp_dags(tmp_path)), load_op_links=False)
    assert "databricks_workspace_provision_team_a" not in bag.dags, "neither file provisions under that id"
    (error,) = bag.import_errors.values()
    assert "team-a.yaml and team_a.yaml both map to DAG id databricks_workspace_provision_team_a" in error


def test_params_are_typed_and_dry_run_defaults_to_true(monkeypatch, tmp_path) -> None:
    folder = tmp_path / "workspaces"
    folder.mkdir()
    shutil.copy(CONFIGS / "acme-dev.yaml", folder / "team-a.yaml")
    bag = load_dag(monkeypatch, folder)
    dag = bag.dags["databricks_workspace_provision_team_a"]
    assert dag.schedule is None
    params = dag.params.dump()
    assert params["dry_run"] is True
    assert dag.params.get_param("dry_run").schema["type"] == "boolean"
    assert dag.params.get_param("wait_minutes").schema["type"] == "integer"
    task = dag.get_task("provision")
    assert task.config_path == str(folder / "team-a.yaml")
    assert task.deferrable is True


def test_only_a_workspace_file_marked_local_gives_a_dag_make_demo_runs(monkeypatch, tmp_path) -> None:
    folder = tmp_path / "workspaces"
    folder.mkdir()
    shutil.copy(CONFIGS / "acme-dev.yaml", folder / "team-a.yaml")
    shutil.copy(CONFIGS / "local-demo.yaml", folder / "local-demo.yaml")
    doc = yaml.safe_load((CONFIGS / "acme-dev.yaml").read_text())
    (folder / "team-b.yaml").write_text(yaml.safe_dump({**doc, "local": False}))
    bag = load_dag(monkeypatch, folder)
    tagged = {d for d, dag in bag.dags.items() if "local" in dag.tags}
    assert tagged == {"databricks_workspace_provision_local_demo"}
    shipped = {d for d, p in parse_folder(REPO / "dags")["dags"].items() if "local" in p["tags"]}
    assert "databricks_workspace_provision_local_demo" in shipped
    assert "databricks_workspace_provision_acme_dev" not in shipped


@pytest.mark.integration
def test_a_manual_trigger_of_the_shipped_dag_checks_and_plans_only(
    databricks_sandbox, monkeypatch, tmp_path, capfd
) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    conn = {"conn_type": "aws", "login": "t", "password": "t", "extra": {"region_name": REGION}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_ACCOUNT", databricks_sandbox.account_connection(ACCOUNT_ID))
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    databricks_sandbox.reset()
    with mock_aws():
        h = build_hands_on_vpc(boto3_factory(REGION), region=REGION, databricks_account_id=ACCOUNT_ID)
        doc = h.fill_workspace_file(yaml.safe_load((CONFIGS / "acme-dev.yaml").read_text()))
        folder = tmp_path / "workspaces"
        folder.mkdir()
        (folder / "acme-dev.yaml").write_text(yaml.safe_dump(doc))
        monkeypatch.setenv("PLATFORM_OPS_WORKSPACE_CONFIG_DIR", str(folder))
        result = run_dag(
            tmp_dags(tmp_path), "databricks_workspace_provision_acme_dev", datetime(2026, 11, 21, tzinfo=UTC)
        )
    assert result.state == "success", capfd.readouterr().out[-3000:]
    assert result.xcom[("provision", "return_value")]["dry_run"] is True
    assert result.xcom[("provision", "preflight")]["ok"] is True
    assert sum(databricks_sandbox.account_stats()["by_method"].values()) == 0


def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's credentials, and the aws_default connection the preflight reads."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    conn = {"conn_type": "aws", "login": "t", "password": "t", "extra": {"region_name": REGION}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))


def hardening_writes(sandbox: Any, deployment: str) -> dict[str, int]:
    routes = sandbox.workspace_host_stats(deployment)["by_route"]
    return {k: routes.get(k, 0) for k in HARDENING_WRITES}


@pytest.mark.integration
def test_the_local_demo_file_provisions_and_hardens_the_new_workspace_once(
    databricks_sandbox, monkeypatch, tmp_path, capfd
) -> None:
    """As make demo runs it: the shipped local-demo.yaml on the hands-on VPC, the sandbox's account API
    and the new workspace's own host; the S3 commit-service hardening lands there once."""
    doc = yaml.safe_load((CONFIGS / "local-demo.yaml").read_text())
    deployment, account_id = doc["deployment_name"], doc["account_id"]
    aws_env(monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_ACCOUNT", databricks_sandbox.account_connection(account_id))
    monkeypatch.setenv("PLATFORM_OPS_WORKSPACE_HOST", databricks_sandbox.workspace_host_template())
    monkeypatch.setenv("PLATFORM_OPS_WORKSPACE_POLL_SECONDS", "1")
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    databricks_sandbox.reset()
    databricks_sandbox.configure_accounts(provision_reads=2)
    folder = tmp_path / "workspaces"
    folder.mkdir()
    monkeypatch.setenv("PLATFORM_OPS_WORKSPACE_CONFIG_DIR", str(folder))
    try:
        with mock_aws():
            h = build_hands_on_vpc(boto3_factory(REGION), region=REGION, databricks_account_id=account_id)
            (folder / "local-demo.yaml").write_text(yaml.safe_dump(h.fill_workspace_file(doc)))
            dags = tmp_dags(tmp_path)
            first = run_dag(dags, DEMO_DAG, datetime(2026, 11, 23, 2, tzinfo=UTC), {"dry_run": False})
            assert first.state == "success", capfd.readouterr().out[-3000:]
            w = databricks_sandbox.workspace_host_client(deployment)
            profiles = [p.instance_profile_arn for p in w.instance_profiles.list()]
            policies = list(w.cluster_policies.list())
            written = hardening_writes(databricks_sandbox, deployment)

            again = run_dag(dags, DEMO_DAG, datetime(2026, 11, 23, 3, tzinfo=UTC), {"dry_run": False})
            assert again.state == "success", capfd.readouterr().out[-3000:]
            rerun_writes = hardening_writes(databricks_sandbox, deployment)
            profiles_after = [p.instance_profile_arn for p in w.instance_profiles.list()]
            policies_after = [(p.policy_id, p.name) for p in w.cluster_policies.list()]
    finally:
        databricks_sandbox.reset()

    # the first successful run: exactly the hands-on cluster role's instance profile, one policy fixing it
    assert profiles == [h.cluster_instance_profile_arn]
    (policy,) = policies
    assert policy.name == doc["commit_service"]["policy_name"]
    definition = json.loads(policy.definition)
    assert definition["aws_attributes.instance_profile_arn"] == {
        "type": "fixed",
        "value": h.cluster_instance_profile_arn,
        "hidden": False,
    }
    assert definition["spark_conf.fs.s3a.stsAssumeRole.arn"]["value"] == h.data_role_arn
    assert written == {
        "POST instance-profiles/add": 1,
        "POST policies/clusters/create": 1,
        "POST policies/clusters/edit": 0,
    }
    done = first.xcom[("provision", "return_value")]["hardening"]
    assert (done["instance_profile_added"], done["policy_action"]) == (True, "created")
    # the re-run: both found, 0 writes to the workspace, still exactly one of each
    assert rerun_writes == written
    assert profiles_after == [h.cluster_instance_profile_arn]
    assert policies_after == [(policy.policy_id, policy.name)]
    adopted = again.xcom[("provision", "return_value")]["hardening"]
    assert (adopted["instance_profile_added"], adopted["policy_action"]) == (False, "unchanged")


def test_the_hands_on_vpc_fills_the_instance_profile_only_of_a_file_that_asks_for_the_hardening(
    monkeypatch,
) -> None:
    aws_env(monkeypatch)
    doc = yaml.safe_load((CONFIGS / "local-demo.yaml").read_text())
    with mock_aws():
        h = build_hands_on_vpc(boto3_factory(REGION), region=REGION, databricks_account_id=doc["account_id"])
    commit = h.fill_workspace_file(json.loads(json.dumps(doc)))["commit_service"]
    assert commit == {
        **doc["commit_service"],
        "cluster_role_arn": h.cluster_role_arn,
        "data_role_arn": h.data_role_arn,
        "instance_profile_arn": h.cluster_instance_profile_arn,
    }
    assert commit["policy_name"] == "local-demo-s3-commit-service"  # the file's own keys are kept
    del doc["commit_service"]["instance_profile_arn"]
    assert "instance_profile_arn" not in h.fill_workspace_file(doc)["commit_service"]
