"""BigQuery slot capacity for one DAG run: validation, the commitment state rule and leases.

Two strategies:

* ``flex_commitment``: buy a FLEX capacity commitment (allow-listed accounts only since BigQuery
  editions), then raise the reservation's baseline ``slot_capacity`` by the slots bought. Flex
  capacity is bought in multiples of 100 slots.
* ``edition_autoscale``: raise the reservation's ``autoscale.max_slots`` ceiling (and, if asked,
  its baseline). Editions scale in multiples of 50 slots.

Overlapping DAG runs may share a reservation. Each run holds a *lease* (its own slots) in one
*lease book* per reservation and field, ``{"original", "original_baseline", "leases"}``, that is
only ever changed by a compare-and-set (see ``RunStateStore.update_shared``). The reservation's
value is always ``original + sum(slots of the leases)``, where ``original`` is the value before the
first lease. So a release restores the original only when the last lease ends, and never removes
capacity another run still holds. A run that holds no lease of its own takes ``original`` from the
live value (never from what an earlier run of its date recorded), and never below it: a run never
lowers the capacity it found. The ceiling is checked against the committed book, in the same
compare-and-set that adds the lease.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from platform_ops.exceptions import ConfigError

FLEX_INCREMENT = 100
EDITION_INCREMENT = 50
LEASE_BOOK = "book"
# Whole-string patterns: checked with fullmatch (a trailing newline does not pass).
_PROJECT = re.compile(r"[a-z][a-z0-9\-]{4,28}[a-z0-9]")
_RESERVATION = re.compile(r"[a-z][a-z0-9\-_]{0,63}")
_LOCATION = re.compile(r"[a-z]+(?:-[a-z0-9]+)*|US|EU")


class Strategy(StrEnum):
    """How a purchase raises capacity."""

    FLEX_COMMITMENT = "flex_commitment"
    EDITION_AUTOSCALE = "edition_autoscale"


class JobType(StrEnum):
    """The job type of the assignee's assignment that an on-demand fallback removes."""

    QUERY = "QUERY"
    PIPELINE = "PIPELINE"
    ML_EXTERNAL = "ML_EXTERNAL"
    BACKGROUND = "BACKGROUND"


class CommitmentStep(StrEnum):
    """What a purchase does once its wait for the commitment ended."""

    ACTIVE = "active"  # capacity is there: take the lease and raise the reservation
    FALLBACK = "fallback"  # still PENDING at the deadline: delete it, run on demand
    FAILED = "failed"  # the API refused the commitment: delete it, fail
    GONE = "gone"  # deleted by someone else while the run waited: fail


