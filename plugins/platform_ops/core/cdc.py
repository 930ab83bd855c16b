"""Before and after images from a SQL Server change-tracking log, per changed key or per change.

Net mode gives one row per changed key, events mode one row per change.

The log (landed in BigQuery, or a DuckDB table locally) has one row per change: the primary key,
the tracked columns, ``changetrack_type`` (I/U/D), ``changetrack_ver`` (the change version) and
``bigquery_insert_time`` (when the row landed). Change tracking records no before image, so it is
rebuilt here.

Semantics, for the window W = [window_start, window_end) on the insert-time column:

* bad rows are left out and counted (:func:`build_bad_rows_sql`): a
  NULL in a key column, a NULL version, or a change type that is not exactly I, U or D (a
  lowercase ``u`` is as unknown as ``X``: the source never writes one). The same rows are left out
  in both modes and on both engines; the operator fails above a threshold;
* the log is deduplicated on (key, version), keeping the latest insert time (a re-delivery);
* changed keys are the keys with at least one row in W;
* after image: the row with the highest version in W; NULL when that row is a delete;
* before image: the key's state just before its first change in W: the highest-version row below
  that version landed within ``lookback`` before W (NULL if it is a delete); else the key's row in
  the snapshot of the day before W (in ``snapshot_timezone``); else NULL;
* ``before_source``: log | snapshot | none (the first change in W is an insert and nothing came
  before) | missing (an update or delete whose previous state was found nowhere);
* ``op``: d when after is NULL, c when before is NULL, else u; ``change_count``: rows in W.

Events mode returns every change in W instead (Debezium-like): its after image (NULL for a
delete), its before image (the key's previous version, from W or the lookback, NULL after a
delete; for the key's first known change the snapshot as above), ``op`` from the change's own
type (I -> c, U -> u, D -> d), ``version_before``, ``version_after`` (its version), the same
``before_source`` values and ``changed_at`` (its insert time).

Version order decides, never arrival order, so the version column must be integer-typed (a
string version would order '9' after '10'): :func:`check_source_schema` checks the source's
column types before anything runs. The SQL reads the log once (window functions over one
scan) and joins the snapshot only for keys whose before image the log cannot give. Identifiers are
validated; the window bounds are bound as query parameters.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platform_ops.exceptions import ConfigError

# Matched with fullmatch: "$" would let a trailing newline through.
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
_TABLE_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,1023}")
_SUFFIX_FORMAT = re.compile(r"(%[Ymdy]|[0-9_\-])+")
# The change types SQL Server change tracking writes, exactly (a lowercase one is a bad row).
CHANGE_TYPES = ("I", "U", "D")
BAD_ROW_REASONS = ("null_key", "null_version", "unknown_change_type")


class Dialect(StrEnum):
    """The SQL engine a query is written for."""

    BIGQUERY = "bigquery"
    DUCKDB = "duckdb"


class CdcMode(StrEnum):
    """What a CDC query returns (the operator's ``mode``)."""

    NET = "net"  # one row per changed key: its state before W and after W
    EVENTS = "events"  # one row per change in W, with its own before and after


def parse_mode(value: Any) -> CdcMode:
    """The mode, or a ConfigError naming ``mode`` and its values."""
    try:
        return CdcMode(value)
    except ValueError:
        raise ConfigError(
            "mode", f"{value!r} is not a mode", f"use one of {', '.join(m.value for m in CdcMode)}"
        ) from None


def ident(field_name: str, value: str) -> str:
    """``value`` if it is a plain column name, else a ConfigError naming ``field_name``."""
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        raise ConfigError(field_name, f"{value!r} is not a plain column name", "use letters, digits and _")
    return value


def table_name(field_name: str, value: str) -> str:
    """``value`` if it is a table name (1 to 3 dotted parts), else a ConfigError naming ``field_name``."""
    parts = value.split(".") if isinstance(value, str) else []
    if (
        not 1 <= len(parts) <= 3
        or not all(_TABLE_PART.fullmatch(p) for p in parts)
        or "-" in "".join(parts[1:])
    ):
        raise ConfigError(
            field_name,
            f"{value!r} is not a table name",
            "pass dataset.table or project.dataset.table (letters, digits, _; - only in the project)",
        )
    return value


@dataclass(frozen=True)
class CdcSpec:
    """The source's shape and where its before images come from; checked on creation.

    Each field is the operator argument of the same name.
    """

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
        """Refuse a field that cannot work, naming it."""
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
        if not _SUFFIX_FORMAT.fullmatch(self.snapshot_suffix_format):
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
        """The table-name suffix of :meth:`snapshot_day`."""
        return self.snapshot_day(window_start).strftime(self.snapshot_suffix_format)


def check_window(window_start: datetime, window_end: datetime) -> None:
    """Refuse a window with naive bounds or nothing in it (``window_end`` not after ``window_start``)."""
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ConfigError("window_start", "a bound is a naive datetime", "pass timezone-aware bounds")
    if window_end <= window_start:
        raise ConfigError(
            "window_end", f"[{window_start}, {window_end}) is empty", "pass a window_end after window_start"
        )


def _q(dialect: Dialect, table: str) -> str:
    return f"`{table}`" if dialect is Dialect.BIGQUERY else ".".join(f'"{p}"' for p in table.split("."))


def _struct(dialect: Dialect, cols: Sequence[str], prefix: str = "") -> str:
    if dialect is Dialect.BIGQUERY:
        return "STRUCT(" + ", ".join(f"{prefix}{c} AS {c}" for c in cols) + ")"
    return "struct_pack(" + ", ".join(f"{c} := {prefix}{c}" for c in cols) + ")"


def _pick(dialect: Dialect, expr: str, cond: str) -> str:
    """The value of ``expr`` on the one row of the group where ``cond`` holds (NULL if none)."""
    if dialect is Dialect.BIGQUERY:  # BigQuery's ANY_VALUE skips NULLs; cond holds on one row at most
        return f"ANY_VALUE(IF({cond}, {expr}, NULL))"
    return f"first({expr}) FILTER (WHERE {cond})"


def _param(dialect: Dialect, name: str) -> str:
    return f"@{name}" if dialect is Dialect.BIGQUERY else f"${name}"


def _log_cte(spec: CdcSpec, d: Dialect) -> str:
    """The one scan of the log: lookback + window, deduplicated on (key, version)."""
    pk_list = ", ".join(spec.primary_key)
    t, v, at = spec.type_column, spec.version_column, spec.inserted_at_column
    return (
        f"SELECT {pk_list}, {', '.join(spec.columns)}, {t} AS _op, {v} AS _v, {at} AS _at,\n"
        f"    {at} >= {_param(d, 'window_start')} AS _in_w\n"
        f"  FROM {_q(d, spec.source_table)}\n"
        f"  WHERE {at} >= {_param(d, 'lookback_start')} AND {at} < {_param(d, 'window_end')}\n"
        f"    AND NOT ({_bad_row(spec)})\n"
        f"  QUALIFY ROW_NUMBER() OVER (PARTITION BY {pk_list}, {v} ORDER BY {at} DESC) = 1"
    )


def _faults(spec: CdcSpec) -> dict[str, str]:
    """Per bad-row reason, the SQL condition (never NULL) that a log row has that fault."""
    t = spec.type_column
    known = ", ".join(f"'{c}'" for c in CHANGE_TYPES)
    return {
        "null_key": " OR ".join(f"{c} IS NULL" for c in spec.primary_key),
        "null_version": f"{spec.version_column} IS NULL",
        "unknown_change_type": f"{t} IS NULL OR {t} NOT IN ({known})",
    }


def _bad_row(spec: CdcSpec) -> str:
    return " OR ".join(f"({cond})" for cond in _faults(spec).values())


def build_bad_rows_sql(spec: CdcSpec, dialect: Dialect) -> str:
    """The window's bad rows, counted per reason and in ``total``.

    A row may have several reasons; ``total`` counts it once. Parameters window_start,
    window_end. The queries leave these rows out; rows in the
    lookback are left out too but belong to (are counted in) their own window.
    """
    d, at = dialect, spec.inserted_at_column
    counts = [f"COUNT(CASE WHEN {cond} THEN 1 END) AS {name}" for name, cond in _faults(spec).items()]
    return (
        f"SELECT {', '.join(counts)}, COUNT(CASE WHEN {_bad_row(spec)} THEN 1 END) AS total\n"
        f"FROM {_q(d, spec.source_table)}\n"
        f"WHERE {at} >= {_param(d, 'window_start')} AND {at} < {_param(d, 'window_end')}"
    )


# Column types per engine, as DuckDB's information_schema and BigQuery's table schema spell them.
_INTEGER_TYPES = {
    Dialect.DUCKDB: {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"},
    Dialect.BIGQUERY: {"INTEGER", "INT64"},
}
_STRING_TYPES = {Dialect.DUCKDB: {"VARCHAR"}, Dialect.BIGQUERY: {"STRING"}}
_TIMESTAMP_TYPES = {Dialect.DUCKDB: {"TIMESTAMP WITH TIME ZONE"}, Dialect.BIGQUERY: {"TIMESTAMP"}}


def _present(schema: Mapping[str, str], where: str, field_name: str, names: Iterable[str]) -> None:
    for name in names:
        if name.lower() not in schema:
            raise ConfigError(
                field_name,
                f"{name!r} is not a column of {where} (it has {', '.join(sorted(schema)) or 'none'})",
                "name the columns the table has",
            )


def check_source_schema(spec: CdcSpec, schema: Mapping[str, str], dialect: Dialect) -> None:
    """Refuse a source whose columns cannot give the semantics, naming the field.

    Every named column present, the version integer-typed (a string version orders '9' after '10'), the change
    type a string, the insert time a time-zone-aware TIMESTAMP. ``schema``: column -> type name.
    """
    cols = {name.lower(): str(kind).upper() for name, kind in schema.items()}
    where = spec.source_table
    _present(cols, where, "primary_key", spec.primary_key)
    _present(cols, where, "columns", spec.columns)
    kinds = (
        ("version_column", spec.version_column, _INTEGER_TYPES, "an integer type"),
        ("type_column", spec.type_column, _STRING_TYPES, "a string type"),
        ("inserted_at_column", spec.inserted_at_column, _TIMESTAMP_TYPES, "a TIMESTAMP"),
    )
    for field_name, column, allowed, what in kinds:
        _present(cols, where, field_name, [column])
        kind = cols[column.lower()]
        if kind not in allowed[dialect]:
            raise ConfigError(
                field_name,
                f"{where}.{column} is {kind}, not {what}",
                f"land it as {' or '.join(sorted(allowed[dialect]))} (cast it in the landing table)",
            )


def check_snapshot_schema(spec: CdcSpec, table: str, schema: Mapping[str, str]) -> None:
    """Refuse a snapshot table that lacks a key or a tracked column, naming it."""
    cols = {name.lower(): kind for name, kind in schema.items()}
    _present(cols, f"the snapshot {table}", "snapshot_table_prefix", [*spec.primary_key, *spec.columns])


def snapshot_misalignment(snapshot_timezone: str, window_start: datetime) -> str | None:
    """Why the snapshot of the day before the window is not the state at its start (None: it is).

    The window must start at local midnight of ``snapshot_timezone`` (a DAG of
    Tokyo days read with a UTC snapshot zone reads the snapshot of the wrong day).
    """
    try:
        zone = ZoneInfo(snapshot_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            "snapshot_timezone", f"{snapshot_timezone!r} is not a time zone", "e.g. Asia/Tokyo"
        ) from None
    local = window_start.astimezone(zone)
    if local.time() == time(0):
        return None
    day = local.date() - timedelta(days=1)
    return (
        f"the window starts {window_start.isoformat()}, which is {local:%Y-%m-%d %H:%M} in "
        f"{snapshot_timezone}, not at midnight: the snapshot of {day} ({snapshot_timezone}) holds the "
        "state at that midnight, not at the window's start"
    )


def _snapshot_join(
    spec: CdcSpec, d: Dialect, snapshot_table: str | None, needs: str, alias: str
) -> tuple[str, str]:
    """LEFT JOIN of the day-before snapshot, only for rows where ``needs`` holds.

    Also the SQL condition "the snapshot had the key" (FALSE when there is no snapshot to read).
    """
    join_on = " AND ".join(f"s.{c} = {alias}.{c}" for c in spec.primary_key)
    if d is Dialect.BIGQUERY and spec.snapshot_table_prefix:
        source = (
            f"(SELECT * FROM `{spec.snapshot_table_prefix}*` "
            f"WHERE _TABLE_SUFFIX = {_param(d, 'snapshot_suffix')})"
        )
    elif d is Dialect.DUCKDB and snapshot_table:
        source = _q(d, table_name("snapshot_table", snapshot_table))
    else:
        return "", "FALSE"
    return f"LEFT JOIN {source} AS s\n  ON {needs} AND {join_on}", f"s.{spec.primary_key[0]} IS NOT NULL"


def build_sql(spec: CdcSpec, dialect: Dialect, mode: CdcMode | str, snapshot_table: str | None = None) -> str:
    """The query for ``mode`` (net or events); see :func:`build_net_sql` for the parameters."""
    if CdcMode(mode) is CdcMode.EVENTS:
        return build_events_sql(spec, dialect, snapshot_table)
    return build_net_sql(spec, dialect, snapshot_table)


# Both plans stay, one per engine: benchmarks/cdc.py measures one_pass 1.6-1.8x slower than
# join_back on DuckDB (1M and 5M log rows) and join_back reading the log 5 times on BigQuery (one_pass: 1).
class NetPlan(StrEnum):
    """Two formulations of net mode, same result.

    ``one_pass``: one ordered window pass per key gives every row its predecessor (LAG) and the
    key's first and last version in W; the before image is the predecessor of the first change in
    W. Reads the log once in any engine: BigQuery's plan (it re-reads a CTE per reference).
    ``join_back``: hash aggregates find each changed key's versions, then the after and before rows
    are joined back by (key, version). Faster on DuckDB, which materializes the deduplicated log
    once and joins it cheaply, but it references the log CTE three times.
    """

    ONE_PASS = "one_pass"  # noqa: S105 - an enum value, not a secret
    JOIN_BACK = "join_back"


def build_net_sql(
    spec: CdcSpec, dialect: Dialect, snapshot_table: str | None = None, plan: NetPlan | None = None
) -> str:
    """The net-mode query (parameters window_start, window_end, lookback_start; snapshot_suffix on BQ).

    ``snapshot_table`` (DuckDB) is the day's snapshot table itself; on BigQuery the snapshot is
    ``<snapshot_table_prefix>*`` filtered on ``_TABLE_SUFFIX``. Without either, no snapshot is read.
    ``plan`` defaults to one_pass on BigQuery and join_back on DuckDB (see :class:`NetPlan`).
    """
    d = dialect
    plan = NetPlan(plan or (NetPlan.ONE_PASS if d is Dialect.BIGQUERY else NetPlan.JOIN_BACK))
    cols = list(spec.columns)
    pk_list = ", ".join(spec.primary_key)
    keyed = _keyed_one_pass(spec, d) if plan is NetPlan.ONE_PASS else _keyed_join_back(spec, d)
    needs = "k.version_before IS NULL AND k.first_op IN ('U', 'D')"
    snap_from, found = _snapshot_join(spec, d, snapshot_table, needs, "k")
    snapshot_case = f" WHEN {found} THEN {_struct(d, cols, 's.')}" if snap_from else ""
    before = f"CASE WHEN k.version_before IS NOT NULL THEN k.log_before{snapshot_case} END"
    source = (
        "CASE WHEN k.version_before IS NOT NULL THEN 'log'"
        f" WHEN {found} THEN 'snapshot' WHEN k.first_op = 'I' THEN 'none' ELSE 'missing' END"
    )
    return (
        f"WITH log AS (\n  {_log_cte(spec, d)}\n),\n{keyed},\n"
        f"joined AS (\n  SELECT k.*, {before} AS before, {source} AS before_source\n"
        f"  FROM keyed AS k\n  {snap_from}\n)\n"
        f"SELECT {pk_list},\n"
        "  CASE WHEN after IS NULL THEN 'd' WHEN before IS NULL THEN 'c' ELSE 'u' END AS op,\n"
        "  before, after, version_before, version_after, change_count, before_source,\n"
        f"  {_param(d, 'window_start')} AS window_start, {_param(d, 'window_end')} AS window_end\n"
        f"FROM joined\nORDER BY {pk_list}"
    )


def _alive(d: Dialect, cols: Sequence[str], alias: str = "") -> str:
    """The tracked columns of a row as a struct, NULL when the row is a delete."""
    dot = f"{alias}." if alias else ""
    return f"CASE WHEN {dot}_op <> 'D' THEN {_struct(d, cols, dot)} END"


def _keyed_one_pass(spec: CdcSpec, d: Dialect) -> str:
    """CTEs ``lagged`` and ``keyed`` (one row per changed key) from one window pass."""
    pk_list = ", ".join(spec.primary_key)
    cols = list(spec.columns)
    ordered = f"PARTITION BY {pk_list} ORDER BY _v"
    whole = f"OVER ({ordered} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    lagged = (
        f"SELECT *, LAG(_v) OVER ({ordered}) AS _prev_v,\n"
        f"    LAG({_alive(d, cols)}) OVER ({ordered}) AS _prev_image,\n"
        f"    MIN(CASE WHEN _in_w THEN _v END) {whole} AS _first_v,\n"
        f"    MAX(CASE WHEN _in_w THEN _v END) {whole} AS _last_v\n"
        f"  FROM log"
    )
    first = "_v = _first_v"
    return (
        f"lagged AS (\n  {lagged}\n),\n"
        f"keyed AS (\n  SELECT {pk_list},\n"
        f"    {_pick(d, '_prev_v', first)} AS version_before,\n"
        f"    MAX(_last_v) AS version_after,\n"
        f"    COUNT(CASE WHEN _in_w THEN 1 END) AS change_count,\n"
        f"    {_pick(d, '_op', first)} AS first_op,\n"
        f"    {_pick(d, '_prev_image', first)} AS log_before,\n"
        f"    {_pick(d, _alive(d, cols), '_v = _last_v')} AS after\n"
        f"  FROM lagged\n"
        f"  WHERE _first_v IS NOT NULL\n"
        f"  GROUP BY {pk_list}\n)"
    )


def _keyed_join_back(spec: CdcSpec, d: Dialect) -> str:
    """CTEs ``w``, ``prev`` and ``keyed`` (one row per changed key) from aggregates and joins."""
    pk = list(spec.primary_key)
    pk_list = ", ".join(pk)
    cols = list(spec.columns)

    def on(a: str, b: str) -> str:
        return " AND ".join(f"{a}.{c} = {b}.{c}" for c in pk)

    first_op = "MIN_BY(_op, _v)" if d is Dialect.BIGQUERY else "arg_min(_op, _v)"
    w = (
        f"SELECT {pk_list}, MIN(_v) AS _first_v, MAX(_v) AS version_after, COUNT(*) AS change_count,\n"
        f"    {first_op} AS first_op\n"
        f"  FROM log WHERE _in_w GROUP BY {pk_list}"
    )
    # Versions below the first change in W all landed before W: only the lookback rows qualify.
    prev = (
        f"SELECT {', '.join(f'l.{c}' for c in pk)}, MAX(l._v) AS version_before\n"
        f"  FROM log AS l JOIN w ON {on('l', 'w')} AND l._v < w._first_v\n"
        f"  WHERE NOT l._in_w GROUP BY {', '.join(f'l.{c}' for c in pk)}"
    )
    keyed = (
        f"SELECT w.*, p.version_before,\n"
        f"    {_alive(d, cols, 'b')} AS log_before, {_alive(d, cols, 'a')} AS after\n"
        f"  FROM w JOIN log AS a ON {on('a', 'w')} AND a._v = w.version_after\n"
        f"  LEFT JOIN prev AS p ON {on('p', 'w')}\n"
        f"  LEFT JOIN log AS b ON {on('b', 'p')} AND b._v = p.version_before"
    )
    return f"w AS (\n  {w}\n),\nprev AS (\n  {prev}\n),\nkeyed AS (\n  {keyed}\n)"


def build_events_sql(spec: CdcSpec, dialect: Dialect, snapshot_table: str | None = None) -> str:
    """The events-mode query: one row per change in W, each with its own before and after image.

    Same parameters and the same single log scan as net mode. A change's before image is the
    previous version of its key (from the window or the lookback; NULL after a delete); for a key's
    first change with no earlier version, the snapshot's row; ``op`` is the change's own type
    (I -> c, U -> u, D -> d), as a Debezium change event has it.
    """
    d = dialect
    pk = list(spec.primary_key)
    cols = list(spec.columns)
    pk_list = ", ".join(pk)
    over = f"OVER (PARTITION BY {pk_list} ORDER BY _v)"
    lagged = (
        f"SELECT *, LAG(_v) {over} AS _prev_v,\n    LAG({_alive(d, cols)}) {over} AS _prev_image\n  FROM log"
    )
    needs = "e._prev_v IS NULL AND e._op IN ('U', 'D')"
    snap_from, found = _snapshot_join(spec, d, snapshot_table, needs, "e")
    snapshot_case = f" WHEN {found} THEN {_struct(d, cols, 's.')}" if snap_from else ""
    before = f"CASE WHEN e._prev_v IS NOT NULL THEN e._prev_image{snapshot_case} END"
    source = (
        "CASE WHEN e._prev_v IS NOT NULL THEN 'log'"
        f" WHEN {found} THEN 'snapshot' WHEN e._op = 'I' THEN 'none' ELSE 'missing' END"
    )
    after = _alive(d, cols, "e")
    return (
        f"WITH log AS (\n  {_log_cte(spec, d)}\n),\nlagged AS (\n  {lagged}\n)\n"
        f"SELECT {', '.join(f'e.{c}' for c in pk)},\n"
        "  CASE e._op WHEN 'I' THEN 'c' WHEN 'U' THEN 'u' ELSE 'd' END AS op,\n"
        f"  {before} AS before,\n  {after} AS after,\n"
        "  e._prev_v AS version_before, e._v AS version_after,\n"
        f"  {source} AS before_source, e._at AS changed_at,\n"
        f"  {_param(d, 'window_start')} AS window_start, {_param(d, 'window_end')} AS window_end\n"
        f"FROM lagged AS e\n  {snap_from}\n"
        f"WHERE e._in_w\nORDER BY {', '.join(f'e.{c}' for c in pk)}, e._v"
    )


def replace_window_sql(destination: str, staged: str, columns: Sequence[str]) -> str:
    """BigQuery: replace the window's rows of ``destination`` by ``staged`` in one atomic MERGE.

    Parameters window_start, window_end), so re-running a window leaves one copy of it.
    """
    cols = ", ".join(ident("columns", c) for c in columns)
    dest, stage = table_name("destination_table", destination), table_name("staged", staged)
    return (
        f"MERGE `{dest}` AS t\nUSING `{stage}` AS s\nON FALSE\n"
        "WHEN NOT MATCHED BY SOURCE AND t.window_start = @window_start AND t.window_end = @window_end\n"
        "  THEN DELETE\n"
        f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({cols})"
    )


def staged_table(destination: str, *run: object) -> str:
    """Where one run's result waits for its checks before the MERGE.

    Beside the destination, named after the run (``run``: e.g. dag_id, run_id, task_id,
    map_index; never the try, so a retry replaces its own table). Two runs of the same window
    never share one.
    """
    return f"{table_name('destination_table', destination)}__staged_{run_digest(*run)[:20]}"


_JOB_STEP = re.compile(r"[a-z][a-z0-9_]{0,39}")


def run_digest(*run: object) -> str:
    """A digest of a run's coordinates (e.g. dag_id, run_id, task_id, map_index), safe in any name.

    Unambiguous: ``("a", "bc")`` and ``("ab", "c")`` differ; any character of a run id is allowed.
    """
    key = json.dumps([str(part) for part in run])
    return hashlib.sha256(key.encode()).hexdigest()


def step_job_id(step: str, attempt: int, *run: object) -> str:
    """The BigQuery job id of one step of one run, the same every time it is asked for.

    A retry that follows a worker crash asks with the same ``attempt`` and finds the crashed try's
    job (running or done) instead of submitting another; a new ``attempt`` (after a try that ended
    normally, in success or failure) gets fresh ids. Only letters, digits and _ (BigQuery allows
    ``[A-Za-z0-9_-]``, at most 1024), whatever the run id holds: the run is hashed.
    """
    if not _JOB_STEP.fullmatch(step):
        raise ConfigError("step", f"{step!r} is not a step name", "use lowercase letters, digits and _")
    if attempt < 0:
        raise ConfigError("attempt", f"{attempt} is negative", "count attempts from 0")
    return f"platform_ops_cdc_{step}_{run_digest(*run)[:32]}_a{attempt}"


def job_labels(**values: str) -> dict[str, str]:
    """BigQuery job labels: lower-case letters, digits, _ and -, at most 63 characters each."""

    def clean(text: str) -> str:
        return re.sub(r"[^a-z0-9_\-]", "_", str(text).lower())[:63]

    return {clean(k): clean(v) for k, v in values.items()}


def query_params(spec: CdcSpec, window_start: datetime, window_end: datetime) -> dict[str, Any]:
    """The query parameters of the window (``snapshot_suffix`` is read on BigQuery only)."""
    check_window(window_start, window_end)
    return {
        "window_start": window_start,
        "window_end": window_end,
        "lookback_start": window_start - spec.lookback,
        "snapshot_suffix": spec.snapshot_suffix(window_start),
    }


def table_configs(
    config: Mapping[str, Any], wanted: Iterable[str], lookback: timedelta, mode: str
) -> list[dict[str, Any]]:
    """Operator kwargs per configured table (``{"tables": [{"name": ..., ...}]}``), filtered by name.

    Events mode writes where ``events_destination_table`` says, by default
    ``<destination_table>_events`` (its rows have another shape than net mode's).
    """
    mode = parse_mode(mode)
    tables = list(config.get("tables") or [])
    names = [t.get("name") for t in tables]
    wanted = set(wanted)
    unknown = wanted - set(names)
    if unknown:
        raise ConfigError("tables", f"unknown table(s) {sorted(unknown)}", f"choose among {names}")
    out = []
    for t in tables:
        if wanted and t.get("name") not in wanted:
            continue
        kwargs = {k: v for k, v in t.items() if k not in ("name", "events_destination_table")}
        if mode is CdcMode.EVENTS:
            default = f"{t.get('destination_table')}_events"
            kwargs["destination_table"] = t.get("events_destination_table") or default
        out.append(kwargs | {"lookback": lookback, "mode": str(mode)})
    return out
