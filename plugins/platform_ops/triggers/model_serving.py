"""EndpointReadyTrigger: wait in the triggerer until a serving endpoint is really ready."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from platform_ops.core.model_serving import EndpointState, Readiness, readiness
from platform_ops.hooks.model_serving import ModelServingHook, TransientApiError


class EndpointReadyTrigger(BaseTrigger):
    """Polls the endpoint (async, the provider's client) and fires one JSON-safe event:
    ``{"status": "ready" | "failed" | "deleted" | "timeout", "endpoint_name", "message", "state"}``.

    Logs every state change. Transient API errors (429, 5xx, connection errors and timeouts) are
    retried first by the provider's client (``retry_limit`` attempts per read), then by this loop
    at the poll interval until ``deadline``, as a poke-mode sensor rides them out; each failed read
    is logged, and a wait that ends on them says so in its ``timeout`` event. Any other error (401,
    403, 400) fails the wait at once. ``deadline`` (epoch seconds, fixed when the task defers, so a
    triggerer restart does not extend it) ends the wait with a ``timeout`` event.
    """

    def __init__(
        self,
        endpoint_name: str,
        databricks_conn_id: str,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        retry_limit: int = 5,
    ) -> None:
        super().__init__()
        self.endpoint_name = endpoint_name
        self.databricks_conn_id = databricks_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.retry_limit = retry_limit

    def serialize(self) -> tuple[str, dict[str, Any]]:
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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = ModelServingHook(databricks_conn_id=self.databricks_conn_id)
        last = None
        async with hook.a_endpoints(self.retry_limit) as get_endpoint:  # one session for the wait
            failed_reads = 0
            message = "no answer yet"
            while True:
                try:
                    body = await get_endpoint(self.endpoint_name)
                except TransientApiError as exc:
                    failed_reads += 1
                    message = f"the workspace did not answer ({failed_reads} failed reads in a row): {exc}"
                    self.log.warning(
                        "Endpoint %s could not be read (%d in a row), polling on until the deadline: %s",
                        self.endpoint_name,
                        failed_reads,
                        exc,
                    )
                else:
                    if failed_reads:
                        self.log.info(
                            "Endpoint %s answers again after %d failed reads",
                            self.endpoint_name,
                            failed_reads,
                        )
                        failed_reads = 0
                    if body is None:
                        yield TriggerEvent(
                            self._event("deleted", f"endpoint {self.endpoint_name} does not exist", "")
                        )
                        return
                    state = EndpointState.from_api(body)
                    status, message = readiness(state)
                    if (described := state.describe()) != last:
                        last = described
                        self.log.info("Endpoint %s: %s", self.endpoint_name, last)
                    if status is not Readiness.WAITING:
                        yield TriggerEvent(self._event(str(status), message, last or ""))
                        return
                left = None if self.deadline is None else self.deadline - time.time()
                if left is not None and left <= 0:
                    yield TriggerEvent(
                        self._event("timeout", f"not ready by the deadline: {message}", last or "")
                    )
                    return
                await asyncio.sleep(self.poll_interval if left is None else min(self.poll_interval, left))

    def _event(self, status: str, message: str, state: str) -> dict[str, Any]:
        return {"status": status, "endpoint_name": self.endpoint_name, "message": message, "state": state}
