from __future__ import annotations

import pytest

from platform_ops.core.bigquery_reservation import (
    CommitmentStep,
    SlotRequest,
    Strategy,
    add_lease,
    baseline_target,
    book_targets,
    check_ceiling,
    commitment_step,
    lease_key,
    lease_namespace,
    purchase_options,
    remove_lease,
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
        (
            "reservation_slot_capacity",
            {"reservation_slot_capacity": 30, "strategy": "edition_autoscale", "slots": 50},
        ),
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


def test_the_first_lease_takes_the_live_value_as_original() -> None:
    book = add_lease(None, "d/r1", {"slots": 100}, request(), live_value=300)
    assert book == {"original": 300, "original_baseline": None, "leases": {"d/r1": {"slots": 100}}}
    assert book_targets(book) == (400, None)
    # After the last lease ended, a later run (the same date again) reads the live value anew.
    emptied = remove_lease(book, "d/r1")
    assert book_targets(emptied) == (300, None)
    assert add_lease(emptied, "d/r1", {"slots": 100}, request(), live_value=350)["original"] == 350


def test_a_run_holding_its_lease_keeps_the_recorded_original() -> None:
    book = add_lease(None, "d/r1", {"slots": 100}, request(), live_value=100)
    assert add_lease(book, "d/r1", {"slots": 100}, request(), live_value=999) == book


def test_the_original_moves_up_never_down_while_others_hold_leases() -> None:
    book = add_lease(None, "d/r1", {"slots": 100}, request(), live_value=100)
    raised = add_lease(book, "d/r2", {"slots": 100}, request(), live_value=400)  # an admin's +200
    assert raised["original"] == 300
    assert book_targets(raised) == (500, None), "never below the 400 it found"
    # r1's capacity not written yet (live still 100): the recorded original stands.
    pending = add_lease(book, "d/r2", {"slots": 100}, request(), live_value=100)
    assert book_targets(pending) == (300, None)


def test_the_ceiling_is_checked_against_the_committed_leases() -> None:
    book = add_lease(None, "d/r1", {"slots": 100}, request(max_slots_ceiling=250), live_value=100)
    with pytest.raises(ConfigError, match="max_slots_ceiling: slot_capacity would reach 300"):
        add_lease(book, "d/r2", {"slots": 100}, request(max_slots_ceiling=250), live_value=100)


def test_edition_original_baseline_follows_a_raised_live_baseline() -> None:
    edition = request(strategy=Strategy.EDITION_AUTOSCALE, slots=50, reservation_slot_capacity=200)
    book = add_lease(None, "d/r1", {"slots": 50, "baseline": 200}, edition, 0, live_baseline=100)
    assert book_targets(book) == (50, 200)
    again = add_lease(book, "d/r2", {"slots": 50}, edition, 50, live_baseline=200)
    assert again["original_baseline"] == 100, "200 is r1's floor, not a raise"
    raised = add_lease(book, "d/r2", {"slots": 50}, edition, 50, live_baseline=300)
    assert raised["original_baseline"] == 300


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("admin_project", "admin-proj\n"),
        ("reservation", "batch\n"),
        ("location", "US\n"),
        ("location", "asia-northeast1\n"),
    ],
)
def test_a_trailing_newline_is_not_a_valid_name(field: str, value: str) -> None:
    with pytest.raises(ConfigError, match=field):
        request(**{field: value})


def test_lease_keys_keep_run_ids_apart() -> None:
    assert lease_key("d", "manual__a:b") != lease_key("d", "manual__a_b")


def test_enum_values_round_trip_through_json() -> None:
    r = request(strategy="edition_autoscale", slots=50, job_type="PIPELINE")
    assert r.strategy is Strategy.EDITION_AUTOSCALE
    assert r.field == "autoscale_max_slots"
    with pytest.raises(ConfigError, match="strategy"):
        request(strategy="buy_more")


def test_edition_baselines_are_floors_not_sums() -> None:
    leases = [{"slots": 50, "baseline": 200}, {"slots": 50, "baseline": None}, {"slots": 50, "baseline": 300}]
    assert baseline_target(100, leases) == 300
    assert baseline_target(400, leases) == 400, "never below the original"
    assert baseline_target(100, [{"slots": 50, "baseline": 900, "active": False}]) == 100


def test_edition_ceiling_bounds_baseline_plus_autoscale() -> None:
    r = request(strategy="edition_autoscale", slots=200, reservation_slot_capacity=300, max_slots_ceiling=600)
    assert check_ceiling(r, 100, [], original_baseline=0) == 300  # 300 + 300 = 600: at the cap
    with pytest.raises(ConfigError, match="max_slots_ceiling: baseline 300 \\+ autoscale max 350"):
        check_ceiling(r, 150, [], original_baseline=0)


def test_flex_has_no_baseline_option_and_edition_leases_are_kept_apart() -> None:
    with pytest.raises(ConfigError, match=r"^reservation_slot_capacity: only applies"):
        request(reservation_slot_capacity=100)
    assert lease_namespace(request()) == "slot-leases.admin-proj.US.batch"
    edition = request(strategy="edition_autoscale", slots=50)
    assert lease_namespace(edition) == "slot-leases.admin-proj.US.batch.autoscale"


BLOCK = {
    "admin_project": "admin-proj",
    "location": "US",
    "reservation": "batch",
    "assignee_project": "etl-proj",
    "slots": 100,
    "max_slots_ceiling": 500,
}


def test_purchase_options_become_operator_arguments() -> None:
    kwargs = purchase_options(BLOCK | {"activation_timeout_seconds": 20})
    assert kwargs["activation_timeout"].total_seconds() == 20
    assert (kwargs["strategy"], kwargs["job_type"], kwargs["slots"]) == ("flex_commitment", "QUERY", 100)
    assert "activation_timeout_s" not in kwargs
    assert purchase_options(BLOCK)["activation_timeout"].total_seconds() == 600


@pytest.mark.parametrize(
    ("block", "field"),
    [
        (["not", "a", "mapping"], "slot_capacity"),
        (BLOCK | {"slot": 100}, "slot_capacity.slot"),
        ({k: v for k, v in BLOCK.items() if k != "reservation"}, "slot_capacity.reservation"),
        (BLOCK | {"slots": "100"}, "slot_capacity.slots"),
        (BLOCK | {"on_demand_fallback": "yes"}, "slot_capacity.on_demand_fallback"),
        (BLOCK | {"slots": 150}, "slot_capacity.slots"),
        (BLOCK | {"activation_timeout_seconds": True}, "slot_capacity.activation_timeout_seconds"),
        (BLOCK | {"activation_timeout_seconds": 0}, "slot_capacity.activation_timeout"),
    ],
)
def test_bad_purchase_options_name_the_field(block, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        purchase_options(block)
    assert err.value.field == field
