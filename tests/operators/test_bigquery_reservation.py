"""Slot purchase and release around heavy work: the official client against the sandbox fake."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from platform_ops.core.bigquery_reservation import LEASE_BOOK, add_lease, commitment_id, lease_key
from platform_ops.exceptions import ConfigError
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


BOTH_WAYS = pytest.mark.parametrize("dag_id", ["slot_scenarios", "slot_scenarios_blocking"])


def run(dag_id: str = "slot_scenarios", **conf) -> RunResult:
    return run_dag(DAGS, dag_id, DATE, conf)


def capacity(api) -> int:
    return int(api.reservations[RES]["slotCapacity"])


@BOTH_WAYS
def test_active_commitment_raises_capacity_for_the_work_then_releases_it(fake, dag_id: str) -> None:
    result = run(dag_id)
    assert result.state == "success"
    seen = result.xcom[("heavy_work", "return_value")]
    assert seen["slot_capacity"] == 200
    assert len(seen["commitments"]) == 1
    assert result.xcom[("buy_slots", "summary")]["outcome"] == "reserved"
    assert capacity(fake) == 100
    assert fake.commitments == {}


@BOTH_WAYS
def test_pending_commitment_falls_back_to_on_demand_and_restores_the_assignment(fake, dag_id: str) -> None:
    fake.config["active_after_reads"] = None  # capacity never arrives
    result = run(dag_id)
    assert result.state == "success"
    summary = result.xcom[("buy_slots", "summary")]
    assert summary["on_demand_fallback"] is True
    seen = result.xcom[("heavy_work", "return_value")]
    assert seen["assignees"] == [], "the work ran on demand"
    assert seen["commitments"] == [], "the pending commitment was deleted"
    assert seen["slot_capacity"] == 100
    assert [a["assignee"] for a in fake.assignments.values()] == ["projects/etl-proj"]


@BOTH_WAYS
def test_failed_commitment_fails_the_purchase_and_leaves_nothing_billed(fake, capfd, dag_id: str) -> None:
    fake.config["fail_commitments"] = True
    result = run(dag_id)
    assert result.state == "failed"
    assert result.states["buy_slots"] == "failed"
    out = "".join(capfd.readouterr())
    assert "FAILED: Not enough capacity" in out, "the API's failure status is the task's message"
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


NS = "slot-leases.admin-proj.US.batch"


def test_overlapping_runs_add_up_and_the_last_lease_restores(fake) -> None:
    store = RunStateStore()
    other = {"slots": 200, "acquired_at": "2026-11-05T00:00:00"}
    store.put_shared(NS, LEASE_BOOK, {"original": 100, "original_baseline": None, "leases": {"o/r": other}})
    fake.reservations[RES]["slotCapacity"] = "300"  # the other run already holds its 200
    result = run()
    assert result.xcom[("heavy_work", "return_value")]["slot_capacity"] == 400
    assert capacity(fake) == 300, "the other run's lease is still active"
    assert list(store.get_shared(NS, LEASE_BOOK)["leases"]) == ["o/r"]


def test_a_second_run_of_the_date_reads_the_live_capacity(fake) -> None:
    assert run().state == "success"
    assert capacity(fake) == 100
    fake.reservations[RES]["slotCapacity"] = "300"  # an admin raises it between the runs
    result = run()  # the same logical date again (the run is deleted and re-created)
    assert result.state == "success"
    assert result.xcom[("heavy_work", "return_value")]["slot_capacity"] == 400, "never below what it found"
    assert result.xcom[("buy_slots", "summary")]["original"] == 300
    assert capacity(fake) == 300, "the release restores what the second run found"


def test_a_run_never_lowers_capacity_raised_while_others_hold_leases(fake) -> None:
    store = RunStateStore()
    other = {"slots": 100, "acquired_at": "2026-11-05T00:00:00"}
    store.put_shared(NS, LEASE_BOOK, {"original": 100, "original_baseline": None, "leases": {"o/r": other}})
    fake.reservations[RES]["slotCapacity"] = "500"  # 100 + the other run's 100, then an admin's 300
    result = run()
    assert result.xcom[("heavy_work", "return_value")]["slot_capacity"] == 600
    assert capacity(fake) == 500, "back to what it found: the other run still holds its lease"


def test_a_release_after_the_reservation_was_deleted_still_deletes_the_commitment(fake, capfd) -> None:
    result = run(delete_reservation=True)
    assert result.states["heavy_work"] == "success"
    assert result.states["release_slots"] == "failed"
    assert result.state == "failed", "a failed release fails the DAG run"
    assert fake.commitments == {}, "the commitment must not keep billing"
    out = "".join(capfd.readouterr())
    assert f"Slot release incomplete: restoring slot_capacity of {RES} failed" in out
    assert "Capacity commitment projects/admin-proj/locations/US/capacityCommitments/po-" in out
    assert "deleted" in out
    release = RunStateStore().get_latest("slot_scenarios", "release_slots", DATE, "slot_release")
    assert release["released"] is False
    assert release["errors"]
    assert RES in release["errors"][0]


def test_rate_limited_release_is_retried_then_succeeds(fake) -> None:
    fake.config["baseline_decrease_refusals"] = 2
    assert run().state == "success"
    assert capacity(fake) == 100
    assert fake.calls.count(f"PATCH /v1/{RES}") == 4  # raise once, lower: two 429s then success


@BOTH_WAYS
def test_flex_minimum_term_refusal_is_waited_out(fake, dag_id: str) -> None:
    fake.config["flex_delete_refusals"] = 3
    assert run(dag_id).state == "success"
    assert fake.commitments == {}
    assert (
        sum(
            c.startswith("DELETE /v1/projects/admin-proj/locations/US/capacityCommitments/")
            for c in fake.calls
        )
        == 4
    )
    assert capacity(fake) == 100


def test_the_purchase_waits_for_activation_in_the_triggerer(fake, capfd, caplog) -> None:
    fake.config["active_after_reads"] = 4
    result = run()
    assert result.state == "success"
    out = "".join(capfd.readouterr())
    assert "is PENDING: waiting in the triggerer" in out
    assert caplog.text.count("[DAG TEST] running trigger in line") == 1
    assert result.xcom[("heavy_work", "return_value")]["slot_capacity"] == 200, "the lease taken on resume"
    assert result.try_numbers["buy_slots"] == 1, "a deferral is not a retry"
    assert capacity(fake) == 100
    assert RunStateStore().get_shared(NS, LEASE_BOOK)["leases"] == {}


def test_the_teardown_defers_through_the_minimum_term_and_does_not_repeat_steps(fake, capfd, caplog) -> None:
    fake.config["flex_delete_refusals"] = 3
    result = run()
    assert (result.state, result.states["release_slots"]) == ("success", "success")
    out = "".join(capfd.readouterr())
    assert "cannot be deleted yet" in out
    assert "waiting in the triggerer" in out
    assert caplog.text.count("[DAG TEST] running trigger in line") == 1, "only the release deferred"
    assert out.count("Lease slot_scenarios/") == 1, "the lease is ended once, before the deferral"
    release = RunStateStore().get_latest("slot_scenarios", "release_slots", DATE, "slot_release")
    assert (release["released"], release["lease_ended"], release["commitment_deleted"]) == (True, True, True)
    assert fake.commitments == {}
    assert capacity(fake) == 100
    assert RunStateStore().get_shared(NS, LEASE_BOOK)["leases"] == {}


def test_a_minimum_term_past_the_release_timeout_fails_the_release_and_says_it_bills(fake, capfd) -> None:
    fake.config["flex_min_age_seconds"] = 60
    result = run()
    assert result.states["release_slots"] == "failed"
    assert result.state == "failed"
    out = "".join(capfd.readouterr())
    assert "still refuses deletion after 10 s" in out
    assert "It is still billed" in out
    assert capacity(fake) == 100, "the capacity was restored before the wait"
    assert len(fake.commitments) == 1


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"slots": 150}, "slots: 150 is not a positive multiple of 100"),
        ({"slots": 2000}, "max_slots_ceiling: 1000 is below the 2000 slots asked for"),
        ({"slots": 1000}, "max_slots_ceiling: slot_capacity would reach 1100 (original 100 + leases)"),
        ({"reservation": "nope"}, f"reservation: {PARENT}/reservations/nope does not exist"),
        ({"reservation": "batch\n"}, "reservation: 'batch\\n' is not a valid reservation"),
        (
            {"strategy": "edition_autoscale", "slots": 200, "baseline": 900},
            "max_slots_ceiling: baseline 900 + autoscale max 200 would reach 1100",
        ),
        ({"strategy": "flex_commitment", "baseline": 100}, "reservation_slot_capacity: only applies"),
        ({"slots": "many"}, "slots: 'many' is not an integer"),
    ],
)
def test_bad_input_fails_before_any_change(fake, capfd, conf: dict, message: str) -> None:
    result = run(**conf)
    assert result.state == "failed"
    assert result.states["buy_slots"] == "failed"
    assert message in "".join(capfd.readouterr())
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
    other = {"slots": 50, "baseline": 200, "acquired_at": "2026-11-05"}
    store.put_shared(ns, LEASE_BOOK, {"original": 0, "original_baseline": 100, "leases": {"o/r": other}})
    fake.reservations[RES].update(slotCapacity="200", autoscale={"maxSlots": "50"})  # the other run's
    result = run(strategy="edition_autoscale", slots=100, baseline=150)
    seen = result.xcom[("heavy_work", "return_value")]
    assert (seen["max_slots"], seen["slot_capacity"]) == (150, 200), "sums max slots; keeps the higher floor"
    assert (fake.reservations[RES]["autoscale"]["maxSlots"], capacity(fake)) == ("50", 200)


def test_dry_run_changes_nothing(fake) -> None:
    result = run(dry_run=True)
    assert result.xcom[("buy_slots", "return_value")]["target"] == 200
    assert not any(c.startswith(("POST", "PATCH", "DELETE")) for c in fake.calls), fake.calls


def _purchase_at_once(barrier: Any, results: Any, run_id: str, ceiling: int) -> None:
    """One run's purchase: plans against the leases it sees, waits (the activation wait: the
    barrier lines both runs up there), then commits its lease and writes the capacity."""
    from platform_ops.operators.bigquery_reservation import FlexSlotPurchaseOperator

    op = FlexSlotPurchaseOperator(
        task_id="buy_slots",
        admin_project="admin-proj",
        location="US",
        reservation="batch",
        assignee_project="etl-proj",
        slots=100,
        max_slots_ceiling=ceiling,
    )
    request = op._request()
    lease = {"slots": 100, "baseline": None, "acquired_at": datetime.now(UTC).isoformat()}
    key = lease_key("slot_scenarios", run_id)
    current, _ = op.live_values(request)
    add_lease(op.store.get_shared(NS, LEASE_BOOK), key, lease, request, current)  # both pass here
    barrier.wait(30)
    try:
        book = op.take_lease(request, key, lease)
        op.apply_book(request, book, set_baseline=False)
        results.put((run_id, "committed"))
    except ConfigError as exc:
        results.put((run_id, str(exc)))


def _two_purchases_at_once(ceiling: int) -> list[tuple[str, str]]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_purchase_at_once, args=(barrier, results, run_id, ceiling))
        for run_id in ("scheduled__a", "scheduled__b")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    return sorted(results.get(timeout=5) for _ in procs)


def test_two_overlapping_purchases_cannot_both_pass_the_ceiling(fake) -> None:
    outcomes = [outcome for _, outcome in _two_purchases_at_once(ceiling=250)]
    assert outcomes.count("committed") == 1, outcomes
    refused = next(o for o in outcomes if o != "committed")
    assert refused.startswith("max_slots_ceiling: slot_capacity would reach 300"), refused
    book = RunStateStore().get_shared(NS, LEASE_BOOK)
    assert len(book["leases"]) == 1
    assert capacity(fake) == 200 == book["original"] + 100


def test_two_overlapping_purchases_write_capacity_from_the_committed_set(fake) -> None:
    assert _two_purchases_at_once(ceiling=1000) == [
        ("scheduled__a", "committed"),
        ("scheduled__b", "committed"),
    ]
    book = RunStateStore().get_shared(NS, LEASE_BOOK)
    assert sorted(book["leases"]) == ["slot_scenarios/scheduled__a", "slot_scenarios/scheduled__b"]
    assert capacity(fake) == 300, "the capacity is original + every committed lease"


def test_the_shipped_cdc_dag_waits_for_slots_in_the_triggerer() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dags = Path(__file__).resolve().parents[2] / "dags"
    bag = DagBag(dag_folder=str(dags / "bigquery_cdc_before_after.py"), load_op_links=False)
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["bigquery_cdc_before_after"]
    assert dag.get_task("buy_slots").deferrable is True
    assert dag.get_task("release_slots").deferrable is True
    assert dag.get_task("release_slots").is_teardown


# -- under the real scheduler and triggerer ----------------------------------------------------------


@pytest.fixture
def scheduled_airflow(bq_reservation_fake, tmp_path: Path) -> Iterator[Any]:
    """api-server, scheduler, dag-processor and a triggerer (LocalExecutor) running slot_scenarios,
    its waits long enough to be watched from outside."""
    from tests.scheduler.harness import AIRFLOW, LocalAirflow

    dags = tmp_path / "dags"
    dags.mkdir()
    source = (DAGS / "slot_scenarios.py").read_text()
    source = source.replace(
        "activation_timeout=timedelta(seconds=1)", "activation_timeout=timedelta(minutes=3)"
    )
    source = source.replace("release_timeout=timedelta(seconds=10)", "release_timeout=timedelta(minutes=3)")
    (dags / "slot_scenarios.py").write_text(source)
    api = bq_reservation_fake.api
    api.seed_reservation({"name": RES, "slotCapacity": 100})
    api.create_assignment(RES, {"assignee": "projects/etl-proj", "jobType": "QUERY"}, {})
    airflow = LocalAirflow(
        tmp_path / "home",
        env={
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": bq_reservation_fake.connection(),
        },
    )
    try:
        airflow.start()
        log = open(airflow.home / "triggerer.log", "wb")  # noqa: SIM115 - closed with the process
        airflow.procs["triggerer"] = subprocess.Popen(
            [AIRFLOW, "triggerer"],
            env=airflow.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        airflow.wait_dag("slot_scenarios")
        yield airflow
    finally:
        airflow.stop()


def test_purchase_and_teardown_defer_under_the_scheduler_and_resume_in_order(
    scheduled_airflow, bq_reservation_fake
) -> None:
    airflow, api = scheduled_airflow, bq_reservation_fake.api
    api.config["active_after_reads"] = None  # PENDING until let through below
    api.config["flex_delete_refusals"] = 10**9  # the minimum term, until let through below
    airflow.api("PATCH", "/dags/slot_scenarios", json={"is_paused": False})
    run_id = airflow.api(
        "POST", "/dags/slot_scenarios/dagRuns", json={"logical_date": "2026-11-05T00:00:00+00:00"}
    )["dag_run_id"]

    def state(task_id: str) -> str | None:
        return airflow.api("GET", f"/dags/slot_scenarios/dagRuns/{run_id}/taskInstances/{task_id}")["state"]

    airflow.wait_for(lambda: state("buy_slots") == "deferred", 120, "the purchase to defer")
    assert capacity(api) == 100, "nothing raised while the commitment is PENDING"
    api.config["active_after_reads"] = 1
    airflow.wait_for(lambda: state("release_slots") == "deferred", 120, "the teardown to defer")
    assert state("heavy_work") == "success"
    assert capacity(api) == 100, "the lease ended and the capacity came back before the wait"
    assert len(api.commitments) == 1, "the commitment waits out its minimum term"
    api.config["flex_delete_refusals"] = 0
    airflow.wait_for(
        lambda: (
            airflow.api("GET", f"/dags/slot_scenarios/dagRuns/{run_id}")["state"] in ("success", "failed")
        ),
        120,
        "the run to finish",
    )
    assert airflow.api("GET", f"/dags/slot_scenarios/dagRuns/{run_id}")["state"] == "success"
    assert (state("buy_slots"), state("release_slots"), state("done")) == ("success", "success", "success")
    assert api.commitments == {}
    assert capacity(api) == 100
    release = RunStateStore(f"file://{airflow.home}/state").get_latest(
        "slot_scenarios", "release_slots", DATE, "slot_release"
    )
    assert (release["released"], release["lease_ended"], release["errors"]) == (True, True, [])
