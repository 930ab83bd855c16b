"""BigQueryReservationHook: the official client (REST transport) against the sandbox fake."""

from __future__ import annotations

import json

import pytest
from google.cloud import bigquery_reservation_v1 as bqr

from platform_ops.core.bigquery_reservation import CommitmentPhase
from platform_ops.exceptions import (
    InvalidRequestError,
    ResourceConflictError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks.bigquery_reservation import BigQueryReservationHook, default_retry

PARENT = "projects/admin-proj/locations/US"
RES = f"{PARENT}/reservations/batch"


def commitments(hook: BigQueryReservationHook) -> list:
    """What bills in the admin project (the product never lists: the tests look through the client)."""
    return list(hook.client.list_capacity_commitments(parent=PARENT))


@pytest.fixture
def hook(bq_reservation_fake) -> BigQueryReservationHook:
    bq_reservation_fake.api.seed_reservation({"name": RES, "slotCapacity": 100})
    return BigQueryReservationHook(retry=default_retry(initial=0.01, maximum=0.05, timeout=5))


def test_endpoint_comes_from_the_connection(hook: BigQueryReservationHook, bq_reservation_fake) -> None:
    assert hook.api_endpoint == bq_reservation_fake.url
    assert hook.client is hook.get_conn()


def test_commitment_lifecycle(hook: BigQueryReservationHook, bq_reservation_fake) -> None:
    bq_reservation_fake.api.config["active_after_reads"] = 2
    created = hook.create_flex_commitment(PARENT, 100)
    assert created.state == bqr.CapacityCommitment.State.PENDING
    assert created.plan == bqr.CapacityCommitment.CommitmentPlan.FLEX
    assert created.slot_count == 100
    assert hook.get_commitment(created.name).state == bqr.CapacityCommitment.State.PENDING
    assert hook.get_commitment(created.name).state == bqr.CapacityCommitment.State.ACTIVE
    assert [c.name for c in commitments(hook)] == [created.name]
    assert hook.delete_commitment(created.name) is True
    assert commitments(hook) == []
    with pytest.raises(ResourceNotFoundError, match="not found"):
        hook.get_commitment(created.name)
    gone = hook.get_commitment_state(created.name)
    assert (gone.name, gone.phase, gone.is_terminal) == (created.name, CommitmentPhase.DELETED, True)
    assert f"Capacity commitment {created.name} not found" in gone.message
    assert hook.delete_commitment(created.name) is False, "already gone is not an error"


def test_failed_commitment_carries_its_failure_status(
    hook: BigQueryReservationHook, bq_reservation_fake
) -> None:
    bq_reservation_fake.api.config["fail_commitments"] = True
    c = hook.get_commitment_state(hook.create_flex_commitment(PARENT, 200).name)
    assert (c.phase, c.is_terminal, c.is_successful) == (CommitmentPhase.FAILED, True, False)
    assert "Not enough capacity" in c.message


def test_reservation_updates(hook: BigQueryReservationHook) -> None:
    assert hook.get_reservation(RES).slot_capacity == 100
    assert hook.set_slot_capacity(RES, 300).slot_capacity == 300
    assert hook.set_autoscale_max_slots(RES, 500).autoscale.max_slots == 500
    assert hook.get_reservation(RES).slot_capacity == 300
    with pytest.raises(ResourceNotFoundError, match="reservations/nope not found"):
        hook.get_reservation(f"{PARENT}/reservations/nope")


def test_assignments(hook: BigQueryReservationHook) -> None:
    a = hook.create_assignment(RES, "projects/etl-proj", "QUERY")
    assert a.job_type == bqr.Assignment.JobType.QUERY
    assert [x.name for x in hook.list_assignments(RES)] == [a.name]
    with pytest.raises(ResourceConflictError, match="already has a QUERY assignment"):
        hook.create_assignment(RES, "projects/etl-proj", "QUERY")
    with pytest.raises(InvalidRequestError, match="Invalid assignee") as err:
        hook.create_assignment(RES, "nobody", "QUERY")
    assert err.value.retryable is False
    hook.delete_assignment(a.name)
    assert hook.list_assignments(RES) == []


def test_transient_errors_are_retried(hook: BigQueryReservationHook, bq_reservation_fake) -> None:
    bq_reservation_fake.api.config["fail_next"] = {"GET /reservations/batch": [429, 503, 503]}
    assert hook.get_reservation(RES).slot_capacity == 100
    assert bq_reservation_fake.api.calls.count(f"GET /v1/{RES}") == 4


def test_rate_limited_baseline_decrease_is_retried_not_skipped(
    hook: BigQueryReservationHook, bq_reservation_fake
) -> None:
    hook.set_slot_capacity(RES, 400)
    bq_reservation_fake.api.config["baseline_decrease_refusals"] = 2
    assert hook.set_slot_capacity(RES, 100).slot_capacity == 100
    assert bq_reservation_fake.api.calls.count(f"PATCH /v1/{RES}") == 4


def test_create_is_never_retried(hook: BigQueryReservationHook, bq_reservation_fake) -> None:
    """A retried create could buy twice: the hook surfaces the error instead."""
    bq_reservation_fake.api.config["fail_next"] = {"POST /capacityCommitments": [503]}
    with pytest.raises(TransientServiceError) as err:
        hook.create_flex_commitment(PARENT, 100)
    assert err.value.retryable is True
    assert commitments(hook) == []


def test_flex_commitment_younger_than_its_minimum_term_refuses_deletion(
    hook: BigQueryReservationHook, bq_reservation_fake
) -> None:
    bq_reservation_fake.api.config["flex_min_age_seconds"] = 60
    c = hook.create_flex_commitment(PARENT, 100)
    assert hook.get_commitment_state(c.name).is_successful  # now ACTIVE
    # FAILED_PRECONDITION travels as HTTP 400: the hook tells it from other bad requests
    with pytest.raises(ResourceConflictError, match="minimum term"):
        hook.delete_commitment(c.name)
    bq_reservation_fake.api.config["flex_min_age_seconds"] = 0
    assert hook.delete_commitment(c.name) is True


def test_create_with_an_id_is_idempotent(hook: BigQueryReservationHook) -> None:
    c = hook.create_flex_commitment(PARENT, 100, commitment_id="po-abc")
    assert c.name == f"{PARENT}/capacityCommitments/po-abc"
    with pytest.raises(ResourceConflictError, match="already exists"):
        hook.create_flex_commitment(PARENT, 100, commitment_id="po-abc")
    assert len(commitments(hook)) == 1


def test_transient_errors_past_the_retry_budget_are_transient_service_errors(bq_reservation_fake) -> None:
    bq_reservation_fake.api.config["fail_next"] = {"GET /reservations/batch": [503] * 50}
    bq_reservation_fake.api.seed_reservation({"name": RES, "slotCapacity": 100})
    hook = BigQueryReservationHook(retry=default_retry(initial=0.01, maximum=0.02, timeout=0.2))
    with pytest.raises(TransientServiceError) as err:
        hook.get_reservation(RES)
    assert err.value.retryable is True


def test_endpoint_from_a_prefixed_connection_extra(bq_reservation_fake, monkeypatch) -> None:
    extra = {"extra__google_cloud_platform__api_endpoint": bq_reservation_fake.url, "is_anonymous": True}
    conn = json.dumps({"conn_type": "google_cloud_platform", "extra": extra})
    monkeypatch.setenv("AIRFLOW_CONN_PREFIXED", conn)
    assert BigQueryReservationHook(gcp_conn_id="prefixed").api_endpoint == bq_reservation_fake.url
