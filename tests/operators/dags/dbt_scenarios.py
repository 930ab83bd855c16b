"""Test DAG: DbtRunOrRetryOperator with every knob driven by run conf (no retries: one try per run)."""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from platform_ops.operators.dbt import DbtRunOrRetryOperator

PROJECT = str(Path(__file__).resolve().parents[3] / "include" / "dbt")

with DAG(
    dag_id="dbt_scenarios",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test"],
    doc_md=__doc__,
    render_template_as_native_obj=True,
    default_args={"owner": "tests", "retries": 0},
):
    DbtRunOrRetryOperator(
        task_id="dbt",
        project_dir="{{ dag_run.conf.get('project_dir', '" + PROJECT + "') }}",
        target="{{ dag_run.conf.get('target', 'local') }}",
        command="build",
        select="{{ dag_run.conf.get('select', 'tag:daily') }}",
        vars="{{ dag_run.conf.get('vars', {}) }}",
        threads="{{ dag_run.conf.get('threads', 4) }}",
        mode="{{ dag_run.conf.get('mode', 'auto') }}",
        force="{{ dag_run.conf.get('force', False) }}",
        databricks_conn_id="{{ dag_run.conf.get('databricks_conn_id', '') }}",
    )
