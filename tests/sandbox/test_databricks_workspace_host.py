"""A new workspace's instance profiles and cluster policies under its host (routes/workspace_host.py),
through databricks-sdk's unmodified WorkspaceClient: wire format, refusals, isolation, counts."""

from __future__ import annotations

import json
import urllib.request

import pytest
from databricks.sdk.errors import InvalidParameterValue, InvalidState, NotFound, ResourceAlreadyExists
from databricks.sdk.service.compute import ListSortColumn, ListSortOrder
from databricks.sdk.service.provisioning import RootBucketInfo

from tests.sandbox.test_databricks_accounts import credentials

pytestmark = pytest.mark.integration

PROFILE = "arn:aws:iam::123456789012:instance-profile/demo-cluster"
FIXED = json.dumps({"aws_attributes.instance_profile_arn": {"type": "fixed", "value": PROFILE}})


@pytest.fixture
def sandbox(databricks_sandbox):
    databricks_sandbox.reset()
    databricks_sandbox.configure_accounts(provision_reads=1)
    yield databricks_sandbox
    databricks_sandbox.reset()


def running(sandbox, name: str) -> int:
    """A RUNNING workspace deployed as ``name``: its id."""
    a = sandbox.account_client()
    c = credentials(a, f"{name}-creds")
    s = a.storage.create(
        storage_configuration_name=f"{name}-root", root_bucket_info=RootBucketInfo(bucket_name=f"{name}-b")
    )
    created = a.workspaces.create(
        workspace_name=name,
        deployment_name=name,
        aws_region="us-east-1",
        credentials_id=c.credentials_id,
        storage_configuration_id=s.storage_configuration_id,
    ).response
    a.workspaces.get(created.workspace_id)  # NOT_PROVISIONED -> PROVISIONING
    a.workspaces.get(created.workspace_id)  # -> RUNNING
    return int(created.workspace_id)


