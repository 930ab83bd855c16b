"""Buy BigQuery slot capacity before heavy work (setup) and give exactly it back after (teardown)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, NoReturn

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from platform_ops.core.bigquery_reservation import (
    LEASE_BOOK,
    CommitmentEvent,
    CommitmentPhase,
    CommitmentState,
    CommitmentStep,
    Lease,
    PurchaseOutcome,
    PurchaseRecord,
    ReleaseProgress,
    RemovedAssignment,
    SlotRequest,
    Strategy,
    WaitEnd,
    add_lease,
    book_targets,
    commitment_id,
    lease_key,
    lease_namespace,
    purchase_step,
    release_plan,
    remove_lease,
)
from platform_ops.core.params import is_unset, parse_bool, parse_int
from platform_ops.exceptions import (
    ConfigError,
    ExternalServiceError,
    ResourceConflictError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks.bigquery_reservation import SERVICE, BigQueryReservationHook
from platform_ops.state import RunStateStore
from platform_ops.task_failures import fail_fast_on_permanent_errors
from platform_ops.triggers.bigquery_reservation import CommitmentActiveTrigger, CommitmentDeletedTrigger

STATE_NAME = "slot_purchase"
RELEASE_STATE_NAME = "slot_release"
StateKey = tuple[str, str, datetime | None, str]
# The deferral timeout is a backstop: the trigger ends the wait at its own deadline.
_DEFER_MARGIN = timedelta(seconds=60)


def _value(reservation: Any, field: str) -> int:
    return int(reservation.slot_capacity if field == "slot_capacity" else reservation.autoscale.max_slots)


class _ReservationTask(BaseOperator):
    """What purchase and release share: the hook, the state store, the lease bookkeeping, the waits."""

    def __init__(
        self,
        *,
        gcp_conn_id: str = "google_cloud_default",
        api_endpoint: str | None = None,
        state_root: str | None = None,
        state_conn_id: str | None = None,
        poll_interval: float = 15.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        """Assign the arguments shared by purchase and release (see the operators' docstrings)."""
        super().__init__(**kwargs)
        self.gcp_conn_id = gcp_conn_id
        self.api_endpoint = api_endpoint
        self.state_root = state_root
        self.state_conn_id = state_conn_id
        self.poll_interval = poll_interval
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> BigQueryReservationHook:
        """The Reservation API hook."""
        return BigQueryReservationHook(gcp_conn_id=self.gcp_conn_id, api_endpoint=self.api_endpoint)

    @cached_property
    def store(self) -> RunStateStore:
        """The run state store (records, lease books)."""
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
        """Add this run's lease to the reservation's lease book with a compare-and-set.

        Returns the committed book. The ceiling is checked against the committed leases
        (ConfigError above it).
        """
        value, baseline = self.live_values(request)
        book: dict[str, Any] = self.store.update_shared(
            lease_namespace(request),
            LEASE_BOOK,
            lambda current: add_lease(current, key, lease, request, value, baseline),
        )
        return book

    def apply_book(self, request: SlotRequest, book: dict[str, Any], set_baseline: bool) -> None:
        """Write the capacity the committed lease book calls for.

        If the book changed meanwhile (an overlapping run committed or ended a lease), write again
        from the newer book: the last writer always writes from the latest committed set.
        """
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

    # -- the waits, blocking form (google.api_core retries inside each call; tenacity between polls) --
    def wait_until_terminal(self, name: str, timeout_s: float) -> CommitmentState:
        """Poll a commitment until it leaves PENDING; at the timeout, its last state (PENDING)."""
        seen: list[CommitmentState] = [CommitmentState(name, CommitmentPhase.PENDING, "not read yet")]

        def read() -> CommitmentState:
            state = self.hook.get_commitment_state(name)
            if state.describe() != seen[-1].describe():
                self.log.info("Commitment %s is %s", name, state.describe())
            seen.append(state)
            return state

        def at_timeout(retry_state: RetryCallState) -> CommitmentState:
            outcome = retry_state.outcome
            if outcome is not None and outcome.failed:
                return replace(seen[-1], message=f"the API did not answer: {outcome.exception()}")
            return seen[-1]

        retrying = Retrying(
            stop=stop_after_delay(timeout_s),
            wait=wait_fixed(self.poll_interval),
            retry=retry_if_exception_type(TransientServiceError)
            | retry_if_result(lambda state: not state.is_terminal),
            retry_error_callback=at_timeout,
        )
        return retrying(read)

    def delete_when_allowed(self, name: str, timeout_s: float) -> None:
        """Delete a commitment, retrying while its minimum term refuses it, for ``timeout_s`` at most."""
        retrying = Retrying(
            stop=stop_after_delay(timeout_s),
            wait=wait_fixed(self.poll_interval),
            retry=retry_if_exception_type(ResourceConflictError),
            before_sleep=lambda rs: self.log.warning(
                "Commitment %s cannot be deleted yet (%s); retrying",
                name,
                rs.outcome and rs.outcome.exception(),
            ),
            reraise=True,
        )
        try:
            deleted = retrying(self.hook.delete_commitment, name)
        except ResourceConflictError as exc:
            raise AirflowException(_still_billed(name, timeout_s, exc.message)) from exc
        self.log.info("Capacity commitment %s %s", name, "deleted" if deleted else "is already gone")

    # -- the release steps (a pure plan; each step is tried whatever an earlier one did) -------------
    def end_lease(self, request: SlotRequest, key: str, set_baseline: bool) -> str | None:
        """End this run's lease and write the capacity the remaining leases call for; the error, if any."""
        try:
            book = self.store.update_shared(
                lease_namespace(request), LEASE_BOOK, lambda b: remove_lease(b, key)
            )
            self.log.info("Lease %s released; %d other lease(s) remain", key, len(book["leases"]))
            self.apply_book(request, book, set_baseline)
        except Exception as exc:  # reported by the caller; the commitment must still be deleted
            self.log.error("Could not restore %s of %s: %s", request.field, request.reservation_name, exc)
            return f"restoring {request.field} of {request.reservation_name} failed: {exc}"
        return None

    def restore_assignment(self, request: SlotRequest, removed: RemovedAssignment) -> str | None:
        """Create again the assignment the fallback removed; the error, if any."""
        try:
            try:
                self.hook.create_assignment(request.reservation_name, removed.assignee, removed.job_type)
            except ResourceConflictError:
                self.log.info("Assignment for %s already exists", removed.assignee)
            self.log.info("Assignment of %s to %s restored", removed.assignee, request.reservation_name)
        except Exception as exc:
            self.log.error("Could not restore the assignment of %s: %s", removed.assignee, exc)
            return (
                f"restoring the assignment of {removed.assignee} to {request.reservation_name} failed: {exc}"
            )
        return None

    def release_blocking(self, record: PurchaseRecord, timeout_s: float) -> ReleaseProgress:
        """Give back everything ``record`` took, waiting out a minimum term in this process."""
        plan = release_plan(record)
        errors = []
        if plan.end_lease:
            errors.append(self.end_lease(record.request, plan.end_lease, plan.restore_baseline))
        if plan.delete_commitment:
            try:
                self.delete_when_allowed(plan.delete_commitment, timeout_s)
            except Exception as exc:
                self.log.error("Could not delete capacity commitment %s: %s", plan.delete_commitment, exc)
                errors.append(str(exc))
        if plan.restore_assignment:
            errors.append(self.restore_assignment(record.request, plan.restore_assignment))
        return ReleaseProgress(True, True, True, tuple(e for e in errors if e))

    def commitment_trigger_kwargs(self, name: str, timeout: timedelta) -> dict[str, Any]:
        """Arguments of a commitment trigger; the deadline is fixed now, when the task defers."""
        return {
            "commitment": name,
            "deadline": time.time() + timeout.total_seconds(),
            "gcp_conn_id": self.gcp_conn_id,
            "api_endpoint": self.api_endpoint,
            "poll_interval": self.poll_interval,
        }


def _still_billed(name: str, timeout_s: float, why: str) -> str:
    return (
        f"Capacity commitment {name} still refuses deletion after {timeout_s:.0f} s: {why}. "
        "It is still billed: delete it by hand once allowed."
    )


def _purchase_key(context: Any, task_id: str) -> StateKey:
    return (context["ti"].dag_id, task_id, context.get("logical_date"), STATE_NAME)


class FlexSlotPurchaseOperator(_ReservationTask):
    """Raise a reservation's capacity for the rest of this DAG run; pair it with FlexSlotReleaseOperator.

    This docstring is where the purchase's semantics are written; README and DAG docs link here.

    ``strategy="flex_commitment"`` buys a FLEX capacity commitment whose id is derived from the DAG
    run and recorded before buying, so a retried task meets its own commitment instead of buying
    again, and another team's commitment of the same size is never touched. It waits until the
    commitment is ACTIVE, then raises the reservation's baseline ``slot_capacity`` by ``slots``. A
    commitment still PENDING after ``activation_timeout`` is deleted and, with ``on_demand_fallback``,
    the assignee's ``job_type`` assignment is removed so its jobs run on demand (XCom
    ``summary.on_demand_fallback: true``); without it the task fails. A FAILED commitment (or one
    deleted by someone else while waiting) is deleted and fails the task with the API's reason.

    ``strategy="edition_autoscale"`` buys nothing: it raises ``autoscale.max_slots`` by ``slots`` and,
    given ``reservation_slot_capacity``, lifts the baseline to at least that value. Baselines of
    overlapping runs are floors, not sums, and ``max_slots_ceiling`` then caps baseline + autoscale
    maximum.

    Leases: overlapping runs sharing a reservation hold one lease each in one lease book per
    reservation and field (``_shared/slot-leases.<project>.<location>.<reservation>/book.json`` in the
    run state), changed only by a compare-and-set (a lock on file://, conditional PUTs on s3://; a
    gs:// state root is refused for it). The reservation is always the original value plus the
    committed leases; ``max_slots_ceiling`` is checked before anything is bought and again against
    the committed leases when the lease is taken (over it, what was bought is given back and the task
    fails), and the capacity is written from the committed set, so two overlapping runs cannot both
    pass the cap. The original returns with the last lease. A run that holds no lease of its own (a
    first run, a re-run or Clear of a date) takes the original from the live reservation, never from
    what an earlier run recorded, and never lowers the capacity it found.

    Waits: ``deferrable`` (default: Airflow's ``[operators] default_deferrable``) hands the activation
    wait to the triggerer (CommitmentActiveTrigger): no worker slot is held while the commitment is
    PENDING, and the deadline is fixed when the task defers. Either way transient API errors (429,
    5xx, connection errors) are retried until the deadline, polling every ``poll_interval`` seconds.

    Errors: bad input (slot counts not in 100s for FLEX or 50s for editions, a result above
    ``max_slots_ceiling``, an unknown reservation, a baseline with the FLEX strategy, a bad
    ``dry_run``), and a denied or invalid API call fail the task at once, before anything is bought,
    with a message naming the argument and the fix. What the run took is recorded in the
    RunStateStore (``slot_purchase``) before each side effect. ``dry_run`` logs the plan and changes
    nothing. Returns (and pushes as XCom ``summary``) the outcome, ``on_demand_fallback``, the
    commitment, the original value and the record's location.
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
        """Assign the arguments; they are checked when the task runs, before any call."""
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

    def _lease(self, context: Any, request: SlotRequest) -> Lease:
        return Lease(
            request.slots,
            request.reservation_slot_capacity,
            datetime.now(UTC).isoformat(),
            context["ti"].dag_id,
            context["run_id"],
        )

    def execute(self, context: Any) -> dict[str, Any]:
        """Plan, buy (or raise the ceiling), wait for the capacity (deferring if asked), take the lease."""
        with fail_fast_on_permanent_errors():
            request = self._request()
            planned = self._planned_book(context, request)
            if parse_bool("dry_run", self.is_dry_run):
                current, _ = self.live_values(request)
                target, _ = book_targets(planned)
                return {"dry_run": True, "field": request.field, "current": current, "target": target}
            record = self._record(context, request, planned)
            if request.strategy is Strategy.EDITION_AUTOSCALE:
                return self._reserve(context, record)
            name = self._buy(context, record)
            state = self.hook.get_commitment_state(name)
            if self.deferrable and not state.is_terminal:
                self.log.info("Commitment %s is %s: waiting in the triggerer", name, state.describe())
                self.defer(
                    trigger=CommitmentActiveTrigger(
                        **self.commitment_trigger_kwargs(name, self.activation_timeout)
                    ),
                    method_name="execute_complete",
                    timeout=self.activation_timeout + _DEFER_MARGIN,
                )
            if not state.is_terminal:
                state = self.wait_until_terminal(name, request.activation_timeout_s)
            return self._after_wait(context, record, state)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after CommitmentActiveTrigger: act on the state the wait ended with."""
        with fail_fast_on_permanent_errors():
            ended = CommitmentEvent.from_json(event)
            record = self._load(context)
            if ended.end is WaitEnd.ERROR:
                raise ExternalServiceError(SERVICE, "wait for capacity commitment", ended.message)
            if ended.end is WaitEnd.DEADLINE and ended.message:
                self.log.warning("Commitment %s: %s", ended.state.name, ended.message)
            return self._after_wait(context, record, ended.state)

    # -- steps ------------------------------------------------------------------------------------
    def _planned_book(self, context: Any, request: SlotRequest) -> dict[str, Any]:
        """The lease book with this run's lease, checked against the ceiling before anything is bought."""
        try:
            reservation = self.hook.get_reservation(request.reservation_name)
        except ResourceNotFoundError as exc:
            raise ConfigError(
                "reservation",
                f"{request.reservation_name} does not exist",
                "check admin_project, location and reservation (the reservation must exist before slots "
                "can be added to it)",
            ) from exc
        current, current_baseline = self.live_values(request, reservation)
        key = lease_key(context["ti"].dag_id, context["run_id"])
        book = self.store.get_shared(lease_namespace(request), LEASE_BOOK)
        planned = add_lease(
            book, key, self._lease(context, request).to_json(), request, current, current_baseline
        )
        value, new_baseline = book_targets(planned)
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
            len(planned["leases"]) - 1,
            request.strategy,
            baseline_plan,
        )
        return planned

    def _record(self, context: Any, request: SlotRequest, planned: dict[str, Any]) -> PurchaseRecord:
        """The record of what this run will take, from the planned lease book."""
        run_id = context["run_id"]
        key = _purchase_key(context, self.task_id)
        self._record_key = (key, run_id)
        # A record left by an earlier try or an earlier run of this date only keeps what a retry
        # cannot find again (an assignment this run removed); the originals come from the lease book.
        previous = self.store.get_latest(*key, run_id=run_id)
        removed = PurchaseRecord.from_json(previous).assignment_removed if previous else None
        return PurchaseRecord(
            request=request,
            lease_key=lease_key(context["ti"].dag_id, run_id),
            run_id=run_id,
            original=planned["original"],
            original_baseline=planned["original_baseline"],
            assignment_removed=removed,
        )

    def _save(self, context: Any, record: PurchaseRecord) -> str:
        key = _purchase_key(context, self.task_id)
        return self.store.put(
            record.to_json(), *key, try_number=context["ti"].try_number, run_id=context["run_id"]
        )

    def _load(self, context: Any) -> PurchaseRecord:
        doc = self.store.get_latest(*_purchase_key(context, self.task_id), run_id=context["run_id"])
        if not doc:
            raise AirflowException("The purchase record written before the deferral is missing")
        self._record_key = (_purchase_key(context, self.task_id), context["run_id"])
        return PurchaseRecord.from_json(doc)

    def _buy(self, context: Any, record: PurchaseRecord) -> str:
        ti, request = context["ti"], record.request
        cid = commitment_id(ti.dag_id, context["run_id"], ti.task_id)
        name = f"{request.parent}/capacityCommitments/{cid}"
        # Recorded before the purchase: a crash right after it still knows what to release.
        self._save(context, replace(record, commitment=name))
        ti.xcom_push(key="commitment", value=name)
        try:
            self.hook.create_flex_commitment(request.parent, request.slots, commitment_id=cid)
            self.log.info("Bought %s FLEX slots: %s", request.slots, name)
        except ResourceConflictError:
            self.log.info("Commitment %s exists already (a retry of this run): not buying again", name)
        return name

    def _after_wait(self, context: Any, record: PurchaseRecord, state: CommitmentState) -> dict[str, Any]:
        record = replace(record, commitment=state.name)
        step = purchase_step(state)
        if step is CommitmentStep.ACTIVE:
            return self._reserve(context, record)
        if step is CommitmentStep.FALLBACK:
            return self._fall_back(context, record)
        self._drop_commitment(context, record)
        if step is CommitmentStep.FAILED:
            raise AirflowException(
                f"Capacity commitment {state.name} FAILED: {state.message or 'no reason given'}"
            )
        raise AirflowException(f"Capacity commitment {state.name} was deleted by someone else while waiting")

    def _drop_commitment(self, context: Any, record: PurchaseRecord) -> PurchaseRecord:
        if record.commitment:
            self.delete_when_allowed(record.commitment, self.release_timeout.total_seconds())
        record = replace(record, commitment=None)
        self._save(context, record)
        return record

    def _fall_back(self, context: Any, record: PurchaseRecord) -> dict[str, Any]:
        request = record.request
        record = self._drop_commitment(context, record)
        if not request.on_demand_fallback:
            raise AirflowException(
                f"The capacity commitment stayed PENDING for {request.activation_timeout_s:.0f} s "
                "(no capacity); on_demand_fallback is off"
            )
        for assignment in self.hook.list_assignments(request.reservation_name):
            if assignment.assignee == request.assignee and assignment.job_type.name == str(request.job_type):
                self.hook.delete_assignment(assignment.name)
                removed = RemovedAssignment(assignment.assignee, str(request.job_type))
                record = replace(record, assignment_removed=removed)
                self._save(context, record)
                self.log.info("Assignment %s removed: %s runs on demand", assignment.name, request.assignee)
        self.log.warning(
            "No FLEX capacity after %.0f s: falling back to on-demand; the batch may be slow",
            request.activation_timeout_s,
        )
        return self._finish(context, record, PurchaseOutcome.ON_DEMAND_FALLBACK)

    def _reserve(self, context: Any, record: PurchaseRecord) -> dict[str, Any]:
        request = record.request
        try:
            committed = self.take_lease(request, record.lease_key, self._lease(context, request).to_json())
        except ConfigError as exc:
            self._give_back_over_ceiling(context, record, exc)
        record = replace(
            record,
            lease_taken=True,
            original=committed["original"],
            original_baseline=committed["original_baseline"],
            baseline_set=request.reservation_slot_capacity is not None,
        )
        self._save(context, record)
        self.apply_book(request, committed, record.baseline_set)
        return self._finish(context, record, PurchaseOutcome.RESERVED)

    def _give_back_over_ceiling(self, context: Any, record: PurchaseRecord, exc: ConfigError) -> NoReturn:
        """Overlapping runs committed leases while this one waited: give back what it bought."""
        progress = self.release_blocking(record, self.release_timeout.total_seconds())
        self._save(context, replace(record, commitment=None))
        problems = "; ".join(progress.errors)
        raise ConfigError(
            exc.field,
            f"{exc.problem} (leases committed by overlapping runs while this one waited; what it bought "
            f"was given back{': ' + problems if problems else ''})",
            exc.fix,
        ) from exc

    def _finish(self, context: Any, record: PurchaseRecord, outcome: PurchaseOutcome) -> dict[str, Any]:
        record = replace(record, outcome=outcome)
        location = self._save(context, record)
        summary = {
            "outcome": str(outcome),
            "on_demand_fallback": outcome is PurchaseOutcome.ON_DEMAND_FALLBACK,
            "commitment": record.commitment,
            "original": record.original,
            "state_location": location,
        }
        context["ti"].xcom_push(key="summary", value=summary)
        return summary

    def on_kill(self) -> None:
        """A killed purchase gives back what it took so far (the teardown would too, but may not run)."""
        if not self._record_key:
            return
        key, run_id = self._record_key
        doc = self.store.get_latest(*key, run_id=run_id)
        if doc:
            progress = self.release_blocking(
                PurchaseRecord.from_json(doc), self.release_timeout.total_seconds()
            )
            for error in progress.errors:
                self.log.error("Release after kill incomplete: %s", error)


