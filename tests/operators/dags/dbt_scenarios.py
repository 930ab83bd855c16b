"""Test DAGs: DbtRunOrRetryOperator with every knob driven by run conf.

``dbt_scenarios``: no retries, one try per run. ``dbt_scenarios_retried``: two retries, to show
which failures Airflow retries. Both render natively, so conf values reach the operator with their
JSON types (a number stays a number): the operator must refuse every wrong type itself.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG

from platform_ops.operators.dbt import DbtRunOrRetryOperator

# the tests point this at the shipped project with failure switches (sandbox/dbt_failures)
PROJECT = os.environ.get(
    "PLATFORM_OPS_DBT_PROJECT_DIR", str(Path(__file__).resolve().parents[3] / "include" / "dbt")
)

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
        full_refresh="{{ dag_run.conf.get('full_refresh', False) }}",
        scope="{{ dag_run.conf.get('scope', 'auto') }}",
        force="{{ dag_run.conf.get('force', False) }}",
        databricks_conn_id="{{ dag_run.conf.get('databricks_conn_id', '') }}",
    )

with DAG(
    dag_id="dbt_scenarios_retried",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test"],
    render_template_as_native_obj=True,
    default_args={"owner": "tests", "retries": 2, "retry_delay": timedelta(0)},
):
    DbtRunOrRetryOperator(
        task_id="dbt",
        project_dir=PROJECT,
        target="local",
        command="build",
        select="{{ dag_run.conf.get('select', 'tag:daily') }}",
        exclude="{{ dag_run.conf.get('exclude') }}",
    )
