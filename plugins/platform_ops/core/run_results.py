"""What of dbt's run_results is kept and shown: no compiled SQL, and a compact table for the log.

Compiled SQL holds whatever a model rendered (``env_var()``, ``var()``, macro output), so it is
neither persisted in the state document nor written to the task log; dbt's own message of a failed
node is kept. Pure functions over the run_results dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: per-node fields dropped before a run_results document is stored or logged
DROPPED_FIELDS = frozenset({"compiled_code", "compiled_sql", "raw_code"})
MESSAGE_CHARS = 200


def without_compiled_code(run_results: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``run_results`` whose results carry no compiled (or raw) SQL."""
    out = dict(run_results)
    out["results"] = [
        {k: v for k, v in result.items() if k not in DROPPED_FIELDS}
        if isinstance(result, Mapping)
        else result
        for result in run_results.get("results") or []
    ]
    return out


def _first_line(text: Any) -> str:
    line = str(text or "").strip().splitlines()[0:1]
    short = line[0] if line else ""
    return short if len(short) <= MESSAGE_CHARS else short[: MESSAGE_CHARS - 3] + "..."


def results_table(
    run_results: Mapping[str, Any], executed: Iterable[str] | None = None, max_rows: int = 200
) -> str:
    """A table for the task log: the nodes this invocation ran, then the counts for the date.

    One line per node ran (status, seconds, node; the first line of dbt's message when it did not
    succeed), then the counts of the whole picture for the date.
    """
    ran = None if executed is None else set(executed)
    results = [r for r in run_results.get("results") or [] if isinstance(r, Mapping)]
    rows = [r for r in results if ran is None or r.get("unique_id") in ran]
    width = max((len(str(r.get("status", ""))) for r in rows), default=6)
    lines = [f"{'status':<{width}}  {'seconds':>8}  node"]
    for r in rows[:max_rows]:
        status = str(r.get("status", "unknown"))
        seconds = r.get("execution_time")
        took = f"{seconds:8.2f}" if isinstance(seconds, int | float) else f"{'-':>8}"
        line = f"{status:<{width}}  {took}  {r.get('unique_id')}"
        if status not in ("success", "pass") and r.get("message"):
            line += f"  | {_first_line(r.get('message'))}"
        lines.append(line)
    if len(rows) > max_rows:
        lines.append(f"... and {len(rows) - max_rows} more node(s)")
    counts: dict[str, int] = {}
    for r in results:
        status = str(r.get("status", "unknown"))
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    lines.append(f"{len(results)} node(s) for this date: {summary or 'none'}")
    return "\n".join(lines)
