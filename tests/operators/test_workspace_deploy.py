"""WorkspaceDeployOperator end to end: the hands-on VPC in moto (preflight), the sandbox's account API
(objects, lifecycle) and the new workspace's host (SCIM Me), through dag.test() and the task runner."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from databricks.sdk.service.provisioning import (
    CreateCredentialAwsCredentials,
    CreateCredentialStsRole,
    RootBucketInfo,
)
from moto import mock_aws

from sandbox.aws_vpc import HandsOnVpc, Knobs, boto3_factory, build_hands_on_vpc
from sandbox.databricks.launcher import ACCOUNT_ID
from tests.airflow_runner import RunResult, run_dag

pytestmark = pytest.mark.integration

DAGS = Path(__file__).parent / "dags"
DATE = datetime(2026, 11, 20, tzinfo=UTC)
REGION = "ap-northeast-1"
CANARY = "canary-secret-51c0ffee"
AWS_CANARY = "aws-canary-9d8e7f6a"
# One POST per object: two VPC endpoint registrations (REST API and relay), one of each other kind.
ONE_EACH = {
    "credentials": 1,
    "storage-configurations": 1,
    "vpc-endpoints": 2,
    "networks": 1,
    "private-access-settings": 1,
    "workspaces": 1,
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """moto in-process, and the Airflow AWS connection the preflight reads (its secret a canary)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    conn = {"conn_type": "aws", "login": "testing", "password": AWS_CANARY, "extra": {"region_name": REGION}}
    monkeypatch.setenv("AIRFLOW_CONN_PREFLIGHT_AWS", json.dumps(conn))
    with mock_aws():
        yield boto3_factory(REGION)


