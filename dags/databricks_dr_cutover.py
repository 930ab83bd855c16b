"""
### databricks_dr_cutover

Make the secondary workspace take over after `databricks_dr_migrate`: un-pause in the target exactly
the jobs whose schedule, continuous run or trigger was un-paused in the source when they were
migrated (their statuses are in the migration's checkpoint), and with `pause_source` pause them in
the source. Jobs that were paused in the source stay paused. Running it again changes nothing.

The documented first choice for disaster recovery is Databricks' managed disaster recovery (enabled
by the account team); this DAG completes `databricks_dr_migrate` for workspaces without it.

Params: `source_conn_id`, `target_conn_id` (the migration's pair), `confirm` (must be **true**: the
cutover starts jobs in the target), `pause_source`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from platform_ops.dag_defaults import default_args, workspace_pair_params
from platform_ops.operators.dr_migrate import DrCutoverOperator

with DAG(
    dag_id="databricks_dr_cutover",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["databricks", "disaster-recovery", "manual", "local"],  # local: make demo runs it
    doc_md=__doc__,
    description="Un-pause in the secondary workspace the jobs that ran in the source",
    default_args=default_args(retries=1),
    render_template_as_native_obj=True,
    max_active_runs=1,
    params={
        **workspace_pair_params(),
        "confirm": Param(
            False,
            "Required: the cutover un-pauses jobs in the secondary workspace, so they start running "
            "there. Off (the default): the run is refused before anything changes",
            type="boolean",
            title="Confirm the cutover",
        ),
        "pause_source": Param(
            False,
            "Also pause those jobs in the source workspace, so they do not run in both. Off (the "
            "default): the source is left as it is",
            type="boolean",
            title="Pause the jobs in the source",
        ),
    },
) as dag:
    DrCutoverOperator(task_id="cutover")
