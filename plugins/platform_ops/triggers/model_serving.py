"""EndpointReadyTrigger: wait in the triggerer until a serving endpoint is really ready."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from platform_ops.core.model_serving import EndpointState, Readiness, readiness
from platform_ops.hooks.model_serving import ModelServingHook


class EndpointReadyTrigger(BaseTrigger):
    """Polls the endpoint (async, the provider's client) and fires one JSON-safe event:
    ``{"status": "ready" | "failed" | "deleted" | "timeout", "endpoint_name", "message", "state"}``.

    Logs every state change. Transient API errors are retried by the client. ``deadline`` (epoch
    seconds, fixed when the task defers, so a triggerer restart does not extend it) ends the wait
    with a ``timeout`` event.
    """

    def __init__(
        self,
        endpoint_name: str,
        databricks_conn_id: str,
        poll_interval: float = 30.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.endpoint_name = endpoint_name
        self.databricks_conn_id = databricks_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "endpoint_name": self.endpoint_name,
                "databricks_conn_id": self.databricks_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = ModelServingHook(databricks_conn_id=self.databricks_conn_id)
        last = None
        async with hook.a_endpoints() as get_endpoint:  # one session for the whole wait
            while True:
                body = await get_endpoint(self.endpoint_name)
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
