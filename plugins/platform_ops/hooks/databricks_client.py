"""databricks-sdk clients from Airflow Databricks connections, and the one translation of its errors.

One authentication path for the workspace API: the Databricks provider's (``DatabricksHook``). The
SDK asks the provider's hook for the bearer token of every request, so every connection form the
provider understands (a PAT, OAuth M2M, Azure service principals and managed identities, OIDC
federation) works, and the connection's schema and port are honoured (how the tests and the demo
reach the local workspace in sandbox/databricks).

:func:`translate` turns the SDK's exceptions (and the transport's) into :mod:`platform_ops.exceptions`
errors; every Databricks hook raises those, so operators, sensors and triggers never import SDK
error classes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.credentials_provider import CredentialsProvider, CredentialsStrategy
from databricks.sdk.errors import (
    BadRequest,
    NotFound,
    PermissionDenied,
    ResourceConflict,
    Unauthenticated,
)
from databricks.sdk.errors.base import DatabricksError

from platform_ops.exceptions import (
    AccessDeniedError,
    ExternalServiceError,
    InvalidRequestError,
    ResourceConflictError,
    ResourceNotFoundError,
    TransientServiceError,
)

SERVICE = "Databricks"

# Error codes and SDK classes of answers that may succeed when sent again later.
TRANSIENT_CODES = frozenset(
    {
        "TOO_MANY_REQUESTS",
        "TEMPORARILY_UNAVAILABLE",
        "INTERNAL_ERROR",
        "DEADLINE_EXCEEDED",
        "REQUEST_LIMIT_EXCEEDED",
        "RESOURCE_EXHAUSTED",
    }
)
_TRANSIENT_CLASSES = frozenset(
    {"TooManyRequests", "TemporarilyUnavailable", "InternalError", "DeadlineExceeded"}
)
_Kind = tuple[type[BaseException] | tuple[type[BaseException], ...], type[ExternalServiceError]]
_KINDS: tuple[_Kind, ...] = (
    (NotFound, ResourceNotFoundError),
    (ResourceConflict, ResourceConflictError),
    ((PermissionDenied, Unauthenticated), AccessDeniedError),
    (BadRequest, InvalidRequestError),
    ((requests.ConnectionError, requests.Timeout, TimeoutError), TransientServiceError),
    (ValueError, AccessDeniedError),  # the SDK's own authentication failures
)


def is_transient(exc: BaseException) -> bool:
    """Whether an SDK error is a throttle, an unavailable service or a server error."""
    if not isinstance(exc, DatabricksError):
        return False
    return exc.error_code in TRANSIENT_CODES or any(
        cls.__name__ in _TRANSIENT_CLASSES for cls in type(exc).__mro__
    )


def translate(exc: BaseException, operation: str, service: str = SERVICE) -> ExternalServiceError:
    """The :mod:`platform_ops.exceptions` error for an SDK or transport exception (same message).

    Throttles and server errors are transient, 404 not found, 409 a conflict, 401/403 denied, 400 an
    invalid request; a connection error or timeout is transient; any other SDK error is an invalid
    request (retrying the same call cannot help).
    """
    if isinstance(exc, ExternalServiceError):
        return exc
    message = str(exc) or type(exc).__name__
    if is_transient(exc):
        return TransientServiceError(service, operation, message)
    for sdk_type, ours in _KINDS:
        if isinstance(exc, sdk_type):
            return ours(service, operation, message)
    if isinstance(exc, DatabricksError):
        return InvalidRequestError(service, operation, message)
    return TransientServiceError(service, operation, message)


@contextmanager
def translated(operation: str, service: str = SERVICE) -> Iterator[None]:
    """Raise the SDK's and the transport's errors of ``operation`` as the package's service errors."""
    try:
        yield
    except (DatabricksError, requests.RequestException, TimeoutError) as exc:
        raise translate(exc, operation, service) from exc


class FromConnection(CredentialsStrategy):
    """The SDK's credentials, from the Databricks provider's hook (token refresh included)."""

    def __init__(self, provider: DatabricksHook) -> None:
        """Authenticate every request with ``provider``'s token."""
        self.provider = provider

    def auth_type(self) -> str:
        """The name the SDK shows for this strategy."""
        return "airflow-databricks-connection"

    def __call__(self, cfg: Any) -> CredentialsProvider:
        """The header factory the SDK calls before each request."""

        def headers() -> dict[str, str]:
            # The provider has no public token getter; _get_token is what its own calls use.
            return {"Authorization": f"Bearer {self.provider._get_token(raise_error=True)}"}

        return headers


def workspace_url(provider: DatabricksHook) -> str:
    """The workspace URL, as the provider builds it (its host, the connection's schema and port)."""
    conn = provider.databricks_conn
    port = f":{conn.port}" if conn.port else ""
    return f"{conn.schema or 'https'}://{provider.host}{port}"


def workspace_client(provider: DatabricksHook, **config: Any) -> WorkspaceClient:
    """The SDK's WorkspaceClient of the provider hook's workspace, authenticated by that hook.

    ``config`` adds SDK settings (e.g. ``retry_timeout_seconds``, ``http_timeout_seconds``, ``clock``).
    """
    cfg = Config(host=workspace_url(provider), credentials_strategy=FromConnection(provider), **config)
    return WorkspaceClient(config=cfg)
