"""EndpointReadySensor: wait until a Databricks model-serving endpoint is really ready."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any, NoReturn

from airflow.sdk import BaseSensorOperator, conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from platform_ops.core.model_serving import (
    EndpointState,
    EndpointWaitEvent,
    WaitOutcome,
    endpoint_url,
    log_tail,
)
from platform_ops.hooks.model_serving import ModelServingHook
from platform_ops.links.model_serving import EndpointPageLink
from platform_ops.task_failures import fail_fast_on_permanent_errors
from platform_ops.triggers.model_serving import EndpointReadyTrigger


class EndpointReadySensor(BaseSensorOperator):
    """Wait until a Databricks model-serving endpoint really serves its config.

    Succeeds when ``ready == READY``, ``config_update == NOT_UPDATING`` and every served entity is
    ``DEPLOYMENT_READY`` (an endpoint still serving its old config while an update runs is not
    ready). Fails at once, with the entity's state message and the tail of its build logs
    (``build_log_lines`` lines), on ``UPDATE_FAILED``/``UPDATE_CANCELED`` or a failed deployment,
    and when the endpoint disappears while waiting; fails at ``timeout`` (seconds) otherwise. Every
    state change is logged.

    Args:
        endpoint_name: the serving endpoint (templated).
        databricks_conn_id: the Airflow Databricks connection (any form the Databricks provider
            accepts).
        deferrable: hand the wait to the triggerer (EndpointReadyTrigger): no worker slot is held
            between polls, transient API errors are ridden out until the deadline, which is fixed
            when the task defers. Defaults to ``[operators] default_deferrable``.
        skip_if_deleted_by: a ModelServingDeployOperator task id; when that task deleted the
            endpoint there is nothing to wait for and the sensor skips.
        build_log_lines: how many lines of each failed entity's build logs the failure shows.
        **kwargs: BaseSensorOperator's (``poke_interval`` defaults to 30 s, ``timeout`` to 1 h).

    Returns (XCom) ``{"endpoint_name", "status": "ready", "state", "url"}``.
    """

    template_fields: Sequence[str] = ("endpoint_name",)
    operator_extra_links = (EndpointPageLink(),)
    ui_color = "#ff3621"

    def __init__(
        self,
        *,
        endpoint_name: str,
        databricks_conn_id: str = "databricks_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        skip_if_deleted_by: str | None = None,
        build_log_lines: int = 20,
        **kwargs: Any,
    ) -> None:
        """Wait on ``endpoint_name``; see the class docstring for the arguments."""
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
        """The serving hook of ``databricks_conn_id``."""
        return ModelServingHook(databricks_conn_id=self.databricks_conn_id)

    def execute(self, context: Any) -> Any:
        """Skip after a deletion, else wait: poking here, or deferred to the triggerer."""
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
            return self._summary(self._last_state or "")
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
        """One read: True when ready; fails the task on a failure or a deleted endpoint."""
        with fail_fast_on_permanent_errors():
            body = self.hook.get_endpoint(self.endpoint_name)
        if body is None:
            raise AirflowFailException(self._gone())
        state = EndpointState.from_api(body)
        if (described := state.describe()) != self._last_state:
            self._last_state = described
            self.log.info("Endpoint %s: %s", self.endpoint_name, self._last_state)
        if state.is_terminal and not state.is_successful:
            self._fail(state.failure, state)
        return state.is_successful

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: succeed when ready, fail with the reason otherwise."""
        self.endpoint_page = endpoint_url(self.hook.host, self.endpoint_name)
        wait = EndpointWaitEvent.from_json(event)
        described = wait.state.describe() if wait.state else ""
        if wait.outcome is WaitOutcome.FINISHED:
            self.log.info("Endpoint %s is ready: %s", self.endpoint_name, described)
            return self._summary(described)
        if wait.outcome is WaitOutcome.FAILED:
            self._fail(wait.message, wait.state)
        if wait.outcome is WaitOutcome.GONE:
            raise AirflowFailException(self._gone())
        raise AirflowFailException(
            f"Serving endpoint {self.endpoint_name} was not ready within {float(self.timeout):.0f} s: "
            f"{wait.message}"
        )

    def _gone(self) -> str:
        return f"Serving endpoint {self.endpoint_name} does not exist (deleted while waiting?)"

    def _fail(self, message: str, state: EndpointState | None) -> NoReturn:
        logs = []
        for served in state.failed_entities() if state else []:
            with fail_fast_on_permanent_errors():
                tail = log_tail(self.hook.build_logs(self.endpoint_name, served), self.build_log_lines)
            if tail:
                logs.append(f"--- build logs of {served} (last {self.build_log_lines} lines) ---\n{tail}")
        raise AirflowFailException(
            f"Serving endpoint {self.endpoint_name} failed: {message}"
            + ("\n" + "\n".join(logs) if logs else "")
        )

    def _summary(self, state: str) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "status": "ready",
            "state": state,
            "url": self.endpoint_page,
        }
