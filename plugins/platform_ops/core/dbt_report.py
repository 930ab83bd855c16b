"""The dbt run report of one task and logical date: one row per node, with its history across tries.

Built from what :class:`~platform_ops.operators.dbt.DbtRunOrRetryOperator` stores in the
RunStateStore (document :data:`~platform_ops.core.dbt.STATE_NAME`): the latest document holds the
merged run_results of the date (every node's latest result) and the invocations since the last
full run; each try also stored its own version of the document, whose last invocation is the one
that try made and whose results hold what that invocation's nodes ended in. Merging the versions
gives each node's history (which try ran it, in which step, and what it ended in), even across
full runs that started the latest document afresh.

Pure functions over the stored dicts: the report never trusts their shape, a node or an
invocation that is not what the operator writes is left out, never an error of the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from platform_ops.core.dbt import FAILED_STATUSES, load_state
from platform_ops.core.state_keys import validate_segment
from platform_ops.exceptions import ConfigError

#: the node statuses of dbt-core 1.12 (NodeStatus, RunStatus and TestStatus values)
DBT_STATUSES = (
    "success",
    "pass",
    "warn",
    "error",
    "fail",
    "runtime error",
    "skipped",
    "partial success",
    "no-op",
)
#: statuses that are not a problem: their message (``OK``, ``SELECT 5``) is not shown as one
GREEN_STATUSES = frozenset({"success", "pass", "no-op"})
#: the URL path of the report page, relative to the Airflow UI's base URL
REPORT_PREFIX = "platform-ops"
REPORT_PATH = "dbt-report"


@dataclass(frozen=True)
class Version:
    """One stored version of the document: the try that wrote it and its copy (a re-created run)."""

    try_number: int
    copy: int
    doc: Any


@dataclass(frozen=True)
class Invocation:
    """One dbt invocation as the operator recorded it; ``seq`` numbers the date's invocations from 1."""

    try_number: int | None
    mode: str
    started_at: str | None
    finished_at: str | None
    counts: dict[str, int]
    executed: tuple[str, ...]
    seq: int = 0

    @property
    def label(self) -> str:
        """``#3 retry, try 2``: the invocation's place in the date's history, its step and try.

        A run of the date that was deleted and created again starts at try 1 again: the number
        tells its invocations from the earlier run's.
        """
        tried = f", try {self.try_number}" if self.try_number is not None else ""
        return f"#{self.seq} {self.mode}{tried}"


@dataclass(frozen=True)
class Attempt:
    """What one invocation did to one node."""

    invocation: Invocation
    copy: int
    status: str
    execution_time: float | None
    message: str


@dataclass(frozen=True)
class NodeRow:
    """One node of the date's latest results, with every attempt the stored versions show."""

    unique_id: str
    resource_type: str
    status: str
    execution_time: float | None
    thread_id: str
    message: str
    started_at: datetime | None
    completed_at: datetime | None
    history: tuple[Attempt, ...] = ()

    @property
    def name(self) -> str:
        """The node's name: the unique id without its type and package (``stg_orders``)."""
        parts = self.unique_id.split(".", 2)
        return parts[2] if len(parts) == 3 else self.unique_id

    @property
    def failed(self) -> bool:
        """Whether the node ended in error, fail or runtime error."""
        return self.status in FAILED_STATUSES

    @property
    def last_run(self) -> Attempt | None:
        """The attempt that produced the node's latest result, when the versions show it."""
        return self.history[-1] if self.history else None

    @property
    def problem(self) -> str:
        """The failure or warning message dbt gave; empty for a green node."""
        return "" if self.status in GREEN_STATUSES else self.message


@dataclass(frozen=True)
class Report:
    """The report of one date: rows in run_results order, the invocations, the counts."""

    rows: tuple[NodeRow, ...] = ()
    invocations: tuple[Invocation, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # why the stored document could not be read

    @property
    def statuses(self) -> list[str]:
        """The statuses the rows hold, in :data:`DBT_STATUSES` order, unknown ones last."""
        present = {r.status for r in self.rows}
        known = [s for s in DBT_STATUSES if s in present]
        return known + sorted(present - set(known))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_timestamp(value: Any) -> datetime | None:
    """A dbt timing timestamp (``2026-11-01T10:00:00.123456Z``) as an aware datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def node_span(result: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """(first start, last end) over a result's ``timing`` phases (compile, execute)."""
    timing = result.get("timing")
    starts: list[datetime] = []
    ends: list[datetime] = []
    for phase in timing if isinstance(timing, list) else []:
        if not isinstance(phase, Mapping):
            continue
        start, end = parse_timestamp(phase.get("started_at")), parse_timestamp(phase.get("completed_at"))
        if start is not None and end is not None and end >= start:
            starts.append(start)
            ends.append(end)
    return (min(starts), max(ends)) if starts else (None, None)


def _invocation(raw: Any) -> Invocation | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("mode"), str):
        return None
    try_number = raw.get("try_number")
    counts = raw.get("counts")
    executed = raw.get("executed")
    return Invocation(
        try_number=try_number if isinstance(try_number, int) and not isinstance(try_number, bool) else None,
        mode=raw["mode"],
        started_at=raw.get("started_at") if isinstance(raw.get("started_at"), str) else None,
        finished_at=raw.get("finished_at") if isinstance(raw.get("finished_at"), str) else None,
        counts={k: v for k, v in counts.items() if isinstance(k, str) and isinstance(v, int)}
        if isinstance(counts, Mapping)
        else {},
        executed=tuple(u for u in executed if isinstance(u, str)) if isinstance(executed, list) else (),
    )