@pytest.fixture
def sandbox(databricks_sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The account API, an account connection whose token is a canary, and a fresh state root."""
    databricks_sandbox.reset()
    databricks_sandbox.configure_accounts(provision_reads=3)
    conn = json.loads(databricks_sandbox.account_connection(ACCOUNT_ID))
    conn["password"] = CANARY  # the sandbox accepts any token
    monkeypatch.setenv("AIRFLOW_CONN_DBX_ACCOUNT", json.dumps(conn))
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    yield databricks_sandbox
    databricks_sandbox.reset()


def params(hands_on: HandsOnVpc, sandbox: Any, **changes: Any) -> dict[str, Any]:
    """The workspace's parameters for the hands-on VPC, as a YAML file would give them."""
    base: dict[str, Any] = {
        "account_id": ACCOUNT_ID,
        "aws_account_id": hands_on.aws_account_id,
        "region": hands_on.region,
        "deployment_name": "acme-prod",
        "workspace_host": sandbox.workspace_host_template(),
        "credentials": {"role_arn": hands_on.cross_account_role_arn},
        "storage": {"bucket_name": hands_on.root_bucket_name, "role_arn": hands_on.storage_role_arn},
        "network": {
            "vpc_id": hands_on.vpc_id,
            "subnet_ids": hands_on.cluster_subnet_ids,
            "cluster_security_group_ids": [hands_on.cluster_group_id],
            "endpoint_security_group_id": hands_on.endpoint_group_id,
            "endpoint_subnet_ids": [hands_on.endpoint_subnet_id],
        },
        "private_link": {
            "rest_api_endpoint": {"aws_vpc_endpoint_id": hands_on.endpoint_ids["workspace"]},
            "dataplane_relay_endpoint": {"aws_vpc_endpoint_id": hands_on.endpoint_ids["relay"]},
            "front_end_endpoint_id": hands_on.endpoint_ids["front_end"],
            "private_access_settings": {"public_access_enabled": False},
        },
        "max_nodes": 20,
        "commit_service": {
            "cluster_role_arn": hands_on.cluster_role_arn,
            "data_role_arn": hands_on.data_role_arn,
        },
    }
    base.update(changes)
    return base


@pytest.fixture
def output(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """What the run printed and logged since the last call.

    dag.test() writes to the captured streams or, once Airflow configured logging in the session,
    through logging: read both so a test does not depend on which test ran before it.
    """

    def read() -> str:
        text = "".join(capfd.readouterr()) + caplog.text
        caplog.clear()
        return text

    return read


def hands_on_vpc(aws: Callable[[str], Any], knobs: Knobs | None = None) -> HandsOnVpc:
    return build_hands_on_vpc(aws, region=REGION, knobs=knobs, databricks_account_id=ACCOUNT_ID)


def run(workspace: dict[str, Any], dag_id: str = "workspace_scenarios", **conf: Any) -> RunResult:
    return run_dag(DAGS, dag_id, DATE, {"workspace": workspace, **conf})


def posts(sandbox: Any) -> dict[str, int]:
    routes = sandbox.account_stats()["by_route"]
    return {k.split(" ", 1)[1]: n for k, n in routes.items() if k.startswith("POST ")}


def account_calls(sandbox: Any) -> int:
    return sum(sandbox.account_stats()["by_method"].values())


def test_dry_run_checks_and_plans_with_no_account_call(aws, sandbox, output):
    result = run(params(hands_on_vpc(aws), sandbox), dry_run=True)
    assert result.state == "success"
    assert account_calls(sandbox) == 0
    out = output()
    assert "plan for workspace 'acme-prod'" in out
    assert "Dry run: stopping before any account API call" in out
    assert result.xcom[("deploy", "preflight")]["ok"] is True
    assert result.xcom[("deploy", "return_value")]["dry_run"] is True


@pytest.mark.parametrize("dag_id", ["workspace_scenarios", "workspace_scenarios_blocking"])
def test_first_run_creates_each_object_once_waits_and_a_rerun_posts_nothing(
    aws, sandbox, tmp_path, output, dag_id
):
    workspace = params(hands_on_vpc(aws), sandbox)
    first = run(workspace, dag_id)
    assert first.state == "success"
    deferred = output().count("[DAG TEST] running trigger in line")
    # the deferrable run waited in the triggerer (the line may be logged to both streams), the other never
    assert (deferred > 0) is (dag_id == "workspace_scenarios")
    assert posts(sandbox) == ONE_EACH
    summary = first.xcom[("deploy", "return_value")]
    assert summary["status"] == "RUNNING"
    assert summary["host"].endswith("/_sandbox/workspaces/acme-prod")
    assert summary["user"]
    assert all(o["created"] for o in summary["objects"])
    assert sandbox.account_stats()["by_route"]["GET workspace-host"] >= 1  # SCIM Me answered
    recorded = json.loads((tmp_path / "state/_shared/workspace_objects/acme-prod.json").read_text())
    assert set(recorded.values()) == {o["object_id"] for o in summary["objects"]}

    again = run(workspace, dag_id)
    assert again.state == "success"
    assert posts(sandbox) == ONE_EACH  # 0 POSTs on the re-run
    assert "running trigger in line" not in output()  # already RUNNING: no wait
    assert not any(o["created"] for o in again.xcom[("deploy", "return_value")]["objects"])


def test_a_fresh_workspace_that_does_not_answer_yet_is_asked_again(aws, sandbox, output):
    sandbox.configure_accounts(workspace_unready_reads=2)
    result = run(params(hands_on_vpc(aws), sandbox), "workspace_scenarios_blocking")
    assert result.state == "success", output()[-3000:]
    assert sandbox.account_stats()["by_route"]["GET workspace-host"] >= 3  # 2 refusals, then the answer
    assert result.xcom[("deploy", "return_value")]["user"]


def test_failed_workspace_is_explained_from_its_network(aws, sandbox, output):
    sandbox.configure_accounts(
        provision_reads=1,
        workspace_outcome="FAILED",
        network_errors=[{"error_type": "subnet", "error_message": "subnet has no route to the NAT gateway"}],
    )
    result = run(params(hands_on_vpc(aws), sandbox))
    assert result.state == "failed"
    out = output()
    assert "did not reach RUNNING" in out
    assert "subnet has no route to the NAT gateway" in out
    assert "vpc_status BROKEN" in out


def test_cancelling_fails_fast(aws, sandbox, output):
    sandbox.configure_accounts(provision_reads=1, workspace_outcome="CANCELLING")
    result = run(params(hands_on_vpc(aws), sandbox))
    assert result.state == "failed"
    out = output()
    assert "CANCELLING: Workspace is being cancelled." in out
    assert "not RUNNING by the deadline" not in out


def test_preflight_error_fails_before_any_account_call_and_quotes_the_runbook(aws, sandbox, output):
    hands_on = hands_on_vpc(aws, Knobs(relay_private_dns=False))
    result = run(params(hands_on, sandbox))
    assert result.state == "failed"
    assert account_calls(sandbox) == 0
    report = result.xcom[("deploy", "preflight")]
    assert report["ok"] is False
    assert any(hands_on.endpoint_ids["relay"] == e["resource_id"] for e in report["errors"])
    assert "WaitForNgrokTunnel" in output()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account_id": ""}, "account_id"),
        ({"aws_account_id": None}, "aws_account_id"),
        ({"private_link": {"private_access_settings": {}}}, "private_link"),
        (
            {"private_link": {"rest_api_endpoint": {"aws_vpc_endpoint_id": "vpce-1", "region": "us-west-2"}}},
            "private_link.rest_api_endpoint.region",
        ),
        # a typo'd key, at the top level or nested, is refused (not defaulted) with the closest key
        ({"max_node": 20}, "max_node: is not a known key. Fix: did you mean 'max_nodes'?"),
        (
            {"network": {"vpc_id": "vpc-1", "subnet_id": ["subnet-1"]}},
            "network.subnet_id: is not a known key. Fix: did you mean 'subnet_ids'?",
        ),
    ],
)
def test_bad_params_fail_before_any_call(aws, sandbox, output, change, field):
    hands_on = hands_on_vpc(aws)
    result = run(params(hands_on, sandbox, **change))
    assert result.state == "failed"
    assert account_calls(sandbox) == 0
    assert ("deploy", "preflight") not in result.xcom  # not even the AWS reads
    assert field in output()


