"""Test DAG: output of a process run by DbtHook that contains the Databricks token.

Run under a real scheduler by tests/hooks/test_dbt.py to show the task log holds it masked.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from platform_ops.hooks.dbt import TOKEN_ENV, DbtHook

SH = "/bin/sh"

with DAG(
    dag_id="dbt_hook_masking",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test"],
    default_args={"owner": "tests", "retries": 0},
):

    @task
    def print_the_token() -> None:
        hook = DbtHook(dbt_executable=SH, databricks_conn_id="dbx_mask")
        env = hook.environment()
        result = hook.run([SH, "-c", f'echo "the token dbt sees: ${TOKEN_ENV}"'], env, cwd="/")
        if result.returncode != 0:
            raise RuntimeError(f"the shell failed: {result.tail}")

    print_the_token()
