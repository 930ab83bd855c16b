"""The CDC hook's translation of BigQuery errors: the shared Google translation plus quota reasons."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from platform_ops.exceptions import (
    AccessDeniedError,
    InvalidRequestError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks.cdc import translated


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (gexc.Forbidden("slow down", errors=[{"reason": "rateLimitExceeded"}]), TransientServiceError),
        (gexc.Forbidden("quota", errors=[{"reason": "quotaExceeded"}]), TransientServiceError),
        (gexc.BadRequest("backend", errors=[{"reason": "jobBackendError"}]), TransientServiceError),
        (gexc.Forbidden("no access", errors=[{"reason": "accessDenied"}]), AccessDeniedError),
        (gexc.BadRequest("bad SQL", errors=[{"reason": "invalidQuery"}]), InvalidRequestError),
        (gexc.NotFound("no table"), ResourceNotFoundError),
        (gexc.ServiceUnavailable("later"), TransientServiceError),
    ],
)
def test_bigquery_errors_become_the_package_s_and_quota_reasons_are_transient(
    error: Exception, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as raised, translated("run a query job"):
        raise error
    assert type(raised.value) is expected
    assert raised.value.operation == "run a query job"
    assert raised.value.__cause__ is error