def test_secrets_never_reach_logs_xcom_rendered_fields_or_state(aws, sandbox, output, tmp_path):
    result = run(params(hands_on_vpc(aws), sandbox))
    assert result.state == "success"
    out = output()
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rendered = session.query(RenderedTaskInstanceFields).filter_by(run_id=result.run_id).all()
        fields = json.dumps([r.rendered_fields for r in rendered], default=str)
    state = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    assert "acme-prod" in fields  # the rendered workspace is there ...
    assert state  # ... and the run state was written
    for secret in (CANARY, AWS_CANARY):
        assert secret not in out
        assert secret not in json.dumps(list(result.xcom.values()), default=str)
        assert secret not in fields
        assert secret not in state


def test_commit_service_hardening_registers_the_profile_and_converges_the_policy(aws, sandbox):
    hands_on = hands_on_vpc(aws)
    suffix = uuid.uuid4().hex[:8]
    profile = f"arn:aws:iam::{hands_on.aws_account_id}:instance-profile/cluster-{suffix}"
    commit = {
        "cluster_role_arn": hands_on.cluster_role_arn,
        "data_role_arn": hands_on.data_role_arn,
        "instance_profile_arn": profile,
        "policy_name": f"s3-commit-{suffix}",
        "disable_direct_upload": True,
    }
    # minilake (the sandbox's own workspace API) serves cluster policies and instance profiles
    workspace = params(hands_on, sandbox, commit_service=commit, workspace_host=sandbox.url)
    first = run(workspace, "workspace_scenarios_blocking")
    assert first.state == "success"
    done = first.xcom[("deploy", "return_value")]["hardening"]
    assert done["instance_profile_added"] is True
    assert done["policy_action"] == "created"
    client = sandbox.client()
    policy = client.cluster_policies.get(done["policy_id"])
    definition = json.loads(policy.definition)
    assert definition["spark_conf.fs.s3a.credentialsType"]["value"] == "AssumeRole"
    assert definition["spark_conf.fs.s3a.stsAssumeRole.arn"]["value"] == hands_on.data_role_arn
    assert definition["aws_attributes.instance_profile_arn"]["value"] == profile
    threshold = "spark_conf.spark.hadoop.fs.s3a.databricks.s3commit.directPutFileSizeThreshold"
    assert definition[threshold]["value"] == "0"
    assert profile in [p.instance_profile_arn for p in client.instance_profiles.list()]

    again = run(workspace, "workspace_scenarios_blocking")
    assert again.xcom[("deploy", "return_value")]["hardening"]["policy_action"] == "unchanged"
    assert again.xcom[("deploy", "return_value")]["hardening"]["instance_profile_added"] is False

    per_bucket = {**commit, "buckets": ["raw-data"], "disable_direct_upload": False}
    third = run({**workspace, "commit_service": per_bucket}, "workspace_scenarios_blocking")
    changed = third.xcom[("deploy", "return_value")]["hardening"]
    assert changed["policy_action"] == "updated"
    assert changed["policy_id"] == done["policy_id"]  # found by name, never a second policy
    definition = json.loads(client.cluster_policies.get(done["policy_id"]).definition)
    assert definition["spark_conf.fs.s3a.bucket.raw-data.credentialsType"]["value"] == "AssumeRole"
    assert threshold not in definition
    assert [p.name for p in client.cluster_policies.list()].count(f"s3-commit-{suffix}") == 1


