"""
### databricks_workspace_provision_&lt;config&gt;

One manual DAG per file in `include/config/workspaces/` (or `PLATFORM_OPS_WORKSPACE_CONFIG_DIR`):
provision that Databricks workspace on its customer-managed AWS VPC (**WorkspaceDeployOperator**).

1. validate the file (a bad value fails at once, naming the key and the fix);
2. preflight: the VPC, subnets, routes, NACLs, security groups, VPC endpoints, IAM roles and root
   bucket policy against every documented rule; the report goes to the task log and to XCom
   (`preflight`), and any error fails the task before anything is written to the account;
3. print the plan: the account objects found or created, by name;
4. unless `dry_run`: find or create each account object (an identical one is adopted, a different
   one is a drift error), ids recorded in the run state as soon as they exist;
5. wait for RUNNING in the triggerer (no worker slot held) and check that the new workspace answers;
   with `commit_service.instance_profile_arn`, register that instance profile in the new workspace and
   find, create or update the cluster policy fixing it (the S3 commit-service hardening);
6. with `bucket_policy.allowed_ips` in the file, last: restrict the root bucket to those IPs, the
   control plane's and the VPC's S3 gateway endpoint.

Params: `dry_run` (default **true**: a manual trigger checks and plans only; set it to false to
provision), `wait_minutes` (how long to wait for RUNNING), `delete_failed_workspace` (default false:
when the workspace fails, delete it and the account objects this run created; adopted ones stay).
A file with `local: true` (the shipped `local-demo.yaml`) is tagged `local`: `make demo` provisions
it against moto and the sandbox.
Connections: `databricks_account` (the account console: host, `extra.account_id`, a token or an
OAuth service principal) and `aws_default` (the AWS account of the VPC). Locally, the sandbox and
moto stand in; `PLATFORM_OPS_WORKSPACE_HOST` (e.g. `http://127.0.0.1:8000/_sandbox/workspaces/{deployment_name}`)
points the answer check at the sandbox.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from platform_ops.config_files import collision, dag_configs, load_yaml
from platform_ops.dag_defaults import default_args, dry_run_param
from platform_ops.operators.workspace_deploy import WorkspaceDeployOperator

CONFIGS = os.environ.get(
    "PLATFORM_OPS_WORKSPACE_CONFIG_DIR",
    str(Path(__file__).resolve().parents[1] / "include" / "config" / "workspaces"),
)
WORKSPACE_HOST = os.environ.get("PLATFORM_OPS_WORKSPACE_HOST") or None
POLL_SECONDS = float(os.environ.get("PLATFORM_OPS_WORKSPACE_POLL_SECONDS", "30"))
START = pendulum.datetime(2026, 11, 1, tz="UTC")
TAGS = ["databricks", "aws", "workspace", "manual"]


for dag_id, paths in dag_configs(CONFIGS, "databricks_workspace_provision_").items():
    clash = collision(dag_id, paths)
    if clash:  # never provision from whichever of the two files happened to sort last
        raise ValueError(clash)
    path = paths[0]
    # a file marked `local: true` provisions against the local stand-ins: `make demo` runs its DAG
    local = load_yaml(path).get("local") is True
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        tags=[*TAGS, "local"] if local else TAGS,
        doc_md=__doc__,
        description=f"Provision the Databricks workspace of {path.name}",
        default_args=default_args(retries=1),
        render_template_as_native_obj=True,
        max_active_runs=1,  # two runs of one workspace would race on the same account objects
        params={
            "dry_run": dry_run_param(
                True,
                "On (the default): check the VPC and IAM and print the plan only, no account API "
                "write. Off: provision the workspace",
            ),
            "wait_minutes": Param(
                60,
                "How long to wait for the workspace to be RUNNING, in minutes (1-1440, default 60)",
                type="integer",
                minimum=1,
                maximum=24 * 60,
                title="Wait for RUNNING (minutes)",
            ),
            "delete_failed_workspace": Param(
                False,
                "If the workspace fails: delete it and the account objects this run created (adopted "
                "objects stay); the run still fails. Off (the default): leave them for inspection",
                type="boolean",
                title="Delete a failed workspace",
            ),
        },
    ) as dag:
        WorkspaceDeployOperator(
            task_id="provision",
            config_path=str(path),
            dry_run="{{ params.dry_run }}",
            databricks_conn_id="databricks_account",
            aws_conn_id="aws_default",
            timeout="{{ params.wait_minutes * 60 }}",
            delete_failed_workspace="{{ params.delete_failed_workspace }}",
            poll_interval=POLL_SECONDS,
            workspace_host=WORKSPACE_HOST,
            deferrable=True,  # the wait for RUNNING holds no worker slot
        )
    globals()[dag_id] = dag
