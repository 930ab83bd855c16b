"""ModelServingHook: serving endpoints and Unity Catalog models through the databricks-sdk.

One authentication path: the Databricks provider's (``DatabricksHook``). The SDK's
WorkspaceClient asks the provider's hook for the bearer token of every request, so every
connection form the provider understands (a PAT, OAuth M2M, Azure service principals and managed
identities, OIDC federation) works here too, and the connection's schema and port are honoured
(how the tests and the demo reach the local workspace in sandbox/databricks). The SDK retries 429
and 503 itself.

The trigger's async path goes through the provider's own async client, which implements the same
authentication without blocking the event loop. That client retries one call a few times and then
gives up (about 15 s with five attempts).

Errors leave this hook as :mod:`platform_ops.exceptions`: a transient error (429, 5xx, a connection
error or timeout) is a :class:`~platform_ops.exceptions.TransientServiceError`, which a wait rides
out until its deadline; 409 is a :class:`~platform_ops.exceptions.ResourceConflictError`; a refused
credential an :class:`~platform_ops.exceptions.AccessDeniedError`; a rejected request an
:class:`~platform_ops.exceptions.InvalidRequestError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from functools import cached_property
from typing import Any

from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.sdk import BaseHook
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.serving import (
    AutoCaptureConfigInput,
    EndpointCoreConfigInput,
    ServedEntityInput,
)

from platform_ops.core.model_serving import Plan, is_transient_status
from platform_ops.exceptions import (
    AccessDeniedError,
    ExternalServiceError,
    InvalidRequestError,
    ResourceConflictError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks.databricks_client import SERVICE, translated, workspace_client, workspace_url


def _by_status(status: int | None) -> type[ExternalServiceError]:
    if status == 404:
        return ResourceNotFoundError
    if status == 409:
        return ResourceConflictError
    if status in (401, 403):
        return AccessDeniedError
    if status == 400:
        return InvalidRequestError
    return TransientServiceError if is_transient_status(status) else ExternalServiceError


class ModelServingHook(BaseHook):
    """Serving endpoints and Unity Catalog models of the workspace of a Databricks connection."""

    conn_name_attr = "databricks_conn_id"
    default_conn_name = "databricks_default"
    conn_type = "databricks"
    hook_name = "Databricks model serving"

    def __init__(self, databricks_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        """Use the Airflow Databricks connection ``databricks_conn_id``."""
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id

    @cached_property
    def provider_hook(self) -> DatabricksHook:
        """The Databricks provider's hook of the same connection: the one authentication path."""
        return DatabricksHook(self.databricks_conn_id, caller="ModelServingHook")

    @cached_property
    def host(self) -> str:
        """The workspace URL, as the provider builds it (its host, the connection's schema and port)."""
        return workspace_url(self.provider_hook)

    @cached_property
    def client(self) -> WorkspaceClient:
        """The SDK's client, authenticated by the provider's hook on every request."""
        return workspace_client(self.provider_hook)

    def get_conn(self) -> WorkspaceClient:
        """The SDK's client."""
        return self.client

    # -- serving endpoints ----------------------------------------------------------------------------
    def get_endpoint(self, name: str) -> dict[str, Any] | None:
        """The endpoint as the API returns it (ServingEndpointDetailed as a dict), None if absent."""
        try:
            with translated(f"get serving endpoint {name}"):
                return self.client.serving_endpoints.get(name).as_dict()
        except ResourceNotFoundError:
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
        """Create the endpoint of the plan, serving its entities."""
        config = EndpointCoreConfigInput(
            name=plan.endpoint_name,
            served_entities=self._entities(plan),
            auto_capture_config=self._capture(plan),
        )
        with translated(f"create serving endpoint {plan.endpoint_name}"):
            self.client.serving_endpoints.create(name=plan.endpoint_name, config=config)

    def update_config(self, plan: Plan) -> None:
        """Apply the plan's config; ResourceConflictError while another update is in progress."""
        with translated(f"update the config of serving endpoint {plan.endpoint_name}"):
            self.client.serving_endpoints.update_config(
                name=plan.endpoint_name,
                served_entities=self._entities(plan),
                auto_capture_config=self._capture(plan),
            )

    def delete_endpoint(self, name: str) -> bool:
        """Delete the endpoint; False when there was none."""
        try:
            with translated(f"delete serving endpoint {name}"):
                self.client.serving_endpoints.delete(name)
            return True
        except ResourceNotFoundError:
            return False

    def build_logs(self, name: str, served_entity: str) -> str:
        """The build logs of one served entity ("" when there are none)."""
        try:
            with translated(f"read the build logs of {served_entity} on {name}"):
                return self.client.serving_endpoints.build_logs(name, served_entity).logs or ""
        except ResourceNotFoundError:
            return ""

    # -- Unity Catalog models --------------------------------------------------------------------------
    def registered_versions(self, full_name: str) -> list[int]:
        """The registered versions of a Unity Catalog model (none if it does not exist)."""
        try:
            with translated(f"list the versions of {full_name}"):
                return sorted(int(v.version) for v in self.client.model_versions.list(full_name) if v.version)
        except ResourceNotFoundError:
            return []

    def delete_registered_model(self, full_name: str) -> bool:
        """Delete a Unity Catalog model; False when there was none."""
        try:
            with translated(f"delete registered model {full_name}"):
                self.client.registered_models.delete(full_name)
            return True
        except ResourceNotFoundError:
            return False

    # -- async (triggers) ------------------------------------------------------------------------------
    @asynccontextmanager
    async def a_endpoints(
        self, retry_limit: int = 5
    ) -> AsyncIterator[Callable[[str], Awaitable[Mapping[str, Any] | None]]]:
        """Async reads of endpoints through the provider's async client, for as long as the block lasts.

        One HTTP session and one connection (and token) lookup serve every poll. Yields
        ``get(name)``, which returns the endpoint or None when it does not exist (404), and raises
        :class:`~platform_ops.exceptions.TransientServiceError` when the client's ``retry_limit``
        attempts all failed with a transient error, and the matching service error otherwise.
        """
        async with DatabricksHook(self.databricks_conn_id, retry_limit=retry_limit) as client:

            async def get(name: str) -> Mapping[str, Any] | None:
                try:
                    with _translated_async(f"get serving endpoint {name}"):
                        # No public async call exists for an arbitrary endpoint of the REST API.
                        body: Mapping[str, Any] = await client._a_do_api_call(
                            ("GET", f"2.0/serving-endpoints/{name}")
                        )
                        return body
                except ResourceNotFoundError:
                    return None

            yield get


@contextmanager
def _translated_async(operation: str) -> Iterator[None]:
    """The provider's async client's errors as the package's service errors."""
    import aiohttp
    from airflow.providers.databricks.exceptions import DatabricksApiError
    from tenacity import RetryError

    try:
        yield
    except DatabricksApiError as exc:
        raise _by_status(exc.http_status_code)(SERVICE, operation, str(exc)) from exc
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise TransientServiceError(SERVICE, operation, f"{type(exc).__name__}: {exc}") from exc
    except ExternalServiceError:
        raise
    except Exception as exc:
        # The client raises a plain AirflowException once its retries of retryable errors (429,
        # 5xx, connection errors) are spent.
        if isinstance(exc.__cause__ or exc.__context__, RetryError):
            raise TransientServiceError(SERVICE, operation, str(exc)) from exc
        raise
