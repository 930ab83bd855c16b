"""Test DAG: CdcBeforeAfterOperator on the BigQuery engine (the emulator); knobs through run conf."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from platform_ops.operators.cdc import CdcBeforeAfterOperator

with DAG(
    dag_id="cdc_scenarios",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="Asia/Tokyo"),
    start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Tokyo"),
    catchup=False,
    tags=["test"],
    doc_md=__doc__,
    render_template_as_native_obj=True,
    default_args={"owner": "tests", "retries": 0},
):
    CdcBeforeAfterOperator(
        task_id="orders",
        engine="bigquery",
        gcp_conn_id="bq_emulator",
        source_table="cdc.orders_ct_log",
        primary_key=["order_id"],
        snapshot_table_prefix="cdc.orders_snapshot_",
        destination_table="cdc.orders_{{ dag_run.conf.get('mode', 'net') }}",
        mode="{{ dag_run.conf.get('mode', 'net') }}",
        max_missing_before="{{ dag_run.conf.get('max_missing_before', 1) }}",
        dry_run="{{ dag_run.conf.get('dry_run', False) }}",
    )