def raw_get(sandbox, name: str, path: str) -> dict:
    host = sandbox.workspace_host_template().format(deployment_name=name)
    request = urllib.request.Request(  # noqa: S310 - the local sandbox's http URL
        f"{host}/api/2.0/{path}", headers={"Authorization": f"Bearer {sandbox.token}"}
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310 - the local sandbox
        return dict(json.loads(response.read()))


def test_a_new_workspace_starts_empty_and_answers_as_the_real_api(sandbox):
    running(sandbox, "ws")
    w = sandbox.workspace_host_client("ws")
    # the real API leaves out an empty list's field
    assert raw_get(sandbox, "ws", "instance-profiles/list") == {}
    assert raw_get(sandbox, "ws", "policies/clusters/list") == {}
    assert list(w.instance_profiles.list()) == []
    assert list(w.cluster_policies.list()) == []

    w.instance_profiles.add(instance_profile_arn=PROFILE)
    (profile,) = w.instance_profiles.list()
    assert profile.instance_profile_arn == PROFILE
    assert profile.is_meta_instance_profile is False
    with pytest.raises(ResourceAlreadyExists):
        w.instance_profiles.add(instance_profile_arn=PROFILE)

    created = w.cluster_policies.create(name="s3-commit", definition=FIXED)
    got = w.cluster_policies.get(created.policy_id)
    assert (got.name, json.loads(got.definition)) == ("s3-commit", json.loads(FIXED))
    assert got.creator_user_name
    assert got.created_at_timestamp
    assert got.is_default is False
    with pytest.raises(ResourceAlreadyExists):
        w.cluster_policies.create(name="s3-commit", definition=FIXED)
    other = w.cluster_policies.create(name="a-first", definition="{}")
    by_name = w.cluster_policies.list(sort_column=ListSortColumn.POLICY_NAME, sort_order=ListSortOrder.ASC)
    assert [p.name for p in by_name] == ["a-first", "s3-commit"]
    newest_first = [p.policy_id for p in w.cluster_policies.list()]
    assert newest_first == [other.policy_id, created.policy_id]
    assert raw_get(sandbox, "ws", "policies/clusters/list")["total_count"] == 2

    edited = json.dumps({"aws_attributes.instance_profile_arn": {"type": "forbidden"}})
    w.cluster_policies.edit(policy_id=created.policy_id, name="s3-commit", definition=edited)
    assert json.loads(w.cluster_policies.get(created.policy_id).definition) == json.loads(edited)
    with pytest.raises(ResourceAlreadyExists):  # a rename onto another policy's name
        w.cluster_policies.edit(policy_id=other.policy_id, name="s3-commit", definition="{}")
    w.cluster_policies.delete(other.policy_id)
    with pytest.raises(NotFound):
        w.cluster_policies.get(other.policy_id)
    w.instance_profiles.remove(PROFILE)
    assert list(w.instance_profiles.list()) == []


def test_bad_arns_and_definitions_are_refused_naming_the_field(sandbox):
    running(sandbox, "ws")
    w = sandbox.workspace_host_client("ws")
    role = "arn:aws:iam::123456789012:role/demo-cluster"
    with pytest.raises(InvalidParameterValue, match=r"instance_profile_arn .* is not an instance profile"):
        w.instance_profiles.add(instance_profile_arn=role)
    with pytest.raises(InvalidParameterValue, match="not a JSON document"):
        w.cluster_policies.create(name="p", definition="{not json")
    with pytest.raises(InvalidParameterValue, match="spark_version: type must be one of"):
        w.cluster_policies.create(name="p", definition=json.dumps({"spark_version": {"type": "pinned"}}))
    with pytest.raises(InvalidParameterValue, match="a fixed rule needs a value"):
        w.cluster_policies.create(name="p", definition=json.dumps({"spark_version": {"type": "fixed"}}))
    with pytest.raises(InvalidParameterValue, match="name is required"):
        w.cluster_policies.create(definition="{}")
    with pytest.raises(NotFound, match="Can't find a cluster policy with id: NOPE"):
        w.cluster_policies.get("NOPE")
    assert list(w.instance_profiles.list()) == []
    assert list(w.cluster_policies.list()) == []


def test_each_workspace_has_its_own_objects_and_the_sandboxs_own_workspace_none_of_them(sandbox):
    running(sandbox, "one")
    running(sandbox, "two")
    sandbox.workspace_host_client("one").instance_profiles.add(instance_profile_arn=PROFILE)
    sandbox.workspace_host_client("one").cluster_policies.create(name="only-in-one", definition=FIXED)
    assert list(sandbox.workspace_host_client("two").instance_profiles.list()) == []
    assert list(sandbox.workspace_host_client("two").cluster_policies.list()) == []
    assert "only-in-one" not in [p.name for p in sandbox.client().cluster_policies.list()]
    one = sandbox.workspace_host_stats("one")
    assert one["by_route"] == {"POST instance-profiles/add": 1, "POST policies/clusters/create": 1}
    assert one["writes"] == 2
    assert sandbox.workspace_host_stats("two") == {
        "by_route": {"GET instance-profiles/list": 1, "GET policies/clusters/list": 1},
        "writes": 0,
    }


def test_a_workspace_that_is_not_running_or_unknown_refuses_and_is_still_counted(sandbox):
    with pytest.raises(NotFound, match="No workspace is deployed at 'nowhere'"):
        list(sandbox.workspace_host_client("nowhere").instance_profiles.list())
    a = sandbox.account_client()
    c = credentials(a)
    s = a.storage.create(storage_configuration_name="root", root_bucket_info=RootBucketInfo(bucket_name="b"))
    a.workspaces.create(
        workspace_name="ws",
        deployment_name="ws",
        aws_region="us-east-1",
        credentials_id=c.credentials_id,
        storage_configuration_id=s.storage_configuration_id,
    )
    with pytest.raises(InvalidState, match="NOT_PROVISIONED, not RUNNING"):
        sandbox.workspace_host_client("ws").cluster_policies.create(name="p", definition=FIXED)
    assert sandbox.workspace_host_stats("ws")["writes"] == 1
    sandbox.reset()
    assert sandbox.workspace_host_stats("ws") == {"by_route": {}, "writes": 0}
