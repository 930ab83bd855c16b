"""ModelServingDeployOperator: create, update, roll back or delete a Databricks serving endpoint."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.databricks.hooks.databricks import RunState
from airflow.providers.databricks.operators.databricks import DatabricksRunNowOperator
from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from platform_ops.config_files import load_yaml
from platform_ops.core.model_serving import (
    DeployAction,
    EndpointWaitEvent,
    Plan,
    WaitOutcome,
    endpoint_url,
    parse_config,
    plan,
)
from platform_ops.core.params import is_unset, parse_bool
from platform_ops.exceptions import ResourceConflictError
from platform_ops.hooks.model_serving import ModelServingHook
from platform_ops.links.model_serving import EndpointPageLink
from platform_ops.task_failures import fail_fast_on_permanent_errors
from platform_ops.triggers.model_serving import EndpointUpdateFinishedTrigger

PENDING_UPDATE = "pending_update"  # XCom key: the plan waiting for a running update, and its deadline


class ServingConfigErrorOperator(BaseOperator):
    """The only task of a deployment DAG whose config file is invalid.

    It fails at once, without retries, with ``message``: the error that names the file and the field.

    The DAG file builds one DAG per config; a file that does not parse gets this one-task DAG under
    its usual id instead of an import error, so the other configs' DAGs keep loading and the broken
    one stays visible (its description and this task's failure say what to fix). It can neither
    deploy nor wait: fix the file, and the next parse brings the real DAG back.
    """

    ui_color = "#e0e0e0"

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        """Fail with ``message``."""
        super().__init__(**kwargs)
        self.message = message

    def execute(self, context: Any) -> None:
        """Fail at once, without retries."""
        raise AirflowFailException(self.message)


class RepairingRunNowOperator(DatabricksRunNowOperator):
    """The Databricks provider's run-now operator for a training job: deferrable, repairing a failed run.

    ``deferrable=True`` and ``repair_run=True`` by default: the run is watched from the triggerer,
    and a failed run is repaired once (its failed tasks re-run, under the same run id) instead of
    failing the task and leaving a retry to start a new run. The one change to the provider's
    behaviour: its deferred completion repairs whenever ``repair_run`` is set, a run that
    succeeded included (Databricks refuses to repair that); here a successful run completes.
    Every other argument is the provider's.
    """

    def __init__(self, *, deferrable: bool = True, repair_run: bool = True, **kwargs: Any) -> None:
        """The provider's operator, deferrable and repairing by default."""
        super().__init__(deferrable=deferrable, repair_run=repair_run, **kwargs)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        """The provider's completion, without a repair of a run that succeeded."""
        if event and event.get("run_state") and RunState.from_json(event["run_state"]).is_successful:
            event = {**event, "repair_run": False}
        super().execute_complete(context, event)


class ModelServingDeployOperator(BaseOperator):
    """Bring a serving endpoint to the config: the runbook's pre/post hooks as one plan.

    The config (``config`` as a dict, or ``config_path`` to a YAML file) names the endpoint, the
    Unity Catalog models it serves (``entity_version``: ``latest`` or a version), workload size,
    scale-to-zero and inference-table capture. At run time ``latest`` is resolved to the highest
    registered version and the plan is one of (see :func:`platform_ops.core.model_serving.plan`):

    * create (no endpoint yet); update (the live config differs); rollback (``rollback_version``,
      or a pinned version below the live one); nothing (the live config already matches);
    * delete, when the config (or ``force_delete``, which overrides it) says so: only with
      ``confirm_delete=True``; the registered model is deleted too only with
      ``delete_registered_model=True``.

    Every check (config, registered versions, confirmation) happens before any change; a bad
    argument fails the task at once (no retries) with the argument's name and the fix. An update
    refused with 409 because another update is in progress waits for that update to end (up to
    ``conflict_timeout``, a deadline fixed when the wait starts) and then applies the same plan.
    The operator does not wait for readiness: follow it with EndpointReadySensor. Returns the
    plan (XCom).

    Args:
        config: the deployment config as a mapping (exclusive with ``config_path``).
        config_path: a YAML deployment config (templated).
        databricks_conn_id: the Airflow Databricks connection.
        force_delete: overrides the config's ``force_delete`` (templated; unset keeps the file's).
        rollback_version: serve this registered version instead (templated).
        confirm_delete: required for a deletion (templated).
        delete_registered_model: with a deletion, also delete the Unity Catalog model (templated).
        conflict_timeout: how long a 409 waits for the running update.
        poll_interval: seconds between reads while waiting on the running update.
        deferrable: wait for the running update in the triggerer
            (EndpointUpdateFinishedTrigger) instead of holding a worker slot. Defaults to
            ``[operators] default_deferrable``.
        **kwargs: BaseOperator's.
    """

    template_fields: Sequence[str] = (
        "config_path",
        "force_delete",
        "rollback_version",
        "confirm_delete",
        "delete_registered_model",
    )
    operator_extra_links = (EndpointPageLink(),)
    ui_color = "#ff3621"

    def __init__(
        self,
        *,
        config: Mapping[str, Any] | None = None,
        config_path: str | None = None,
        databricks_conn_id: str = "databricks_default",
        force_delete: bool | str | None = None,
        rollback_version: int | str | None = None,
        confirm_delete: bool | str = False,
        delete_registered_model: bool | str = False,
        conflict_timeout: timedelta = timedelta(minutes=30),
        poll_interval: float = 30.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        """Deploy one config; see the class docstring for the arguments."""
        super().__init__(**kwargs)
        if (config is None) == (config_path is None):
            raise ValueError("config / config_path: pass exactly one of them")
        self.config = dict(config) if config is not None else None
        self.config_path = config_path
        self.databricks_conn_id = databricks_conn_id
        self.force_delete = force_delete
        self.rollback_version = rollback_version
        self.confirm_delete = confirm_delete
        self.delete_registered_model = delete_registered_model
        self.conflict_timeout = conflict_timeout
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.endpoint_page: str | None = None

    @cached_property
    def hook(self) -> ModelServingHook:
        """The serving hook of ``databricks_conn_id``."""
        return ModelServingHook(databricks_conn_id=self.databricks_conn_id)

    def execute(self, context: Any) -> dict[str, Any]:
        """Check everything, plan, apply; returns the plan."""
        with fail_fast_on_permanent_errors():
            decided = self._plan()
            self.endpoint_page = endpoint_url(self.hook.host, decided.endpoint_name)
            self.log.info("Plan for %s: %s (%s)", decided.endpoint_name, decided.action, decided.reason)
            for entity in decided.served_entities:
                self.log.info(
                    "  serve %s version %s as %s",
                    entity["entity_name"],
                    entity["entity_version"],
                    entity["name"],
                )
            self._apply(decided, context)
        return decided.as_dict()

    def _plan(self) -> Plan:
        raw = self.config if self.config is not None else load_yaml(str(self.config_path))
        if not is_unset(self.force_delete):  # the argument overrides the file
            raw = {**raw, "force_delete": parse_bool("force_delete", self.force_delete)}
        spec = parse_config(raw, str(self.config_path or "config"))
        live = self.hook.get_endpoint(spec.endpoint_name)
        versions = (
            {} if spec.force_delete else {m: self.hook.registered_versions(m) for m in spec.model_names}
        )
        return plan(
            spec,
            live,
            versions,
            rollback_version=self.rollback_version,
            confirm_delete=self.confirm_delete,
            delete_registered_model=self.delete_registered_model,
        )

    def _apply(self, decided: Plan, context: Any) -> None:
        name = decided.endpoint_name
        if decided.action is DeployAction.CREATE:
            self.hook.create_endpoint(decided)
        elif decided.action in (DeployAction.UPDATE, DeployAction.ROLLBACK):
            self._update(decided, time.time() + self.conflict_timeout.total_seconds(), context)
        elif decided.action is DeployAction.DELETE:
            if self.hook.delete_endpoint(name):
                self.log.warning("Endpoint %s deleted", name)
            for model in decided.delete_registered_models:
                if self.hook.delete_registered_model(model):
                    self.log.warning("Registered model %s deleted (delete_registered_model=True)", model)
        else:
            self.log.info("Nothing to change on %s", name)

    def _update(self, decided: Plan, deadline: float, context: Any) -> None:
        """Apply the new config; a 409 (another update in progress) waits for that update to end."""
        if not self.deferrable:
            self._update_blocking(decided, deadline)
            return
        try:
            self.hook.update_config(decided)
        except ResourceConflictError as exc:
            if time.time() >= deadline:
                raise self._still_refused(decided, str(exc)) from exc
            self.log.info(
                "Another update of %s is in progress (409); deferring until it ends", decided.endpoint_name
            )
            # The plan and the deadline wait in XCom (kept across a deferral): the resumed task
            # applies the same plan, and a second 409 waits only until the same deadline.
            context["ti"].xcom_push(
                key=PENDING_UPDATE, value={"plan": decided.as_dict(), "deadline": deadline}
            )
            self.defer(
                trigger=EndpointUpdateFinishedTrigger(
                    decided.endpoint_name, self.databricks_conn_id, self.poll_interval, deadline=deadline
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=max(0.0, deadline - time.time()) + 60),
            )

    def _update_blocking(self, decided: Plan, deadline: float) -> None:
        def waiting(retry_state: RetryCallState) -> None:
            self.log.info("Another update of %s is in progress (409); waiting for it", decided.endpoint_name)

        def refused(retry_state: RetryCallState) -> None:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            raise self._still_refused(decided, str(exc)) from exc

        Retrying(
            retry=retry_if_exception_type(ResourceConflictError),
            stop=stop_after_delay(max(0.0, deadline - time.time())),
            wait=wait_fixed(self.poll_interval),
            before_sleep=waiting,
            retry_error_callback=refused,
        )(self.hook.update_config, decided)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the running update ended: apply the same plan (it may wait again)."""
        pending = context["ti"].xcom_pull(task_ids=self.task_id, key=PENDING_UPDATE)
        decided, deadline = Plan.from_dict(pending["plan"]), float(pending["deadline"])
        wait = EndpointWaitEvent.from_json(event)
        self.endpoint_page = endpoint_url(self.hook.host, decided.endpoint_name)
        if wait.outcome is WaitOutcome.GONE:
            raise AirflowFailException(
                f"Endpoint {decided.endpoint_name} was deleted while its update waited: {wait.message}"
            )
        if wait.outcome is WaitOutcome.TIMED_OUT:
            raise self._still_refused(decided, wait.message)
        self.log.info(
            "The running update of %s ended (%s); applying the plan", decided.endpoint_name, wait.message
        )
        with fail_fast_on_permanent_errors():
            self._update(decided, deadline, context)
        return decided.as_dict()

    def _still_refused(self, decided: Plan, why: str) -> AirflowException:
        return AirflowException(
            f"Endpoint {decided.endpoint_name} kept refusing the update for "
            f"{self.conflict_timeout} (conflict_timeout): {why}. "
            "Another update is still in progress; retry later"
        )
