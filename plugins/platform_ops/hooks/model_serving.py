"""ModelServingHook: databricks-sdk's WorkspaceClient from an Airflow Databricks connection.

Credentials are read as the Databricks provider reads its connection (a PAT, OAuth M2M through
``extra.service_principal_oauth``, or an Azure service principal through
``extra.azure_tenant_id``); the connection's schema and port are honoured, which is how the tests
and the demo reach the local workspace in sandbox/databricks. The SDK retries 429 and 503 itself.

The trigger's async path goes through the provider's own async client (``_a_do_api_call``), which
implements every one of the provider's authentication methods without blocking the event loop. That
client retries one call a few times and then gives up (about 15 s with five attempts); what is left
after its retries is sorted here: a transient error (429, 5xx, connection error or timeout) becomes
:class:`TransientApiError`, which the trigger rides out until its deadline, and anything else is
raised as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.serving import AutoCaptureConfigInput, ServedEntityInput

from platform_ops.core.model_serving import Plan, is_transient_status, workspace_client_kwargs
from platform_ops.exceptions import PlatformOpsError


class TransientApiError(PlatformOpsError):
    """A read failed with an error worth retrying (429, 5xx, a connection error or timeout) after
    the client's own retries: a wait polls again until its deadline instead of failing."""


class ModelServingHook(BaseHook):
    conn_name_attr = "databricks_conn_id"
    default_conn_name = "databricks_default"
    conn_type = "databricks"
    hook_name = "Databricks model serving"

    def __init__(self, databricks_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id

    @cached_property
    def client_kwargs(self) -> dict[str, Any]:
        conn = self.get_connection(self.databricks_conn_id)
        return workspace_client_kwargs(
            conn.host, conn.login, conn.password, conn.extra_dejson, conn.port, conn.schema
        )

    @property
    def host(self) -> str:
        return str(self.client_kwargs["host"])

    @cached_property
    def client(self) -> WorkspaceClient:
        return WorkspaceClient(**self.client_kwargs)

    def get_conn(self) -> WorkspaceClient:
        return self.client

    # -- serving endpoints ----------------------------------------------------------------------------
    def get_endpoint(self, name: str) -> dict[str, Any] | None:
        """The endpoint as the API returns it (ServingEndpointDetailed as a dict), None if absent."""
        try:
            return self.client.serving_endpoints.get(name).as_dict()
        except NotFound:
            return None

    @staticmethod
    def _entities(plan: Plan) -> list[ServedEntityInput]:
        return [ServedEntityInput.from_dict(dict(e)) for e in plan.served_entities]

    @staticmethod
    def _capture(plan: Plan) -> AutoCaptureConfigInput | None:
        return (
            AutoCaptureConfigInput.from_dict(dict(plan.auto_capture_config))
            if plan.auto_capture_config
            else None
        )

    def create_endpoint(self, plan: Plan) -> None:
        from databricks.sdk.service.serving import EndpointCoreConfigInput

        config = EndpointCoreConfigInput(
            name=plan.endpoint_name,
            served_entities=self._entities(plan),
            auto_capture_config=self._capture(plan),
        )
        self.client.serving_endpoints.create(name=plan.endpoint_name, config=config)

    def update_config(self, plan: Plan) -> None:
        self.client.serving_endpoints.update_config(
            name=plan.endpoint_name,
            served_entities=self._entities(plan),
            auto_capture_config=self._capture(plan),
        )

    def delete_endpoint(self, name: str) -> bool:
        try:
            self.client.serving_endpoints.delete(name)
            return True
        except NotFound:
            return False

    def build_logs(self, name: str, served_entity: str) -> str:
        try:
            return self.client.serving_endpoints.build_logs(name, served_entity).logs or ""
        except NotFound:
            return ""

    # -- Unity Catalog models --------------------------------------------------------------------------
    def registered_versions(self, full_name: str) -> list[int]:
        try:
            return sorted(int(v.version) for v in self.client.model_versions.list(full_name) if v.version)
        except NotFound:
            return []

    def delete_registered_model(self, full_name: str) -> bool:
        try:
            self.client.registered_models.delete(full_name)
            return True
        except NotFound:
            return False

    # -- async (triggers) ------------------------------------------------------------------------------
    @asynccontextmanager
    async def a_endpoints(
        self, retry_limit: int = 5
    ) -> AsyncIterator[Callable[[str], Awaitable[Mapping[str, Any] | None]]]:
        """Async reads of endpoints through the provider's async client, for as long as the block
        lasts: one HTTP session and one connection (and token) lookup for every poll. Yields
        ``get(name)``, which returns the endpoint or None when it does not exist (404), and raises
        :class:`TransientApiError` when the client's ``retry_limit`` attempts all failed with a
        transient error."""
        import aiohttp
        from airflow.providers.databricks.exceptions import DatabricksApiError
        from airflow.providers.databricks.hooks.databricks_base import BaseDatabricksHook
        from tenacity import RetryError

        async with BaseDatabricksHook(
            databricks_conn_id=self.databricks_conn_id, retry_limit=retry_limit
        ) as client:

            async def get(name: str) -> Mapping[str, Any] | None:
                try:
                    return await client._a_do_api_call(("GET", f"2.0/serving-endpoints/{name}"))
                except DatabricksApiError as exc:
                    if exc.http_status_code == 404:
                        return None
                    if is_transient_status(exc.http_status_code):
                        raise TransientApiError(str(exc)) from exc
                    raise
                except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                    raise TransientApiError(f"{type(exc).__name__}: {exc}") from exc
                except Exception as exc:
                    # The client raises a plain AirflowException once its retries of retryable
                    # errors (429, 5xx, connection errors) are spent.
                    if isinstance(exc.__cause__ or exc.__context__, RetryError):
                        raise TransientApiError(str(exc)) from exc
                    raise

            yield get
