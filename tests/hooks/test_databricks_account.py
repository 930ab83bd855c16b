"""DatabricksAccountHook against the sandbox's account API (official AccountClient, real HTTP):
find-or-create, re-runs, ambiguous failures (created vs adopted, copies of resent creates), credential
propagation, endpoint registration, drift, secrets."""

from __future__ import annotations

import copy
import json
import logging
import time

import pytest
from databricks.sdk.service.provisioning import (
    CreateCredentialAwsCredentials,
    CreateCredentialStsRole,
    RootBucketInfo,
)

from platform_ops.core.workspace_deploy import Deletion, cleanup_plan
from platform_ops.core.workspace_objects import (
    CREDENTIALS,
    NETWORK,
    STORAGE,
    WORKSPACE,
    AmbiguousObjectError,
    DriftError,
    deployment_from_params,
)
from platform_ops.exceptions import (
    AccessDeniedError,
    ConfigError,
    InvalidRequestError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks.databricks_account import DatabricksAccountHook, RetryPolicy, record_key

pytestmark = pytest.mark.integration

ACCOUNT = "acc-test"
ROLE = "arn:aws:iam::123456789012:role/databricks-cross-account"
CANARY = "canary-secret-7f3a9c"
PARAMS = {
    "account_id": ACCOUNT,
    "region": "us-east-1",
    "deployment_name": "acme-prod",
    "credentials": {"role_arn": ROLE},
    "storage": {"bucket_name": "acme-root"},
    "network": {
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "cluster_security_group_ids": ["sg-cluster"],
        "endpoint_security_group_id": "sg-endpoints",
    },
    "private_link": {
        "rest_api_endpoint": {"aws_vpc_endpoint_id": "vpce-rest"},
        "dataplane_relay_endpoint": {"aws_vpc_endpoint_id": "vpce-relay"},
        "private_access_settings": {"public_access_enabled": True},
    },
}
FAST = RetryPolicy(
    validation_first_delay=0.01, validation_max_delay=0.02, endpoint_poll=0.01, endpoint_timeout=5
)
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
def sandbox(databricks_sandbox, monkeypatch):
    databricks_sandbox.reset()
    databricks_sandbox.configure_accounts(provision_reads=2)
    monkeypatch.setenv("AIRFLOW_CONN_DBX_ACCOUNT", databricks_sandbox.account_connection(ACCOUNT))
    yield databricks_sandbox
    databricks_sandbox.reset()


@pytest.fixture
def deployment():
    return deployment_from_params(PARAMS)


def hook(**kwargs) -> DatabricksAccountHook:
    return DatabricksAccountHook("dbx_account", retry_policy=kwargs.pop("retry_policy", FAST), **kwargs)


def posts(sandbox) -> dict[str, int]:
    routes = sandbox.account_stats()["by_route"]
    return {k.split(" ", 1)[1]: n for k, n in routes.items() if k.startswith("POST ")}


class Recorder:
    """Collects ids as the run state would; optionally crashes right after one kind's id."""

    def __init__(self, crash_after: str | None = None) -> None:
        self.ids: dict[str, str] = {}
        self.crash_after = crash_after

    def __call__(self, kind: str, name: str, object_id: str) -> None:
        self.ids[f"{kind}:{name}"] = object_id
        if kind == self.crash_after:
            raise KeyboardInterrupt(f"worker lost after the {kind}")


def test_first_run_creates_each_object_once_and_a_rerun_makes_no_post(sandbox, deployment):
    first = Recorder()
    objects = hook().ensure_all(deployment, on_id=first, iam_checked=True)
    assert [o.created for o in objects] == [True] * 7
    assert posts(sandbox) == ONE_EACH
    assert set(first.ids.values()) == {o.object_id for o in objects}
    workspace = objects[-1]
    assert workspace.kind == WORKSPACE
    assert workspace.details["deployment_name"] == "acme-prod"

    before = sandbox.account_stats()["by_method"]
    again = Recorder()
    rerun = hook().ensure_all(deployment, recorded=first.ids, on_id=again, iam_checked=True)
    assert [o.created for o in rerun] == [False] * 7
    assert again.ids == first.ids
    assert sandbox.account_stats()["by_method"].get("POST") == before["POST"]  # 0 writes on re-run


def test_crash_after_the_network_then_rerun_adopts_it(sandbox, deployment):
    crashed = Recorder(crash_after=NETWORK)
    with pytest.raises(KeyboardInterrupt):
        hook().ensure_all(deployment, on_id=crashed)
    assert f"{NETWORK}:acme-prod-network" in crashed.ids
    resumed = Recorder()
    objects = hook().ensure_all(deployment, recorded=crashed.ids, on_id=resumed)
    network = next(o for o in objects if o.kind == NETWORK)
    assert not network.created
    assert network.object_id == crashed.ids[f"{NETWORK}:acme-prod-network"]
    assert posts(sandbox) == ONE_EACH


def test_commit_then_503_on_workspace_create_finds_it_as_created_instead_of_creating_a_second(
    sandbox, deployment
):
    sandbox.configure_accounts(commit_then_503=["workspaces", "networks"])
    created = Recorder()
    objects = hook().ensure_all(deployment, on_created=created)
    account = sandbox.account_client(ACCOUNT)
    assert [w.deployment_name for w in account.workspaces.list()] == ["acme-prod"]
    assert [n.network_name for n in account.networks.list()] == ["acme-prod-network"]
    workspace = objects[-1]
    assert workspace.object_id == str(next(iter(account.workspaces.list())).workspace_id)
    assert posts(sandbox)["workspaces"] == 2  # the SDK's own retry; refused, then looked up
    assert posts(sandbox)["networks"] == 2
    # the name was free before this run's create: what the look-up after the 503 finds is this run's
    assert [o.created for o in objects] == [True] * 7
    assert set(created.ids.values()) == {o.object_id for o in objects}


def test_a_committed_create_whose_answer_is_lost_is_looked_up_not_sent_again(sandbox, deployment):
    sandbox.configure_accounts(commit_then_503=["credentials"])
    h = hook(sdk_retry_timeout_seconds=1)  # the SDK gives up after one 503: the hook decides
    created = h.ensure_credentials(deployment, {}, None, iam_checked=False)
    account = sandbox.account_client(ACCOUNT)
    assert [c.credentials_id for c in account.credentials.list()] == [created.object_id]
    assert posts(sandbox) == {"credentials": 1}
    assert created.created


def test_a_copy_left_by_the_sdks_resent_create_is_deleted(sandbox, deployment):
    # the SDK resends a POST answered 503: credentials and storage names are not unique, so the
    # committed first request and the resent one make two objects
    sandbox.configure_accounts(commit_then_503=["credentials", "storage-configurations"])
    objects = hook().ensure_all(deployment)
    account = sandbox.account_client(ACCOUNT)
    assert posts(sandbox)["credentials"] == 2
    assert posts(sandbox)["storage-configurations"] == 2
    assert [c.credentials_id for c in account.credentials.list()] == [objects[0].object_id]
    assert [s.storage_configuration_id for s in account.storage.list()] == [objects[1].object_id]
    assert sandbox.account_stats()["by_route"]["DELETE credentials"] == 1
    assert objects[0].created
    assert objects[1].created


def test_an_object_that_existed_before_the_run_is_adopted_whatever_happens_to_the_creates(
    sandbox, deployment
):
    account = sandbox.account_client(ACCOUNT)
    before = account.credentials.create(
        credentials_name="acme-prod-credentials",
        aws_credentials=CreateCredentialAwsCredentials(sts_role=CreateCredentialStsRole(role_arn=ROLE)),
    )
    sandbox.configure_accounts(commit_then_503=["credentials", "networks", "workspaces"])
    created = Recorder()
    objects = hook().ensure_all(deployment, on_created=created)
    assert (objects[0].object_id, objects[0].created) == (before.credentials_id, False)
    assert all(o.created for o in objects[1:])
    assert before.credentials_id not in created.ids.values()
    assert posts(sandbox)["credentials"] == 1  # the test's own create: the run sent none
    assert [c.credentials_id for c in account.credentials.list()] == [before.credentials_id]


def test_objects_an_earlier_try_created_are_still_this_runs_on_the_next_try(sandbox, deployment):
    crashed = Recorder(crash_after=NETWORK)
    created = Recorder()
    with pytest.raises(KeyboardInterrupt):
        hook().ensure_all(deployment, on_id=crashed, on_created=created)
    earlier = [(key.split(":", 1)[0], object_id) for key, object_id in created.ids.items()]
    assert len(earlier) == 5  # credentials, storage, two endpoints, the network

    next_try = Recorder()
    objects = hook().ensure_all(
        deployment, recorded=crashed.ids, created_earlier=earlier, on_created=next_try
    )
    assert [o.created for o in objects] == [True] * 7
    assert next_try.ids == {record_key_of(o): o.object_id for o in objects}
    assert posts(sandbox) == ONE_EACH

    # another run (nothing created earlier) adopts the very same objects
    again = hook().ensure_all(deployment, recorded=crashed.ids)
    assert [o.created for o in again] == [False] * 7


def record_key_of(obj) -> str:
    return f"{obj.kind}:{obj.name}"


def test_a_create_that_failed_before_committing_is_sent_again_after_the_look_up(sandbox, deployment):
    sandbox.configure_accounts(fail_create_503=["storage-configurations"])
    h = hook(sdk_retry_timeout_seconds=1)
    created = h.ensure_storage(deployment, {}, None)
    account = sandbox.account_client(ACCOUNT)
    assert [s.storage_configuration_id for s in account.storage.list()] == [created.object_id]
    assert posts(sandbox) == {"storage-configurations": 2}


def test_credential_propagation_is_retried_at_workspace_create_after_the_iam_preflight(sandbox, deployment):
    sandbox.configure_accounts(credentials_validation_failures=2, workspace_validation_failures=3)
    objects = hook().ensure_all(deployment, iam_checked=True)
    assert objects[-1].kind == WORKSPACE
    assert objects[-1].created
    assert posts(sandbox)["credentials"] == 3
    assert posts(sandbox)["workspaces"] == 4


def test_credential_validation_is_not_retried_when_the_iam_preflight_did_not_pass(sandbox, deployment):
    sandbox.configure_accounts(workspace_validation_failures=1)
    with pytest.raises(InvalidRequestError, match=r"Failed credential\(s\) validation checks"):
        hook().ensure_all(deployment, iam_checked=False)
    assert posts(sandbox)["workspaces"] == 1


def test_credential_validation_retries_are_capped(sandbox, deployment):
    sandbox.configure_accounts(credentials_validation_failures=10)
    policy = RetryPolicy(validation_attempts=3, validation_first_delay=0.01, validation_max_delay=0.01)
    with pytest.raises(InvalidRequestError, match="after 3 attempts"):
        hook(retry_policy=policy).ensure_credentials(deployment, {}, None, iam_checked=True)
    assert posts(sandbox)["credentials"] == 3


def test_rejected_endpoint_registration_fails(sandbox, deployment):
    sandbox.configure_accounts(endpoint_reads=1, endpoint_outcome="rejected")
    with pytest.raises(InvalidRequestError, match=r"vpce-rest.*rejected"):
        hook().ensure_all(deployment)
    assert "networks" not in posts(sandbox)


def test_endpoint_registration_is_waited_until_available(sandbox, deployment):
    sandbox.configure_accounts(endpoint_reads=3)
    objects = hook().ensure_all(deployment)
    account = sandbox.account_client(ACCOUNT)
    assert {e.state for e in account.vpc_endpoints.list()} == {"available"}
    assert len(objects) == 7


def test_an_endpoint_registration_still_pending_at_the_timeout_names_it_and_its_state(sandbox, deployment):
    sandbox.configure_accounts(endpoint_reads=10_000)
    policy = RetryPolicy(endpoint_poll=0.05, endpoint_timeout=0.4)
    started = time.monotonic()
    with pytest.raises(TransientServiceError, match=r"is still 'pendingAcceptance' after 0 s"):
        hook(retry_policy=policy).ensure_all(deployment)
    assert time.monotonic() - started < 10
    assert sandbox.account_stats()["by_route"]["GET vpc-endpoints"] >= 3  # read until the timeout
    assert "networks" not in posts(sandbox)


def test_an_object_with_another_configuration_is_a_drift_error_and_nothing_is_created(sandbox, deployment):
    account = sandbox.account_client(ACCOUNT)
    other = "arn:aws:iam::123456789012:role/someone-else"
    account.credentials.create(
        credentials_name="acme-prod-credentials",
        aws_credentials=CreateCredentialAwsCredentials(sts_role=CreateCredentialStsRole(role_arn=other)),
    )
    with pytest.raises(DriftError, match=r"aws_credentials\.sts_role\.role_arn") as err:
        hook().ensure_all(deployment)
    assert err.value.kind == CREDENTIALS
    assert other in str(err.value)
    assert posts(sandbox) == {"credentials": 1}  # only the test's own create


def test_two_objects_sharing_a_name_use_the_recorded_one_else_fail_listing_both(sandbox, deployment):
    first = Recorder()
    hook().ensure_all(deployment, on_id=first)
    account = sandbox.account_client(ACCOUNT)
    account.storage.create(  # someone else's identical copy, after the run
        storage_configuration_name="acme-prod-storage",
        root_bucket_info=RootBucketInfo(bucket_name="acme-root"),
    )
    ids = sorted(s.storage_configuration_id for s in account.storage.list())
    assert len(ids) == 2
    key = record_key(deployment.storage)
    assert first.ids[key] in ids
    rerun = hook().ensure_all(deployment, recorded=first.ids)
    assert next(o for o in rerun if o.kind == STORAGE).object_id == first.ids[key]
    with pytest.raises(AmbiguousObjectError) as err:
        hook().ensure_all(deployment, recorded={})
    assert sorted(err.value.object_ids) == ids


def test_failed_banned_and_cancelling_are_visible_with_their_messages(sandbox, deployment):
    sandbox.configure_accounts(workspace_outcome="FAILED")
    objects = hook().ensure_all(deployment)
    h = hook()
    workspace_id = objects[-1].object_id
    h.get_workspace(workspace_id)
    failed = h.get_workspace(workspace_id)
    assert failed["workspace_status"] == "FAILED"
    assert "network" in failed["workspace_status_message"]
    network = h.get_network(failed["network_id"])
    assert network["vpc_status"] == "BROKEN"
    assert "subnet-a" in network["error_messages"][0]["error_message"]
    assert network["warning_messages"][0]["warning_type"] == "securityGroup"

    for outcome, word in (("BANNED", "banned"), ("CANCELLING", "cancelled")):
        sandbox.reset()
        sandbox.configure_accounts(provision_reads=2, workspace_outcome=outcome)
        workspace_id = hook().ensure_all(deployment)[-1].object_id
        h.get_workspace(workspace_id)
        got = h.get_workspace(workspace_id)
        assert got["workspace_status"] == outcome
        assert word in got["workspace_status_message"]


def test_bad_params_fail_before_any_call(sandbox, monkeypatch):
    params = copy.deepcopy(PARAMS)
    params["private_link"] = {"private_access_settings": {}}
    with pytest.raises(ConfigError, match="private_link"):
        deployment_from_params(params)
    conn = json.loads(sandbox.account_connection(ACCOUNT))
    conn["extra"] = {}
    monkeypatch.setenv("AIRFLOW_CONN_DBX_NO_ACCOUNT", json.dumps(conn))
    with pytest.raises(ConfigError) as err:
        DatabricksAccountHook("dbx_no_account").list_objects(WORKSPACE)
    assert err.value.field == "account_id"
    other_account = deployment_from_params({**PARAMS, "account_id": "someone-else"})
    with pytest.raises(ConfigError, match="someone-else") as err:
        hook().ensure_all(other_account)
    assert err.value.field == "account_id"
    assert sandbox.account_stats()["by_method"] == {}


def test_sdk_errors_leave_as_platform_ops_errors(sandbox):
    h = hook()
    with pytest.raises(ResourceNotFoundError):
        h.get_network("missing")
    sandbox.configure(fail_next=[403])
    with pytest.raises(AccessDeniedError):
        h.list_objects(WORKSPACE)


@pytest.mark.parametrize("auth", ["oauth-m2m", "token"])
def test_secrets_never_reach_logs_or_records(sandbox, deployment, monkeypatch, caplog, capfd, auth):
    conn = json.loads(sandbox.account_connection(ACCOUNT))
    if auth == "oauth-m2m":
        conn.update(login="sp-client-id", password=CANARY)
        conn["extra"]["service_principal_oauth"] = True
    else:
        conn["password"] = CANARY
    monkeypatch.setenv("AIRFLOW_CONN_DBX_CANARY", json.dumps(conn))
    sandbox.configure_accounts(commit_then_503=["networks"], workspace_validation_failures=1)
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    h = DatabricksAccountHook("dbx_canary", retry_policy=FAST)
    objects = h.ensure_all(deployment, on_id=recorder, iam_checked=True)
    assert h.client.config.auth_type == ("oauth-m2m" if auth == "oauth-m2m" else "pat")
    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err  # the stdlib loggers and Airflow's structured log
    assert "Creating workspace 'acme-prod'" in logs
    assert "validation checks" in logs
    assert CANARY not in logs
    assert CANARY not in repr(objects)
    assert CANARY not in json.dumps(recorder.ids)
    assert CANARY not in repr(h)


def _created_failed_workspace(sandbox, deployment):
    sandbox.configure_accounts(provision_reads=1, workspace_outcome="FAILED")
    objects = hook().ensure_all(deployment, iam_checked=True)
    hook().get_workspace(objects[-1].object_id)  # settles FAILED
    return [{"kind": o.kind, "name": o.name, "object_id": o.object_id, "created": o.created} for o in objects]


def test_cleanup_deletes_the_workspace_waits_until_it_is_gone_then_the_rest_newest_first(sandbox, deployment):
    objects = _created_failed_workspace(sandbox, deployment)
    sandbox.configure_accounts(workspace_delete_requests=3)
    plan = cleanup_plan(objects)
    outcomes = hook().cleanup(plan.deletions, deadline=time.time() + 20, poll_interval=0.01)
    assert [(o.kind, o.result) for o in outcomes] == [(d.kind, "deleted") for d in plan.deletions]
    routes = sandbox.account_stats()["by_route"]
    assert routes["DELETE workspaces"] == 1
    assert routes["GET workspaces"] >= 4  # read until it answered 404
    a = sandbox.account_client(ACCOUNT)
    for api in (a.workspaces, a.private_access, a.networks, a.vpc_endpoints, a.storage, a.credentials):
        assert list(api.list()) == []


def test_a_deletion_refused_while_in_use_is_retried_until_it_is_free(sandbox, deployment, caplog, capfd):
    objects = _created_failed_workspace(sandbox, deployment)
    network = next(o for o in objects if o["kind"] == NETWORK)
    sandbox.configure_accounts(workspace_delete_requests=3)
    sandbox.account_client(ACCOUNT).workspaces.delete(int(objects[-1]["object_id"]))  # going, not gone
    caplog.set_level(logging.INFO)
    outcome = hook().remove(
        Deletion(NETWORK, network["name"], network["object_id"]), time.time() + 20, poll_interval=0.01
    )
    assert outcome.result == "deleted"
    assert sandbox.account_stats()["by_route"]["DELETE networks"] >= 2  # refused first, then deleted
    assert "it is still in use: retrying" in caplog.text + "".join(capfd.readouterr())


def test_a_deletion_still_refused_at_the_deadline_is_reported_not_raised(sandbox, deployment):
    sandbox.configure_accounts(provision_reads=1)  # RUNNING: the network stays in use
    objects = hook().ensure_all(deployment, iam_checked=True)
    network = next(o for o in objects if o.kind == NETWORK)
    started = time.time()
    outcomes = hook().cleanup(
        [Deletion(NETWORK, network.name, network.object_id), Deletion(STORAGE, "gone", "no-such-id")],
        deadline=time.time() + 0.5,
        poll_interval=0.05,
    )
    assert time.time() - started < 10
    assert outcomes[0].result == "failed"
    assert "is used by workspace" in outcomes[0].error
    assert outcomes[1].result == "already gone"
    assert sandbox.account_stats()["by_route"]["DELETE networks"] >= 2


def test_a_workspace_that_does_not_go_by_the_deadline_is_reported(sandbox, deployment):
    objects = _created_failed_workspace(sandbox, deployment)
    sandbox.configure_accounts(workspace_delete_requests=10_000)
    outcome = hook().remove(
        Deletion(WORKSPACE, "acme-prod", objects[-1]["object_id"]), time.time() + 0.3, 0.05
    )
    assert outcome.result == "failed"
    assert "still CANCELLING" in outcome.error