def _results(doc: Any) -> dict[str, Mapping[str, Any]]:
    state, _ = load_state(doc)
    if state is None:
        return {}
    return {r["unique_id"]: r for r in state.results}


def merge_history(versions: Sequence[Version]) -> tuple[list[Invocation], dict[str, list[Attempt]]]:
    """Every invocation the versions recorded, oldest first, and each node's attempts.

    A version's last invocation is the one its try made; the nodes it executed ended as that
    version's results say. Versions are taken in (try, copy) order.
    """
    invocations: list[Invocation] = []
    attempts: dict[str, list[Attempt]] = {}
    for version in sorted(versions, key=lambda v: (v.try_number, v.copy)):
        state, _ = load_state(version.doc)
        if state is None or not state.invocations:
            continue
        made = _invocation(state.invocations[-1])
        if made is None:
            continue
        made = replace(
            made,
            try_number=version.try_number if made.try_number is None else made.try_number,
            seq=len(invocations) + 1,
        )
        invocations.append(made)
        results = {r["unique_id"]: r for r in state.results}
        for uid in made.executed:
            result = results.get(uid)
            if result is None:
                continue
            attempts.setdefault(uid, []).append(
                Attempt(
                    invocation=made,
                    copy=version.copy,
                    status=result["status"],
                    execution_time=_seconds(result.get("execution_time")),
                    message=_text(result.get("message")),
                )
            )
    return invocations, attempts


def build_report(latest: Any, versions: Sequence[Version] = ()) -> Report:
    """The report of the latest document, each node's history from the versions.

    Without versions (the versions folder is gone) the latest document is its own only version.
    """
    state, why = load_state(latest)
    if state is None:
        return Report(problem=why or "no dbt run results are stored")
    usable = [v for v in versions if load_state(v.doc)[0] is not None]
    if not usable:
        last = _invocation(state.invocations[-1]) if state.invocations else None
        usable = [Version(last.try_number if last and last.try_number is not None else 0, 0, latest)]
    invocations, attempts = merge_history(usable)
    rows = []
    for result in state.results:
        uid = result["unique_id"]
        start, end = node_span(result)
        node = state.nodes.get(uid)
        kind = node.get("resource_type") if isinstance(node, Mapping) else None
        rows.append(
            NodeRow(
                unique_id=uid,
                resource_type=kind if isinstance(kind, str) and kind else uid.split(".", 1)[0],
                status=result["status"],
                execution_time=_seconds(result.get("execution_time")),
                thread_id=_text(result.get("thread_id")),
                message=_text(result.get("message")),
                started_at=start,
                completed_at=end,
                history=tuple(attempts.get(uid, ())),
            )
        )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return Report(tuple(rows), tuple(invocations), counts, dict(state.request))


def parse_status_filter(values: Iterable[str], present: Iterable[str] = ()) -> frozenset[str]:
    """The statuses a page shows (empty: all), from the ``status`` query values.

    Each value is a dbt status (:data:`DBT_STATUSES`, or one the stored results hold); ``all`` or
    an empty value means no filter.
    """
    allowed = list(DBT_STATUSES) + sorted(set(present) - set(DBT_STATUSES))
    chosen: set[str] = set()
    for value in values:
        status = value.strip().lower()
        if status in ("", "all"):
            continue
        if status not in allowed:
            raise ConfigError(
                "status", f"{value!r} is not a dbt node status", f"pass one of {', '.join(allowed)} (or all)"
            )
        chosen.add(status)
    return frozenset(chosen)


def filter_rows(rows: Iterable[NodeRow], statuses: frozenset[str]) -> list[NodeRow]:
    """The rows whose status is one of ``statuses``; every row when none is given."""
    return [r for r in rows if not statuses or r.status in statuses]


def report_path(dag_id: str, task_id: str, *, run_id: str | None = None, date: str | None = None) -> str:
    """The report page of a task, relative to the Airflow UI's base URL (no leading slash).

    The UI resolves relative links against its base URL, so the page is found behind a proxy
    prefix too.
    """
    validate_segment("dag_id", dag_id)
    validate_segment("task_id", task_id)
    query = {k: v for k, v in (("run_id", run_id), ("date", date)) if v}
    path = f"{REPORT_PREFIX}/{REPORT_PATH}/{quote(dag_id, safe='')}/{quote(task_id, safe='')}"
    return f"{path}?{urlencode(query)}" if query else path
