"""Waits on a serving endpoint in the triggerer: until it is ready, or until its config update ends."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from airflow.triggers.base import TriggerEvent

from platform_ops.core.model_serving import EndpointState, EndpointWaitEvent, WaitOutcome
from platform_ops.hooks.model_serving import ModelServingHook
from platform_ops.triggers.polling import PollingTrigger

Read = Callable[[str], Awaitable[Mapping[str, Any] | None]]


class _EndpointWaitTrigger(PollingTrigger):
    """Polls the endpoint (async, the provider's client) until :meth:`settled` says the wait is over.

    Fires one JSON-safe event, :class:`~platform_ops.core.model_serving.EndpointWaitEvent`: the
    outcome (finished, failed, gone, timed_out), the message and the last state read. Logs every
    state change. Transient API errors (429, 5xx, connection errors and timeouts) are retried first
    by the provider's client (``retry_limit`` attempts per read), then by this loop at the poll
    interval until ``deadline``; each failed read is logged, and a wait that ends on them says so in
    its timed_out event. Any other error (401, 403, 400) fails the wait at once. ``deadline`` (epoch
    seconds, fixed when the task defers, so a triggerer restart does not extend it) ends the wait
    with a timed_out event. The polling is :class:`~platform_ops.triggers.polling.PollingTrigger`'s.
    """

    service = "the workspace"

    def __init__(
        self,
        endpoint_name: str,
        databricks_conn_id: str,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        retry_limit: int = 5,
    ) -> None:
        """Wait on ``endpoint_name`` of the workspace of ``databricks_conn_id``."""
        super().__init__(poll_interval, deadline)
        self.endpoint_name = endpoint_name
        self.subject = f"Endpoint {endpoint_name}"
        self.databricks_conn_id = databricks_conn_id
        self.retry_limit = retry_limit
        self._last: EndpointState | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "endpoint_name": self.endpoint_name,
                "databricks_conn_id": self.databricks_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "retry_limit": self.retry_limit,
            },
        )

    @abstractmethod
    def settled(self, state: EndpointState) -> WaitOutcome | None:
        """The outcome once ``state`` ends the wait, None while it goes on."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the wait is over and fire its one event."""
        hook = ModelServingHook(databricks_conn_id=self.databricks_conn_id)
        async with hook.a_endpoints(self.retry_limit) as read:  # one session for the wait
            event: EndpointWaitEvent = await self.poll(self._poll_once, read)
        yield TriggerEvent(event.to_json())  # type: ignore[no-untyped-call]

    async def _poll_once(self, read: Read) -> EndpointWaitEvent | None:
        body = await read(self.endpoint_name)
        self.answered()
        if body is None:
            return self._event(WaitOutcome.GONE, f"endpoint {self.endpoint_name} does not exist")
        state = EndpointState.from_api(body)
        if self._last is None or state.describe() != self._last.describe():
            self.log.info("Endpoint %s: %s", self.endpoint_name, state.describe())
        self._last = state
        self.message = state.failure if state.config_update.is_failed else state.describe()
        outcome = self.settled(state)
        return None if outcome is None else self._event(outcome, self.message)

    def timed_out(self) -> EndpointWaitEvent:
        """The timed_out event, with the last state and what was last known."""
        return self._event(WaitOutcome.TIMED_OUT, f"not done by the deadline: {self.message}")

    def _event(self, outcome: WaitOutcome, message: str) -> EndpointWaitEvent:
        return EndpointWaitEvent(self.endpoint_name, outcome, message, self._last)


class EndpointReadyTrigger(_EndpointWaitTrigger):
    """Wait until the endpoint is really ready (finished), or failed (a failed update or deployment)."""

    def settled(self, state: EndpointState) -> WaitOutcome | None:
        """Finished when the endpoint serves its config, failed when it cannot."""
        if state.is_successful:
            return WaitOutcome.FINISHED
        return WaitOutcome.FAILED if state.is_terminal else None


class EndpointUpdateFinishedTrigger(_EndpointWaitTrigger):
    """Wait until no config update runs on the endpoint any more (however the update ended).

    An update refused with 409 because another one is in progress waits on this, then applies.
    """

    def settled(self, state: EndpointState) -> WaitOutcome | None:
        """Finished once the running config update ended."""
        return WaitOutcome.FINISHED if state.config_update.is_terminal else None
