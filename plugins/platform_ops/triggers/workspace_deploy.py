"""Waits in the triggerer until a new Databricks workspace is RUNNING, or cannot be.

:class:`WorkspaceRunningTrigger` polls the account API for one workspace and fires one JSON-safe event,
a :class:`~platform_ops.core.workspace_deploy.WorkspaceWaitEvent` (``to_json``):

* ``running`` once the status is RUNNING;
* ``failed`` at once on FAILED (explained by ``workspace_status_message`` and the network's
  ``error_messages``, ``warning_messages`` and ``vpc_status``), and on BANNED, CANCELLING and CANCELLED
  with their message (a CANCELLING workspace only ends CANCELLED: waiting on it would only run out the
  clock), and on a permanent API error (denied, invalid, not found);
* ``timed_out`` at ``deadline`` (epoch seconds, fixed when the task defers and carried in the serialised
  trigger, so a triggerer restart does not extend it).

Each status change is logged. Transient API errors (429, 5xx, connection errors) are retried by the SDK
within one read (for at most a poll interval), then by this loop at the poll interval until the
deadline. databricks-sdk has no async client, so each read runs in a worker thread
(``asyncio.to_thread``); the polling is tenacity's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from platform_ops.core.workspace_deploy import (
    NetworkHealth,
    WaitOutcome,
    WorkspaceStatus,
    WorkspaceWaitEvent,
)
from platform_ops.exceptions import ExternalServiceError
from platform_ops.hooks.databricks_account import DatabricksAccountHook
from platform_ops.triggers.polling import PollingTrigger


def read_status(hook: DatabricksAccountHook, workspace_id: str) -> WorkspaceStatus:
    """One observation of the workspace (sync), with its network read when it FAILED."""
    status = WorkspaceStatus.from_api(hook.get_workspace(workspace_id))
    if status.needs_network and status.network_id:
        status = status.with_network(NetworkHealth.from_api(hook.get_network(status.network_id)))
    return status


class WorkspaceRunningTrigger(PollingTrigger):
    """Poll a workspace until RUNNING, a status that cannot lead there, or the deadline.

    Args:
        workspace_id: the workspace to wait on.
        deadline: epoch seconds after which the wait ends ``timed_out``.
        databricks_conn_id: the Airflow Databricks connection of the account console.
        account_id: the account (default: the connection's ``extra.account_id``).
        poll_interval: seconds between reads.
    """

    service = "the account API"

    def __init__(
        self,
        workspace_id: str,
        deadline: float,
        databricks_conn_id: str = "databricks_default",
        account_id: str | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        """Remember what to wait on; nothing is read until :meth:`run`."""
        super().__init__(poll_interval, deadline)
        self.workspace_id = str(workspace_id)
        self.subject = f"Workspace {self.workspace_id}"
        self.databricks_conn_id = databricks_conn_id
        self.account_id = account_id
        self._last: WorkspaceStatus | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the arguments that rebuild this trigger, the deadline included."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "workspace_id": self.workspace_id,
                "deadline": self.deadline,
                "databricks_conn_id": self.databricks_conn_id,
                "account_id": self.account_id,
                "poll_interval": self.poll_interval,
            },
        )

    def _hook(self) -> DatabricksAccountHook:
        # One read lets the SDK retry a transient error for about a poll interval; the loop goes on after.
        return DatabricksAccountHook(
            self.databricks_conn_id,
            account_id=self.account_id,
            sdk_retry_timeout_seconds=max(1, int(self.poll_interval)),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the wait is over and fire its one event."""
        hook = self._hook()
        try:
            event: WorkspaceWaitEvent = await self.poll(self._poll_once, hook)
        except ExternalServiceError as exc:  # permanent: denied, invalid, not found
            event = WorkspaceWaitEvent(self.workspace_id, WaitOutcome.FAILED, str(exc), self._last)
        yield TriggerEvent(event.to_json())  # type: ignore[no-untyped-call]

    async def _poll_once(self, hook: DatabricksAccountHook) -> WorkspaceWaitEvent | None:
        status = await asyncio.to_thread(read_status, hook, self.workspace_id)
        self.answered()
        if self._last is None or status.describe() != self._last.describe():
            self.log.info("Workspace %s: %s", self.workspace_id, status.describe())
        self._last = status
        self.message = status.describe()
        return WorkspaceWaitEvent.of(status)

    def timed_out(self) -> WorkspaceWaitEvent:
        """The timed_out event, with the last status and what was last known."""
        return WorkspaceWaitEvent(
            self.workspace_id,
            WaitOutcome.TIMED_OUT,
            f"workspace {self.workspace_id} not RUNNING by the deadline: {self.message}",
            self._last,
        )
