"""What the project's Google hooks share: where the API is, and the translation of its errors.

An endpoint comes from the hook's argument or the connection's ``extra.api_endpoint`` and goes to
the official client through the provider's ``get_client_options`` (which keeps universe-domain
rules). Pointing a connection at a local stand-in takes ``api_endpoint`` plus ``is_anonymous``.

:func:`translate_errors` turns ``google.api_core`` exceptions into the package's service errors
(:mod:`platform_ops.exceptions`), so nothing above the hooks imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
from airflow.providers.google.common.hooks.base_google import GoogleBaseHook, get_field
from google.api_core import exceptions as gexc

from platform_ops.exceptions import (
    AccessDeniedError,
    ExternalServiceError,
    InvalidRequestError,
    ResourceConflictError,
    ResourceNotFoundError,
    TransientServiceError,
)

# Throttled, server-side or timed out, and a retry budget spent on those: the same call may succeed later.
TRANSIENT: tuple[type[Exception], ...] = (
    gexc.TooManyRequests,
    gexc.ServerError,
    gexc.RetryError,
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)
_CAUGHT: tuple[type[Exception], ...] = (gexc.GoogleAPIError, *TRANSIENT)
_PERMANENT: tuple[tuple[type[Exception], type[ExternalServiceError]], ...] = (
    (gexc.NotFound, ResourceNotFoundError),
    (gexc.Conflict, ResourceConflictError),
    (gexc.Forbidden, AccessDeniedError),
    (gexc.Unauthorized, AccessDeniedError),
    (gexc.ClientError, InvalidRequestError),
)


def api_endpoint(hook: GoogleBaseHook, override: str | None = None) -> str | None:
    """The API endpoint for ``hook``: the argument, else the connection's ``extra.api_endpoint``."""
    # The provider's public reading of a connection extra (plain or prefixed key) on its public extras.
    return override or get_field(hook.extras, "api_endpoint") or None


def is_failed_precondition(exc: BaseException) -> bool:
    """True for FAILED_PRECONDITION, which the REST transport raises as a plain 400 BadRequest."""
    if isinstance(exc, gexc.FailedPrecondition):
        return True
    response = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"] if response is not None else None
    except (ValueError, KeyError, TypeError, AttributeError):
        status = None
    return status == "FAILED_PRECONDITION"


def service_error(service: str, operation: str, exc: BaseException) -> ExternalServiceError:
    """The package's error for a ``google.api_core`` (or transport) exception."""
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, TRANSIENT):
        return TransientServiceError(service, operation, message)
    for sdk_error, ours in _PERMANENT:
        if isinstance(exc, sdk_error):
            return ours(service, operation, message)
    return ExternalServiceError(service, operation, message)


@contextmanager
def translate_errors(
    service: str,
    operation: str,
    special: Callable[[BaseException], ExternalServiceError | None] | None = None,
) -> Iterator[None]:
    """Re-raise a Google API error of ``operation`` as the package's error (``special`` decides first)."""
    try:
        yield
    except _CAUGHT as exc:
        raise ((special and special(exc)) or service_error(service, operation, exc)) from exc
