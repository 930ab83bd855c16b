from __future__ import annotations

import pytest

from platform_ops.core.bigquery_reservation import (
    CommitmentStep,
    SlotRequest,
    Strategy,
    check_ceiling,
    commitment_step,
    lease_original,
    target_value,
)
from platform_ops.exceptions import ConfigError


def request(**kw) -> SlotRequest:
    base = {
        "admin_project": "admin-proj",
        "location": "US",
        "reservation": "batch",
        "assignee_project": "etl-proj",
        "strategy": Strategy.FLEX_COMMITMENT,
        "slots": 100,
        "max_slots_ceiling": 500,
    }
    base.update(kw)
    return SlotRequest(**base)


def test_names() -> None:
    r = request(location="asia-northeast1")
    assert r.parent == "projects/admin-proj/locations/asia-northeast1"
    assert r.reservation_name == "projects/admin-proj/locations/asia-northeast1/reservations/batch"
    assert r.assignee == "projects/etl-proj"
    assert r.field == "slot_capacity"
    assert request(strategy=Strategy.EDITION_AUTOSCALE, slots=50).field == "autoscale_max_slots"


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("admin_project", {"admin_project": "Admin Project"}),
        ("assignee_project", {"assignee_project": "x"}),
        ("reservation", {"reservation": "batch/../x"}),
        ("location", {"location": "us central"}),
        ("slots", {"slots": 0}),
        ("slots", {"slots": -100}),
        ("slots", {"slots": 150}),  # flex buys in 100s
        ("slots", {"slots": 25, "strategy": Strategy.EDITION_AUTOSCALE}),  # editions scale in 50s
        ("slots", {"slots": True}),
        ("reservation_slot_capacity", {"reservation_slot_capacity": 30}),
        ("max_slots_ceiling", {"max_slots_ceiling": 50}),
        ("activation_timeout", {"activation_timeout_s": 0}),
    ],
)
def test_bad_input_names_the_field(field: str, kw: dict) -> None:
    with pytest.raises(ConfigError) as err:
        request(**kw)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("state", "waited", "expected"),
    [
        ("ACTIVE", 0, CommitmentStep.ACTIVE),
        ("FAILED", 0, CommitmentStep.FAILED),
        ("PENDING", 10, CommitmentStep.WAIT),
        ("PENDING", 600, CommitmentStep.FALLBACK),
        ("STATE_UNSPECIFIED", 1, CommitmentStep.WAIT),
    ],
)
def test_commitment_step(state: str, waited: float, expected: CommitmentStep) -> None:
    assert commitment_step(state, waited, 600) is expected


def test_unknown_state_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown commitment state"):
        commitment_step("PAUSED", 0, 1)


def test_leases_add_up_and_only_active_ones_count() -> None:
    leases = [{"slots": 100}, {"slots": 200, "active": False}, {"slots": 300}]
    assert target_value(100, leases) == 500
    assert target_value(100, []) == 100


def test_ceiling_counts_other_runs_leases() -> None:
    r = request(slots=200, max_slots_ceiling=500)
    assert check_ceiling(r, 100, [{"slots": 100}]) == 400
    with pytest.raises(ConfigError, match="max_slots_ceiling"):
        check_ceiling(r, 100, [{"slots": 300}])


def test_original_comes_from_the_earliest_active_lease() -> None:
    others = [
        {"original": 100, "acquired_at": "2026-11-21T01:00:00", "slots": 100},
        {"original": 200, "acquired_at": "2026-11-21T02:00:00", "slots": 100},
        {"original": 50, "acquired_at": "2026-11-21T00:00:00", "slots": 100, "active": False},
    ]
    assert lease_original(300, others) == 100
    assert lease_original(300, []) == 300


def test_enum_values_round_trip_through_json() -> None:
    r = request(strategy="edition_autoscale", slots=50, job_type="PIPELINE")
    assert r.strategy is Strategy.EDITION_AUTOSCALE
    assert r.field == "autoscale_max_slots"
    with pytest.raises(ConfigError, match="strategy"):
        request(strategy="buy_more")
