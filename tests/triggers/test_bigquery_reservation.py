"""Commitment triggers against the sandbox Reservation API fake (official client, REST wire format)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from platform_ops.core.bigquery_reservation import CommitmentEvent, CommitmentPhase, WaitEnd
from platform_ops.hooks.bigquery_reservation import BigQueryReservationHook
from platform_ops.triggers.bigquery_reservation import CommitmentActiveTrigger, CommitmentDeletedTrigger

PARENT = "projects/admin-proj/locations/US"
NAME = f"{PARENT}/capacityCommitments/po-1"


@pytest.fixture
def api(bq_reservation_fake) -> Any:
    BigQueryReservationHook().create_flex_commitment(PARENT, 100, commitment_id="po-1")
    return bq_reservation_fake.api


def first_event(trigger: Any) -> tuple[CommitmentEvent, dict]:
    async def run() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger fired no event")

    payload = asyncio.run(run())
    return CommitmentEvent.from_json(json.loads(json.dumps(payload))), payload


def active(seconds: float = 10.0, poll: float = 0.02) -> CommitmentActiveTrigger:
    return CommitmentActiveTrigger(NAME, deadline=time.time() + seconds, poll_interval=poll)


def test_serialises_with_its_deadline() -> None:
    trigger = CommitmentDeletedTrigger(
        NAME, deadline=1234.5, api_endpoint="http://127.0.0.1:1", poll_interval=3
    )
    path, kwargs = trigger.serialize()
    assert path == "platform_ops.triggers.bigquery_reservation.CommitmentDeletedTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert CommitmentDeletedTrigger(**kwargs).serialize() == (path, kwargs)
    assert kwargs["deadline"] == 1234.5


def test_fires_once_the_commitment_is_active(api) -> None:
    api.config["active_after_reads"] = 3
    event, _ = first_event(active())
    assert (event.end, event.state.phase, event.state.is_successful) == (WaitEnd.REACHED, "ACTIVE", True)
    assert api.calls.count(f"GET /v1/{NAME}") == 3


def test_a_failed_commitment_ends_the_wait_with_the_apis_reason(api) -> None:
    api.config["fail_commitments"] = True
    event, _ = first_event(active())
    assert (event.end, event.state.phase) == (WaitEnd.REACHED, CommitmentPhase.FAILED)
    assert "Not enough capacity" in event.state.message


def test_a_commitment_deleted_meanwhile_ends_the_wait(api) -> None:
    api.config["active_after_reads"] = None
    BigQueryReservationHook().delete_commitment(NAME)
    event, _ = first_event(active())
    assert (event.end, event.state.phase, event.state.is_successful) == (WaitEnd.REACHED, "DELETED", False)


def test_the_deadline_is_fixed_at_deferral_not_at_each_start(api) -> None:
    api.config["active_after_reads"] = None  # capacity never arrives
    trigger = active(seconds=0.3, poll=0.05)
    event, _ = first_event(trigger)
    assert (event.end, event.state.phase) == (WaitEnd.DEADLINE, CommitmentPhase.PENDING)
    # A triggerer restart re-creates the trigger from its serialised form: the wait does not restart.
    restarted = CommitmentActiveTrigger(**trigger.serialize()[1])
    reads = api.calls.count(f"GET /v1/{NAME}")
    started = time.monotonic()
    event, _ = first_event(restarted)
    assert event.end is WaitEnd.DEADLINE
    assert time.monotonic() - started < 1.0
    assert api.calls.count(f"GET /v1/{NAME}") == reads + 1, "one read, then the passed deadline"


def test_transient_errors_are_ridden_out_until_the_deadline(api) -> None:
    api.config["active_after_reads"] = 1
    api.config["fail_next"] = {f"GET /{NAME.split('/', 4)[-1]}": [503] * 6}
    event, _ = first_event(CommitmentActiveTrigger(NAME, deadline=time.time() + 30, poll_interval=0.5))
    assert (event.end, event.state.phase) == (WaitEnd.REACHED, CommitmentPhase.ACTIVE)
    assert api.calls.count(f"GET /v1/{NAME}") == 7


def test_an_outage_past_the_deadline_says_so(api) -> None:
    api.config["fail_next"] = {"GET /capacityCommitments/": [503] * 10_000}
    event, _ = first_event(CommitmentActiveTrigger(NAME, deadline=time.time() + 1.5, poll_interval=0.2))
    assert event.end is WaitEnd.DEADLINE
    assert "the API did not answer" in event.message


def test_a_permanent_error_ends_the_wait_at_once(api) -> None:
    api.config["fail_next"] = {"GET /capacityCommitments/": [403]}
    event, _ = first_event(active())
    assert event.end is WaitEnd.ERROR
    assert "403" in event.message or "injected fault" in event.message
    assert api.calls.count(f"GET /v1/{NAME}") == 1


def test_deletion_waits_out_the_minimum_term(api) -> None:
    BigQueryReservationHook().get_commitment(NAME)  # ACTIVE
    api.config["flex_min_age_seconds"] = 0.6
    trigger = CommitmentDeletedTrigger(NAME, deadline=time.time() + 10, poll_interval=0.1)
    event, _ = first_event(trigger)
    assert (event.end, event.state.phase, event.state.message) == (WaitEnd.REACHED, "DELETED", "deleted")
    assert api.commitments == {}
    assert api.calls.count(f"DELETE /v1/{NAME}") > 1, "refused during the minimum term, then deleted"
    again, _ = first_event(CommitmentDeletedTrigger(NAME, deadline=time.time() + 10, poll_interval=0.1))
    assert (again.state.phase, again.state.message) == ("DELETED", "already gone")


def test_deletion_refused_past_the_deadline_leaves_it_to_the_operator(api) -> None:
    BigQueryReservationHook().get_commitment(NAME)
    api.config["flex_min_age_seconds"] = 60
    event, _ = first_event(CommitmentDeletedTrigger(NAME, deadline=time.time() + 0.3, poll_interval=0.1))
    assert (event.end, event.state.phase) == (WaitEnd.DEADLINE, CommitmentPhase.ACTIVE)
    assert "minimum term" in event.state.message
    assert NAME in api.commitments