def test_a_role_given_as_the_instance_profile_fails_before_any_call(aws, sandbox, output):
    hands_on = hands_on_vpc(aws)
    commit = {
        "cluster_role_arn": hands_on.cluster_role_arn,
        "data_role_arn": hands_on.data_role_arn,
        "instance_profile_arn": hands_on.cluster_role_arn,  # the role, not its instance profile
    }
    result = run(params(hands_on, sandbox, commit_service=commit))
    assert result.state == "failed"
    assert account_calls(sandbox) == 0
    assert "commit_service.instance_profile_arn" in output()


def test_credential_validation_at_workspace_create_is_retried_once_the_iam_preflight_passed(aws, sandbox):
    sandbox.configure_accounts(workspace_validation_failures=2)
    result = run(params(hands_on_vpc(aws), sandbox), "workspace_scenarios_blocking")
    assert result.state == "success"
    assert posts(sandbox)["workspaces"] == 3  # refused twice while the role propagates, then created
    assert len(list(sandbox.account_client(ACCOUNT_ID).workspaces.list())) == 1


def test_a_rejected_endpoint_registration_fails_the_task(aws, sandbox, output):
    sandbox.configure_accounts(endpoint_outcome="rejected")
    result = run(params(hands_on_vpc(aws), sandbox))
    assert result.state == "failed"
    assert "was rejected" in output()
    assert "workspaces" not in posts(sandbox)


def test_an_object_with_the_name_and_another_config_is_a_drift_error(aws, sandbox, output):
    hands_on = hands_on_vpc(aws)
    sandbox.account_client(ACCOUNT_ID).credentials.create(
        credentials_name="acme-prod-credentials",
        aws_credentials=CreateCredentialAwsCredentials(
            sts_role=CreateCredentialStsRole(role_arn="arn:aws:iam::123456789012:role/someone-else")
        ),
    )
    result = run(params(hands_on, sandbox))
    assert result.state == "failed"
    out = output()
    assert "exists with a different configuration" in out
    assert "aws_credentials.sts_role.role_arn" in out
    assert posts(sandbox) == {"credentials": 1}  # only the object created above: nothing adopted or replaced


def test_a_workspace_name_that_does_not_resolve_yet_is_retried_until_the_answer_timeout(aws, sandbox, output):
    workspace = params(hands_on_vpc(aws), sandbox, workspace_host="http://{deployment_name}.invalid")
    result = run(workspace, "workspace_scenarios_blocking")
    assert result.state == "failed"
    out = output()
    assert out.count("does not answer yet") >= 2  # DNS errors are retried, not fatal at once
    assert "acme-prod.invalid" in out


