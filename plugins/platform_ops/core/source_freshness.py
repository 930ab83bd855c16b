"""The source-freshness gate of a dbt build: which sources to check, the command, what it found.

Before the build, ``dbt source freshness`` checks the sources upstream of the request's selection
that have a freshness policy (``warn_after`` / ``error_after``) in the project. The operator
argument ``source_freshness`` (:class:`FreshnessPolicy`) says what a stale source does: ``warn``
builds and reports it, ``error`` fails the task before any model is built.

dbt writes the pass/warn/error of each checked source to ``sources.json`` but leaves a source whose
query failed (a missing table, a bad ``loaded_at_field``) out of it; that ``runtime error`` and its
message are read from dbt's JSON log (:func:`freshness_results`). A checked source with neither is
a ``runtime error`` too: nothing says it is fresh.

The document persisted next to the date's run_results (name :data:`FRESHNESS_STATE_NAME`, same
``dag_id/task_id/<logical date>/`` folder of the RunStateStore), one version per try::

    {"format": 1,
     "request": {...},        # the request's identity (as in dbt_run_results)
     "policy": "warn" | "error",
     "checked_at": iso time,
     "results": [{"unique_id", "status", "max_loaded_at", "snapshotted_at", "age_seconds",
                  "warn_after", "error_after", "message"}],   # every checked source
     "sources": {...}}        # dbt's sources.json (its metadata.env left out)

Pure functions over dbt's manifest.json, sources.json and JSON log lines.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from platform_ops.core.dbt import DbtRequest, parse_enum, run_args

FRESHNESS_STATE_NAME = "dbt_source_freshness"
FRESHNESS_STATE_FORMAT = 1
#: statuses of a checked source: dbt's three, and a query that failed
PASS, WARN, STALE, RUNTIME_ERROR = "pass", "warn", "error", "runtime error"
_STATUSES = frozenset({PASS, WARN, STALE, RUNTIME_ERROR})


class FreshnessPolicy(StrEnum):
    """What the operator argument ``source_freshness`` makes of the sources upstream of the selection."""

    OFF = "off"  # no check
    WARN = "warn"  # check, report what is not fresh, build anyway
    ERROR = "error"  # check; a stale source fails the task before anything is built


def parse_policy(value: Any) -> FreshnessPolicy:
    """The ``source_freshness`` argument; None means ``off``."""
    if value is None:
        return FreshnessPolicy.OFF
    policy: FreshnessPolicy = parse_enum("source_freshness", value, FreshnessPolicy)
    return policy


# -- what to check -----------------------------------------------------------------------------


def has_freshness_policy(source: Mapping[str, Any]) -> bool:
    """Whether a source node of the manifest has a ``warn_after`` or ``error_after`` to check."""
    freshness = source.get("freshness") or (source.get("config") or {}).get("freshness") or {}
    for key in ("warn_after", "error_after"):
        after = freshness.get(key) or {}
        if after.get("count") and after.get("period"):
            return True
    return False


def upstream_sources(manifest: Mapping[str, Any], selected: Iterable[str]) -> list[str]:
    """The sources with a freshness policy that the selected nodes read, directly or through parents.

    ``selected``: the unique ids the request selects (``dbt ls``); a selected source counts too.
    """
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {}), **manifest.get("functions", {})}
    sources = manifest.get("sources", {})
    found: set[str] = set()
    seen: set[str] = set()
    todo = list(selected)
    while todo:
        uid = todo.pop()
        if uid in seen:
            continue
        seen.add(uid)
        if uid in sources:
            found.add(uid)
            continue
        node = nodes.get(uid) or {}
        todo.extend((node.get("depends_on") or {}).get("nodes") or [])
    return sorted(uid for uid in found if has_freshness_policy(sources[uid]))


def source_selector(manifest: Mapping[str, Any], unique_id: str) -> str:
    """The dbt selector of one source: ``source:<package>.<source>.<table>``."""
    node = manifest["sources"][unique_id]
    return f"source:{node['package_name']}.{node['source_name']}.{node['name']}"


def freshness_argv(
    dbt_executable: str,
    request: DbtRequest,
    selectors: Sequence[str],
    target_path: str,
    log_path: str,
) -> list[str]:
    """`dbt source freshness` of the given sources, with the request's target, vars and threads.

    sources.json goes to ``target_path``, dbt's JSON log (the runtime errors) to ``log_path``; the
    task log gets dbt's usual text output.
    """
    if not selectors:
        raise ValueError("a freshness check needs at least one source")
    return [
        dbt_executable,
        "--no-use-colors",
        "--log-format-file",
        "json",
        "--log-level-file",
        "info",
        "source",
        "freshness",
        *run_args(request, target_path, log_path),
        "--select",
        *selectors,
    ]


# -- what it found -----------------------------------------------------------------------------


def _log_errors(log_lines: Iterable[str]) -> dict[str, str]:
    """The error message dbt logged per source, from the JSON log of :func:`freshness_argv`."""
    errors: dict[str, str] = {}
    for line in log_lines:
        try:
            event = json.loads(line)
            if event["info"].get("level") != "error":
                continue
            data = event["data"]
            uid = (data.get("node_info") or {}).get("unique_id")
            msg = data.get("msg")
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if isinstance(uid, str) and uid.startswith("source.") and isinstance(msg, str) and msg.strip():
            errors.setdefault(uid, msg.strip())
    return errors


def _after(criteria: Mapping[str, Any], key: str) -> str | None:
    after = criteria.get(key) or {}
    if after.get("count") and after.get("period"):
        return f"{after['count']} {after['period']}(s)"
    return None


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"


def _checked_message(status: str, loaded: Any, age: Any, warn: str | None, error: str | None) -> str:
    policy = ", ".join(
        p for p in (f"warn after {warn}" if warn else "", f"error after {error}" if error else "") if p
    )
    seen = f"last loaded {loaded}" + (f" ({_age(float(age))} ago)" if isinstance(age, int | float) else "")
    verdict = {PASS: "fresh", WARN: "late", STALE: "stale"}.get(status, status)
    return f"{verdict}: {seen}; {policy or 'no policy'}"


def freshness_results(
    sources_json: Mapping[str, Any] | None, log_lines: Iterable[str], checked: Sequence[str]
) -> list[dict[str, Any]]:
    """One result per checked source: dbt's verdict from sources.json, else its runtime error.

    A checked source that sources.json does not list is a ``runtime error``, with dbt's message
    from the JSON log when it logged one.
    """
    listed: dict[str, Mapping[str, Any]] = {}
    for r in (sources_json or {}).get("results") or []:
        if isinstance(r, Mapping) and isinstance(r.get("unique_id"), str):
            listed[r["unique_id"]] = r
    errors = _log_errors(log_lines)
    out: list[dict[str, Any]] = []
    for uid in checked:
        r = listed.get(uid)
        status = r.get("status") if r is not None else None
        if r is None or status not in _STATUSES or status == RUNTIME_ERROR:
            message = errors.get(uid) or (r or {}).get("error") or "dbt reported no freshness result"
            out.append(
                {
                    "unique_id": uid,
                    "status": RUNTIME_ERROR,
                    "max_loaded_at": None,
                    "snapshotted_at": None,
                    "age_seconds": None,
                    "warn_after": None,
                    "error_after": None,
                    "message": f"could not check: {message}",
                }
            )
            continue
        criteria = r.get("criteria") or {}
        warn, error = _after(criteria, "warn_after"), _after(criteria, "error_after")
        age = r.get("max_loaded_at_time_ago_in_s")
        out.append(
            {
                "unique_id": uid,
                "status": status,
                "max_loaded_at": r.get("max_loaded_at"),
                "snapshotted_at": r.get("snapshotted_at"),
                "age_seconds": age if isinstance(age, int | float) else None,
                "warn_after": warn,
                "error_after": error,
                "message": _checked_message(str(status), r.get("max_loaded_at"), age, warn, error),
            }
        )
    return out


def counts(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many checked sources ended in each status."""
    return dict(sorted(Counter(str(r.get("status")) for r in results).items()))


