"""The single ConfigError / permanent-service-error to AirflowFailException translation."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from platform_ops.exceptions import (
    AccessDeniedError,
    ConfigError,
    ResourceConflictError,
    TransientServiceError,
)
from platform_ops.task_failures import fail_fast_on_permanent_errors


def test_bad_input_fails_the_task_without_retries_and_keeps_the_message() -> None:
    with (
        pytest.raises(AirflowFailException, match=r"threads: must be >= 1\. Fix: pass 1 or more"),
        fail_fast_on_permanent_errors(),
    ):
        raise ConfigError("threads", "must be >= 1", "pass 1 or more")


def test_a_permanent_service_error_fails_the_task() -> None:
    with (
        pytest.raises(AirflowFailException, match="BigQuery create: denied"),
        fail_fast_on_permanent_errors(),
    ):
        raise AccessDeniedError("BigQuery", "create", "denied")


@pytest.mark.parametrize("error", [TransientServiceError, ResourceConflictError])
def test_retryable_service_errors_are_left_to_airflow_retries(error: type[Exception]) -> None:
    with pytest.raises(error), fail_fast_on_permanent_errors():
        raise error("Databricks", "update", "busy")


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(KeyError), fail_fast_on_permanent_errors():
        raise KeyError("x")
