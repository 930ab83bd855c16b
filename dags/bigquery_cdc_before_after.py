"""
### bigquery_cdc_before_after

For each table of `include/config/cdc_tables.yaml` (one mapped task each), turns the SQL Server
change-tracking log landed in the warehouse into the **before and after image of every primary key
changed in the run's window** with **CdcBeforeAfterOperator**.

The window is the run's data interval: one Tokyo day, `[00:00, 24:00)` Asia/Tokyo, on the log's
insert-time column. Re-running or backfilling a day replaces that day's rows in the destination.
Before images come from the log (within `lookback_hours`) or from the previous day's snapshot
table; keys whose before image is nowhere are counted as `missing` and fail the task. Bad rows
(NULL key or version, a change type other than I/U/D) are left out, counted in each task's
summary, and fail the task above the table's `max_bad_rows`.

When the file has a `slot_capacity` block, the work is wrapped in a BigQuery slot purchase:
`buy_slots` (setup, FlexSlotPurchaseOperator) before it and `release_slots` (teardown,
FlexSlotReleaseOperator) after it, which gives the capacity back even when the work failed. Both
wait in the triggerer; their semantics in full: the operators' docstrings
(`plugins/platform_ops/operators/bigquery_reservation.py`).

Params: `tables` (some of the configured names, offered in the trigger form; none = all),
`lookback_hours`, `mode` (`net`: one row per changed key; `events`: one row per change, into
`<destination_table>_events` unless the table sets `events_destination_table`), `dry_run` (plan
only: nothing bought, nothing written).
Locally the engine is DuckDB (`PLATFORM_OPS_CDC_DUCKDB_PATH`) and `google_cloud_default` points at
the Reservation API fake; `make demo` and `make airflow` start the fake and generate a log.
The semantics in full: CdcBeforeAfterOperator's docstring (`plugins/platform_ops/operators/cdc.py`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

from platform_ops.config_files import load_yaml
from platform_ops.core.bigquery_reservation import purchase_options
from platform_ops.dag_defaults import CDC_POOL, default_args, dry_run_param, multi_select_param, select_param
from platform_ops.operators.bigquery_reservation import FlexSlotPurchaseOperator, FlexSlotReleaseOperator
from platform_ops.operators.cdc import CdcBeforeAfterOperator, table_configs

CONFIG = Path(__file__).resolve().parents[1] / "include" / "config" / "cdc_tables.yaml"
# Parsed here because it decides the DAG's shape (a purchase around the work or not) and the
# table names the trigger form offers; the run reads the file again.
_CONFIG = load_yaml(CONFIG)
_SLOTS = _CONFIG.get("slot_capacity")
SLOTS = None if _SLOTS is None else purchase_options(_SLOTS)
TABLE_NAMES = [
    t["name"] for t in _CONFIG.get("tables") or [] if isinstance(t, dict) and isinstance(t.get("name"), str)
]

with DAG(
    dag_id="bigquery_cdc_before_after",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="Asia/Tokyo"),
    start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Tokyo"),
    catchup=False,
    tags=["cdc", "bigquery", "local"],
    doc_md=__doc__,
    render_template_as_native_obj=True,
    default_args=default_args(retries=2),
    params={
        "tables": multi_select_param(
            [],
            TABLE_NAMES,
            title="Tables",
            description="The configured tables to process (include/config/cdc_tables.yaml); none "
            "selected (the default) = all of them",
            none_means_default=True,
        ),
        "lookback_hours": Param(
            48,
            "How far back before the window the change log is searched for each key's before "
            "image, in hours (0-336, default 48); older keys come from the previous day's snapshot",
            type="integer",
            minimum=0,
            maximum=24 * 14,
            title="Log lookback (hours)",
        ),
        "mode": select_param(
            "net",
            {
                "net": "net: one row per changed key",
                "events": "events: one row per change",
            },
            title="Output",
            description="net (the default): one before/after row per changed key; events: one row "
            "per change, written to the table's events destination (default <destination>_events)",
        ),
        "dry_run": dry_run_param(
            False,
            "Plan only: log each query's plan (bytes on BigQuery), buy no slots, write nothing. "
            "Off (the default): process the day",
        ),
    },
):

    @task
    def tables(**context) -> list[dict]:
        """The configured tables (read at run time, not at parse time), filtered by the params."""
        params = context["params"]
        configs = table_configs(
            load_yaml(CONFIG),
            params["tables"] or [],  # the form sends null when no table is selected: all
            timedelta(hours=params["lookback_hours"]),
            params["mode"],
        )
        return [c | {"dry_run": params["dry_run"]} for c in configs]

    configs = tables()
    work = CdcBeforeAfterOperator.partial(task_id="before_after", pool=CDC_POOL).expand_kwargs(configs)
    if SLOTS:
        # Both waits (activation, a FLEX commitment's minimum term) run in the triggerer.
        buy = FlexSlotPurchaseOperator(
            task_id="buy_slots", dry_run="{{ params.dry_run }}", deferrable=True, **SLOTS
        )
        release = FlexSlotReleaseOperator(
            task_id="release_slots", purchase_task_id="buy_slots", deferrable=True
        )
        # A release that failed (a commitment may still bill) fails the DAG run. That makes the
        # release a leaf in place of the work, so `done` keeps a failed work failing the run too.
        configs >> buy >> work >> release.as_teardown(setups=buy, on_failure_fail_dagrun=True)
        [work, release] >> EmptyOperator(task_id="done")