def reported(policy: FreshnessPolicy, results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The checked sources that become warnings of the invocation (the summary, ``on_warning_callback``).

    ``warn``: every source that is not fresh, whatever dbt called it (the build goes on);
    ``error``: the late ones (``warn``); stale sources fail the task, unchecked ones are retried.
    """
    shown = {WARN} if policy is FreshnessPolicy.ERROR else {WARN, STALE, RUNTIME_ERROR}
    return [
        {"unique_id": r["unique_id"], "status": r["status"], "message": r["message"]}
        for r in results
        if r.get("status") in shown
    ]


def _listing(results: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(f"  - {r['unique_id']} [{r['status']}]: {r['message']}" for r in results)


def stale_error(results: Sequence[Mapping[str, Any]]) -> str | None:
    """The task's failure message under ``error`` when a source is stale (past error_after), else None.

    Retrying cannot help until the source is loaded: the task fails without retries.
    """
    stale = [r for r in results if r.get("status") == STALE]
    if not stale:
        return None
    return (
        f"source freshness: {len(stale)} source(s) past their error_after, nothing was built:\n"
        f"{_listing(stale)}\n"
        "Fix: load the source(s), then clear the task or re-run the date; or pass "
        "source_freshness=warn to build on stale data"
    )


def unchecked_error(results: Sequence[Mapping[str, Any]]) -> str | None:
    """The failure message under ``error`` when a source could not be checked, else None.

    The query may have met a passing problem (the warehouse), so Airflow's retries apply.
    """
    unchecked = [r for r in results if r.get("status") == RUNTIME_ERROR]
    if not unchecked:
        return None
    return (
        f"source freshness: {len(unchecked)} source(s) could not be checked, nothing was built:\n"
        f"{_listing(unchecked)}\n"
        "Fix: make the source's table and loaded_at_field readable; or pass source_freshness=warn"
    )


def freshness_state_doc(
    request: DbtRequest,
    policy: FreshnessPolicy,
    results: list[dict[str, Any]],
    sources_json: Mapping[str, Any] | None,
    checked_at: str,
) -> dict[str, Any]:
    """The document persisted next to the date's run_results (see the module docstring)."""
    sources = dict(sources_json or {})
    if isinstance(sources.get("metadata"), Mapping):
        sources["metadata"] = {k: v for k, v in sources["metadata"].items() if k != "env"}
    return {
        "format": FRESHNESS_STATE_FORMAT,
        "request": request.identity,
        "policy": policy.value,
        "checked_at": checked_at,
        "results": results,
        "sources": sources,
    }