def _kinds_left(sandbox: Any) -> dict[str, int]:
    a = sandbox.account_client(ACCOUNT_ID)
    apis = {
        "workspaces": a.workspaces,
        "private-access-settings": a.private_access,
        "networks": a.networks,
        "vpc-endpoints": a.vpc_endpoints,
        "storage-configurations": a.storage,
        "credentials": a.credentials,
    }
    return {kind: len(list(api.list())) for kind, api in apis.items()}


@pytest.mark.parametrize("dag_id", ["workspace_scenarios", "workspace_scenarios_blocking"])
def test_delete_failed_workspace_removes_what_the_run_created_and_a_rerun_starts_clean(
    aws, sandbox, output, tmp_path, dag_id
):
    hands_on = hands_on_vpc(aws)
    # adopted, so never deleted: a credential configuration that exists before the run
    sandbox.account_client(ACCOUNT_ID).credentials.create(
        credentials_name="acme-prod-credentials",
        aws_credentials=CreateCredentialAwsCredentials(
            sts_role=CreateCredentialStsRole(role_arn=hands_on.cross_account_role_arn)
        ),
    )
    # the first read is PROVISIONING: the wait happens in the trigger (deferrable) or in poll (blocking)
    sandbox.configure_accounts(provision_reads=3, workspace_outcome="FAILED", workspace_delete_requests=3)
    result = run(params(hands_on, sandbox), dag_id, delete_failed_workspace=True)
    assert result.state == "failed"
    out = output()
    assert ("running trigger in line" in out) is (dag_id == "workspace_scenarios")
    assert "did not reach RUNNING" in out
    assert "subnet" in out  # the failure is still explained
    assert "cleanup: deleted workspace 'acme-prod'" in out
    assert "kept credentials 'acme-prod-credentials'" in out
    assert _kinds_left(sandbox) == {**dict.fromkeys(ONE_EACH, 0), "credentials": 1}
    deletes = {
        k.split(" ", 1)[1]: n
        for k, n in sandbox.account_stats()["by_route"].items()
        if k.startswith("DELETE ")
    }
    assert deletes == {kind: n for kind, n in ONE_EACH.items() if kind != "credentials"}
    cleanup = result.xcom[("deploy", "cleanup")]
    assert [o["result"] for o in cleanup] == ["deleted"] * 6
    recorded = json.loads((tmp_path / "state/_shared/workspace_objects/acme-prod.json").read_text())
    assert list(recorded) == ["credentials:acme-prod-credentials"]  # no stale ids for a re-run

    sandbox.configure_accounts(workspace_outcome="RUNNING", provision_reads=1)
    again = run(params(hands_on, sandbox), dag_id, delete_failed_workspace=True)
    assert again.state == "success"
    created = {o["kind"]: o["created"] for o in again.xcom[("deploy", "return_value")]["objects"]}
    assert created["credentials"] is False
    assert created["workspace"] is True
    assert created["network"] is True


@pytest.mark.parametrize("dag_id", ["workspace_scenarios", "workspace_scenarios_blocking"])
def test_a_workspace_not_running_by_the_deadline_is_cleaned_up_too_and_the_task_fails(
    aws, sandbox, output, dag_id
):
    sandbox.configure_accounts(provision_reads=1_000_000)  # PROVISIONING for good
    result = run(params(hands_on_vpc(aws), sandbox), dag_id, delete_failed_workspace=True, timeout=1)
    assert result.state == "failed"
    out = output()
    assert "not RUNNING by the deadline" in out
    assert "cleanup: deleted workspace 'acme-prod'" in out
    assert _kinds_left(sandbox) == dict.fromkeys(ONE_EACH, 0)


