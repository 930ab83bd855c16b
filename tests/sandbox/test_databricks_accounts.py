"""The sandbox's Databricks account API (sandbox/databricks/routes/accounts.py) through databricks-sdk's
unmodified AccountClient: wire format, lifecycles, knobs and request counts."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta

import pytest
from databricks.sdk import AccountClient
from databricks.sdk.errors import BadRequest, InvalidParameterValue, InvalidState, NotFound, OperationFailed
from databricks.sdk.service.provisioning import (
    CreateCredentialAwsCredentials,
    CreateCredentialStsRole,
    NetworkVpcEndpoints,
    PrivateAccessLevel,
    RootBucketInfo,
    VpcStatus,
    WorkspaceStatus,
)

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/databricks-cross-account"


@pytest.fixture
def sandbox(databricks_sandbox):
    databricks_sandbox.reset()
    databricks_sandbox.configure_accounts(provision_reads=2)
    yield databricks_sandbox
    databricks_sandbox.reset()


@pytest.fixture
def a(sandbox) -> AccountClient:
    return sandbox.account_client()


def credentials(a, name="creds"):
    role = CreateCredentialStsRole(role_arn=ROLE)
    return a.credentials.create(
        credentials_name=name, aws_credentials=CreateCredentialAwsCredentials(sts_role=role)
    )


def network(a, name="net", subnets=("subnet-a", "subnet-b"), groups=("sg-c", "sg-e"), endpoints=None):
    return a.networks.create(
        network_name=name,
        vpc_id="vpc-1",
        subnet_ids=list(subnets),
        security_group_ids=list(groups),
        vpc_endpoints=endpoints,
    )


def workspace(a, name="ws", network_id=None):
    c = credentials(a)
    s = a.storage.create(storage_configuration_name="root", root_bucket_info=RootBucketInfo(bucket_name="b"))
    return a.workspaces.create(
        workspace_name=name,
        deployment_name=name,
        aws_region="us-east-1",
        credentials_id=c.credentials_id,
        storage_configuration_id=s.storage_configuration_id,
        network_id=network_id,
    )


def test_lists_are_bare_json_arrays_and_objects_round_trip(sandbox, a):
    c = credentials(a)
    assert c.aws_credentials.sts_role.role_arn == ROLE
    assert c.account_id == a.config.account_id
    request = urllib.request.Request(  # noqa: S310 - the local sandbox's http URL
        f"{sandbox.url}/api/2.0/accounts/{a.config.account_id}/credentials",
        headers={"Authorization": f"Bearer {sandbox.token}"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310 - the local sandbox
        body = json.loads(response.read())
    assert isinstance(body, list)
    assert body[0]["credentials_id"] == c.credentials_id
    assert a.credentials.get(c.credentials_id).credentials_name == "creds"
    assert [x.credentials_id for x in a.credentials.list()] == [c.credentials_id]
    a.credentials.delete(c.credentials_id)
    assert list(a.credentials.list()) == []
    with pytest.raises(NotFound):
        a.credentials.get(c.credentials_id)


def test_workspace_goes_not_provisioned_provisioning_running_and_its_host_answers_scim_me(sandbox, a):
    created = workspace(a).response
    assert created.workspace_status == WorkspaceStatus.NOT_PROVISIONED
    assert a.workspaces.get(created.workspace_id).workspace_status == WorkspaceStatus.PROVISIONING
    assert a.workspaces.get(created.workspace_id).workspace_status == WorkspaceStatus.RUNNING
    assert sandbox.client().current_user.me().user_name


def test_the_workspace_host_answers_scim_me_once_running(sandbox, a):
    from databricks.sdk import WorkspaceClient

    def me(deployment):
        host = sandbox.workspace_host_template().format(deployment_name=deployment)
        return WorkspaceClient(host=host, token=sandbox.token, auth_type="pat").current_user.me()

    with pytest.raises(NotFound):
        me("nowhere")
    ws_id = workspace(a).response.workspace_id
    with pytest.raises(InvalidState, match="NOT_PROVISIONED"):
        me("ws")
    a.workspaces.get(ws_id)
    a.workspaces.get(ws_id)
    sandbox.configure_accounts(workspace_unready_reads=1)
    before = sandbox.account_stats()["by_route"]["GET workspace-host"]
    assert me("ws").user_name == "minilake-user"
    # one "no worker environments" answer, retried by the SDK itself, then the user
    assert sandbox.account_stats()["by_route"]["GET workspace-host"] == before + 2


def test_time_based_lifecycle(sandbox, a):
    sandbox.configure_accounts(provision_reads=None, provision_seconds=0.2)
    ws = workspace(a)
    assert ws.result(timeout=timedelta(seconds=20)).workspace_status == WorkspaceStatus.RUNNING


def test_failed_workspace_explains_itself_on_its_network(sandbox, a):
    sandbox.configure_accounts(
        workspace_outcome="FAILED",
        workspace_status_message="Network validation failed",
        network_errors=[{"error_type": "securityGroup", "error_message": "sg-c blocks TCP 443 egress"}],
    )
    n = network(a)
    ws = workspace(a, network_id=n.network_id)
    with pytest.raises(OperationFailed, match="Network validation failed"):
        ws.result(timeout=timedelta(seconds=20))
    got = a.networks.get(n.network_id)
    assert got.vpc_status == VpcStatus.BROKEN
    assert [e.error_message for e in got.error_messages] == ["sg-c blocks TCP 443 egress"]
    assert got.warning_messages
    assert "sg-c" in got.warning_messages[0].warning_message


@pytest.mark.parametrize(("outcome", "word"), [("BANNED", "banned"), ("CANCELLING", "cancelled")])
def test_banned_and_cancelling_are_visible_with_their_message(sandbox, a, outcome, word):
    sandbox.configure_accounts(workspace_outcome=outcome)
    ws_id = workspace(a).response.workspace_id
    a.workspaces.get(ws_id)
    got = a.workspaces.get(ws_id)
    assert got.workspace_status == WorkspaceStatus(outcome)
    assert word in got.workspace_status_message
    assert a.workspaces.get(ws_id).workspace_status == WorkspaceStatus(outcome)  # it stays there


@pytest.mark.parametrize("outcome", ["available", "rejected"])
def test_vpc_endpoint_registration_is_pending_then_settles(sandbox, a, outcome):
    sandbox.configure_accounts(endpoint_reads=2, endpoint_outcome=outcome)
    e = a.vpc_endpoints.create(vpc_endpoint_name="rest", aws_vpc_endpoint_id="vpce-1", region="us-east-1")
    assert e.state == "pendingAcceptance"
    assert a.vpc_endpoints.get(e.vpc_endpoint_id).state == "pendingAcceptance"
    assert a.vpc_endpoints.get(e.vpc_endpoint_id).state == outcome


def test_credential_validation_failures_on_credentials_and_workspace_create(sandbox, a):
    sandbox.configure_accounts(credentials_validation_failures=2)
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"Failed credential\(s\) validation checks"):
            credentials(a)
    assert credentials(a).credentials_id
    sandbox.configure_accounts(workspace_validation_failures=1)
    with pytest.raises(BadRequest, match=r"Failed credential\(s\) validation checks"):
        workspace(a, name="ws1")
    assert list(a.workspaces.list()) == []
    assert workspace(a, name="ws2").response.workspace_id


def test_commit_then_503_makes_the_sdks_retry_of_a_post_visible(sandbox, a):
    sandbox.configure_accounts(commit_then_503=["credentials", "workspaces"])
    credentials(a)  # committed, answered 503, sent again by the SDK: two objects
    assert [c.credentials_name for c in a.credentials.list()] == ["creds", "creds"]
    with pytest.raises(InvalidParameterValue, match="deployment name 'ws' is already in use"):
        workspace(a)  # the retried POST hits the unique deployment name
    assert [w.deployment_name for w in a.workspaces.list()] == ["ws"]
    assert sandbox.account_stats()["by_route"]["POST workspaces"] == 2


def test_fail_create_503_answers_like_commit_then_503_but_stores_nothing(sandbox, a):
    sandbox.configure_accounts(fail_create_503=["credentials"])
    credentials(a)  # refused once, sent again by the SDK: one object
    assert len(list(a.credentials.list())) == 1
    assert sandbox.account_stats()["by_route"]["POST credentials"] == 2


def test_subnets_and_groups_cannot_be_shared_and_a_used_network_cannot_be_deleted(sandbox, a):
    n = network(a)
    with pytest.raises(InvalidParameterValue, match="subnet-b is already used"):
        network(a, name="other", subnets=("subnet-b", "subnet-z"), groups=("sg-x",))
    with pytest.raises(InvalidParameterValue, match="sg-e is already used"):
        network(a, name="other", subnets=("subnet-y", "subnet-z"), groups=("sg-e",))
    ws = workspace(a, network_id=n.network_id).response
    with pytest.raises(InvalidState, match="used by workspace"):
        a.networks.delete(n.network_id)
    sandbox.configure_accounts(workspace_delete_requests=0)  # the workspace goes at once
    a.workspaces.delete(ws.workspace_id)
    a.networks.delete(n.network_id)
    assert list(a.networks.list()) == []


def test_a_deleted_workspace_is_cancelling_for_a_while_then_gone_and_holds_its_network_until_then(sandbox, a):
    sandbox.configure_accounts(workspace_delete_requests=4)  # the next 4 requests still see it
    n = network(a)
    ws_id = workspace(a, network_id=n.network_id).response.workspace_id
    a.workspaces.delete(ws_id)
    a.workspaces.delete(ws_id)  # deleting a workspace that is going already is accepted
    got = a.workspaces.get(ws_id)
    assert (got.workspace_status, got.workspace_status_message) == (
        WorkspaceStatus.CANCELLING,
        "Workspace is being deleted.",
    )
    with pytest.raises(InvalidState, match="used by workspace"):
        a.networks.delete(n.network_id)  # still in use while the workspace is going
    assert [w.workspace_id for w in a.workspaces.list()] == [ws_id]
    with pytest.raises(NotFound):
        a.workspaces.get(ws_id)
    assert list(a.workspaces.list()) == []
    assert a.networks.get(n.network_id).vpc_status == VpcStatus.UNATTACHED
    a.networks.delete(n.network_id)
    with pytest.raises(NotFound):
        a.networks.get(n.network_id)
    assert sandbox.account_stats()["by_route"]["DELETE workspaces"] == 2


def test_objects_a_workspace_uses_cannot_be_deleted_before_it_and_each_kind_deletes(sandbox, a):
    sandbox.configure_accounts(workspace_delete_requests=0)
    e = a.vpc_endpoints.create(vpc_endpoint_name="rest", aws_vpc_endpoint_id="vpce-1", region="us-east-1")
    n = network(a, endpoints=NetworkVpcEndpoints(rest_api=[e.vpc_endpoint_id], dataplane_relay=[]))
    p = a.private_access.create(private_access_settings_name="pas", region="us-east-1")
    c = credentials(a, "used")
    s = a.storage.create(storage_configuration_name="used", root_bucket_info=RootBucketInfo(bucket_name="b"))
    ws = a.workspaces.create(
        workspace_name="ws",
        deployment_name="ws",
        aws_region="us-east-1",
        credentials_id=c.credentials_id,
        storage_configuration_id=s.storage_configuration_id,
        network_id=n.network_id,
        private_access_settings_id=p.private_access_settings_id,
    ).response
    refusals = (
        (a.private_access.delete, p.private_access_settings_id),
        (a.vpc_endpoints.delete, e.vpc_endpoint_id),
        (a.storage.delete, s.storage_configuration_id),
        (a.credentials.delete, c.credentials_id),
    )
    for delete, object_id in refusals:
        with pytest.raises(InvalidState, match="used by workspace"):
            delete(object_id)
    a.workspaces.delete(ws.workspace_id)
    for delete, object_id in ((a.networks.delete, n.network_id), *refusals):
        delete(object_id)
    with pytest.raises(NotFound):
        a.credentials.delete(c.credentials_id)  # a second delete: it is gone
    for api in (a.private_access, a.vpc_endpoints, a.networks, a.storage, a.credentials):
        assert list(api.list()) == []


def test_network_endpoints_must_be_registered(sandbox, a):
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        network(a, endpoints=NetworkVpcEndpoints(rest_api=["nope"], dataplane_relay=["nope"]))
    e = a.vpc_endpoints.create(vpc_endpoint_name="rest", aws_vpc_endpoint_id="vpce-1", region="us-east-1")
    n = network(
        a, endpoints=NetworkVpcEndpoints(rest_api=[e.vpc_endpoint_id], dataplane_relay=[e.vpc_endpoint_id])
    )
    assert a.networks.get(n.network_id).vpc_endpoints.rest_api == [e.vpc_endpoint_id]


def test_private_access_settings_and_workspace_patch(sandbox, a):
    p = a.private_access.create(
        private_access_settings_name="pas",
        region="us-east-1",
        public_access_enabled=False,
        private_access_level=PrivateAccessLevel.ENDPOINT,
        allowed_vpc_endpoint_ids=["e1"],
    )
    got = a.private_access.get(p.private_access_settings_id)
    assert (got.public_access_enabled, got.private_access_level) == (False, PrivateAccessLevel.ENDPOINT)
    ws = workspace(a).response
    from databricks.sdk.service.provisioning import Workspace

    a.workspaces.update(ws.workspace_id, Workspace(private_access_settings_id=p.private_access_settings_id))
    assert a.workspaces.get(ws.workspace_id).private_access_settings_id == p.private_access_settings_id


def test_requests_are_counted_per_method_including_injected_faults(sandbox, a):
    credentials(a)
    list(a.credentials.list())
    sandbox.configure(fail_next=[503])
    list(a.networks.list())  # answered 503 once, retried by the SDK
    stats = sandbox.account_stats()
    assert stats["by_method"] == {"POST": 1, "GET": 3}
    assert stats["by_route"] == {"POST credentials": 1, "GET credentials": 1, "GET networks": 2}


def test_unknown_or_bad_knobs_are_refused(sandbox):
    with pytest.raises(RuntimeError, match="Unknown knob"):
        sandbox.configure_accounts(nope=1)
    with pytest.raises(RuntimeError, match="workspace_outcome"):
        sandbox.configure_accounts(workspace_outcome="DELETED")
    with pytest.raises(RuntimeError, match="workspace_delete_requests"):
        sandbox.configure_accounts(workspace_delete_requests=-1)


def test_oauth_m2m_service_principal_reaches_the_account_api(sandbox):
    a = AccountClient(
        host=sandbox.url, account_id="acc", client_id="sp", client_secret="s3cret", auth_type="oauth-m2m"
    )
    assert list(a.workspaces.list()) == []
    assert sandbox.account_stats()["by_method"] == {"GET": 1}
