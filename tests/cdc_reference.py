"""The CDC semantics in plain Python: the oracle the SQL of ``platform_ops.core.cdc`` is tested against.

What each query must return, row for row (net and events mode), and what the bad-row count must
count; the semantics themselves are written in ``platform_ops.core.cdc`` and the operator's docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from platform_ops.core.cdc import BAD_ROW_REASONS, CHANGE_TYPES, CdcMode, CdcSpec, check_window


def _reference_log(
    spec: CdcSpec, log_rows: Iterable[Mapping[str, Any]], window_start: datetime, window_end: datetime
) -> dict[tuple, list[Mapping[str, Any]]]:
    """Log rows in lookback + window, deduplicated on (key, version), per key in version order."""
    check_window(window_start, window_end)
    pk, v, at = spec.primary_key, spec.version_column, spec.inserted_at_column
    lookback_start = window_start - spec.lookback
    latest: dict[tuple, Mapping[str, Any]] = {}
    for row in log_rows:
        if row[at] is None or not lookback_start <= row[at] < window_end or _faults_of(spec, row):
            continue
        k = (tuple(row[c] for c in pk), row[v])
        if k not in latest or row[at] > latest[k][at]:
            latest[k] = row
    by_key: dict[tuple, list[Mapping[str, Any]]] = {}
    for (key, _), row in latest.items():
        by_key.setdefault(key, []).append(row)
    return {key: sorted(rows, key=lambda r: r[v]) for key, rows in sorted(by_key.items())}


def _faults_of(spec: CdcSpec, row: Mapping[str, Any]) -> list[str]:
    """The bad-row reasons of one log row (empty for a good row)."""
    faults = []
    if any(row[c] is None for c in spec.primary_key):
        faults.append("null_key")
    if row[spec.version_column] is None:
        faults.append("null_version")
    if row[spec.type_column] not in CHANGE_TYPES:
        faults.append("unknown_change_type")
    return faults


def reference_bad_rows(
    spec: CdcSpec, log_rows: Iterable[Mapping[str, Any]], window_start: datetime, window_end: datetime
) -> dict[str, int]:
    """What :func:`build_bad_rows_sql` must count: per reason, and each bad row once in ``total``."""
    check_window(window_start, window_end)
    at = spec.inserted_at_column
    counts = dict.fromkeys((*BAD_ROW_REASONS, "total"), 0)
    for row in log_rows:
        if row[at] is None or not window_start <= row[at] < window_end:
            continue
        faults = _faults_of(spec, row)
        for reason in faults:
            counts[reason] += 1
        counts["total"] += bool(faults)
    return counts


def _reference_before(
    spec: CdcSpec, prev: Mapping[str, Any] | None, change: Mapping[str, Any], snapshot_row: Mapping | None
) -> tuple[dict[str, Any] | None, str, Any]:
    """(before image, before_source, version_before) of ``change`` given the version before it."""
    t = spec.type_column
    if prev is not None:
        return (None if prev[t] == "D" else _image(spec, prev)), "log", prev[spec.version_column]
    if change[t] in ("U", "D") and snapshot_row is not None:
        return _image(spec, snapshot_row), "snapshot", None
    return None, ("none" if change[t] == "I" else "missing"), None


def _image(spec: CdcSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    return {c: row[c] for c in spec.columns}


def reference_net(
    spec: CdcSpec,
    log_rows: Iterable[Mapping[str, Any]],
    snapshot_rows: Iterable[Mapping[str, Any]] | None,
    window_start: datetime,
    window_end: datetime,
) -> list[dict[str, Any]]:
    """The net-mode semantics in plain Python: what the SQL must return, row for row."""
    pk, t, v, at = spec.primary_key, spec.type_column, spec.version_column, spec.inserted_at_column
    snapshot = {tuple(r[c] for c in pk): r for r in (snapshot_rows or [])}
    out = []
    for key, rows in _reference_log(spec, log_rows, window_start, window_end).items():
        in_w = [r for r in rows if r[at] >= window_start]
        if not in_w:
            continue
        first, last = in_w[0], in_w[-1]
        prev = [r for r in rows if r[v] < first[v]]
        before, source, version_before = _reference_before(
            spec, prev[-1] if prev else None, first, snapshot.get(key)
        )
        after = None if last[t] == "D" else _image(spec, last)
        out.append(
            {
                **dict(zip(pk, key, strict=True)),
                "op": "d" if after is None else ("c" if before is None else "u"),
                "before": before,
                "after": after,
                "version_before": version_before,
                "version_after": last[v],
                "change_count": len(in_w),
                "before_source": source,
            }
        )
    return out


def reference_events(
    spec: CdcSpec,
    log_rows: Iterable[Mapping[str, Any]],
    snapshot_rows: Iterable[Mapping[str, Any]] | None,
    window_start: datetime,
    window_end: datetime,
) -> list[dict[str, Any]]:
    """The events-mode semantics in plain Python: one row per change in the window."""
    pk, t, v, at = spec.primary_key, spec.type_column, spec.version_column, spec.inserted_at_column
    snapshot = {tuple(r[c] for c in pk): r for r in (snapshot_rows or [])}
    out = []
    for key, rows in _reference_log(spec, log_rows, window_start, window_end).items():
        for i, row in enumerate(rows):
            if row[at] < window_start:
                continue
            before, source, version_before = _reference_before(
                spec, rows[i - 1] if i else None, row, snapshot.get(key)
            )
            out.append(
                {
                    **dict(zip(pk, key, strict=True)),
                    "op": {"I": "c", "U": "u"}.get(row[t], "d"),
                    "before": before,
                    "after": None if row[t] == "D" else _image(spec, row),
                    "version_before": version_before,
                    "version_after": row[v],
                    "before_source": source,
                    "changed_at": row[at],
                }
            )
    return out


def reference(spec: CdcSpec, mode: CdcMode | str, *args: Any) -> list[dict[str, Any]]:
    """The reference model of ``mode``: (spec, mode, log_rows, snapshot_rows, window_start, window_end)."""
    return (reference_events if CdcMode(mode) is CdcMode.EVENTS else reference_net)(spec, *args)
