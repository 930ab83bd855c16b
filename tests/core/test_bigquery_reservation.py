from __future__ import annotations

import json
from dataclasses import replace

import pytest

from platform_ops.core.bigquery_reservation import (
    CommitmentEvent,
    CommitmentPhase,
    CommitmentState,
    CommitmentStep,
    PurchaseRecord,
    ReleaseProgress,
    RemovedAssignment,
    SlotRequest,
    Strategy,
    WaitEnd,
    add_lease,
    baseline_target,
    book_targets,
    check_ceiling,
    lease_key,
    lease_namespace,
    purchase_options,
    purchase_step,
    release_plan,
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
    ("state", "phase", "terminal", "successful", "step"),
    [
        ("ACTIVE", CommitmentPhase.ACTIVE, True, True, CommitmentStep.ACTIVE),
        ("FAILED", CommitmentPhase.FAILED, True, False, CommitmentStep.FAILED),
        ("PENDING", CommitmentPhase.PENDING, False, False, CommitmentStep.FALLBACK),
        ("STATE_UNSPECIFIED", CommitmentPhase.PENDING, False, False, CommitmentStep.FALLBACK),
    ],
)
def test_commitment_states(state: str, phase, terminal: bool, successful: bool, step) -> None:
    s = CommitmentState.from_api("c", state, "why")
    assert (s.phase, s.is_terminal, s.is_successful) == (phase, terminal, successful)
    assert purchase_step(s) is step, "a wait that ended PENDING passed its deadline: fall back"
    assert CommitmentState.from_json(json.loads(json.dumps(s.to_json()))) == s


def test_a_deleted_commitment_is_terminal_and_not_successful() -> None:
    gone = CommitmentState.deleted("c")
    assert (gone.is_terminal, gone.is_successful, purchase_step(gone)) == (True, False, CommitmentStep.GONE)


def test_unknown_state_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown commitment state"):
        CommitmentState.from_api("c", "PAUSED")
    with pytest.raises(ValueError, match="not a commitment state"):
        CommitmentState.from_json({"phase": "ACTIVE"})
    with pytest.raises(ValueError, match="PAUSED"):
        CommitmentState.from_json({"name": "c", "phase": "PAUSED"})


def test_commitment_events_round_trip_through_json() -> None:
    event = CommitmentEvent(CommitmentState.from_api("c", "PENDING"), WaitEnd.DEADLINE, "3 failed reads")
    assert CommitmentEvent.from_json(json.loads(json.dumps(event.to_json()))) == event
    with pytest.raises(ValueError, match="not a commitment event"):
        CommitmentEvent.from_json({"end": "deadline"})


# A slot_purchase document as earlier versions of the purchase wrote it (a fallback run).
OLD_RECORD = {
    "request": {
        "admin_project": "admin-proj",
        "location": "US",
        "reservation": "batch",
        "assignee_project": "etl-proj",
        "strategy": "flex_commitment",
        "slots": 100,
        "max_slots_ceiling": 1000,
        "reservation_slot_capacity": None,
        "job_type": "QUERY",
        "activation_timeout_s": 600.0,
        "on_demand_fallback": True,
    },
    "original": 100,
    "original_baseline": None,
    "lease_key": "d/scheduled__x",
    "run_id": "scheduled__x",
    "commitment": None,
    "assignment_removed": {"assignee": "projects/etl-proj", "job_type": "QUERY"},
    "outcome": "on_demand_fallback",
}


def test_purchase_records_written_by_earlier_versions_are_read() -> None:
    record = PurchaseRecord.from_json(OLD_RECORD)
    assert record.request == request(max_slots_ceiling=1000)
    assert record.assignment_removed == RemovedAssignment("projects/etl-proj", "QUERY")
    assert (record.lease_taken, record.commitment, record.outcome) == (False, None, "on_demand_fallback")
    assert PurchaseRecord.from_json(record.to_json()) == record
    assert {k: v for k, v in record.to_json().items() if k in OLD_RECORD} == OLD_RECORD
    with pytest.raises(ValueError, match="not a slot purchase record"):
        PurchaseRecord.from_json({"request": OLD_RECORD["request"]})


def test_release_plan_gives_back_only_what_the_record_took() -> None:
    fallback = PurchaseRecord.from_json(OLD_RECORD)
    plan = release_plan(fallback)
    assert (plan.end_lease, plan.delete_commitment) == (None, None), "no lease, nothing bought"
    assert plan.restore_assignment == RemovedAssignment("projects/etl-proj", "QUERY")
    reserved = replace(
        fallback, assignment_removed=None, commitment="c1", lease_taken=True, baseline_set=True
    )
    plan = release_plan(reserved)
    assert (plan.end_lease, plan.restore_baseline, plan.delete_commitment) == ("d/scheduled__x", True, "c1")
    assert plan.restore_assignment is None


def test_release_plan_skips_the_steps_done_before_a_deferral() -> None:
    reserved = replace(PurchaseRecord.from_json(OLD_RECORD), commitment="c1", lease_taken=True)
    progress = ReleaseProgress(lease_ended=True, errors=("restoring failed",))
    plan = release_plan(reserved, ReleaseProgress.from_json(progress.to_json()))
    assert (plan.end_lease, plan.delete_commitment) == (None, "c1")
    done = ReleaseProgress(lease_ended=True, commitment_deleted=True, assignment_restored=True)
    assert release_plan(reserved, done).is_empty


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
