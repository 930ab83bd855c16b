"""EndpointReadySensor: wait until a Databricks model-serving endpoint is really ready."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from platform_ops.core.model_serving import (
    EndpointState,
    Readiness,
    endpoint_url,
    failed_entities,
    log_tail,
    readiness,
)
from platform_ops.hooks.model_serving import ModelServingHook
from platform_ops.links.model_serving import EndpointPageLink
from platform_ops.triggers.model_serving import EndpointReadyTrigger


class EndpointReadySensor(BaseSensorOperator):
    """Succeed when the endpoint serves: ``ready == READY``, ``config_update == NOT_UPDATING`` and
    every served entity ``DEPLOYMENT_READY`` (an endpoint still serving its old config while an
    update runs is not ready). Fail at once, with the entity's state message and the tail of its
    build logs, on ``UPDATE_FAILED``/``UPDATE_CANCELED`` or a failed deployment, and when the
    endpoint disappears while waiting. Every state change is logged.

    ``deferrable=True`` hands the wait to the triggerer (EndpointReadyTrigger): no worker slot is
    held between polls. ``skip_if_deleted_by``: a ModelServingDeployOperator task id; when that
    task deleted the endpoint, there is nothing to wait for and the sensor skips.
    """

    template_fields: Sequence[str] = ("endpoint_name",)
    operator_extra_links = (EndpointPageLink(),)
    ui_color = "#ff3621"

    def __init__(
        self,
        *,
        endpoint_name: str,
        databricks_conn_id: str = "databricks_default",
        deferrable: bool = False,
        skip_if_deleted_by: str | None = None,
        build_log_lines: int = 20,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30)
        kwargs.setdefault("timeout", 60 * 60)
        super().__init__(**kwargs)
        self.endpoint_name = endpoint_name
        self.databricks_conn_id = databricks_conn_id
        self.deferrable = deferrable
        self.skip_if_deleted_by = skip_if_deleted_by
        self.build_log_lines = build_log_lines
        self.endpoint_page: str | None = None
        self._last_state: str | None = None

    @cached_property
    def hook(self) -> ModelServingHook:
        return ModelServingHook(databricks_conn_id=self.databricks_conn_id)

    def execute(self, context: Any) -> Any:
        self.endpoint_page = endpoint_url(self.hook.host, self.endpoint_name)
        if self.skip_if_deleted_by:
            deployed = context["ti"].xcom_pull(task_ids=self.skip_if_deleted_by) or {}
            if deployed.get("action") == "delete":
                raise AirflowSkipException(
                    f"{self.skip_if_deleted_by} deleted {self.endpoint_name}: nothing to wait for"
                )
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):  # already ready: no need to defer
            return self._summary("ready", self._last_state or "")
        trigger = EndpointReadyTrigger(
            self.endpoint_name,
            self.databricks_conn_id,
            float(self.poke_interval),
            deadline=time.time() + float(self.timeout),
        )
        # The trigger ends the wait at the deadline itself; the deferral timeout is a backstop.
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 60),
        )

    def poke(self, context: Any) -> bool:
        body = self.hook.get_endpoint(self.endpoint_name)
        if body is None:
            raise AirflowFailException(
                f"Serving endpoint {self.endpoint_name} does not exist (deleted while waiting?)"
            )
        state = EndpointState.from_api(body)
        status, message = readiness(state)
        if (described := state.describe()) != self._last_state:
            self._last_state = described
            self.log.info("Endpoint %s: %s", self.endpoint_name, self._last_state)
        if status is Readiness.FAILED:
            self._fail(message, state)
        return status is Readiness.READY

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        self.endpoint_page = endpoint_url(self.hook.host, self.endpoint_name)
        status = event.get("status")
        if status == "ready":
            self.log.info("Endpoint %s is ready: %s", self.endpoint_name, event.get("state"))
            return self._summary("ready", event.get("state", ""))
        if status == "deleted":
            raise AirflowFailException(
                f"Serving endpoint {self.endpoint_name} does not exist (deleted while waiting?)"
            )
        if status == "timeout":
            raise AirflowFailException(
                f"Serving endpoint {self.endpoint_name} was not ready within {float(self.timeout):.0f} s: "
                f"{event.get('state')}"
            )
        body = self.hook.get_endpoint(self.endpoint_name)
        self._fail(event.get("message", ""), EndpointState.from_api(body) if body else None)
        raise AssertionError("unreachable")  # _fail raises

    def _fail(self, message: str, state: EndpointState | None) -> None:
        logs = []
        for served in failed_entities(state) if state else []:
            tail = log_tail(self.hook.build_logs(self.endpoint_name, served), self.build_log_lines)
            if tail:
                logs.append(f"--- build logs of {served} (last {self.build_log_lines} lines) ---\n{tail}")
        raise AirflowFailException(
            f"Serving endpoint {self.endpoint_name} failed: {message}"
            + ("\n" + "\n".join(logs) if logs else "")
        )

    def _summary(self, status: str, state: str) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "status": status,
            "state": state,
            "url": self.endpoint_page,
        }
