"""BigQuery slot capacity for one DAG run: validation, the commitment state rule and leases.

Two strategies:

* ``flex_commitment``: buy a FLEX capacity commitment (allow-listed accounts only since BigQuery
  editions), then raise the reservation's baseline ``slot_capacity`` by the slots bought. Flex
  capacity is bought in multiples of 100 slots.
* ``edition_autoscale``: raise the reservation's ``autoscale.max_slots`` ceiling (and, if asked,
  its baseline). Editions scale in multiples of 50 slots.

Overlapping DAG runs may share a reservation. Each run holds a *lease* (its own slots); the
reservation's value is always ``original + sum(slots of the active leases)``, where ``original`` is
the value before the first active lease. So a release restores the original only when the last
lease ends, and never removes capacity another run still holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from platform_ops.exceptions import ConfigError

FLEX_INCREMENT = 100
EDITION_INCREMENT = 50
_PROJECT = re.compile(r"^[a-z][a-z0-9\-]{4,28}[a-z0-9]$")
_RESERVATION = re.compile(r"^[a-z][a-z0-9\-_]{0,63}$")
_LOCATION = re.compile(r"^[a-z]+(?:-[a-z0-9]+)*$|^(?:US|EU)$")


class Strategy(StrEnum):
    FLEX_COMMITMENT = "flex_commitment"
    EDITION_AUTOSCALE = "edition_autoscale"


class JobType(StrEnum):
    QUERY = "QUERY"
    PIPELINE = "PIPELINE"
    ML_EXTERNAL = "ML_EXTERNAL"
    BACKGROUND = "BACKGROUND"


class CommitmentStep(StrEnum):
    WAIT = "wait"  # still PENDING, keep polling
    ACTIVE = "active"  # capacity is there: raise the reservation
    FALLBACK = "fallback"  # PENDING past the activation timeout: run on demand
    FAILED = "failed"  # the API refused the commitment


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
            if not isinstance(value, str) or not pattern.match(value):
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
        if self.reservation_slot_capacity is not None and (
            self.reservation_slot_capacity < 0 or self.reservation_slot_capacity % EDITION_INCREMENT
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
        return f"projects/{self.admin_project}/locations/{self.location}"

    @property
    def reservation_name(self) -> str:
        return f"{self.parent}/reservations/{self.reservation}"

    @property
    def assignee(self) -> str:
        return f"projects/{self.assignee_project}"

    @property
    def field(self) -> str:
        """The reservation field this strategy moves."""
        return "slot_capacity" if self.strategy is Strategy.FLEX_COMMITMENT else "autoscale_max_slots"


def commitment_step(state: str, waited_s: float, timeout_s: float) -> CommitmentStep:
    """What to do with a commitment in ``state`` after waiting ``waited_s`` seconds."""
    if state == "ACTIVE":
        return CommitmentStep.ACTIVE
    if state == "FAILED":
        return CommitmentStep.FAILED
    if state in ("PENDING", "STATE_UNSPECIFIED"):
        return CommitmentStep.FALLBACK if waited_s >= timeout_s else CommitmentStep.WAIT
    raise ValueError(f"unknown commitment state {state!r}")


def target_value(original: int, leases: Iterable[Mapping[str, Any]]) -> int:
    """The reservation value the active leases call for: the original plus every lease's slots."""
    return original + sum(int(lease["slots"]) for lease in leases if lease.get("active", True))


def check_ceiling(request: SlotRequest, original: int, other_leases: Iterable[Mapping[str, Any]]) -> int:
    """The value after this run's lease; raises (naming max_slots_ceiling) if it breaks the cap."""
    value = target_value(original, [*other_leases, {"slots": request.slots}])
    if value > request.max_slots_ceiling:
        raise ConfigError(
            "max_slots_ceiling",
            f"{request.field} would reach {value} (original {original} + leases), above the cap "
            f"{request.max_slots_ceiling}",
            "raise max_slots_ceiling or buy fewer slots",
        )
    return value


def lease_original(original_now: int, other_leases: list[Mapping[str, Any]]) -> int:
    """The pre-lease value: recorded by the earliest active lease, else what the reservation holds now."""
    active = [lease for lease in other_leases if lease.get("active", True)]
    if active:
        return int(min(active, key=lambda lease: lease["acquired_at"])["original"])
    return original_now


def commitment_id(dag_id: str, run_id: str, task_id: str) -> str:
    """A commitment id derived from the run: a retried create meets ALREADY_EXISTS, never buys twice."""
    digest = hashlib.sha256(f"{dag_id}\0{run_id}\0{task_id}".encode()).hexdigest()[:40]
    return f"po-{digest}"


def lease_namespace(request: SlotRequest) -> str:
    return f"slot-leases.{request.admin_project}.{request.location}.{request.reservation}"


def lease_key(dag_id: str, run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._\-=+]", "_", f"{dag_id}.{run_id}")