class FlexSlotReleaseOperator(_ReservationTask):
    """Teardown of FlexSlotPurchaseOperator: restore exactly what the purchase of this run recorded.

    This docstring is where the release's semantics are written; README and DAG docs link here.

    In order: ends this run's lease and writes the capacity the remaining leases call for (the
    original value returns with the last lease; a rate-limited baseline decrease, 429, is retried,
    never skipped), deletes exactly the commitment the purchase created, and creates again an
    assignment the fallback removed. Idempotent; runs whether the work succeeded or failed. Every
    step is tried even when another failed (the commitment is deleted even if the reservation was
    deleted or cannot be restored); then the task fails listing what failed (also stored as
    ``slot_release`` in the RunStateStore). Wire it with ``on_failure_fail_dagrun=True`` so that a
    failed release fails the DAG run; since that makes the release the DAG's leaf instead of the
    work, add a leaf after both so that a failed work still fails the run.

    A FLEX commitment refuses deletion during its minimum term; the release waits it out, up to
    ``release_timeout`` (past it, the task fails saying the commitment still bills). With
    ``deferrable`` (default: ``[operators] default_deferrable``) that wait runs in the triggerer
    (CommitmentDeletedTrigger, deadline fixed when the task defers); the steps done before the
    deferral are recorded and not repeated on resume.
    """

    template_fields: Sequence[str] = ("purchase_task_id",)

    def __init__(
        self, *, purchase_task_id: str, release_timeout: timedelta = timedelta(minutes=10), **kwargs: Any
    ) -> None:
        """Assign the purchase task id and the wait limit for the commitment's deletion."""
        super().__init__(**kwargs)
        self.purchase_task_id = purchase_task_id
        self.release_timeout = release_timeout

    def execute(self, context: Any) -> dict[str, Any]:
        """Give back what the purchase of this run recorded."""
        record = self._record(context)
        if record is None:
            self.log.info("Nothing to release: %s recorded no purchase for this run", self.purchase_task_id)
            return {"released": False}
        return self._release(context, record, ReleaseProgress())

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after CommitmentDeletedTrigger: record how the deletion ended, then do the rest."""
        ended = CommitmentEvent.from_json(event)
        record = self._record(context)
        if record is None:
            raise AirflowException(f"The record of {self.purchase_task_id} disappeared during the release")
        progress = ReleaseProgress.from_json(self._saved_progress(context))
        if ended.state.phase is CommitmentPhase.DELETED:
            self.log.info("Capacity commitment %s %s", ended.state.name, ended.state.message)
            error = None
        else:
            why = ended.message if ended.end is WaitEnd.ERROR else ended.state.message or ended.message
            error = _still_billed(ended.state.name, self.release_timeout.total_seconds(), why)
            self.log.error("%s", error)
        progress = replace(
            progress, commitment_deleted=True, errors=(*progress.errors, *filter(None, [error]))
        )
        return self._release(context, record, progress)

    def _record(self, context: Any) -> PurchaseRecord | None:
        key = _purchase_key(context, self.purchase_task_id)
        doc = self.store.get_latest(*key, run_id=context["run_id"])
        return PurchaseRecord.from_json(doc) if doc else None

    def _release_key(self, context: Any) -> StateKey:
        return (context["ti"].dag_id, self.task_id, context.get("logical_date"), RELEASE_STATE_NAME)

    def _saved_progress(self, context: Any) -> dict[str, Any]:
        doc = self.store.get_latest(*self._release_key(context), run_id=context["run_id"]) or {}
        return doc if doc.get("run_id") == context["run_id"] else {}

    def _save(self, context: Any, record: PurchaseRecord, progress: ReleaseProgress) -> str:
        doc = record.to_json() | progress.to_json() | {"released": not progress.errors}
        return self.store.put(
            doc, *self._release_key(context), try_number=context["ti"].try_number, run_id=context["run_id"]
        )

    def _release(self, context: Any, record: PurchaseRecord, progress: ReleaseProgress) -> dict[str, Any]:
        plan = release_plan(record, progress)
        if plan.end_lease:
            error = self.end_lease(record.request, plan.end_lease, plan.restore_baseline)
            progress = replace(progress, lease_ended=True, errors=(*progress.errors, *filter(None, [error])))
        if plan.delete_commitment:
            progress = self._delete(context, record, progress, plan.delete_commitment)
        if plan.restore_assignment:
            error = self.restore_assignment(record.request, plan.restore_assignment)
            progress = replace(
                progress, assignment_restored=True, errors=(*progress.errors, *filter(None, [error]))
            )
        location = self._save(context, record, progress)
        if progress.errors:
            raise AirflowException(
                "Slot release incomplete: "
                + "; ".join(progress.errors)
                + f". Check the reservation and commitments by hand (record: {location})"
            )
        return {"released": True, "commitment": record.commitment, "original": record.original}

    def _delete(
        self, context: Any, record: PurchaseRecord, progress: ReleaseProgress, name: str
    ) -> ReleaseProgress:
        """Delete the commitment now, or wait out its minimum term (deferring if asked)."""
        error = None
        try:
            deleted = self.hook.delete_commitment(name)
            self.log.info("Capacity commitment %s %s", name, "deleted" if deleted else "is already gone")
        except ResourceConflictError as exc:
            if self.deferrable:
                self.log.info(
                    "Commitment %s cannot be deleted yet (%s): waiting in the triggerer", name, exc.message
                )
                self._save(context, record, progress)  # the steps done so far are not repeated on resume
                self.defer(
                    trigger=CommitmentDeletedTrigger(
                        **self.commitment_trigger_kwargs(name, self.release_timeout)
                    ),
                    method_name="execute_complete",
                    timeout=self.release_timeout + _DEFER_MARGIN,
                )
            try:
                self.delete_when_allowed(name, self.release_timeout.total_seconds())
            except Exception as wait_exc:
                error = str(wait_exc)
        except Exception as exc:
            self.log.error("Could not delete capacity commitment %s: %s", name, exc)
            error = f"deleting capacity commitment {name} failed: {exc}"
        return replace(progress, commitment_deleted=True, errors=(*progress.errors, *filter(None, [error])))
