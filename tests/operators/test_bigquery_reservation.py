"""Slot purchase and release around heavy work: the official client against the sandbox fake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from platform_ops.core.bigquery_reservation import commitment_id
from platform_ops.hooks.bigquery_reservation import BigQueryReservationHook
from platform_ops.state import RunStateStore
from tests.airflow_runner import RunResult, run_dag

pytestmark = pytest.mark.integration

DAGS = Path(__file__).parent / "dags"
DATE = datetime(2026, 11, 5, tzinfo=UTC)
PARENT = "projects/admin-proj/locations/US"
RES = f"{PARENT}/reservations/batch"


@pytest.fixture
def fake(bq_reservation_fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    api = bq_reservation_fake.api
    api.seed_reservation({"name": RES, "slotCapacity": 100})
    hook = BigQueryReservationHook()
    hook.create_assignment(RES, "projects/etl-proj", "QUERY")
    api.calls.clear()
    return api


def run(**conf) -> RunResult:
    return run_dag(DAGS, "slot_scenarios", DATE, conf)


def capacity(api) -> int:
    return int(api.reservations[RES]["slotCapacity"])


def test_active_commitment_raises_capacity_for_the_work_then_releases_it(fake) -> None:
    result = run()
    assert result.state == "success"
    seen = result.xcom[("heavy_work", "return_value")]
    assert seen["slot_capacity"] == 200
    assert len(seen["commitments"]) == 1
    assert result.xcom[("buy_slots", "summary")]["outcome"] == "reserved"
    assert capacity(fake) == 100
    assert fake.commitments == {}


def test_pending_commitment_falls_back_to_on_demand_and_restores_the_assignment(fake) -> None:
    fake.config["active_after_reads"] = None  # capacity never arrives
    result = run()
    assert result.state == "success"
    summary = result.xcom[("buy_slots", "summary")]
    assert summary["on_demand_fallback"] is True
    seen = result.xcom[("heavy_work", "return_value")]
    assert seen["assignees"] == [], "the work ran on demand"
    assert seen["commitments"] == [], "the pending commitment was deleted"
    assert seen["slot_capacity"] == 100
    assert [a["assignee"] for a in fake.assignments.values()] == ["projects/etl-proj"]


def test_failed_commitment_fails_the_purchase_and_leaves_nothing_billed(fake) -> None:
    fake.config["fail_commitments"] = True
    result = run()
    assert result.state == "failed"
    assert ("heavy_work", "return_value") not in result.xcom
    assert fake.commitments == {}
    assert capacity(fake) == 100


def test_teardown_releases_after_the_work_failed(fake) -> None:
    result = run(fail_work=True)
    assert result.state == "failed"
    assert capacity(fake) == 100
    assert fake.commitments == {}


def test_another_teams_commitment_of_the_same_size_is_untouched(fake) -> None:
    other = BigQueryReservationHook().create_flex_commitment(PARENT, 100, commitment_id="other-team")
    assert run().state == "success"
    assert list(fake.commitments) == [other.name]


def test_a_retry_after_a_crash_finds_its_commitment_and_never_buys_twice(fake) -> None:
    original_create = BigQueryReservationHook.create_flex_commitment
    bought: list[str] = []

    def create_then_crash_once(self, parent, slots, commitment_id=None):
        result = original_create(self, parent, slots, commitment_id=commitment_id)
        bought.append(result.name)
        if len(bought) == 1:
            raise ConnectionResetError("worker lost right after the purchase")
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(BigQueryReservationHook, "create_flex_commitment", create_then_crash_once)
        result = run()
    assert result.state == "success"
    assert result.try_numbers["buy_slots"] == 2
    assert len(bought) == 1, "the retry must not buy again"
    assert bought[0].endswith(commitment_id("slot_scenarios", result.run_id, "buy_slots"))
    assert result.xcom[("heavy_work", "return_value")]["commitments"] == bought
    assert fake.commitments == {}
    assert capacity(fake) == 100


def test_overlapping_runs_add_up_and_the_last_lease_restores(fake) -> None:
    store = RunStateStore()
    ns = "slot-leases.admin-proj.US.batch"
    store.put_shared(ns, "other.run", {"slots": 200, "original": 100, "acquired_at": "2026-11-05T00:00:00"})
    fake.reservations[RES]["slotCapacity"] = "300"  # the other run already holds its 200
    result = run()
    assert result.xcom[("heavy_work", "return_value")]["slot_capacity"] == 400
    assert capacity(fake) == 300, "the other run's lease is still active"
    store.delete_shared(ns, "other.run")


def test_rate_limited_release_is_retried_then_succeeds(fake) -> None:
    fake.config["baseline_decrease_refusals"] = 2
    assert run().state == "success"
    assert capacity(fake) == 100
    assert fake.calls.count(f"PATCH /v1/{RES}") == 4  # raise once, lower: two 429s then success


def test_flex_minimum_term_refusal_is_waited_out(fake) -> None:
    fake.config["flex_min_age_seconds"] = 1.0
    assert run().state == "success"
    assert fake.commitments == {}


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"slots": 150}, "slots"),
        ({"slots": 2000}, "max_slots_ceiling"),
        ({"reservation": "nope"}, "reservation"),
        ({"strategy": "edition_autoscale", "slots": 200, "baseline": 900}, "max_slots_ceiling"),
        ({"strategy": "flex_commitment", "baseline": 100}, "reservation_slot_capacity"),
        ({"slots": "many"}, "slots"),
    ],
)
def test_bad_input_fails_before_any_change(fake, conf: dict, message: str) -> None:
    result = run(**conf)
    assert result.state == "failed"
    assert not any(c.startswith(("POST", "PATCH", "DELETE")) for c in fake.calls), fake.calls
    assert capacity(fake) == 100


def test_edition_autoscale_raises_max_slots_and_baseline_then_restores_both(fake) -> None:
    fake.reservations[RES]["autoscale"] = {"maxSlots": "100"}
    result = run(strategy="edition_autoscale", slots=200, baseline=300)
    assert result.state == "success"
    seen = result.xcom[("heavy_work", "return_value")]
    assert (seen["max_slots"], seen["slot_capacity"], seen["commitments"]) == (300, 300, [])
    assert fake.reservations[RES]["autoscale"]["maxSlots"] == "100"
    assert capacity(fake) == 100
    assert not [c for c in fake.calls if c.startswith("POST") and "capacityCommitments" in c], (
        "nothing bought"
    )


def test_edition_baseline_stays_while_another_run_still_needs_it(fake) -> None:
    store = RunStateStore()
    ns = "slot-leases.admin-proj.US.batch.autoscale"
    other = {
        "slots": 50,
        "original": 0,
        "baseline": 200,
        "original_baseline": 100,
        "acquired_at": "2026-11-05",
    }
    store.put_shared(ns, "other.run", other)
    fake.reservations[RES].update(slotCapacity="200", autoscale={"maxSlots": "50"})  # the other run's
    result = run(strategy="edition_autoscale", slots=100, baseline=150)
    seen = result.xcom[("heavy_work", "return_value")]
    assert (seen["max_slots"], seen["slot_capacity"]) == (150, 200), "sums max slots; keeps the higher floor"
    assert (fake.reservations[RES]["autoscale"]["maxSlots"], capacity(fake)) == ("50", 200)
    store.delete_shared(ns, "other.run")


def test_dry_run_changes_nothing(fake) -> None:
    result = run(dry_run=True)
    assert result.xcom[("buy_slots", "return_value")]["target"] == 200
    assert not any(c.startswith(("POST", "PATCH", "DELETE")) for c in fake.calls), fake.calls