@dataclass(frozen=True)
class SlotRequest:
    """What a purchase asks for; every field checked before any API call."""

    admin_project: str
    location: str
    reservation: str
    assignee_project: str
    strategy: Strategy | str
    slots: int
    max_slots_ceiling: int
    reservation_slot_capacity: int | None = None
    job_type: JobType | str = JobType.QUERY
    activation_timeout_s: float = 600.0
    on_demand_fallback: bool = True

    def __post_init__(self) -> None:
        # Accept the enums' values too (a request read back from stored JSON carries strings).
        for name, enum in (("strategy", Strategy), ("job_type", JobType)):
            try:
                object.__setattr__(self, name, enum(getattr(self, name)))
            except ValueError:
                allowed = " | ".join(e.value for e in enum)
                raise ConfigError(
                    name, f"{getattr(self, name)!r} is not one of {allowed}", f"pass {allowed}"
                ) from None
        for field, value, pattern, example in (
            ("admin_project", self.admin_project, _PROJECT, "my-admin-project"),
            ("assignee_project", self.assignee_project, _PROJECT, "my-etl-project"),
            ("reservation", self.reservation, _RESERVATION, "batch"),
            ("location", self.location, _LOCATION, "US, EU or asia-northeast1"),
        ):
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise ConfigError(
                    field, f"{value!r} is not a valid {field.replace('_', ' ')}", f"pass e.g. {example}"
                )
        step = FLEX_INCREMENT if self.strategy is Strategy.FLEX_COMMITMENT else EDITION_INCREMENT
        if (
            not isinstance(self.slots, int)
            or isinstance(self.slots, bool)
            or self.slots <= 0
            or self.slots % step
        ):
            raise ConfigError(
                "slots",
                f"{self.slots!r} is not a positive multiple of {step}",
                f"{self.strategy} buys slots in {step}s",
            )
        if self.reservation_slot_capacity is not None and self.strategy is Strategy.FLEX_COMMITMENT:
            raise ConfigError(
                "reservation_slot_capacity",
                "only applies to strategy edition_autoscale (flex_commitment raises the baseline by slots)",
                "drop reservation_slot_capacity or use strategy edition_autoscale",
            )
        if self.reservation_slot_capacity is not None and (
            isinstance(self.reservation_slot_capacity, bool)
            or not isinstance(self.reservation_slot_capacity, int)
            or self.reservation_slot_capacity < 0
            or self.reservation_slot_capacity % EDITION_INCREMENT
        ):
            raise ConfigError(
                "reservation_slot_capacity",
                f"{self.reservation_slot_capacity!r} is not a non-negative multiple of {EDITION_INCREMENT}",
                "pass the baseline to set while the work runs, e.g. 100",
            )
        if not isinstance(self.max_slots_ceiling, int) or self.max_slots_ceiling < self.slots:
            raise ConfigError(
                "max_slots_ceiling",
                f"{self.max_slots_ceiling!r} is below the {self.slots} slots asked for",
                "set the most slots this DAG may ever hold (a cost cap)",
            )
        if self.activation_timeout_s <= 0:
            raise ConfigError("activation_timeout", "must be positive", "pass e.g. timedelta(minutes=10)")

    @property
    def parent(self) -> str:
        """The admin project's location, parent of commitments and reservations."""
        return f"projects/{self.admin_project}/locations/{self.location}"

    @property
    def reservation_name(self) -> str:
        """The reservation's full resource name."""
        return f"{self.parent}/reservations/{self.reservation}"

    @property
    def assignee(self) -> str:
        """The assignee's resource name."""
        return f"projects/{self.assignee_project}"

    @property
    def field(self) -> str:
        """The reservation field this strategy moves."""
        return "slot_capacity" if self.strategy is Strategy.FLEX_COMMITMENT else "autoscale_max_slots"


def baseline_target(original: int, leases: Iterable[Mapping[str, Any]]) -> int:
    """An edition reservation's baseline while leases are active.

    The highest baseline an active lease asked for, never below the original (baselines do not add
    up: they are floors).
    """
    asked = [
        int(lease["baseline"]) for lease in leases if lease.get("active", True) and lease.get("baseline")
    ]
    return max([original, *asked])


def target_value(original: int, leases: Iterable[Mapping[str, Any]]) -> int:
    """The reservation value the active leases call for: the original plus every lease's slots."""
    return original + sum(int(lease["slots"]) for lease in leases if lease.get("active", True))


def check_ceiling(
    request: SlotRequest,
    original: int,
    other_leases: Iterable[Mapping[str, Any]],
    original_baseline: int | None = None,
) -> int:
    """The value after this run's lease; raises (naming max_slots_ceiling) if it breaks the cap.

    With an edition baseline (``original_baseline`` given) the cap bounds baseline + autoscale
    maximum, the most slots the reservation can then hold.
    """
    others = list(other_leases)
    mine = {"slots": request.slots, "baseline": request.reservation_slot_capacity}
    value = target_value(original, [*others, mine])
    total, what = value, f"{request.field} would reach {value} (original {original} + leases)"
    if original_baseline is not None:
        baseline = baseline_target(original_baseline, [*others, mine])
        total, what = (
            value + baseline,
            f"baseline {baseline} + autoscale max {value} would reach {value + baseline}",
        )
    if total > request.max_slots_ceiling:
        raise ConfigError(
            "max_slots_ceiling",
            f"{what}, above the cap {request.max_slots_ceiling}",
            "raise max_slots_ceiling or buy fewer slots",
        )
    return value


