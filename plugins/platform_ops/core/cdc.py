"""Before and after images per changed key from a SQL Server change-tracking log (net mode).

The log (landed in BigQuery, or a DuckDB table locally) has one row per change: the primary key,
the tracked columns, ``changetrack_type`` (I/U/D), ``changetrack_ver`` (the change version) and
``bigquery_insert_time`` (when the row landed). Change tracking records no before image, so it is
rebuilt here.

Semantics, for the window W = [window_start, window_end) on the insert-time column:

* the log is deduplicated on (key, version), keeping the latest insert time (a re-delivery);
* changed keys are the keys with at least one row in W;
* after image: the row with the highest version in W; NULL when that row is a delete;
* before image: the key's state just before its first change in W: the highest-version row below
  that version landed within ``lookback`` before W (NULL if it is a delete); else the key's row in
  the snapshot of the day before W (in ``snapshot_timezone``); else NULL;
* ``before_source``: log | snapshot | none (the first change in W is an insert and nothing came
  before) | missing (an update or delete whose previous state was found nowhere);
* ``op``: d when after is NULL, c when before is NULL, else u; ``change_count``: rows in W.

Version order decides, never arrival order. The SQL reads the log once (window functions over one
scan) and joins the snapshot only for keys whose before image the log cannot give. Identifiers are
validated; the window bounds are bound as query parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platform_ops.exceptions import ConfigError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
_TABLE_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,1023}$")
_SUFFIX_FORMAT = re.compile(r"^(%[Ymdy]|[0-9_\-])+$")


class Dialect(StrEnum):
    BIGQUERY = "bigquery"
    DUCKDB = "duckdb"


def ident(field_name: str, value: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value):
        raise ConfigError(field_name, f"{value!r} is not a plain column name", "use letters, digits and _")
    return value


def table_name(field_name: str, value: str) -> str:
    parts = value.split(".") if isinstance(value, str) else []
    if not 1 <= len(parts) <= 3 or not all(_TABLE_PART.match(p) for p in parts) or "-" in "".join(parts[1:]):
        raise ConfigError(
            field_name,
            f"{value!r} is not a table name",
            "pass dataset.table or project.dataset.table (letters, digits, _; - only in the project)",
        )
    return value


@dataclass(frozen=True)
class CdcSpec:
    source_table: str
    primary_key: tuple[str, ...]
    columns: tuple[str, ...]
    type_column: str = "changetrack_type"
    version_column: str = "changetrack_ver"
    inserted_at_column: str = "bigquery_insert_time"
    snapshot_table_prefix: str | None = None
    snapshot_suffix_format: str = "%y%m%d"
    snapshot_timezone: str = "Asia/Tokyo"
    lookback: timedelta = field(default=timedelta(days=2))

    def __post_init__(self) -> None:
        table_name("source_table", self.source_table)
        if not self.primary_key:
            raise ConfigError("primary_key", "is empty", "name the key column(s)")
        if not self.columns:
            raise ConfigError("columns", "is empty", "name the tracked columns")
        for name in self.primary_key:
            ident("primary_key", name)
        for name in self.columns:
            ident("columns", name)
        for fname in ("type_column", "version_column", "inserted_at_column"):
            ident(fname, getattr(self, fname))
        names = [
            *self.primary_key,
            *self.columns,
            self.type_column,
            self.version_column,
            self.inserted_at_column,
        ]
        if len(set(names)) != len(names):
            raise ConfigError("columns", "repeat a key or change-tracking column", "list each column once")
        if self.snapshot_table_prefix is not None:
            table_name("snapshot_table_prefix", self.snapshot_table_prefix)
        if not _SUFFIX_FORMAT.match(self.snapshot_suffix_format):
            raise ConfigError(
                "snapshot_suffix_format",
                f"{self.snapshot_suffix_format!r} is not a date format",
                "e.g. %y%m%d",
            )
        try:
            ZoneInfo(self.snapshot_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                "snapshot_timezone", f"{self.snapshot_timezone!r} is not a time zone", "e.g. Asia/Tokyo"
            ) from None
        if self.lookback < timedelta(0):
            raise ConfigError("lookback", "is negative", "pass e.g. timedelta(days=2)")

    def snapshot_day(self, window_start: datetime) -> date:
        """The day whose snapshot holds the state before W: the day before W starts, locally."""
        return window_start.astimezone(ZoneInfo(self.snapshot_timezone)).date() - timedelta(days=1)

    def snapshot_suffix(self, window_start: datetime) -> str:
        return self.snapshot_day(window_start).strftime(self.snapshot_suffix_format)


def check_window(window_start: datetime, window_end: datetime) -> None:
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ConfigError("window", "bounds are naive datetimes", "pass timezone-aware data interval bounds")
    if window_end <= window_start:
        raise ConfigError(
            "window",
            f"[{window_start}, {window_end}) is empty",
            "schedule the DAG with an interval timetable (CronDataIntervalTimetable) so runs have a window",
        )


def _q(dialect: Dialect, table: str) -> str:
    return f"`{table}`" if dialect is Dialect.BIGQUERY else ".".join(f'"{p}"' for p in table.split("."))


def _struct(dialect: Dialect, cols: Sequence[str], prefix: str = "") -> str:
    if dialect is Dialect.BIGQUERY:
        return "STRUCT(" + ", ".join(f"{prefix}{c} AS {c}" for c in cols) + ")"
    return "struct_pack(" + ", ".join(f"{c} := {prefix}{c}" for c in cols) + ")"


def _pick(dialect: Dialect, expr: str, cond: str) -> str:
    """The value of ``expr`` on the one row of the group where ``cond`` holds (NULL if none)."""
    if dialect is Dialect.BIGQUERY:
        return f"ARRAY_AGG(IF({cond}, {expr}, NULL) IGNORE NULLS LIMIT 1)[SAFE_OFFSET(0)]"
    return f"first({expr}) FILTER (WHERE {cond})"


def _param(dialect: Dialect, name: str) -> str:
    return f"@{name}" if dialect is Dialect.BIGQUERY else f"${name}"


def build_net_sql(spec: CdcSpec, dialect: Dialect, snapshot_table: str | None = None) -> str:
    """The net-mode query (parameters window_start, window_end, lookback_start; snapshot_suffix on BQ).

    ``snapshot_table`` (DuckDB) is the day's snapshot table itself; on BigQuery the snapshot is
    ``<snapshot_table_prefix>*`` filtered on ``_TABLE_SUFFIX``. Without either, no snapshot is read.
    """
    d = dialect
    pk = list(spec.primary_key)
    cols = list(spec.columns)
    pk_list = ", ".join(pk)
    t, v, at = spec.type_column, spec.version_column, spec.inserted_at_column
    in_w = f"{at} >= {_param(d, 'window_start')}"
    log = (
        f"SELECT {pk_list}, {', '.join(cols)}, {t} AS _op, {v} AS _v, {in_w} AS _in_w\n"
        f"  FROM {_q(d, spec.source_table)}\n"
        f"  WHERE {at} >= {_param(d, 'lookback_start')} AND {at} < {_param(d, 'window_end')}\n"
        f"  QUALIFY ROW_NUMBER() OVER (PARTITION BY {pk_list}, {v} ORDER BY {at} DESC) = 1"
    )
    first_v = f"MIN(CASE WHEN _in_w THEN _v END) OVER (PARTITION BY {pk_list})"
    last_v = f"MAX(CASE WHEN _in_w THEN _v END) OVER (PARTITION BY {pk_list})"
    count_w = f"COUNT(CASE WHEN _in_w THEN 1 END) OVER (PARTITION BY {pk_list})"
    image = _struct(d, cols)
    per_key = (
        f"SELECT *, MAX(CASE WHEN _v < _first_v THEN _v END) OVER (PARTITION BY {pk_list}) AS _prev_v\n"
        f"  FROM (SELECT *, {first_v} AS _first_v, {last_v} AS _last_v, {count_w} AS _changes\n"
        f"        FROM log) AS w\n"
        f"  WHERE _changes > 0"
    )
    prev_alive, last_alive = "_v = _prev_v AND _op <> 'D'", "_v = _last_v AND _op <> 'D'"
    keyed = (
        f"SELECT {pk_list},\n"
        f"    MAX(_prev_v) AS version_before,\n"
        f"    MAX(_last_v) AS version_after,\n"
        f"    MAX(_changes) AS change_count,\n"
        f"    {_pick(d, '_op', '_v = _first_v')} AS first_op,\n"
        f"    {_pick(d, '_op', '_v = _prev_v')} AS prev_op,\n"
        f"    {_pick(d, image, prev_alive)} AS log_before,\n"
        f"    {_pick(d, image, last_alive)} AS after\n"
        f"  FROM per_key\n"
        f"  GROUP BY {pk_list}"
    )
    needs = "k.version_before IS NULL AND k.first_op IN ('U', 'D')"
    join_on = " AND ".join(f"s.{c} = k.{c}" for c in pk)
    snap_struct = _struct(d, cols, "s.")
    found = f"s.{pk[0]} IS NOT NULL"
    if d is Dialect.BIGQUERY and spec.snapshot_table_prefix:
        snap_from = (
            f"LEFT JOIN (SELECT * FROM `{spec.snapshot_table_prefix}*` "
            f"WHERE _TABLE_SUFFIX = {_param(d, 'snapshot_suffix')}) AS s\n  ON {needs} AND {join_on}"
        )
    elif d is Dialect.DUCKDB and snapshot_table:
        snap = _q(d, table_name("snapshot_table", snapshot_table))
        snap_from = f"LEFT JOIN {snap} AS s\n  ON {needs} AND {join_on}"
    else:
        snap_from, found = "", "FALSE"
    snapshot_case = f" WHEN {found} THEN {snap_struct}" if snap_from else ""
    before = f"CASE WHEN k.version_before IS NOT NULL THEN k.log_before{snapshot_case} END"
    source = (
        "CASE WHEN k.version_before IS NOT NULL THEN 'log'"
        f" WHEN {found} THEN 'snapshot' WHEN k.first_op = 'I' THEN 'none' ELSE 'missing' END"
    )
    return (
        f"WITH log AS (\n  {log}\n),\nper_key AS (\n  {per_key}\n),\nkeyed AS (\n  {keyed}\n),\n"
        f"joined AS (\n  SELECT k.*, {before} AS before, {source} AS before_source\n"
        f"  FROM keyed AS k\n  {snap_from}\n)\n"
        f"SELECT {', '.join(f'{c}' for c in pk)},\n"
        "  CASE WHEN after IS NULL THEN 'd' WHEN before IS NULL THEN 'c' ELSE 'u' END AS op,\n"
        "  before, after, version_before, version_after, change_count, before_source,\n"
        f"  {_param(d, 'window_start')} AS window_start, {_param(d, 'window_end')} AS window_end\n"
        f"FROM joined\nORDER BY {pk_list}"
    )


def query_params(spec: CdcSpec, window_start: datetime, window_end: datetime) -> dict[str, Any]:
    check_window(window_start, window_end)
    return {
        "window_start": window_start,
        "window_end": window_end,
        "lookback_start": window_start - spec.lookback,
        "snapshot_suffix": spec.snapshot_suffix(window_start),
    }


# -- the reference model -------------------------------------------------------------------------


def reference_net(
    spec: CdcSpec,
    log_rows: Iterable[Mapping[str, Any]],
    snapshot_rows: Iterable[Mapping[str, Any]] | None,
    window_start: datetime,
    window_end: datetime,
) -> list[dict[str, Any]]:
    """The semantics above in plain Python: what the SQL must return, row for row."""
    check_window(window_start, window_end)
    pk, cols = spec.primary_key, spec.columns
    t, v, at = spec.type_column, spec.version_column, spec.inserted_at_column
    lookback_start = window_start - spec.lookback
    latest: dict[tuple, Mapping[str, Any]] = {}
    for row in log_rows:
        if not lookback_start <= row[at] < window_end:
            continue
        k = (tuple(row[c] for c in pk), row[v])
        if k not in latest or row[at] > latest[k][at]:
            latest[k] = row
    by_key: dict[tuple, list[Mapping[str, Any]]] = {}
    for (key, _), row in latest.items():
        by_key.setdefault(key, []).append(row)
    snapshot = {tuple(r[c] for c in pk): r for r in (snapshot_rows or [])}
    out = []
    for key in sorted(by_key):
        rows = sorted(by_key[key], key=lambda r: r[v])
        in_w = [r for r in rows if r[at] >= window_start]
        if not in_w:
            continue
        first, last = in_w[0], in_w[-1]
        prev = [r for r in rows if r[v] < first[v]]
        image = lambda r: {c: r[c] for c in cols}  # noqa: E731
        if prev:
            before = None if prev[-1][t] == "D" else image(prev[-1])
            source, version_before = "log", prev[-1][v]
        elif first[t] in ("U", "D") and key in snapshot:
            before, source, version_before = image(snapshot[key]), "snapshot", None
        else:
            before, version_before = None, None
            source = "none" if first[t] == "I" else "missing"
        after = None if last[t] == "D" else image(last)
        op = "d" if after is None else ("c" if before is None else "u")
        out.append(
            {
                **dict(zip(pk, key, strict=True)),
                "op": op,
                "before": before,
                "after": after,
                "version_before": version_before,
                "version_after": last[v],
                "change_count": len(in_w),
                "before_source": source,
            }
        )
    return out


def table_configs(
    config: Mapping[str, Any], wanted: Iterable[str], lookback: timedelta, mode: str
) -> list[dict[str, Any]]:
    """Operator kwargs per configured table (``{"tables": [{"name": ..., ...}]}``), filtered by name."""
    tables = list(config.get("tables") or [])
    names = [t.get("name") for t in tables]
    wanted = set(wanted)
    unknown = wanted - set(names)
    if unknown:
        raise ConfigError("tables", f"unknown table(s) {sorted(unknown)}", f"choose among {names}")
    return [
        {k: v for k, v in t.items() if k != "name"} | {"lookback": lookback, "mode": mode}
        for t in tables
        if not wanted or t.get("name") in wanted
    ]
