"""
### bigquery_cdc_before_after

For each table of `include/config/cdc_tables.yaml` (one mapped task each), turns the SQL Server
change-tracking log landed in the warehouse into the **before and after image of every primary key
changed in the run's window** with **CdcBeforeAfterOperator**.

The window is the run's data interval: one Tokyo day, `[00:00, 24:00)` Asia/Tokyo, on the log's
insert-time column. Re-running or backfilling a day replaces that day's rows in the destination.
Before images come from the log (within `lookback_hours`) or from the previous day's snapshot
table; keys whose before image is nowhere are counted as `missing` and fail the task.

Params: `tables` (subset of the configured names; empty = all), `lookback_hours`, `mode`.
Locally the engine is DuckDB (`PLATFORM_OPS_CDC_DUCKDB_PATH`); `make demo` generates a log.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

from platform_ops.core.cdc import table_configs
from platform_ops.core.config import load_yaml
from platform_ops.core.dag_defaults import default_args
from platform_ops.operators.cdc import CdcBeforeAfterOperator

CONFIG = Path(__file__).resolve().parents[1] / "include" / "config" / "cdc_tables.yaml"

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
        "tables": Param([], type="array", items={"type": "string"}, description="table names; empty = all"),
        "lookback_hours": Param(48, type="integer", minimum=0, maximum=24 * 14, description="log lookback"),
        "mode": Param("net", type="string", enum=["net"], description="net: one row per changed key"),
    },
):

    @task
    def tables(**context) -> list[dict]:
        """The configured tables (read at run time, not at parse time), filtered by the params."""
        params = context["params"]
        return table_configs(
            load_yaml(CONFIG), params["tables"], timedelta(hours=params["lookback_hours"]), params["mode"]
        )

    CdcBeforeAfterOperator.partial(task_id="before_after").expand_kwargs(tables())
