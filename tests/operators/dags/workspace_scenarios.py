"""Test DAGs: WorkspaceDeployOperator with the workspace's parameters and knobs through run conf.

``workspace_scenarios`` waits for RUNNING in the triggerer (deferrable, as the shipped DAG does);
``workspace_scenarios_blocking`` polls on the worker (the non-deferrable path);
``workspace_scenarios_retry`` polls on the worker and retries the task once, at once.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from platform_ops.hooks.databricks_account import RetryPolicy
from platform_ops.operators.workspace_deploy import WorkspaceDeployOperator

FAST = RetryPolicy(
    validation_first_delay=0.01, validation_max_delay=0.02, endpoint_poll=0.01, endpoint_timeout=5
)

SCENARIOS = (
    ("workspace_scenarios", True, 0),
    ("workspace_scenarios_blocking", False, 0),
    ("workspace_scenarios_retry", False, 1),
)
for dag_id, deferrable, retries in SCENARIOS:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["test"],
        doc_md=__doc__,
        render_template_as_native_obj=True,
        default_args={"owner": "tests", "retries": 0},
    ):
        WorkspaceDeployOperator(
            task_id="deploy",
            workspace="{{ dag_run.conf['workspace'] }}",
            dry_run="{{ dag_run.conf.get('dry_run', False) }}",
            databricks_conn_id="dbx_account",
            aws_conn_id="preflight_aws",
            timeout="{{ dag_run.conf.get('timeout', 30) }}",
            poll_interval=0.1,
            answer_timeout=10,
            deferrable=deferrable,
            account_retry_policy=FAST,
            delete_failed_workspace="{{ dag_run.conf.get('delete_failed_workspace', False) }}",
            cleanup_timeout=20,
            retries=retries,
            retry_delay=timedelta(0),
        )