def test_without_delete_failed_workspace_a_failed_workspace_is_left_alone(aws, sandbox, output):
    sandbox.configure_accounts(provision_reads=1, workspace_outcome="FAILED")
    result = run(params(hands_on_vpc(aws), sandbox))
    assert result.state == "failed"
    assert "cleanup:" not in output()
    assert not any(k.startswith("DELETE ") for k in sandbox.account_stats()["by_route"])
    assert _kinds_left(sandbox)["workspaces"] == 1


def test_cleanup_secrets_stay_out_of_logs_xcom_and_state(aws, sandbox, output, tmp_path):
    sandbox.configure_accounts(provision_reads=1, workspace_outcome="BANNED")
    result = run(
        params(hands_on_vpc(aws), sandbox), "workspace_scenarios_blocking", delete_failed_workspace=True
    )
    assert result.state == "failed"
    out = output()
    assert "cleanup: deleted workspace" in out
    state = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    for secret in (CANARY, AWS_CANARY):
        assert secret not in out
        assert secret not in json.dumps(list(result.xcom.values()), default=str)
        assert secret not in state


def _policy(aws: Callable[[str], Any], bucket: str) -> dict[str, Any]:
    return json.loads(aws("s3").get_bucket_policy(Bucket=bucket)["Policy"])


def test_the_ip_restriction_is_merged_once_keeps_other_statements_and_bites(aws, sandbox):
    hands_on = hands_on_vpc(aws)
    s3 = aws("s3")
    before = _policy(aws, hands_on.root_bucket_name)["Statement"]
    s3.put_object(Bucket=hands_on.root_bucket_name, Key="before.txt", Body=b"x")  # allowed before
    workspace = params(hands_on, sandbox, bucket_policy={"allowed_ips": ["203.0.113.0/24"]})
    for _ in range(2):
        result = run(workspace, "workspace_scenarios_blocking")
        assert result.state == "success"
    statements = _policy(aws, hands_on.root_bucket_name)["Statement"]
    ours = [s for s in statements if s.get("Sid") == "PlatformOpsDenyOutsideAllowedNetworks"]
    assert len(ours) == 1  # two runs, one statement
    assert statements[: len(before)] == before  # the Databricks grant is untouched
    gateway = aws("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "service-name", "Values": [f"com.amazonaws.{REGION}.s3"]}]
    )["VpcEndpoints"][0]["VpcEndpointId"]
    assert ours[0]["Condition"]["StringNotEquals"]["aws:SourceVpce"] == [gateway]
    assert "35.72.28.0/28" in ours[0]["Condition"]["NotIpAddress"]["aws:SourceIp"]  # the control plane
    applied = result.xcom[("deploy", "return_value")]["bucket_policy"]
    assert applied == [{"bucket": hands_on.root_bucket_name, "changed": False, "vpc_endpoint_ids": [gateway]}]
    # moto applies the Deny to object calls without a request context (it cannot see aws:SourceIp):
    # an object call from this host, outside the list, is refused now
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=hands_on.root_bucket_name, Key="after.txt", Body=b"x")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_bad_cidr_fails_before_any_call(aws, sandbox, output):
    hands_on = hands_on_vpc(aws)
    result = run(params(hands_on, sandbox, bucket_policy={"allowed_ips": ["10.1.2.3/33"]}))
    assert result.state == "failed"
    assert account_calls(sandbox) == 0
    assert ("deploy", "preflight") not in result.xcom
    out = output()
    assert "bucket_policy.allowed_ips" in out
    assert "203.0.113.0/24" in out  # the fix shows the form


def _deletes(sandbox: Any) -> dict[str, int]:
    routes = sandbox.account_stats()["by_route"]
    return {k.split(" ", 1)[1]: n for k, n in routes.items() if k.startswith("DELETE ")}


