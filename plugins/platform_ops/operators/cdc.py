"""CdcBeforeAfterOperator: the before and after image of every key changed in the run's window."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from platform_ops.core.cdc import (
    BAD_ROW_REASONS,
    CdcSpec,
    Dialect,
    build_bad_rows_sql,
    build_sql,
    check_snapshot_schema,
    check_source_schema,
    check_window,
    ident,
    job_labels,
    parse_mode,
    query_params,
    replace_window_sql,
    run_digest,
    snapshot_misalignment,
    staged_table,
    step_job_id,
    table_configs,
    table_name,
)
from platform_ops.core.params import parse_bool, parse_int
from platform_ops.exceptions import ConfigError, PlatformOpsError
from platform_ops.state import RunStateStore
from platform_ops.task_failures import fail_fast_on_permanent_errors

__all__ = ["ENGINES", "WATERMARKS", "CdcBeforeAfterOperator", "table_configs"]

WATERMARKS = "cdc-watermarks"
# Per run of a task whose window is unfinished: the attempt whose BigQuery job ids its next try uses
# (see CdcBeforeAfterOperator._job_attempt); removed when the window succeeds.
JOB_ATTEMPTS = "cdc-job-attempts"
# The step whose job every attempt submits first: the one probed for an attempt's jobs.
FIRST_STEP = "bad_rows"
ENGINES = ("bigquery", "duckdb")


class CdcBeforeAfterOperator(BaseOperator):
    """Write the before/after image of each key changed in [data_interval_start, data_interval_end).

    The window is the DAG run's data interval on the insert-time column, never the wall clock, so
    a run is idempotent and backfillable. The after image is the highest version in the window
    (NULL for a delete); the before image is the state just before the key's first change in the
    window: from the log within ``lookback``, else from the snapshot of the day before the window
    (``<snapshot_table_prefix><suffix>``, the day taken in ``snapshot_timezone``), else NULL with
    ``before_source`` ``none`` (an insert) or ``missing``. Each output row: the key columns, ``op``
    (c/u/d), ``before``, ``after``, ``version_before``, ``version_after``, ``change_count``,
    ``before_source``, ``window_start``, ``window_end``. The SQL and the fine print of these
    semantics: :mod:`platform_ops.core.cdc`.

    The window's rows in ``destination_table`` are replaced in one transaction, so re-running a
    window leaves the destination as it was. More than ``max_missing_before`` missing before images
    fails the task and writes nothing.

    Before anything runs, the source's column types are checked (every named column present, the
    version integer-typed, the change type a string, the insert time a TIMESTAMP) and so is the
    snapshot's (key and tracked columns present): a mismatch fails without retries, naming the
    field. Bad rows (a NULL key column, a NULL version, a change type that is not exactly I, U or
    D: lowercase counts as unknown) are left out of the result in both modes and both engines,
    counted per reason in the summary (``bad_rows``) and logged; more than ``max_bad_rows`` of them
    in the window fail the task without retries and write nothing. When the window does not start
    at midnight in ``snapshot_timezone`` (the DAG's windows are days of another zone), the day
    before's snapshot is not the state at the window's start: the task fails naming
    ``snapshot_timezone``, or with ``strict_snapshot_timezone=False`` only logs a warning.

    The last processed window per destination is kept in the RunStateStore; a gap since the
    previous window is logged.

    ``mode="events"`` writes one row per change in the window instead, each with its own before
    and after image and ``changed_at`` (no ``change_count``).

    ``engine="bigquery"`` (google-cloud-bigquery through the Google provider's hook and
    ``gcp_conn_id``): one query job computes the window into a staging table beside the destination
    (named after the run, dag_id, run_id, task_id and map index, so two runs of one window never
    share one and a retry replaces its own; it expires after a day should the run die), the checks
    read that small result, then one MERGE replaces the window's rows of the destination (created
    day-partitioned on ``window_start`` and clustered on the key). Every job carries labels (dag,
    task, destination) and a job id fixed per run, step and attempt: a retry after a worker crash
    reattaches to the crashed try's jobs (waits for a running one, reads a finished one's result)
    instead of paying for them again; a try that ended (in success or failure) moves the next one
    to fresh ids, so a cleared or retried task recomputes (the run's attempt counter is kept in the
    RunStateStore only until its window succeeds). A kill of the task (``on_kill``) cancels the job
    it is waiting on. ``dry_run=True`` only plans the query and logs the bytes it would process.
    The snapshot is read as ``<snapshot_table_prefix>*`` with ``_TABLE_SUFFIX``.
    ``engine="duckdb"`` runs the same semantics on a local DuckDB file
    (``duckdb_path``, default env PLATFORM_OPS_CDC_DUCKDB_PATH or ``$AIRFLOW_HOME/cdc.duckdb``) in
    one transaction.

    Args:
        source_table: The change log (``dataset.table`` or ``project.dataset.table``).
        primary_key: The key column(s).
        destination_table: Where the window's images go.
        columns: The tracked columns; ``"*"`` for every column but the key and change-tracking ones.
        type_column: The change type column (I/U/D).
        version_column: The change version column (integer-typed).
        inserted_at_column: When the row landed (a TIMESTAMP): the window is on it.
        snapshot_table_prefix: The daily snapshot tables' name before the day suffix; None: no snapshot.
        snapshot_suffix_format: The day suffix's strftime format.
        snapshot_timezone: The zone whose days the snapshots are.
        lookback: How far before the window the log is read for before images.
        mode: ``net`` (one row per changed key) or ``events`` (one row per change).
        engine: ``bigquery`` or ``duckdb``.
        gcp_conn_id: The Google Cloud connection (BigQuery engine).
        location: The BigQuery location of the jobs.
        duckdb_path: The DuckDB file (DuckDB engine).
        max_missing_before: How many missing before images are tolerated.
        max_bad_rows: How many bad rows in the window are tolerated (left out).
        strict_snapshot_timezone: Fail (True) or warn (False) when the window does not start at
            midnight in ``snapshot_timezone``.
        dry_run: Only plan the query; write nothing.
        state_root: The RunStateStore root (None: the configured one).
        state_conn_id: The RunStateStore connection (None: the configured one).
        **kwargs: BaseOperator arguments.
    """

    template_fields: Sequence[str] = (
        "source_table",
        "destination_table",
        "snapshot_timezone",
        "duckdb_path",
        "mode",
        "max_missing_before",
        "max_bad_rows",
        "strict_snapshot_timezone",
        "is_dry_run",
    )
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
        max_bad_rows: int = 0,
        strict_snapshot_timezone: bool = True,
        dry_run: bool = False,
        state_root: str | None = None,
        state_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Keep the arguments; nothing is checked or connected before :meth:`execute`."""
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
        self.max_bad_rows = max_bad_rows
        self.strict_snapshot_timezone = strict_snapshot_timezone
        self.is_dry_run = dry_run  # BaseOperator.dry_run() is a method: keep the flag apart
        self.state_root = state_root
        self.state_conn_id = state_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        """Replace the window's rows of ``destination_table``; returns the run's summary."""
        with fail_fast_on_permanent_errors():
            start, end = self._window(context)
            dry_run = self._check_inputs()
            self._check_snapshot_timezone(start)
            self.log.info(
                "Window [%s, %s) of %s -> %s (%s mode, %s)",
                start,
                end,
                self.source_table,
                self.destination_table,
                self.mode,
                self.engine,
            )
            if self.engine == "bigquery":
                summary = self._run_bigquery(context, start, end, dry_run)
            else:
                summary = self._run_duckdb(start, end, dry_run)
            if not dry_run:
                self._watermark(start, end)
        self.log.info("CDC summary: %s", summary)
        return summary

    def on_kill(self) -> None:
        """Cancel the BigQuery job the task is waiting on (a DuckDB query ends with the process)."""
        hook = self.__dict__.get("_bigquery_hook")
        job_id = hook.running_job_id if hook is not None else None
        if hook is None or job_id is None:
            return
        try:
            hook.cancel_query(job_id)
        except PlatformOpsError as exc:  # a kill goes on: the job times out or ends on its own
            self.log.warning("Could not cancel BigQuery job %s: %s", job_id, exc)

    # -- checks -------------------------------------------------------------------------------------
    @staticmethod
    def _window(context: Mapping[str, Any]) -> tuple[datetime, datetime]:
        """The run's data interval, which must be a non-empty window."""
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None or end <= start:
            raise ConfigError(
                "schedule",
                f"the run's data interval [{start}, {end}) is empty",
                "schedule the DAG with an interval timetable (CronDataIntervalTimetable) so runs "
                "have a window",
            )
        check_window(start, end)
        return start, end

    def _check_inputs(self) -> bool:
        """Check every argument before any connection is made; returns the dry-run flag."""
        if self.engine not in ENGINES:
            raise ConfigError(
                "engine", f"{self.engine!r} is not an engine", f"use one of {', '.join(ENGINES)}"
            )
        parse_mode(self.mode)
        table_name("destination_table", self.destination_table)
        for name in ("max_missing_before", "max_bad_rows"):
            value = parse_int(name, getattr(self, name))
            if value < 0:
                raise ConfigError(name, f"{value} is negative", "pass 0 or more")
            setattr(self, name, value)
        self.strict_snapshot_timezone = parse_bool("strict_snapshot_timezone", self.strict_snapshot_timezone)
        return parse_bool("dry_run", self.is_dry_run)

    def _check_snapshot_timezone(self, start: datetime) -> None:
        """Fail (or warn, when not strict) unless the window starts at midnight in ``snapshot_timezone``.

        Only then is the day-before snapshot the state at the window's start.
        """
        if not self.snapshot_table_prefix:
            return
        problem = snapshot_misalignment(self.snapshot_timezone, start)
        if problem is None:
            return
        if self.strict_snapshot_timezone:
            raise ConfigError(
                "snapshot_timezone",
                problem,
                "set snapshot_timezone to the zone of the DAG's timetable (the zone whose days the "
                "snapshots are), or pass strict_snapshot_timezone=False to accept it",
            )
        self.log.warning(
            "snapshot_timezone: %s; the log's lookback must cover the gap (strict_snapshot_timezone is off)",
            problem,
        )

    # -- shared steps -------------------------------------------------------------------------------
    def _columns(self, schema: Mapping[str, str]) -> tuple[str, ...]:
        """The tracked columns: ``columns``, or every column but the key and change-tracking ones."""
        if self.columns == "*":
            skip = {*self.primary_key, self.type_column, self.version_column, self.inserted_at_column}
            return tuple(c for c in schema if c not in skip)
        return (self.columns,) if isinstance(self.columns, str) else tuple(self.columns)

    def _spec(self, schema: Mapping[str, str] | None, dialect: Dialect) -> CdcSpec:
        """The checked spec of a source of ``schema`` (column -> type; None: it does not exist)."""
        if schema is None:
            raise ConfigError(
                "source_table",
                f"{self.source_table!r} does not exist",
                "check the table name (and, on BigQuery, the connection's project)",
            )
        spec = CdcSpec(
            source_table=self.source_table,
            primary_key=tuple(self.primary_key),
            columns=self._columns(schema),
            type_column=self.type_column,
            version_column=self.version_column,
            inserted_at_column=self.inserted_at_column,
            snapshot_table_prefix=self.snapshot_table_prefix,
            snapshot_suffix_format=self.snapshot_suffix_format,
            snapshot_timezone=self.snapshot_timezone,
            lookback=self.lookback,
        )
        check_source_schema(spec, schema, dialect)
        return spec

    def _snapshot(self, spec: CdcSpec, params: Mapping[str, Any], schema_of: Any) -> str | None:
        """The day's snapshot table if it exists and has the key and tracked columns, else None.

        ``schema_of(name)`` gives a table's schema, None when it does not exist.
        """
        if not spec.snapshot_table_prefix:
            return None
        candidate = f"{spec.snapshot_table_prefix}{params['snapshot_suffix']}"
        schema = schema_of(candidate)
        if schema is not None:
            check_snapshot_schema(spec, candidate, schema)
            return candidate
        self.log.warning("Snapshot %s does not exist: before images come from the log only", candidate)
        return None

    def _missing(self, counts: Mapping[str, int]) -> int:
        """Count the missing before images; raises above ``max_missing_before``."""
        missing = sum(n for k, n in counts.items() if k.endswith(":missing"))
        if missing > int(self.max_missing_before):
            raise AirflowException(
                f"{missing} change(s) have no before image (not in the log's lookback nor in the "
                f"snapshot), above max_missing_before={self.max_missing_before}; nothing was written. "
                "Load the missing snapshot, widen lookback, or raise max_missing_before"
            )
        if missing:
            self.log.warning("%d change(s) have no before image (before_source=missing)", missing)
        return missing

    def _bad_rows(self, found: Mapping[str, Any]) -> dict[str, int]:
        """Log the window's bad-row counts and return them; raises (no retries) above ``max_bad_rows``."""
        counts = {k: int(found[k]) for k in (*BAD_ROW_REASONS, "total")}
        total = counts["total"]
        detail = (
            f"{counts['null_key']} with a NULL key column, {counts['null_version']} with a NULL "
            f"version, {counts['unknown_change_type']} whose change type is not exactly I, U or D"
        )
        if total > int(self.max_bad_rows):
            raise AirflowFailException(
                f"{total} bad row(s) in the window of {self.source_table} ({detail}), above "
                f"max_bad_rows={self.max_bad_rows}; nothing was written. Correct the rows in the "
                "source and clear the task, or raise max_bad_rows to leave them out"
            )
        if total:
            self.log.warning("%d bad row(s) left out of the result (%s)", total, detail)
        else:
            self.log.info("No bad rows in the window")
        return counts

    def _summary(
        self, start: datetime, end: datetime, counts: Mapping[str, int], **extra: Any
    ) -> dict[str, Any]:
        return {
            "destination": self.destination_table,
            "mode": str(self.mode),
            "engine": self.engine,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "rows": sum(counts.values()),
            "by_op_and_before_source": dict(counts),
            **extra,
        }

    def _store(self) -> RunStateStore:
        return RunStateStore(self.state_root, self.state_conn_id)

    # -- BigQuery -----------------------------------------------------------------------------------
    def _run_bigquery(self, context: Any, start: datetime, end: datetime, dry_run: bool) -> dict[str, Any]:
        from platform_ops.hooks.cdc import CdcBigQueryHook

        hook = CdcBigQueryHook(gcp_conn_id=self.gcp_conn_id, location=self.location)
        self._bigquery_hook = hook  # for on_kill
        spec = self._spec(hook.schema(self.source_table), Dialect.BIGQUERY)
        params = query_params(spec, start, end)
        snapshot = self._snapshot(spec, params, hook.schema)
        if snapshot is None:
            spec = dataclasses.replace(spec, snapshot_table_prefix=None)
            params.pop("snapshot_suffix")
        sql = build_sql(spec, Dialect.BIGQUERY, self.mode)
        ti = context["ti"]
        labels = job_labels(
            platform_ops="cdc_before_after",
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            destination=self.destination_table,
        )
        if dry_run:
            job = hook.run_query(sql, params, labels, dry_run=True)
            self.log.info(
                "Dry run: the query would process %s bytes; nothing written", job.total_bytes_processed
            )
            return {"dry_run": True, "bytes_processed": job.total_bytes_processed, "snapshot": snapshot}
        run = (ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        with self._job_attempt(hook, run) as attempt:
            counts, extra = self._bigquery_steps(hook, spec, sql, params, labels, run, attempt)
        return self._summary(start, end, counts, snapshot=snapshot, **extra)

    @contextmanager
    def _job_attempt(self, hook: Any, run: tuple[Any, ...]) -> Iterator[int]:
        """The attempt number of this try's job ids (see :func:`~platform_ops.core.cdc.step_job_id`).

        The run's counter (a JOB_ATTEMPTS document) exists only while its window is unfinished: a
        try writes it when it starts, moves it to the next attempt when it fails and removes it
        when the window succeeds. A try that finds it uses its attempt: after a worker died, the
        same one (it reattaches to the dead try's jobs); after a failure, the next (fresh job
        ids). A try that finds none (the first, or one after a success: a cleared task) takes the
        first attempt whose first job BigQuery does not know, so it recomputes.
        """
        store, key = self._store(), run_digest(*run)
        doc = store.get_shared(JOB_ATTEMPTS, key)
        stored = doc.get("attempt") if isinstance(doc, dict) else None
        if isinstance(stored, int) and not isinstance(stored, bool) and stored >= 0:
            attempt = stored
        else:
            attempt = self._unused_attempt(hook, run)
            store.put_shared(JOB_ATTEMPTS, key, {"attempt": attempt})
        try:
            yield attempt
        except BaseException:
            store.put_shared(JOB_ATTEMPTS, key, {"attempt": attempt + 1})
            raise
        store.delete_shared(JOB_ATTEMPTS, key)

    def _unused_attempt(self, hook: Any, run: tuple[Any, ...]) -> int:
        """The first attempt whose first step's job BigQuery does not know (every step runs after it)."""
        attempt = 0
        while hook.job_exists(step_job_id(FIRST_STEP, attempt, *run)):
            attempt += 1
        if attempt:
            self.log.info(
                "This run's jobs of attempts 0 to %d exist (a try that ended): attempt %d gets fresh ids",
                attempt - 1,
                attempt,
            )
        return attempt

    def _bigquery_steps(
        self,
        hook: Any,
        spec: CdcSpec,
        sql: str,
        params: Mapping[str, Any],
        labels: Mapping[str, str],
        run: tuple[Any, ...],
        attempt: int,
    ) -> tuple[dict[str, int], dict[str, Any]]:
        """Check the bad rows, compute into the staging table, check it, MERGE it; one job each."""

        def job_id(step: str) -> str:
            return step_job_id(step, attempt, *run)

        window = {"window_start": params["window_start"], "window_end": params["window_end"]}
        bad_sql = build_bad_rows_sql(spec, Dialect.BIGQUERY)
        [bad] = hook.run_query(bad_sql, window, labels, job_id=job_id(FIRST_STEP)).result()
        bad_rows = self._bad_rows(dict(bad.items()))
        # This run's own table: another run of the window (other params) computes into another.
        staged = staged_table(self.destination_table, *run)
        create = (
            f"CREATE OR REPLACE TABLE `{staged}`\n"
            "OPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)) AS\n"
        )
        job = hook.run_query(create + sql, params, labels, job_id=job_id("compute"))
        self.log.info(
            "Window computed into %s (job %s, %s bytes)", staged, job.job_id, job.total_bytes_processed
        )
        try:
            count_sql = (
                f"SELECT CONCAT(op, ':', before_source) AS k, COUNT(*) AS n FROM `{staged}` GROUP BY k"
            )
            rows = hook.run_query(count_sql, {}, labels, job_id=job_id("count")).result()
            counts = {str(r["k"]): int(r["n"]) for r in rows}
            missing = self._missing(counts)
            columns = hook.create_like(self.destination_table, staged, "window_start", spec.primary_key)
            merge = replace_window_sql(self.destination_table, staged, columns)
            job = hook.run_query(merge, window, labels, job_id=job_id("merge"))
            self.log.info(
                "%s: window replaced (%s rows affected)", self.destination_table, job.num_dml_affected_rows
            )
        finally:
            hook.drop(staged)
        return counts, {"missing_before": missing, "bad_rows": bad_rows, "staged": staged}

    # -- DuckDB -------------------------------------------------------------------------------------
    def _run_duckdb(self, start: datetime, end: datetime, dry_run: bool) -> dict[str, Any]:
        from platform_ops.hooks.cdc_duckdb import CdcDuckDBHook

        with CdcDuckDBHook(self.duckdb_path) as hook:
            spec = self._spec(hook.schema(self.source_table), Dialect.DUCKDB)
            params = query_params(spec, start, end)
            snapshot = self._snapshot(spec, params, hook.schema)
            params.pop("snapshot_suffix")
            sql = build_sql(spec, Dialect.DUCKDB, self.mode, snapshot_table=snapshot)
            if dry_run:
                self.log.info("Dry run: nothing written. Plan:\n%s", "\n".join(hook.plan(sql, params)))
                return {"dry_run": True, "bytes_processed": None, "snapshot": snapshot}
            dest = ".".join(f'"{ident("destination_table", p)}"' for p in self.destination_table.split("."))
            window = {"window_start": start, "window_end": end}
            bad_rows = self._bad_rows(hook.one_row(build_bad_rows_sql(spec, Dialect.DUCKDB), window))
            counts, missing = hook.replace_window(dest, sql, params, self._missing)
        return self._summary(start, end, counts, missing_before=missing, bad_rows=bad_rows, snapshot=snapshot)

    def _watermark(self, start: datetime, end: datetime) -> None:
        store = self._store()
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
