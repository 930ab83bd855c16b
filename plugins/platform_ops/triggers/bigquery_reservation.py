"""Triggers for the waits of a slot purchase and its release: no worker slot is held meanwhile.

* :class:`CommitmentActiveTrigger`: until a new capacity commitment leaves PENDING (the purchase);
* :class:`CommitmentDeletedTrigger`: until a FLEX commitment's minimum term allows its deletion,
  then deletes it (the release). A deletion is idempotent (a commitment already gone counts as
  deleted), so a triggerer that restarts and runs the trigger again does no harm.

Each fires one JSON-safe event, a :class:`~platform_ops.core.bigquery_reservation.CommitmentEvent`
(``to_json``), and logs every state change. ``deadline`` (epoch seconds) is fixed when the task
defers and travels in the serialised trigger, so a triggerer restart does not extend the wait.
Transient API errors (429, 5xx, connection errors) are retried by the hook within one read, then by
the trigger at the poll interval until the deadline; a permanent error (denied, invalid) ends the
wait at once. The official client has no async REST transport (its async client speaks gRPC only),
so each call runs the hook's sync REST client in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from platform_ops.core.bigquery_reservation import (
    CommitmentEvent,
    CommitmentPhase,
    CommitmentState,
    WaitEnd,
)
from platform_ops.exceptions import ExternalServiceError, ResourceConflictError
from platform_ops.hooks.bigquery_reservation import BigQueryReservationHook, default_retry
from platform_ops.triggers.polling import PollingTrigger


class _CommitmentWaitTrigger(PollingTrigger):
    """Polls one commitment until :meth:`done`, the deadline, or a permanent error."""

    service = "the API"

    def __init__(
        self,
        commitment: str,
        deadline: float,
        gcp_conn_id: str = "google_cloud_default",
        api_endpoint: str | None = None,
        poll_interval: float = 15.0,
    ) -> None:
        """Wait on ``commitment`` until ``deadline`` (epoch seconds), polling every ``poll_interval``."""
        super().__init__(poll_interval, deadline)
        self.commitment = commitment
        self.subject = f"Commitment {commitment}"
        self.gcp_conn_id = gcp_conn_id
        self.api_endpoint = api_endpoint
        self.message = ""
        self._last = CommitmentState(commitment, CommitmentPhase.PENDING, "not read yet")

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments, the deadline included."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "commitment": self.commitment,
                "deadline": self.deadline,
                "gcp_conn_id": self.gcp_conn_id,
                "api_endpoint": self.api_endpoint,
                "poll_interval": self.poll_interval,
            },
        )

    def _hook(self) -> BigQueryReservationHook:
        # One read retries transient errors for about a poll interval; the loop goes on after that.
        retry = default_retry(initial=min(1.0, self.poll_interval), maximum=self.poll_interval)
        retry = retry.with_timeout(max(self.poll_interval, 1.0))
        return BigQueryReservationHook(
            gcp_conn_id=self.gcp_conn_id, api_endpoint=self.api_endpoint, retry=retry
        )

    @abstractmethod
    def check(self, hook: BigQueryReservationHook) -> CommitmentState:
        """One observation (sync, run in a thread)."""
        raise NotImplementedError

    @abstractmethod
    def done(self, state: CommitmentState) -> bool:
        """True when ``state`` ends the wait."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until done, the deadline or a permanent error; yield one CommitmentEvent."""
        hook = await asyncio.to_thread(self._hook)
        try:
            event: TriggerEvent = await self.poll(self._poll_once, hook)
        except ExternalServiceError as exc:  # permanent: denied, invalid
            event = self._event(self._last, WaitEnd.ERROR, str(exc))
        yield event

    async def _poll_once(self, hook: BigQueryReservationHook) -> TriggerEvent | None:
        state = await asyncio.to_thread(self.check, hook)
        self.answered()
        self.message = ""
        if state.describe() != self._last.describe():
            self.log.info("Commitment %s is %s", self.commitment, state.describe())
        self._last = state
        return self._event(state, WaitEnd.REACHED, "") if self.done(state) else None

    def timed_out(self) -> TriggerEvent:
        """The deadline event: the last state, and the failed reads if they were the reason."""
        return self._event(self._last, WaitEnd.DEADLINE, self.message or f"still {self._last.describe()}")

    @staticmethod
    def _event(state: CommitmentState, end: WaitEnd, message: str) -> TriggerEvent:
        return TriggerEvent(CommitmentEvent(state, end, message).to_json())  # type: ignore[no-untyped-call]


class CommitmentActiveTrigger(_CommitmentWaitTrigger):
    """Waits until a capacity commitment is ACTIVE, FAILED or gone (a terminal state)."""

    def check(self, hook: BigQueryReservationHook) -> CommitmentState:
        """The commitment's state."""
        return hook.get_commitment_state(self.commitment)

    def done(self, state: CommitmentState) -> bool:
        """Any terminal state ends the wait."""
        return state.is_terminal


class CommitmentDeletedTrigger(_CommitmentWaitTrigger):
    """Deletes a capacity commitment once its minimum term allows it (DELETED ends the wait)."""

    def check(self, hook: BigQueryReservationHook) -> CommitmentState:
        """Try the deletion; a refusal for the minimum term is a state to wait on, not an error."""
        try:
            deleted_now = hook.delete_commitment(self.commitment)
        except ResourceConflictError as exc:
            return CommitmentState(
                self.commitment, CommitmentPhase.ACTIVE, f"refuses deletion: {exc.message}"
            )
        return CommitmentState.deleted(self.commitment, "deleted" if deleted_now else "already gone")

    def done(self, state: CommitmentState) -> bool:
        """Only a deleted commitment ends the wait."""
        return state.phase is CommitmentPhase.DELETED
