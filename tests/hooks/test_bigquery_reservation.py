"""BigQueryReservationHook: the official client (REST transport) against the sandbox fake."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import bigquery_reservation_v1 as bqr

from platform_ops.hooks.bigquery_reservation import BigQueryReservationHook, default_retry

PARENT = "projects/admin-proj/locations/US"
RES = f"{PARENT}/reservations/batch"


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
    assert [c.name for c in hook.list_commitments(PARENT)] == [created.name]
    hook.delete_commitment(created.name)
    assert hook.list_commitments(PARENT) == []
    with pytest.raises(gexc.NotFound):
        hook.get_commitment(created.name)


def test_failed_commitment_carries_its_failure_status(
    hook: BigQueryReservationHook, bq_reservation_fake
) -> None:
    bq_reservation_fake.api.config["fail_commitments"] = True
    c = hook.get_commitment(hook.create_flex_commitment(PARENT, 200).name)
    assert c.state == bqr.CapacityCommitment.State.FAILED
    assert "Not enough capacity" in c.failure_status.message


def test_reservation_updates(hook: BigQueryReservationHook) -> None:
    assert hook.get_reservation(RES).slot_capacity == 100
    assert hook.set_slot_capacity(RES, 300).slot_capacity == 300
    assert hook.set_autoscale_max_slots(RES, 500).autoscale.max_slots == 500
    assert hook.get_reservation(RES).slot_capacity == 300
    with pytest.raises(gexc.NotFound):
        hook.get_reservation(f"{PARENT}/reservations/nope")


def test_assignments(hook: BigQueryReservationHook) -> None:
    a = hook.create_assignment(RES, "projects/etl-proj", "QUERY")
    assert a.job_type == bqr.Assignment.JobType.QUERY
    assert [x.name for x in hook.list_assignments(RES)] == [a.name]
    with pytest.raises(gexc.Conflict):
        hook.create_assignment(RES, "projects/etl-proj", "QUERY")
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
    with pytest.raises(gexc.ServiceUnavailable):
        hook.create_flex_commitment(PARENT, 100)
    assert hook.list_commitments(PARENT) == []


def test_flex_commitment_younger_than_its_minimum_term_refuses_deletion(
    hook: BigQueryReservationHook, bq_reservation_fake
) -> None:
    bq_reservation_fake.api.config["flex_min_age_seconds"] = 60
    c = hook.create_flex_commitment(PARENT, 100)
    hook.get_commitment(c.name)  # now ACTIVE
    # FAILED_PRECONDITION travels as HTTP 400: api_core raises BadRequest (FailedPrecondition subclasses it)
    with pytest.raises(gexc.BadRequest, match="minimum term"):
        hook.delete_commitment(c.name)
    bq_reservation_fake.api.config["flex_min_age_seconds"] = 0
    hook.delete_commitment(c.name)


def test_create_with_an_id_is_idempotent(hook: BigQueryReservationHook) -> None:
    c = hook.create_flex_commitment(PARENT, 100, commitment_id="po-abc")
    assert c.name == f"{PARENT}/capacityCommitments/po-abc"
    with pytest.raises(gexc.Conflict):
        hook.create_flex_commitment(PARENT, 100, commitment_id="po-abc")
    assert len(hook.list_commitments(PARENT)) == 1
