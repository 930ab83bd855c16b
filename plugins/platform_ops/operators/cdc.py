"""CdcBeforeAfterOperator: the before and after image of every key changed in the run's window."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from platform_ops.core.cdc import (
    CdcSpec,
    Dialect,
    build_net_sql,
    check_window,
    ident,
    query_params,
    table_name,
)
from platform_ops.exceptions import ConfigError
from platform_ops.state import RunStateStore, airflow_home

WATERMARKS = "cdc-watermarks"
ENGINES = ("duckdb",)


def default_duckdb_path() -> str:
    return os.environ.get("PLATFORM_OPS_CDC_DUCKDB_PATH") or os.path.join(airflow_home(), "cdc.duckdb")


class CdcBeforeAfterOperator(BaseOperator):
    """Write the before/after image of each key changed in [data_interval_start, data_interval_end).

    Semantics (see :mod:`platform_ops.core.cdc`): the window is the DAG run's data interval on the
    insert-time column, never the wall clock, so a run is idempotent and backfillable. The after
    image is the highest version in the window (NULL for a delete); the before image is the state
    just before the key's first change in the window: from the log within ``lookback``, else from
    the snapshot of the day before the window (``<snapshot_table_prefix><suffix>``, the day taken in
    ``snapshot_timezone``), else NULL with ``before_source`` ``none`` (an insert) or ``missing``.
    Each output row: the key columns, ``op`` (c/u/d), ``before``, ``after``, ``version_before``,
    ``version_after``, ``change_count``, ``before_source``, ``window_start``, ``window_end``.

    The window's rows in ``destination_table`` are replaced in one transaction, so re-running a
    window leaves the destination as it was. More than ``max_missing_before`` missing before images
    fails the task and writes nothing. The last processed window per destination is kept in the
    RunStateStore; a gap since the previous window is logged.

    ``engine="duckdb"`` runs on a local DuckDB file (``duckdb_path``, default env
    PLATFORM_OPS_CDC_DUCKDB_PATH or ``$AIRFLOW_HOME/cdc.duckdb``). The BigQuery engine (same
    semantics, SQL from the same builder) is not available yet.
    """

    template_fields: Sequence[str] = ("source_table", "destination_table", "duckdb_path", "mode")
    ui_color = "#34a853"

    def __init__(
        self,
        *,
        source_table: str,
        primary_key: str | Sequence[str],
        destination_table: str,
        columns: str | Sequence[str] = "*",
        type_column: str = "changetrack_type",
        version_column: str = "changetrack_ver",
        inserted_at_column: str = "bigquery_insert_time",
        snapshot_table_prefix: str | None = None,
        snapshot_suffix_format: str = "%y%m%d",
        snapshot_timezone: str = "Asia/Tokyo",
        lookback: timedelta = timedelta(days=2),
        mode: str = "net",
        engine: str = "duckdb",
        gcp_conn_id: str = "google_cloud_default",
        location: str | None = None,
        duckdb_path: str | None = None,
        max_missing_before: int = 0,
        state_root: str | None = None,
        state_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_table = source_table
        self.primary_key = [primary_key] if isinstance(primary_key, str) else list(primary_key)
        self.destination_table = destination_table
        self.columns = columns
        self.type_column = type_column
        self.version_column = version_column
        self.inserted_at_column = inserted_at_column
        self.snapshot_table_prefix = snapshot_table_prefix
        self.snapshot_suffix_format = snapshot_suffix_format
        self.snapshot_timezone = snapshot_timezone
        self.lookback = lookback
        self.mode = mode
        self.engine = engine
        self.gcp_conn_id = gcp_conn_id
        self.location = location
        self.duckdb_path = duckdb_path
        self.max_missing_before = max_missing_before
        self.state_root = state_root
        self.state_conn_id = state_conn_id

    def _check_inputs(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(
                "engine", f"{self.engine!r} is not available", f"use one of {', '.join(ENGINES)}"
            )
        if self.mode != "net":
            raise ConfigError("mode", f"{self.mode!r} is not available", "use mode='net'")
        table_name("destination_table", self.destination_table)
        if not isinstance(self.max_missing_before, int) or self.max_missing_before < 0:
            raise ConfigError(
                "max_missing_before", f"{self.max_missing_before!r} is negative", "pass 0 or more"
            )

    def execute(self, context: Any) -> dict[str, Any]:
        import duckdb

        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        try:
            self._check_inputs()
            check_window(start, end)
            con = duckdb.connect(self.duckdb_path or default_duckdb_path())
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        try:
            return self._run(con, context, start, end)
        finally:
            con.close()

    def _columns(self, con: Any) -> tuple[str, ...]:
        if self.columns != "*":
            return tuple(self.columns) if not isinstance(self.columns, str) else (self.columns,)
        schema, _, table = self.source_table.rpartition(".")
        rows = con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = ? "
            "ORDER BY ordinal_position",
            [table, schema or "main"],
        ).fetchall()
        if not rows:
            raise ConfigError("source_table", f"{self.source_table!r} does not exist", "check the table name")
        skip = {*self.primary_key, self.type_column, self.version_column, self.inserted_at_column}
        return tuple(r[0] for r in rows if r[0] not in skip)

    def _run(self, con: Any, context: Any, start: Any, end: Any) -> dict[str, Any]:
        try:
            spec = CdcSpec(
                source_table=self.source_table,
                primary_key=tuple(self.primary_key),
                columns=self._columns(con),
                type_column=self.type_column,
                version_column=self.version_column,
                inserted_at_column=self.inserted_at_column,
                snapshot_table_prefix=self.snapshot_table_prefix,
                snapshot_suffix_format=self.snapshot_suffix_format,
                snapshot_timezone=self.snapshot_timezone,
                lookback=self.lookback,
            )
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        params = query_params(spec, start, end)
        snapshot = None
        if spec.snapshot_table_prefix:
            candidate = f"{spec.snapshot_table_prefix}{params['snapshot_suffix']}"
            schema, _, table = candidate.rpartition(".")
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = ?",
                [table, schema or "main"],
            ).fetchone()[0]
            if exists:
                snapshot = candidate
            else:
                self.log.warning(
                    "Snapshot %s does not exist: before images come from the log only", candidate
                )
        params.pop("snapshot_suffix")
        sql = build_net_sql(spec, Dialect.DUCKDB, snapshot_table=snapshot)
        dest = ".".join(f'"{ident("destination_table", p)}"' for p in self.destination_table.split("."))
        self.log.info("Window [%s, %s) of %s -> %s", start, end, self.source_table, self.destination_table)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE TABLE IF NOT EXISTS {dest} AS SELECT * FROM ({sql}) AS q LIMIT 0", params)
            con.execute(
                f"DELETE FROM {dest} WHERE window_start = $window_start AND window_end = $window_end",
                {"window_start": start, "window_end": end},
            )
            con.execute(f"INSERT INTO {dest} SELECT * FROM ({sql}) AS q", params)
            counts = dict(
                con.execute(
                    f"SELECT op || ':' || before_source, count(*) FROM {dest} "
                    "WHERE window_start = $window_start AND window_end = $window_end GROUP BY ALL",
                    {"window_start": start, "window_end": end},
                ).fetchall()
            )
            missing = sum(n for k, n in counts.items() if k.endswith(":missing"))
            if missing > self.max_missing_before:
                con.execute("ROLLBACK")
                raise AirflowException(
                    f"{missing} changed key(s) have no before image (not in the log's lookback nor in the "
                    f"snapshot), above max_missing_before={self.max_missing_before}; nothing was written. "
                    "Load the missing snapshot, widen lookback, or raise max_missing_before"
                )
            con.execute("COMMIT")
        except AirflowException:
            raise
        except Exception:
            con.execute("ROLLBACK")
            raise
        if missing:
            self.log.warning("%d changed key(s) have no before image (before_source=missing)", missing)
        self._watermark(start, end)
        summary = {
            "destination": self.destination_table,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "rows": sum(counts.values()),
            "by_op_and_before_source": counts,
            "missing_before": missing,
            "snapshot": snapshot,
        }
        self.log.info("CDC summary: %s", summary)
        return summary

    def _watermark(self, start: Any, end: Any) -> None:
        store = RunStateStore(self.state_root, self.state_conn_id)
        key = self.destination_table
        previous = store.get_shared(WATERMARKS, key)
        if previous and previous.get("window_end") and previous["window_end"] < start.isoformat():
            self.log.warning(
                "Gap: the previous window processed for %s ended %s, this one starts %s",
                key,
                previous["window_end"],
                start.isoformat(),
            )
        if not previous or previous.get("window_end", "") <= end.isoformat():
            store.put_shared(
                WATERMARKS, key, {"window_start": start.isoformat(), "window_end": end.isoformat()}
            )