def add_lease(
    book: Mapping[str, Any] | None,
    key: str,
    lease: Mapping[str, Any],
    request: SlotRequest,
    live_value: int,
    live_baseline: int | None = None,
) -> dict[str, Any]:
    """The lease book with this run's lease added; raises (naming max_slots_ceiling) over the cap.

    ``live_value`` (``live_baseline``) is what the reservation holds now. Without leases it is the
    original. With other runs' leases the recorded original stands unless the live value shows it
    was raised meanwhile (an admin): the original never moves down, so this run never lowers the
    capacity it found. A run that already holds its lease (a retry) keeps the book as it is.
    """
    leases = {k: dict(v) for k, v in ((book or {}).get("leases") or {}).items()}
    if key in leases and book is not None:
        return {**book, "leases": leases}
    others = list(leases.values())
    recorded = (book or {}).get("original")
    if others and recorded is not None:
        original = max(int(recorded), live_value - sum(int(lease["slots"]) for lease in others))
    else:
        original = live_value
    original_baseline = None
    if live_baseline is not None:
        recorded_baseline = (book or {}).get("original_baseline")
        if others and recorded_baseline is not None:
            floor = baseline_target(int(recorded_baseline), others)
            original_baseline = live_baseline if live_baseline > floor else int(recorded_baseline)
        else:
            original_baseline = live_baseline
    check_ceiling(request, original, others, original_baseline)
    leases[key] = dict(lease)
    return {"original": original, "original_baseline": original_baseline, "leases": leases}


