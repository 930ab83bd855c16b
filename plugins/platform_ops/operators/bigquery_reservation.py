"""Buy BigQuery slot capacity before heavy work (setup) and give exactly it back after (teardown)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from google.api_core import exceptions as gexc

from platform_ops.core.bigquery_reservation import (
    LEASE_BOOK,
    CommitmentStep,
    SlotRequest,
    Strategy,
    add_lease,
    book_targets,
    commitment_id,
    commitment_step,
    lease_key,
    lease_namespace,
    remove_lease,
)
from platform_ops.core.params import is_unset, parse_bool, parse_int
from platform_ops.exceptions import ConfigError
from platform_ops.hooks.bigquery_reservation import BigQueryReservationHook
from platform_ops.state import RunStateStore

STATE_NAME = "slot_purchase"
StateKey = tuple[str, str, datetime | None, str]


def _value(reservation: Any, field: str) -> int:
    return int(reservation.slot_capacity if field == "slot_capacity" else reservation.autoscale.max_slots)


class _ReservationTask(BaseOperator):
    """What purchase and release share: the hook, the state store, the lease bookkeeping."""

    def __init__(
        self,
        *,
        gcp_conn_id: str = "google_cloud_default",
        api_endpoint: str | None = None,
        state_root: str | None = None,
        state_conn_id: str | None = None,
        poll_interval: float = 15.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gcp_conn_id = gcp_conn_id
        self.api_endpoint = api_endpoint
        self.state_root = state_root
        self.state_conn_id = state_conn_id
        self.poll_interval = poll_interval

    @cached_property
    def hook(self) -> BigQueryReservationHook:
        return BigQueryReservationHook(gcp_conn_id=self.gcp_conn_id, api_endpoint=self.api_endpoint)

    @cached_property
    def store(self) -> RunStateStore:
        return RunStateStore(self.state_root, self.state_conn_id)

    def _set_value(self, request: SlotRequest, value: int) -> None:
        if request.field == "slot_capacity":
            self.hook.set_slot_capacity(request.reservation_name, value)
        else:
            self.hook.set_autoscale_max_slots(request.reservation_name, value)
        self.log.info("%s of %s set to %s", request.field, request.reservation_name, value)

    def _set_baseline(self, request: SlotRequest, value: int) -> None:
        self.hook.set_slot_capacity(request.reservation_name, value)
        self.log.info("Baseline slot_capacity of %s set to %s", request.reservation_name, value)

    def live_values(self, request: SlotRequest, reservation: Any = None) -> tuple[int, int | None]:
        """(value of the field the strategy moves, baseline for edition_autoscale) as they are now."""
        reservation = reservation or self.hook.get_reservation(request.reservation_name)
        baseline = int(reservation.slot_capacity) if request.strategy is Strategy.EDITION_AUTOSCALE else None
        return _value(reservation, request.field), baseline

    def take_lease(self, request: SlotRequest, key: str, lease: dict[str, Any]) -> dict[str, Any]:
        """Add this run's lease to the reservation's lease book with a compare-and-set; returns the
        committed book. The ceiling is checked against the committed leases (ConfigError above it)."""
        value, baseline = self.live_values(request)
        return self.store.update_shared(
            lease_namespace(request),
            LEASE_BOOK,
            lambda book: add_lease(book, key, lease, request, value, baseline),
        )

    def apply_book(self, request: SlotRequest, book: dict[str, Any], set_baseline: bool) -> None:
        """Write the capacity the committed lease book calls for. If the book changed meanwhile (an
        overlapping run committed or ended a lease), write again from the newer book: the last
        writer always writes from the latest committed set."""
        ns = lease_namespace(request)
        for _ in range(20):
            value, baseline = book_targets(book)
            if value is not None:
                self._set_value(request, value)
            leases = (book.get("leases") or {}).values()
            if baseline is not None and (set_baseline or any(lease.get("baseline") for lease in leases)):
                self._set_baseline(request, baseline)
            again = self.store.get_shared(ns, LEASE_BOOK)
            if again is None or again == book:
                return
            self.log.info("The lease book of %s changed meanwhile: writing its capacity again", ns)
            book = again
        raise AirflowException(f"The lease book {ns} keeps changing: capacity may not match its leases")

    def release_record(self, record: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Give back what ``record`` says this run took. Idempotent; returns the updated record.

        Every step is attempted whatever an earlier one did: the commitment is always deleted
        (after its minimum term), even when the reservation cannot be restored. What failed is
        listed in ``record["errors"]`` (empty when all went well)."""
        request = SlotRequest(**record["request"])
        errors: list[str] = []
        key = record["lease_key"]
        if record.get("lease_taken"):
            try:
                book = self.store.update_shared(
                    lease_namespace(request), LEASE_BOOK, lambda b: remove_lease(b, key)
                )
                self.log.info("Lease %s released; %d other lease(s) remain", key, len(book["leases"]))
                self.apply_book(request, book, bool(record.get("baseline_set")))
            except Exception as exc:  # reported below; the commitment must still be deleted
                self.log.error("Could not restore %s of %s: %s", request.field, request.reservation_name, exc)
                errors.append(f"restoring {request.field} of {request.reservation_name} failed: {exc}")
        name = record.get("commitment")
        if name:
            try:
                self._delete_commitment(name, timeout_s)
            except Exception as exc:
                self.log.error("Could not delete capacity commitment %s: %s", name, exc)
                errors.append(f"{exc}")
        removed = record.get("assignment_removed")
        if removed and not record.get("assignment_restored"):
            try:
                try:
                    self.hook.create_assignment(
                        request.reservation_name, removed["assignee"], removed["job_type"]
                    )
                except gexc.Conflict:
                    self.log.info("Assignment for %s already exists", removed["assignee"])
                record["assignment_restored"] = True
                self.log.info(
                    "Assignment of %s to %s restored", removed["assignee"], request.reservation_name
                )
            except Exception as exc:
                self.log.error("Could not restore the assignment of %s: %s", removed["assignee"], exc)
                errors.append(
                    f"restoring the assignment of {removed['assignee']} to {request.reservation_name} "
                    f"failed: {exc}"
                )
        record["errors"] = errors
        record["released"] = not errors
        return record

    def _delete_commitment(self, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.hook.delete_commitment(name)
                self.log.info("Capacity commitment %s deleted", name)
                return
            except gexc.NotFound:
                self.log.info("Capacity commitment %s is already gone", name)
                return
            except gexc.BadRequest as exc:  # FAILED_PRECONDITION: a FLEX commitment's minimum term
                if time.monotonic() >= deadline:
                    raise AirflowException(
                        f"Capacity commitment {name} still refuses deletion after {timeout_s:.0f} s: "
                        f"{exc.message}. It is still billed: delete it by hand once allowed."
                    ) from exc
                self.log.warning("Commitment %s cannot be deleted yet (%s); retrying", name, exc.message)
                time.sleep(self.poll_interval)


class FlexSlotPurchaseOperator(_ReservationTask):
    """Raise a reservation's capacity for the rest of this DAG run; pair it with FlexSlotReleaseOperator.

    ``strategy="flex_commitment"`` buys a FLEX capacity commitment (id derived from the DAG run, so
    a retry never buys twice), waits until it is ACTIVE, then raises the reservation's baseline
    ``slot_capacity`` by ``slots``. A commitment still PENDING after ``activation_timeout`` is deleted
    and, with ``on_demand_fallback``, the assignee's assignment is removed so its jobs run on demand
    (XCom ``on_demand_fallback: true``). A FAILED commitment is deleted and fails the task with the
    API's failure status. ``strategy="edition_autoscale"`` raises ``autoscale.max_slots`` instead.

    What the run took is recorded in the RunStateStore (``slot_purchase``) before anything else and
    a lease is kept per DAG run, so overlapping runs sharing a reservation add up and the original
    value comes back only when the last lease ends. ``max_slots_ceiling`` caps the resulting value.
    ``dry_run`` logs the plan and changes nothing.
    """

    template_fields: Sequence[str] = (
        "reservation",
        "assignee_project",
        "strategy",
        "slots",
        "reservation_slot_capacity",
        "is_dry_run",
    )
    ui_color = "#4285f4"

    def __init__(
        self,
        *,
        admin_project: str,
        location: str,
        reservation: str,
        assignee_project: str,
        slots: int,
        max_slots_ceiling: int,
        strategy: str = "flex_commitment",
        reservation_slot_capacity: int | None = None,
        job_type: str = "QUERY",
        activation_timeout: timedelta = timedelta(minutes=10),
        on_demand_fallback: bool = True,
        dry_run: bool = False,
        release_timeout: timedelta = timedelta(minutes=5),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.admin_project = admin_project
        self.location = location
        self.reservation = reservation
        self.assignee_project = assignee_project
        self.slots = slots
        self.max_slots_ceiling = max_slots_ceiling
        self.strategy = strategy
        self.reservation_slot_capacity = reservation_slot_capacity
        self.job_type = job_type
        self.activation_timeout = activation_timeout
        self.on_demand_fallback = on_demand_fallback
        self.is_dry_run = dry_run  # BaseOperator.dry_run() is a method: keep the flag apart
        self.release_timeout = release_timeout
        self._record_key: tuple[StateKey, str] | None = None

    def _request(self) -> SlotRequest:
        try:
            return SlotRequest(
                admin_project=self.admin_project,
                location=self.location,
                reservation=self.reservation,
                assignee_project=self.assignee_project,
                strategy=self.strategy,
                slots=parse_int("slots", self.slots),
                max_slots_ceiling=self.max_slots_ceiling,
                reservation_slot_capacity=None
                if is_unset(self.reservation_slot_capacity)
                else parse_int("reservation_slot_capacity", self.reservation_slot_capacity),
                job_type=self.job_type,
                activation_timeout_s=self.activation_timeout.total_seconds(),
                on_demand_fallback=bool(self.on_demand_fallback),
            )
        except ValueError as exc:  # ConfigError, or an enum that does not exist
            raise AirflowFailException(str(exc)) from exc

    def execute(self, context: Any) -> dict[str, Any]:
        request = self._request()
        ti = context["ti"]
        key: StateKey = (ti.dag_id, ti.task_id, context.get("logical_date"), STATE_NAME)
        run_id = context["run_id"]
        try:
            reservation = self.hook.get_reservation(request.reservation_name)
        except gexc.NotFound as exc:
            raise AirflowFailException(
                f"reservation: {request.reservation_name} does not exist. Fix: check admin_project, location "
                f"and reservation (the reservation must exist before slots can be added to it)"
            ) from exc
        ns, lease = lease_namespace(request), lease_key(ti.dag_id, run_id)
        current, current_baseline = self.live_values(request, reservation)
        mine = {
            "slots": request.slots,
            "baseline": request.reservation_slot_capacity,
            "acquired_at": datetime.now(UTC).isoformat(),
            "dag_id": ti.dag_id,
            "run_id": run_id,
        }
        # A first check of the ceiling before anything is bought; the lease itself is committed
        # (and the ceiling checked again against the committed leases) once the capacity is there.
        book = self.store.get_shared(ns, LEASE_BOOK)
        try:
            planned = add_lease(book, lease, mine, request, current, current_baseline)
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        value, new_baseline = book_targets(planned)
        others = len(planned["leases"]) - 1
        baseline_plan = ""
        if new_baseline is not None and request.reservation_slot_capacity is not None:
            baseline_plan = f"; baseline {current_baseline} -> {new_baseline}"
        self.log.info(
            "Plan: %s of %s %s -> %s (original %s, %d other lease(s)); strategy %s%s",
            request.field,
            request.reservation_name,
            current,
            value,
            planned["original"],
            others,
            request.strategy,
            baseline_plan,
        )
        try:
            dry_run = parse_bool("dry_run", self.is_dry_run)
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        if dry_run:
            return {"dry_run": True, "field": request.field, "current": current, "target": value}

        # A record left by an earlier try or an earlier run of this date only keeps what a retry
        # cannot find again (an assignment this run removed); the originals come from the lease book.
        previous = self.store.get_latest(*key, run_id=run_id) or {}
        record: dict[str, Any] = {
            k: previous[k] for k in ("assignment_removed",) if previous.get(k) is not None
        }
        record.update(
            request=request.__dict__ | {"strategy": str(request.strategy), "job_type": str(request.job_type)},
            original=planned["original"],
            original_baseline=planned["original_baseline"],
            lease_key=lease,
            run_id=run_id,
        )
        self._record_key = (key, run_id)
        if request.strategy is Strategy.FLEX_COMMITMENT:
            outcome = self._buy(request, record, ti, key, run_id)
            if outcome == "on_demand_fallback":
                return self._finish(record, ti, key, run_id, outcome)
        try:
            committed = self.take_lease(request, lease, mine)
        except ConfigError as exc:
            # Overlapping runs committed leases while this one waited: give back what it bought.
            record = self.release_record(record, timeout_s=self.release_timeout.total_seconds())
            self.store.put(record, *key, try_number=ti.try_number, run_id=run_id)
            problems = "; ".join(record["errors"])
            raise AirflowFailException(
                f"{exc} (leases committed by overlapping runs while this one waited; what it bought "
                f"was given back{': ' + problems if problems else ''})"
            ) from exc
        record.update(
            lease_taken=True,
            original=committed["original"],
            original_baseline=committed["original_baseline"],
            baseline_set=request.reservation_slot_capacity is not None,
        )
        self.store.put(record, *key, try_number=ti.try_number, run_id=run_id)
        self.apply_book(request, committed, record["baseline_set"])
        return self._finish(record, ti, key, run_id, "reserved")

    def _buy(self, request: SlotRequest, record: dict, ti: Any, key: StateKey, run_id: str) -> str:
        cid = commitment_id(ti.dag_id, run_id, ti.task_id)
        name = f"{request.parent}/capacityCommitments/{cid}"
        record["commitment"] = name
        # Recorded before the purchase: a crash right after it still knows what to release.
        self.store.put(record, *key, try_number=ti.try_number, run_id=run_id)
        ti.xcom_push(key="commitment", value=name)
        try:
            self.hook.create_flex_commitment(request.parent, request.slots, commitment_id=cid)
            self.log.info("Bought %s FLEX slots: %s", request.slots, name)
        except gexc.Conflict:
            self.log.info("Commitment %s exists already (a retry of this run): not buying again", name)
        started = time.monotonic()
        state = None
        while True:
            commitment = self.hook.get_commitment(name)
            new_state = commitment.state.name
            if new_state != state:
                self.log.info("Commitment %s is %s", name, new_state)
                state = new_state
            step = commitment_step(new_state, time.monotonic() - started, request.activation_timeout_s)
            if step is CommitmentStep.ACTIVE:
                return "reserved"
            if step is CommitmentStep.FAILED:
                self._delete_commitment(name, self.release_timeout.total_seconds())
                record["commitment"] = None
                self.store.put(record, *key, try_number=ti.try_number, run_id=run_id)
                reason = commitment.failure_status.message or "no reason given"
                raise AirflowException(f"Capacity commitment {name} FAILED: {reason}")
            if step is CommitmentStep.FALLBACK:
                break
            time.sleep(self.poll_interval)
        self._delete_commitment(name, self.release_timeout.total_seconds())
        record["commitment"] = None
        if not request.on_demand_fallback:
            self.store.put(record, *key, try_number=ti.try_number, run_id=run_id)
            raise AirflowException(
                f"Commitment {name} stayed PENDING for {request.activation_timeout_s:.0f} s (no capacity); "
                "on_demand_fallback is off"
            )
        for assignment in self.hook.list_assignments(request.reservation_name):
            if assignment.assignee == request.assignee and assignment.job_type.name == str(request.job_type):
                self.hook.delete_assignment(assignment.name)
                record["assignment_removed"] = {
                    "assignee": assignment.assignee,
                    "job_type": str(request.job_type),
                }
                self.log.info("Assignment %s removed: %s runs on demand", assignment.name, request.assignee)
        self.log.warning(
            "No FLEX capacity after %.0f s: falling back to on-demand; the batch may be slow",
            request.activation_timeout_s,
        )
        return "on_demand_fallback"

    def _finish(self, record: dict, ti: Any, key: StateKey, run_id: str, outcome: str) -> dict[str, Any]:
        record["outcome"] = outcome
        location = self.store.put(record, *key, try_number=ti.try_number, run_id=run_id)
        summary = {
            "outcome": outcome,
            "on_demand_fallback": outcome == "on_demand_fallback",
            "commitment": record.get("commitment"),
            "original": record["original"],
            "state_location": location,
        }
        ti.xcom_push(key="summary", value=summary)
        return summary

    def on_kill(self) -> None:
        """A killed purchase gives back what it took so far (the teardown would too, but may not run)."""
        if not self._record_key:
            return
        key, run_id = self._record_key
        record = self.store.get_latest(*key, run_id=run_id)
        if record:
            record = self.release_record(record, timeout_s=self.release_timeout.total_seconds())
            for error in record["errors"]:
                self.log.error("Release after kill incomplete: %s", error)


class FlexSlotReleaseOperator(_ReservationTask):
    """Teardown of FlexSlotPurchaseOperator: restore exactly what the purchase of this run recorded.

    Deletes exactly the commitment the purchase created (waiting out a FLEX minimum term), ends this
    run's lease (the original value returns with the last lease) and restores an assignment the
    fallback removed. Idempotent; runs whether the work succeeded or failed. Every step is tried
    even when another failed (the commitment is deleted even if the reservation is gone); then the
    task fails listing what failed. Give it ``on_failure_fail_dagrun=True`` so that a release that
    failed fails the DAG run instead of hiding behind a green one.
    """

    template_fields: Sequence[str] = ("purchase_task_id",)

    def __init__(
        self, *, purchase_task_id: str, release_timeout: timedelta = timedelta(minutes=10), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.purchase_task_id = purchase_task_id
        self.release_timeout = release_timeout

    def execute(self, context: Any) -> dict[str, Any]:
        ti = context["ti"]
        run_id = context["run_id"]
        key: StateKey = (ti.dag_id, self.purchase_task_id, context.get("logical_date"), STATE_NAME)
        record = self.store.get_latest(*key, run_id=run_id)
        if not record:
            self.log.info("Nothing to release: %s recorded no purchase for this run", self.purchase_task_id)
            return {"released": False}
        record = self.release_record(record, timeout_s=self.release_timeout.total_seconds())
        # What was released is kept beside this task's own key; the purchase record stays as written.
        location = self.store.put(
            record,
            ti.dag_id,
            ti.task_id,
            context.get("logical_date"),
            "slot_release",
            try_number=ti.try_number,
            run_id=run_id,
        )
        if record["errors"]:
            raise AirflowException(
                "Slot release incomplete: "
                + "; ".join(record["errors"])
                + f". Check the reservation and commitments by hand (record: {location})"
            )
        return {"released": True, "commitment": record.get("commitment"), "original": record.get("original")}
