"""Pure parts of a workspace deployment: parameters -> account objects + preflight request, the plan,
the workspace status and wait event, and the S3 commit-service cluster policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from platform_ops.config_files import load_yaml
from platform_ops.core.workspace_deploy import (
    DIRECT_PUT_THRESHOLD,
    CleanupOutcome,
    NetworkHealth,
    WaitOutcome,
    WorkspaceStatus,
    WorkspaceWaitEvent,
    cleanup_plan,
    cleanup_report,
    forget_removed,
    hardening_from_params,
    parse_deploy_params,
    plan_lines,
    remaining_objects,
)
from platform_ops.exceptions import ConfigError

WORKSPACE_FILES = Path(__file__).resolve().parents[2] / "include" / "config" / "workspaces"
ACCOUNT = "0d5c6a4e-1f2b-4c3d-9e8f-7a6b5c4d3e2f"
ROLE = "arn:aws:iam::123456789012:role/"
PARAMS: dict[str, Any] = {
    "account_id": ACCOUNT,
    "aws_account_id": "123456789012",
    "region": "ap-northeast-1",
    "deployment_name": "acme-dev",
    "credentials": {"role_arn": ROLE + "cross"},
    "storage": {"bucket_name": "acme-root"},
    "network": {
        "vpc_id": "vpc-0123456789",
        "subnet_ids": ["subnet-0aaaaaaaa", "subnet-0bbbbbbbb"],
        "cluster_security_group_ids": ["sg-0cccccccc"],
        "endpoint_security_group_id": "sg-0dddddddd",
        "endpoint_subnet_ids": ["subnet-0eeeeeeee"],
    },
    "private_link": {
        "rest_api_endpoint": {"aws_vpc_endpoint_id": "vpce-0a0000001"},
        "dataplane_relay_endpoint": {"aws_vpc_endpoint_id": "vpce-0a0000002"},
        "front_end_endpoint_id": "vpce-0a0000003",
        "private_access_settings": {"public_access_enabled": False},
    },
}


def test_the_preflight_request_names_what_the_account_objects_will():
    plan = parse_deploy_params(PARAMS)
    req = plan.preflight
    assert req.vpc_id == plan.deployment.network.vpc_id
    assert set(req.security_group_ids) == {"sg-0cccccccc", "sg-0dddddddd"}  # both groups registered
    assert req.relay_endpoint_id == "vpce-0a0000002"
    assert req.workspace_endpoint_id == "vpce-0a0000001"
    assert req.cross_account_role_arn == ROLE + "cross"
    assert req.private_link
    assert req.public_access_enabled is False
    assert plan.hardening is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"aws_account_id": "12"}, "aws_account_id"),
        ({"metastore": "rds"}, "metastore"),
        (
            {"network": {**PARAMS["network"], "endpoint_security_group_id": None}},
            "endpoint_security_group_id",
        ),
        (
            {
                "commit_service": {
                    "cluster_role_arn": ROLE + "c",
                    "data_role_arn": ROLE + "d",
                    "instance_profile_arn": ROLE + "c",  # the role, not its instance profile
                }
            },
            "commit_service.instance_profile_arn",
        ),
    ],
)
def test_bad_parameters_name_their_field(change, field):
    with pytest.raises(ConfigError) as err:
        parse_deploy_params({**PARAMS, **change})
    assert field in str(err.value)


def test_the_plan_lists_every_object_in_order():
    lines = plan_lines(parse_deploy_params(PARAMS).deployment)
    kinds = [line.split()[0] for line in lines[1:]]
    assert kinds == [
        "credentials",
        "storage_configuration",
        "vpc_endpoint",
        "vpc_endpoint",
        "network",
        "private_access_settings",
        "workspace",
    ]
    assert "https://acme-dev.cloud.databricks.com" in lines[0]


def test_failed_status_is_explained_by_its_network_and_round_trips():
    status = WorkspaceStatus.from_api(
        {
            "workspace_id": 7,
            "workspace_status": "FAILED",
            "workspace_status_message": "launch failed",
            "network_id": "n1",
        }
    )
    assert status.needs_network
    network = NetworkHealth.from_api(
        {
            "network_id": "n1",
            "vpc_status": "BROKEN",
            "error_messages": [{"error_type": "subnet", "error_message": "no NAT"}],
            "warning_messages": [{"warning_type": "securityGroup", "warning_message": "egress 6666"}],
        }
    )
    event = WorkspaceWaitEvent.of(status.with_network(network))
    assert event is not None
    assert event.outcome is WaitOutcome.FAILED
    for text in ("launch failed", "subnet: no NAT", "securityGroup: egress 6666", "vpc_status BROKEN"):
        assert text in event.message
    assert WorkspaceWaitEvent.from_json(json.loads(json.dumps(event.to_json()))) == event


@pytest.mark.parametrize("status", ["BANNED", "CANCELLING", "CANCELLED"])
def test_statuses_that_never_reach_running_end_the_wait(status):
    event = WorkspaceWaitEvent.of(WorkspaceStatus("1", status, "why"))
    assert event is not None
    assert event.outcome is WaitOutcome.FAILED
    assert "why" in event.message


@pytest.mark.parametrize("status", ["NOT_PROVISIONED", "PROVISIONING"])
def test_provisioning_goes_on(status):
    assert WorkspaceWaitEvent.of(WorkspaceStatus("1", status)) is None


def test_commit_policy_fixes_the_assume_role_confs_globally_or_per_bucket():
    commit = {
        "data_role_arn": ROLE + "data",
        "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/c",
    }
    hardening = hardening_from_params({"commit_service": commit}, "acme")
    assert hardening is not None
    assert hardening.policy_name == "acme-s3-commit-service"
    definition = hardening.policy_definition()
    assert definition["spark_conf.fs.s3a.credentialsType"]["value"] == "AssumeRole"
    assert definition["spark_conf.fs.s3a.stsAssumeRole.arn"]["value"] == ROLE + "data"
    assert f"spark_conf.{DIRECT_PUT_THRESHOLD}" not in definition
    per_bucket = hardening_from_params(
        {"commit_service": {**commit, "buckets": ["a", "b"], "disable_direct_upload": True}}, "acme"
    )
    assert per_bucket is not None
    definition = per_bucket.policy_definition()
    assert "spark_conf.fs.s3a.credentialsType" not in definition
    assert definition["spark_conf.fs.s3a.bucket.b.stsAssumeRole.arn"]["value"] == ROLE + "data"
    assert definition[f"spark_conf.{DIRECT_PUT_THRESHOLD}"]["value"] == "0"


def _objects(*created: bool) -> list[dict[str, Any]]:
    kinds = [
        ("credentials", "c"),
        ("storage_configuration", "s"),
        ("vpc_endpoint", "rest"),
        ("vpc_endpoint", "relay"),
        ("network", "n"),
        ("private_access_settings", "p"),
        ("workspace", "w"),
    ]
    return [
        {"kind": k, "name": n, "object_id": f"id-{n}", "created": c}
        for (k, n), c in zip(kinds, created, strict=True)
    ]


def test_cleanup_removes_what_this_run_created_in_reverse_order_and_keeps_what_it_adopted():
    plan = cleanup_plan(_objects(False, True, True, True, True, True, True))
    assert [d.name for d in plan.deletions] == ["w", "p", "n", "relay", "rest", "s"]
    assert [o["name"] for o in plan.kept] == ["c"]


def test_cleanup_keeps_everything_when_the_workspace_was_adopted():
    plan = cleanup_plan(_objects(True, True, True, True, True, True, False))
    assert plan.deletions == []
    assert len(plan.kept) == 7
    assert "not created by this run" in plan.reason


def test_the_cleanup_report_and_the_ids_a_rerun_must_forget():
    objects = _objects(False, True, True, True, True, True, True)
    outcomes = [
        CleanupOutcome("workspace", "w", "id-w", "deleted"),
        CleanupOutcome("network", "n", "id-n", "failed", "still in use at the deadline"),
        CleanupOutcome("storage_configuration", "s", "id-s", "already gone"),
    ]
    text = cleanup_report(outcomes, cleanup_plan(objects))
    assert "deleted workspace 'w' (id-w)" in text
    assert "could not delete network 'n' (id-n): still in use at the deadline" in text
    assert "kept credentials 'c' (id-c): adopted" in text
    recorded = {
        "workspace:w": "id-w",
        "network:n": "id-n",
        "storage_configuration:s": "id-s",
        "credentials:c": "id-c",
    }
    assert forget_removed(recorded, outcomes) == {"network:n": "id-n", "credentials:c": "id-c"}
    # a key that now names another object (a later run's) is not forgotten
    assert forget_removed({"workspace:w": "id-other"}, outcomes) == {"workspace:w": "id-other"}
    assert remaining_objects(objects, outcomes) == [o for o in objects if o["name"] not in {"w", "s"}]


def test_bucket_policy_params_reach_the_plan():
    plan = parse_deploy_params({**PARAMS, "bucket_policy": {"allowed_ips": ["203.0.113.0/24"]}})
    assert plan.bucket_policy is not None
    assert plan.bucket_policy.buckets == ("acme-root",)
    assert plan.bucket_policy.vpc_id == "vpc-0123456789"
    assert parse_deploy_params(PARAMS).bucket_policy is None
    with pytest.raises(ConfigError, match=r"bucket_policy\.allowed_ips"):
        parse_deploy_params({**PARAMS, "bucket_policy": {"allowed_ips": ["300.1.1.1/32"]}})


@pytest.mark.parametrize(
    ("change", "path", "suggestion"),
    [
        ({"max_node": 20}, "max_node", "'max_nodes'"),  # top level
        (
            {"network": {**PARAMS["network"], "subnet_id": ["subnet-0aaaaaaaa"]}},
            "network.subnet_id",
            "'subnet_ids'",
        ),
        (
            {
                "private_link": {
                    **PARAMS["private_link"],
                    "private_access_settings": {"public_acess_enabled": False},
                }
            },
            "private_link.private_access_settings.public_acess_enabled",
            "'public_access_enabled'",
        ),
        ({"bucket_policy": {"allowed_ip": ["203.0.113.0/24"]}}, "bucket_policy.allowed_ip", "'allowed_ips'"),
        # a key of another level: the error says where it belongs
        (
            {"network": {**PARAMS["network"], "max_node": 20}},
            "network.max_node",
            "'max_nodes', a key at the top level",
        ),
    ],
)
def test_an_unknown_key_is_refused_with_its_path_and_the_closest_known_key(change, path, suggestion):
    with pytest.raises(ConfigError) as raised:
        parse_deploy_params({**PARAMS, **change})
    assert raised.value.field == path
    assert f"did you mean {suggestion}" in raised.value.fix


def test_an_unknown_key_is_refused_before_any_other_check():
    # the file's other errors (no account id) would name another field: the typo is reported first
    with pytest.raises(ConfigError) as raised:
        parse_deploy_params({**PARAMS, "account_id": None, "storage": {"bucketname": "acme-root"}})
    assert raised.value.field == "storage.bucketname"
    assert "'bucket_name'" in raised.value.fix


@pytest.mark.parametrize("path", sorted(WORKSPACE_FILES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_workspace_file_loads(path):
    plan = parse_deploy_params(load_yaml(path))
    assert plan.deployment.deployment_name == path.stem


def test_a_bucket_policy_in_a_region_without_control_plane_ips_is_refused_when_the_file_is_parsed():
    # parsing is the operator's first step: nothing has been read or written when this is raised
    params = {k: v for k, v in PARAMS.items() if k != "private_link"}  # no PrivateLink service there
    restricted = {**params, "region": "ap-southeast-3", "bucket_policy": {"allowed_ips": ["203.0.113.0/24"]}}
    with pytest.raises(ConfigError) as raised:
        parse_deploy_params(restricted)
    assert raised.value.field == "bucket_policy.control_plane_ips"
    given = {"allowed_ips": ["203.0.113.0/24"], "control_plane_ips": ["192.0.2.0/28"]}
    plan = parse_deploy_params({**restricted, "bucket_policy": given})
    assert plan.bucket_policy is not None
    assert plan.bucket_policy.allowed_cidrs == ("203.0.113.0/24", "192.0.2.0/28")
