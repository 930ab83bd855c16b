"""The package's small error hierarchy.

Pure Python on purpose: ``platform_ops.core`` raises these too, and core imports nothing from Airflow.
"""

from __future__ import annotations


class PlatformOpsError(Exception):
    """Base class of every error raised by platform_ops."""


class ConfigError(PlatformOpsError, ValueError):
    """Bad input, detected before any side effect.

    The message always names the offending field and says how to fix it.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        """Record the offending ``field``, what is wrong with it and how to fix it."""
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. Fix: {fix}")


class StateError(PlatformOpsError):
    """Persisted run state could not be written (reads never raise: they warn and return None)."""


class ExternalServiceError(PlatformOpsError):
    """A cloud API (BigQuery, Databricks, AWS) answered with an error.

    Hooks translate the SDK's own exceptions into these, so operators, sensors and triggers never import
    ``google.api_core`` or ``databricks.sdk`` errors. ``retryable`` says whether Airflow's retries can help:
    a permanent error (denied, invalid, not found where it must exist) fails the task at once.
    """

    retryable = False

    def __init__(self, service: str, operation: str, message: str) -> None:
        """Record the ``service``, the ``operation`` that failed and the service's ``message``."""
        self.service = service
        self.operation = operation
        self.message = message
        super().__init__(f"{service} {operation}: {message}")


class TransientServiceError(ExternalServiceError):
    """Throttled, unavailable, timed out or reset: the same call may succeed later."""

    retryable = True


class ResourceNotFoundError(ExternalServiceError):
    """The object the call names does not exist (or is not visible to the caller)."""


class ResourceConflictError(ExternalServiceError):
    """The object exists already, or is busy with another change (HTTP 409 and its SDK equivalents)."""

    retryable = True


class AccessDeniedError(ExternalServiceError):
    """The credentials were refused or lack a permission: fix the connection or the grants."""


class InvalidRequestError(ExternalServiceError):
    """The service rejected the request as malformed or invalid: retrying the same request cannot help."""


class ExportTooLargeError(InvalidRequestError):
    """A workspace object is over the size the export API answers: report it, the rest can go on."""

    def __init__(self, path: str, size: int | None, service: str = "Databricks") -> None:
        """Record the object's ``path`` and ``size`` in bytes (None when the workspace did not say)."""
        self.path = path
        self.size = size
        shown = "unknown size" if size is None else f"{size} bytes"
        super().__init__(service, f"export {path}", f"{path} ({shown}) is over the export size limit")
