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
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, retry_if_result

from platform_ops.core.workspace_deploy import (
    NetworkHealth,
    WaitOutcome,
    WorkspaceStatus,
    WorkspaceWaitEvent,
)
from platform_ops.exceptions import ExternalServiceError, TransientServiceError
from platform_ops.hooks.databricks_account import DatabricksAccountHook


def read_status(hook: DatabricksAccountHook, workspace_id: str) -> WorkspaceStatus:
    """One observation of the workspace (sync), with its network read when it FAILED."""
    status = WorkspaceStatus.from_api(hook.get_workspace(workspace_id))
    if status.needs_network and status.network_id:
        status = status.with_network(NetworkHealth.from_api(hook.get_network(status.network_id)))
    return status


class WorkspaceRunningTrigger(BaseTrigger):
    """Poll a workspace until RUNNING, a status that cannot lead there, or the deadline.

    Args:
        workspace_id: the workspace to wait on.
        deadline: epoch seconds after which the wait ends ``timed_out``.
        databricks_conn_id: the Airflow Databricks connection of the account console.
        account_id: the account (default: the connection's ``extra.account_id``).
        poll_interval: seconds between reads.
    """

    def __init__(
        self,
        workspace_id: str,
        deadline: float,
        databricks_conn_id: str = "databricks_default",
        account_id: str | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        """Remember what to wait on; nothing is read until :meth:`run`."""
        super().__init__()  # type: ignore[no-untyped-call]
        self.workspace_id = str(workspace_id)
        self.deadline = float(deadline)
        self.databricks_conn_id = databricks_conn_id
        self.account_id = account_id
        self.poll_interval = float(poll_interval)
        self._last: WorkspaceStatus | None = None
        self._message = "no answer yet"
        self._failed_reads = 0

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
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientServiceError) | retry_if_result(lambda e: e is None),
            stop=self._past_deadline,
            wait=self._until_next_poll,
            before_sleep=self._log_failed_read,
            retry_error_callback=self._timed_out,
        )
        try:
            event: WorkspaceWaitEvent = await retrying(self._poll_once, hook)
        except ExternalServiceError as exc:  # permanent: denied, invalid, not found
            event = WorkspaceWaitEvent(self.workspace_id, WaitOutcome.FAILED, str(exc), self._last)
        yield TriggerEvent(event.to_json())  # type: ignore[no-untyped-call]

    async def _poll_once(self, hook: DatabricksAccountHook) -> WorkspaceWaitEvent | None:
        status = await asyncio.to_thread(read_status, hook, self.workspace_id)
        if self._failed_reads:
            self.log.info(
                "Workspace %s answers again after %d failed reads", self.workspace_id, self._failed_reads
            )
            self._failed_reads = 0
        if self._last is None or status.describe() != self._last.describe():
            self.log.info("Workspace %s: %s", self.workspace_id, status.describe())
        self._last = status
        self._message = status.describe()
        return WorkspaceWaitEvent.of(status)

    def _past_deadline(self, _: RetryCallState) -> bool:
        return time.time() >= self.deadline

    def _until_next_poll(self, _: RetryCallState) -> float:
        return max(0.0, min(self.poll_interval, self.deadline - time.time()))

    def _log_failed_read(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return
        self._failed_reads += 1
        exc = outcome.exception()
        self._message = f"the account API did not answer ({self._failed_reads} failed reads in a row): {exc}"
        self.log.warning(
            "Workspace %s could not be read (%d in a row), polling on until the deadline: %s",
            self.workspace_id,
            self._failed_reads,
            exc,
        )

    def _timed_out(self, _: RetryCallState) -> WorkspaceWaitEvent:
        return WorkspaceWaitEvent(
            self.workspace_id,
            WaitOutcome.TIMED_OUT,
            f"workspace {self.workspace_id} not RUNNING by the deadline: {self._message}",
            self._last,
        )
