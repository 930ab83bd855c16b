"""The one place where the package's permanent errors become Airflow's "fail, do not retry".

Operators, sensors and triggers-completing methods wrap their work in :func:`fail_fast_on_permanent_errors`:
a :class:`~platform_ops.exceptions.ConfigError` (bad input) or a non-retryable
:class:`~platform_ops.exceptions.ExternalServiceError` fails the task without spending its retries;
everything else propagates unchanged, so Airflow's retries still handle transient failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowFailException

from platform_ops.exceptions import ConfigError, ExternalServiceError


@contextmanager
def fail_fast_on_permanent_errors() -> Iterator[None]:
    """Re-raise bad input and permanent service errors as ``AirflowFailException`` (same message)."""
    try:
        yield
    except ConfigError as exc:
        raise AirflowFailException(str(exc)) from exc
    except ExternalServiceError as exc:
        if exc.retryable:
            raise
        raise AirflowFailException(str(exc)) from exc