def test_a_network_create_committed_then_503_is_this_runs_and_the_cleanup_deletes_it(aws, sandbox, output):
    # the SDK resends the committed POST (refused: its subnets are taken), the look-up finds the network
    sandbox.configure_accounts(
        provision_reads=1,
        workspace_outcome="FAILED",
        commit_then_503=["networks"],
        workspace_delete_requests=2,
    )
    result = run(params(hands_on_vpc(aws), sandbox), delete_failed_workspace=True)
    assert result.state == "failed"
    assert posts(sandbox)["networks"] == 2
    assert _kinds_left(sandbox) == dict.fromkeys(ONE_EACH, 0)
    assert _deletes(sandbox) == ONE_EACH
    out = output()
    assert "the create was committed" in out
    assert "kept network" not in out
    assert [o["result"] for o in result.xcom[("deploy", "cleanup")]] == ["deleted"] * 7


def test_a_workspace_create_committed_then_503_is_deleted_with_the_rest_and_older_objects_are_kept(
    aws, sandbox, output, tmp_path
):
    hands_on = hands_on_vpc(aws)
    # adopted, so never deleted: a storage configuration that exists before the run
    kept = sandbox.account_client(ACCOUNT_ID).storage.create(
        storage_configuration_name="acme-prod-storage",
        root_bucket_info=RootBucketInfo(bucket_name=hands_on.root_bucket_name),
        role_arn=hands_on.storage_role_arn,
    )
    sandbox.configure_accounts(
        provision_reads=1,
        workspace_outcome="FAILED",
        commit_then_503=["workspaces"],
        workspace_delete_requests=2,
    )
    result = run(params(hands_on, sandbox), "workspace_scenarios_blocking", delete_failed_workspace=True)
    assert result.state == "failed"
    assert posts(sandbox)["workspaces"] == 2  # the SDK's resend, refused: the deployment name is taken
    assert _kinds_left(sandbox) == {**dict.fromkeys(ONE_EACH, 0), "storage-configurations": 1}
    out = output()
    assert "cleanup: deleted workspace 'acme-prod'" in out
    assert f"kept storage_configuration 'acme-prod-storage' ({kept.storage_configuration_id}): adopted" in out
    assert [s.storage_configuration_id for s in sandbox.account_client(ACCOUNT_ID).storage.list()] == [
        kept.storage_configuration_id
    ]
    assert _deletes(sandbox) == {k: n for k, n in ONE_EACH.items() if k != "storage-configurations"}
    recorded = json.loads((tmp_path / "state/_shared/workspace_objects/acme-prod.json").read_text())
    assert recorded == {"storage_configuration:acme-prod-storage": kept.storage_configuration_id}


def test_a_retry_of_the_task_still_counts_what_the_first_try_created_as_this_runs(
    aws, sandbox, output, tmp_path
):
    from platform_ops.hooks.databricks_account import DatabricksAccountHook

    original = DatabricksAccountHook.ensure_workspace
    crashes: list[str] = []

    def create_then_crash_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        workspace = original(self, *args, **kwargs)
        if not crashes:
            crashes.append(workspace.object_id)
            raise ConnectionResetError("worker lost right after the workspace create")
        return workspace

    sandbox.configure_accounts(provision_reads=1, workspace_outcome="FAILED", workspace_delete_requests=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DatabricksAccountHook, "ensure_workspace", create_then_crash_once)
        result = run(
            params(hands_on_vpc(aws), sandbox), "workspace_scenarios_retry", delete_failed_workspace=True
        )
    assert result.state == "failed"
    assert result.try_numbers["deploy"] == 2
    assert crashes
    assert posts(sandbox) == ONE_EACH  # the second try created nothing: it found the first try's objects
    assert _kinds_left(sandbox) == dict.fromkeys(ONE_EACH, 0)
    assert [o["result"] for o in result.xcom[("deploy", "cleanup")]] == ["deleted"] * 7
    out = output()
    assert "an earlier try of this run created it" in out
    assert "Adopting" not in out
    # the first try wrote each id it created as it went (it never reached its final write)
    (first,) = (tmp_path / "state/workspace_scenarios_retry/deploy").rglob("try-0001.json")
    doc = json.loads(first.read_text())
    assert "objects" not in doc
    assert doc["run_id"] == result.run_id
    assert {c["object_id"] for c in doc["created"]} >= {crashes[0]}
    assert len(doc["created"]) == 7
