"""Test DAGs: CdcBeforeAfterOperator on the BigQuery engine (the emulator); knobs through run conf.

``cdc_scenarios_twin`` writes the same destination with another lookback (none): a second run of
the same window whose result differs, for runs of one window at once.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from platform_ops.operators.cdc import CdcBeforeAfterOperator

for dag_id, lookback in (("cdc_scenarios", timedelta(days=2)), ("cdc_scenarios_twin", timedelta(0))):
    with DAG(
        dag_id=dag_id,
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
            snapshot_timezone="{{ dag_run.conf.get('snapshot_timezone', 'Asia/Tokyo') }}",
            strict_snapshot_timezone="{{ dag_run.conf.get('strict_snapshot_timezone', True) }}",
            lookback=lookback,
            destination_table="cdc.orders_{{ dag_run.conf.get('mode', 'net') }}",
            mode="{{ dag_run.conf.get('mode', 'net') }}",
            max_missing_before="{{ dag_run.conf.get('max_missing_before', 1) }}",
            max_bad_rows="{{ dag_run.conf.get('max_bad_rows', 2) }}",
            dry_run="{{ dag_run.conf.get('dry_run', False) }}",
        )
