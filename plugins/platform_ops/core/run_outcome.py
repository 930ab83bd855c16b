"""What a dbt invocation's results mean beyond green or red: its warnings, and failures no retry changes.

* :func:`warned_nodes`: the nodes that ended ``warn`` (a test of severity warn that found rows),
  reported in the summary and given to ``on_warning_callback``;
* :func:`warning_context`: the Airflow context a callback gets, with astronomer-cosmos' keys
  ``test_names`` and ``test_results`` (same index, one per warning) added, so a callback written for
  cosmos' ``on_warning_callback`` works unchanged; ``dbt_warnings`` holds the full records;
* :func:`deterministic_test_failures`: the failed tests when they are the only failures. A data test
  re-run on the same data (or a unit test on the same code) gives the same result, so with
  ``retry_test_failures=False`` such a try fails without Airflow retries.

Pure functions over dbt's run_results dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from platform_ops.core.dbt import FAILED_STATUSES
from platform_ops.exceptions import ConfigError

WARN = "warn"
#: node types whose failure is a finding about data (or, for unit tests, code), not an accident
TEST_TYPES = ("test", "unit_test")
#: the status of a test that ran and found what it checks for; ``error`` is a test that could not run
TEST_FAILED = "fail"


def check_callback(value: Any) -> None:
    """Refuse an ``on_warning_callback`` that is neither None nor callable."""
    if value is not None and not callable(value):
        raise ConfigError(
            "on_warning_callback",
            f"{value!r} is a {type(value).__name__}, not a callable",
            "pass a function taking the Airflow context (def notify(context): ...), or None",
        )


def node_name(unique_id: str) -> str:
    """A node's name as dbt prints it: ``unique_stg_orders_order_id``, ``raw.orders`` for a source."""
    parts = unique_id.split(".")
    if parts[0] == "source" and len(parts) >= 4:
        return ".".join(parts[2:])
    if parts[0] == "unit_test" and len(parts) >= 4:
        return parts[3]
    return parts[2] if len(parts) >= 3 else unique_id


def warned_nodes(run_results: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The nodes that ended ``warn``, with dbt's message (``Got 3 results, configured to warn if != 0``)."""
    return [
        {"unique_id": r["unique_id"], "status": WARN, "message": str(r.get("message") or "").strip()}
        for r in (run_results or {}).get("results") or []
        if isinstance(r, Mapping) and r.get("status") == WARN and isinstance(r.get("unique_id"), str)
    ]


def warning_context(context: Mapping[str, Any], warnings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of the Airflow ``context`` with the warnings added (see the module docstring)."""
    out = dict(context)
    out["test_names"] = [node_name(str(w["unique_id"])) for w in warnings]
    out["test_results"] = [str(w.get("message") or "") for w in warnings]
    out["dbt_warnings"] = [dict(w) for w in warnings]
    return out


def deterministic_test_failures(run_results: Mapping[str, Any]) -> list[str]:
    """The failed tests when every failed node is a test that ran and failed; else an empty list.

    A model, seed or snapshot that errored, or a test that could not run (``error``: its SQL
    failed, the warehouse went away), may pass on a retry: then the list is empty. Models that
    ``dbt build`` skipped below a failed test stay skipped until the data changes, so skipped nodes
    do not count.
    """
    failed = [
        r
        for r in run_results.get("results") or []
        if isinstance(r, Mapping) and r.get("status") in FAILED_STATUSES
    ]
    tests = [
        str(r["unique_id"])
        for r in failed
        if str(r.get("unique_id", "")).split(".", 1)[0] in TEST_TYPES and r.get("status") == TEST_FAILED
    ]
    return tests if failed and len(tests) == len(failed) else []


def not_retried_note(tests: Sequence[str]) -> str:
    """Why a try whose only failures are ``tests`` is not retried, and what to do."""
    return (
        f"Not retried (retry_test_failures=False): the only failures are {len(tests)} test(s) "
        f"({', '.join(node_name(t) for t in tests)}), and a test re-run on the same data gives the "
        "same result. Fix the data or the test, then clear the task or re-run the date: it rebuilds "
        "the tested models and runs the tests again."
    )
