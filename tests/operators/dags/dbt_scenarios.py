"""Test DAGs: DbtRunOrRetryOperator with every knob driven by run conf.

``dbt_scenarios``: no retries, one try per run. ``dbt_scenarios_retried``: two retries, to show
which failures Airflow retries. Both record each ``on_warning_callback`` call (see
:func:`record_warnings`). Both render natively, so conf values reach the operator with their
JSON types (a number stays a number): the operator must refuse every wrong type itself.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

from platform_ops.operators.dbt import DbtRunOrRetryOperator

# the tests point this at the shipped project with failure switches (sandbox/dbt_failures)
PROJECT = os.environ.get(
    "PLATFORM_OPS_DBT_PROJECT_DIR", str(Path(__file__).resolve().parents[3] / "include" / "dbt")
)
#: where :func:`record_warnings` appends one JSON line per call (the tests set it)
WARNINGS_FILE_ENV = "PLATFORM_OPS_TEST_WARNINGS_FILE"


def record_warnings(context: dict[str, Any]) -> None:
    """An ``on_warning_callback`` written for astronomer-cosmos: it reads test_names/test_results.

    Appends what it got to the file named by env PLATFORM_OPS_TEST_WARNINGS_FILE, then raises
    when the run's conf says ``callback_raises``.
    """
    entry = {
        "task_id": context["ti"].task_id,
        "try_number": context["ti"].try_number,
        "test_names": context["test_names"],
        "test_results": context["test_results"],
        "dbt_warnings": context["dbt_warnings"],
    }
    path = os.environ.get(WARNINGS_FILE_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")
    if (context["dag_run"].conf or {}).get("callback_raises"):
        raise RuntimeError("the warning callback broke")


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
        retry_test_failures="{{ dag_run.conf.get('retry_test_failures', True) }}",
        source_freshness="{{ dag_run.conf.get('source_freshness', 'off') }}",
        generate_docs="{{ dag_run.conf.get('generate_docs', False) }}",
        on_warning_callback=record_warnings,
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
        vars="{{ dag_run.conf.get('vars', {}) }}",
        retry_test_failures="{{ dag_run.conf.get('retry_test_failures', True) }}",
        source_freshness="{{ dag_run.conf.get('source_freshness', 'off') }}",
        generate_docs="{{ dag_run.conf.get('generate_docs', False) }}",
        on_warning_callback=record_warnings,
    )