def remove_lease(book: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    """The lease book without ``key`` (unchanged if it holds no such lease)."""
    book = dict(book or {})
    book["leases"] = {k: v for k, v in (book.get("leases") or {}).items() if k != key}
    return book


def book_targets(book: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(value, baseline) the book calls for; None where the book has no original for it."""
    leases = list((book.get("leases") or {}).values())
    original, original_baseline = book.get("original"), book.get("original_baseline")
    value = None if original is None else target_value(int(original), leases)
    baseline = None if original_baseline is None else baseline_target(int(original_baseline), leases)
    return value, baseline


def commitment_id(dag_id: str, run_id: str, task_id: str) -> str:
    """A commitment id derived from the run: a retried create meets ALREADY_EXISTS, never buys twice."""
    digest = hashlib.sha256(f"{dag_id}\0{run_id}\0{task_id}".encode()).hexdigest()[:40]
    return f"po-{digest}"


def lease_namespace(request: SlotRequest) -> str:
    """The lease book's namespace: one per reservation and per field moved.

    A baseline and an autoscale maximum are different budgets.
    """
    suffix = "" if request.strategy is Strategy.FLEX_COMMITMENT else ".autoscale"
    return f"slot-leases.{request.admin_project}.{request.location}.{request.reservation}{suffix}"


PURCHASE_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "admin_project": str,
    "location": str,
    "reservation": str,
    "assignee_project": str,
    "strategy": str,
    "slots": int,
    "max_slots_ceiling": int,
    "reservation_slot_capacity": int,
    "job_type": str,
    "activation_timeout_seconds": (int, float),
    "on_demand_fallback": bool,
}
_SEE = "see README, FlexSlotPurchaseOperator: the block takes the purchase's arguments"
_REQUIRED_OPTIONS = (
    "admin_project",
    "location",
    "reservation",
    "assignee_project",
    "slots",
    "max_slots_ceiling",
)


def purchase_options(block: Any, where: str = "slot_capacity") -> dict[str, Any]:
    """Check a configuration block (YAML ``slot_capacity:``); return FlexSlotPurchaseOperator's arguments.

    A DAG that buys capacity thus fails at parse time on a bad block, before any call.
    """
    if not isinstance(block, Mapping):
        raise ConfigError(where, f"must be a mapping, got {type(block).__name__}", _SEE)
    unknown = sorted(set(block) - set(PURCHASE_OPTIONS))
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}", "is not a known option", f"use one of {', '.join(PURCHASE_OPTIONS)}"
        )
    for name in _REQUIRED_OPTIONS:
        if name not in block:
            raise ConfigError(f"{where}.{name}", "is missing", f"add {name} to the {where} block")
    for name, value in block.items():
        want = PURCHASE_OPTIONS[name]
        if isinstance(value, bool) is not (want is bool) or not isinstance(value, want):
            raise ConfigError(f"{where}.{name}", f"{value!r} has the wrong type", _SEE)
    options = {"strategy": Strategy.FLEX_COMMITMENT.value, **block}
    timeout = options.pop("activation_timeout_seconds", 600)
    try:
        request = SlotRequest(**options, activation_timeout_s=float(timeout))
    except ConfigError as exc:
        raise ConfigError(f"{where}.{exc.field}", exc.problem, exc.fix) from None
    kwargs = {k: v for k, v in request.__dict__.items() if k != "activation_timeout_s"}
    return kwargs | {
        "strategy": str(request.strategy),
        "job_type": str(request.job_type),
        "activation_timeout": timedelta(seconds=request.activation_timeout_s),
    }


def lease_key(dag_id: str, run_id: str) -> str:
    """One run's key in the lease book (a JSON key, not a path: the run id is kept as it is)."""
    return f"{dag_id}/{run_id}"


# -- value objects shared by the operators, the triggers and the persisted run state ----------------


class CommitmentPhase(StrEnum):
    """Where a capacity commitment is in its life, as this package tracks it."""

    PENDING = "PENDING"  # bought, capacity not there yet (the API's STATE_UNSPECIFIED too)
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"
    DELETED = "DELETED"  # no longer exists (deleted by this run or by someone else)


_API_PHASES = {
    "STATE_UNSPECIFIED": CommitmentPhase.PENDING,
    "PENDING": CommitmentPhase.PENDING,
    "ACTIVE": CommitmentPhase.ACTIVE,
    "FAILED": CommitmentPhase.FAILED,
}


@dataclass(frozen=True)
class CommitmentState:
    """One observation of a capacity commitment: its name, phase and the API's failure message."""

    name: str
    phase: CommitmentPhase
    message: str = ""

    @classmethod
    def from_api(cls, name: str, state: str, failure_message: str = "") -> CommitmentState:
        """The state of the API's ``CapacityCommitment.State`` name; ValueError on an unknown one."""
        if state not in _API_PHASES:
            raise ValueError(f"unknown commitment state {state!r}")
        return cls(name, _API_PHASES[state], failure_message)

    @classmethod
    def deleted(cls, name: str, message: str = "") -> CommitmentState:
        """A commitment that does not exist (any more)."""
        return cls(name, CommitmentPhase.DELETED, message)

    @property
    def is_terminal(self) -> bool:
        """True once waiting for activation can end: everything but PENDING."""
        return self.phase is not CommitmentPhase.PENDING

    @property
    def is_successful(self) -> bool:
        """True when the capacity is there (ACTIVE)."""
        return self.phase is CommitmentPhase.ACTIVE

    def describe(self) -> str:
        """A log line: the phase, and the API's message when it gave one."""
        return f"{self.phase}" + (f" ({self.message})" if self.message else "")

    def to_json(self) -> dict[str, str]:
        """A JSON-safe dict (trigger events, run state)."""
        return {"name": self.name, "phase": str(self.phase), "message": self.message}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CommitmentState:
        """The inverse of :meth:`to_json`; ValueError on a document it did not write."""
        try:
            return cls(str(doc["name"]), CommitmentPhase(doc["phase"]), str(doc.get("message") or ""))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a commitment state: {doc!r}") from exc


def purchase_step(state: CommitmentState) -> CommitmentStep:
    """What a purchase does with the commitment state its wait ended on (PENDING: the deadline passed)."""
    return {
        CommitmentPhase.ACTIVE: CommitmentStep.ACTIVE,
        CommitmentPhase.FAILED: CommitmentStep.FAILED,
        CommitmentPhase.DELETED: CommitmentStep.GONE,
        CommitmentPhase.PENDING: CommitmentStep.FALLBACK,
    }[state.phase]


class WaitEnd(StrEnum):
    """Why a wait on a commitment ended."""

    REACHED = "reached"  # the commitment reached what the wait was for (or a terminal phase)
    DEADLINE = "deadline"  # the deadline fixed when the wait began passed first
    ERROR = "error"  # the API refused with a permanent error (denied, invalid)


@dataclass(frozen=True)
class CommitmentEvent:
    """The one event a commitment wait fires: the last state seen and why the wait ended."""

    state: CommitmentState
    end: WaitEnd
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (a trigger event's payload)."""
        return {"state": self.state.to_json(), "end": str(self.end), "message": self.message}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CommitmentEvent:
        """The inverse of :meth:`to_json`; ValueError on a payload it did not write."""
        try:
            return cls(
                CommitmentState.from_json(doc["state"]), WaitEnd(doc["end"]), str(doc.get("message") or "")
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a commitment event: {doc!r}") from exc


@dataclass(frozen=True)
class Lease:
    """One run's share of a reservation, as kept in the lease book."""

    slots: int
    baseline: int | None
    acquired_at: str
    dag_id: str
    run_id: str

    def to_json(self) -> dict[str, Any]:
        """The lease book entry."""
        return {
            "slots": self.slots,
            "baseline": self.baseline,
            "acquired_at": self.acquired_at,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class RemovedAssignment:
    """An assignment the on-demand fallback removed, to be created again by the release."""

    assignee: str
    job_type: str

    def to_json(self) -> dict[str, str]:
        """The record's entry."""
        return {"assignee": self.assignee, "job_type": self.job_type}


class PurchaseOutcome(StrEnum):
    """How a purchase ended."""

    RESERVED = "reserved"
    ON_DEMAND_FALLBACK = "on_demand_fallback"


def _request_json(request: SlotRequest) -> dict[str, Any]:
    return request.__dict__ | {"strategy": str(request.strategy), "job_type": str(request.job_type)}


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class PurchaseRecord:
    """What a purchase took, persisted before each side effect so a release (or a retry) finds it.

    Its JSON is the ``slot_purchase`` run-state document; :meth:`from_json` reads every document
    earlier versions of the purchase wrote (same keys; keys they did not write take their default).
    """

    request: SlotRequest
    lease_key: str
    run_id: str
    original: int | None = None
    original_baseline: int | None = None
    commitment: str | None = None
    assignment_removed: RemovedAssignment | None = None
    lease_taken: bool = False
    baseline_set: bool = False
    outcome: PurchaseOutcome | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``slot_purchase`` document."""
        doc: dict[str, Any] = {
            "request": _request_json(self.request),
            "lease_key": self.lease_key,
            "run_id": self.run_id,
            "original": self.original,
            "original_baseline": self.original_baseline,
            "commitment": self.commitment,
            "lease_taken": self.lease_taken,
            "baseline_set": self.baseline_set,
        }
        if self.assignment_removed is not None:
            doc["assignment_removed"] = self.assignment_removed.to_json()
        if self.outcome is not None:
            doc["outcome"] = str(self.outcome)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PurchaseRecord:
        """Read a ``slot_purchase`` document; ValueError if it is not one."""
        try:
            removed = doc.get("assignment_removed")
            outcome = doc.get("outcome")
            return cls(
                request=SlotRequest(**doc["request"]),
                lease_key=str(doc["lease_key"]),
                run_id=str(doc["run_id"]),
                original=_optional_int(doc.get("original")),
                original_baseline=_optional_int(doc.get("original_baseline")),
                commitment=doc.get("commitment") or None,
                assignment_removed=None
                if not removed
                else RemovedAssignment(str(removed["assignee"]), str(removed["job_type"])),
                lease_taken=bool(doc.get("lease_taken")),
                baseline_set=bool(doc.get("baseline_set")),
                outcome=None if outcome is None else PurchaseOutcome(outcome),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a slot purchase record: {exc}") from exc


@dataclass(frozen=True)
class ReleaseProgress:
    """Which release steps are done, and what failed; kept across a deferred release's resume."""

    lease_ended: bool = False
    commitment_deleted: bool = False
    assignment_restored: bool = False
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The progress keys of the ``slot_release`` document."""
        return {
            "lease_ended": self.lease_ended,
            "commitment_deleted": self.commitment_deleted,
            "assignment_restored": self.assignment_restored,
            "errors": list(self.errors),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ReleaseProgress:
        """Read the progress keys of a ``slot_release`` document (missing keys: not done)."""
        return cls(
            lease_ended=bool(doc.get("lease_ended")),
            commitment_deleted=bool(doc.get("commitment_deleted")),
            assignment_restored=bool(doc.get("assignment_restored")),
            errors=tuple(str(e) for e in doc.get("errors") or ()),
        )


@dataclass(frozen=True)
class ReleasePlan:
    """The release steps still to do, in order.

    End the lease (restoring capacity), delete the commitment, create the removed assignment again.
    Every step is tried whatever an earlier one did.
    """

    end_lease: str | None
    restore_baseline: bool
    delete_commitment: str | None
    restore_assignment: RemovedAssignment | None

    @property
    def is_empty(self) -> bool:
        """True when nothing is left to do."""
        return not (self.end_lease or self.delete_commitment or self.restore_assignment)


def release_plan(record: PurchaseRecord, progress: ReleaseProgress | None = None) -> ReleasePlan:
    """What is left to give back of ``record`` once the steps in ``progress`` are done."""
    done = progress or ReleaseProgress()
    return ReleasePlan(
        end_lease=record.lease_key if record.lease_taken and not done.lease_ended else None,
        restore_baseline=record.baseline_set,
        delete_commitment=None if done.commitment_deleted else record.commitment,
        restore_assignment=None if done.assignment_restored else record.assignment_removed,
    )
