"""WorkspaceRunningTrigger's async run() against the sandbox's account API: RUNNING, FAILED explained by
the network, BANNED / CANCELLING at once, the deadline, and the event's round trip."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest

from platform_ops.core.workspace_deploy import WaitOutcome, WorkspaceStatus, WorkspaceWaitEvent
from platform_ops.core.workspace_objects import deployment_from_params
from platform_ops.hooks.databricks_account import DatabricksAccountHook, RetryPolicy
from platform_ops.triggers.workspace_deploy import WorkspaceRunningTrigger

pytestmark = pytest.mark.integration

ACCOUNT = "acc-trigger"
PARAMS = {
    "account_id": ACCOUNT,
    "region": "us-east-1",
    "deployment_name": "acme-wait",
    "credentials": {"role_arn": "arn:aws:iam::123456789012:role/databricks-cross-account"},
    "storage": {"bucket_name": "acme-root"},
    "network": {
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "cluster_security_group_ids": ["sg-c"],
    },
}


@pytest.fixture
def sandbox(databricks_sandbox, monkeypatch):
    databricks_sandbox.reset()
    monkeypatch.setenv("AIRFLOW_CONN_DBX_ACCOUNT", databricks_sandbox.account_connection(ACCOUNT))
    yield databricks_sandbox
    databricks_sandbox.reset()


def workspace_id() -> str:
    hook = DatabricksAccountHook("dbx_account", retry_policy=RetryPolicy(endpoint_poll=0.01))
    return hook.ensure_all(deployment_from_params(PARAMS))[-1].object_id


def fire(trigger: WorkspaceRunningTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        events = [e.payload async for e in trigger.run()]
        assert len(events) == 1
        return events[0]

    payload = asyncio.run(first())
    assert json.loads(json.dumps(payload)) == payload  # JSON-safe
    return payload


def trigger(ws: str, seconds: float = 30, poll: float = 0.05) -> WorkspaceRunningTrigger:
    return WorkspaceRunningTrigger(ws, time.time() + seconds, "dbx_account", poll_interval=poll)


def test_waits_through_provisioning_to_running_and_logs_each_status_once(sandbox, capsys):
    sandbox.configure_accounts(provision_reads=4)
    ws = workspace_id()
    capsys.readouterr()
    event = WorkspaceWaitEvent.from_json(fire(trigger(ws)))
    assert event.outcome is WaitOutcome.RUNNING
    assert event.status is not None
    assert event.status.is_successful
    logged = capsys.readouterr().out
    changes = re.findall(rf"Workspace {ws}: ([A-Z_]+):", logged)
    assert changes == ["PROVISIONING", "RUNNING"]


def test_failed_is_explained_by_the_status_message_and_the_network(sandbox):
    sandbox.configure_accounts(
        provision_reads=1,
        workspace_outcome="FAILED",
        network_errors=[{"error_type": "subnet", "error_message": "subnet-a has no route to the NAT"}],
        network_warnings=[{"warning_type": "securityGroup", "warning_message": "sg-c misses egress 6666"}],
    )
    event = WorkspaceWaitEvent.from_json(fire(trigger(workspace_id())))
    assert event.outcome is WaitOutcome.FAILED
    for text in ("FAILED", "failed to launch", "subnet-a has no route to the NAT", "sg-c misses egress 6666"):
        assert text in event.message
    assert "vpc_status BROKEN" in event.message
    assert event.status is not None
    assert event.status.network is not None


@pytest.mark.parametrize("outcome", ["BANNED", "CANCELLING"])
def test_banned_and_cancelling_fail_at_once_with_their_message(sandbox, outcome):
    sandbox.configure_accounts(provision_reads=1, workspace_outcome=outcome)
    started = time.monotonic()
    event = WorkspaceWaitEvent.from_json(fire(trigger(workspace_id(), seconds=12, poll=0.2)))
    assert time.monotonic() - started < 10  # not the deadline
    assert event.outcome is WaitOutcome.FAILED
    assert outcome in event.message
    expected = "banned" if outcome == "BANNED" else "being cancelled"
    assert expected in event.message


def test_the_deadline_ends_the_wait_timed_out(sandbox):
    sandbox.configure_accounts(provision_reads=10_000)
    event = WorkspaceWaitEvent.from_json(fire(trigger(workspace_id(), seconds=0.5, poll=0.1)))
    assert event.outcome is WaitOutcome.TIMED_OUT
    assert "PROVISIONING" in event.message


def test_an_unreachable_api_is_retried_until_the_deadline(monkeypatch):
    conn = {"conn_type": "databricks", "host": "127.0.0.1", "port": 9, "schema": "http", "password": "x"}
    conn["extra"] = json.dumps({"account_id": ACCOUNT})
    monkeypatch.setenv("AIRFLOW_CONN_DBX_NOWHERE", json.dumps(conn))
    t = WorkspaceRunningTrigger("1", time.time() + 8, "dbx_nowhere", poll_interval=0.5)
    event = WorkspaceWaitEvent.from_json(fire(t))
    assert event.outcome is WaitOutcome.TIMED_OUT
    assert "failed reads" in event.message


def test_serialises_with_its_deadline_and_rebuilds():
    t = WorkspaceRunningTrigger("42", 1234.5, "dbx", account_id="acc", poll_interval=7)
    path, kwargs = t.serialize()
    assert path == "platform_ops.triggers.workspace_deploy.WorkspaceRunningTrigger"
    again = WorkspaceRunningTrigger(**json.loads(json.dumps(kwargs)))
    assert again.serialize() == (path, kwargs)
    assert kwargs["deadline"] == 1234.5


def test_status_value_object_round_trips():
    status = WorkspaceStatus("7", "FAILED", "bad", "net-1")
    assert status.is_terminal
    assert not status.is_successful
    assert status.needs_network
    assert WorkspaceStatus.from_json(json.loads(json.dumps(status.to_json()))) == status
    assert not WorkspaceStatus("7", "PROVISIONING").is_terminal
