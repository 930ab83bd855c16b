"""ModelServingDeployOperator: create, update, roll back or delete a Databricks serving endpoint."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from databricks.sdk.errors import ResourceConflict

from platform_ops.core.config import load_yaml
from platform_ops.core.model_serving import Action, Plan, endpoint_url, parse_config, plan
from platform_ops.core.params import is_unset, parse_bool
from platform_ops.exceptions import ConfigError
from platform_ops.hooks.model_serving import ModelServingHook
from platform_ops.links.model_serving import EndpointPageLink


class ServingConfigErrorOperator(BaseOperator):
    """The only task of a deployment DAG whose config file is invalid: it fails at once, without
    retries, with ``message``: the error that names the file and the field.

    The DAG file builds one DAG per config; a file that does not parse gets this one-task DAG under
    its usual id instead of an import error, so the other configs' DAGs keep loading and the broken
    one stays visible (its description and this task's failure say what to fix). It can neither
    deploy nor wait: fix the file, and the next parse brings the real DAG back.
    """

    ui_color = "#e0e0e0"

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def execute(self, context: Any) -> None:
        raise AirflowFailException(self.message)


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

    Every check (config, registered versions, confirmation) happens before any change. An update
    refused with 409 because another update is in progress waits for it (up to
    ``conflict_timeout``) and then applies. The operator does not wait for readiness: follow it
    with EndpointReadySensor (deferrable). Returns the plan (XCom).
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
        **kwargs: Any,
    ) -> None:
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
        self.endpoint_page: str | None = None

    @cached_property
    def hook(self) -> ModelServingHook:
        return ModelServingHook(databricks_conn_id=self.databricks_conn_id)

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            raw = self.config if self.config is not None else load_yaml(str(self.config_path))
            if not is_unset(self.force_delete):  # a trigger param overrides the file
                raw = {**raw, "force_delete": parse_bool("force_delete", self.force_delete)}
            spec = parse_config(raw, str(self.config_path or "config"))
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        live = self.hook.get_endpoint(spec.endpoint_name)
        versions = (
            {} if spec.force_delete else {m: self.hook.registered_versions(m) for m in spec.model_names}
        )
        try:
            decided = plan(
                spec,
                live,
                versions,
                rollback_version=self.rollback_version,
                confirm_delete=self.confirm_delete,
                delete_registered_model=self.delete_registered_model,
            )
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        self.endpoint_page = endpoint_url(self.hook.host, spec.endpoint_name)
        self.log.info("Plan for %s: %s (%s)", spec.endpoint_name, decided.action, decided.reason)
        for entity in decided.served_entities:
            self.log.info(
                "  serve %s version %s as %s", entity["entity_name"], entity["entity_version"], entity["name"]
            )
        self._apply(decided)
        return decided.as_dict()

    def _apply(self, decided: Plan) -> None:
        name = decided.endpoint_name
        if decided.action is Action.CREATE:
            self.hook.create_endpoint(decided)
        elif decided.action in (Action.UPDATE, Action.ROLLBACK):
            self._update(decided)
        elif decided.action is Action.DELETE:
            if self.hook.delete_endpoint(name):
                self.log.warning("Endpoint %s deleted", name)
            for model in decided.delete_registered_models:
                if self.hook.delete_registered_model(model):
                    self.log.warning("Registered model %s deleted (delete_registered_model=True)", model)
        else:
            self.log.info("Nothing to change on %s", name)

    def _update(self, decided: Plan) -> None:
        """Apply the new config; a 409 (another update in progress) waits for that update to end."""
        deadline = time.monotonic() + self.conflict_timeout.total_seconds()
        while True:
            try:
                self.hook.update_config(decided)
                return
            except ResourceConflict as exc:
                if time.monotonic() >= deadline:
                    raise AirflowException(
                        f"Endpoint {decided.endpoint_name} kept refusing the update for "
                        f"{self.conflict_timeout}: {exc}. Another update is still in progress; retry later"
                    ) from exc
                self.log.info(
                    "Another update of %s is in progress (409); waiting for it", decided.endpoint_name
                )
            while time.monotonic() < deadline:
                body = self.hook.get_endpoint(decided.endpoint_name) or {}
                if (body.get("state") or {}).get("config_update") != "IN_PROGRESS":
                    break
                time.sleep(self.poll_interval)
