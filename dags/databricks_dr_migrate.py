"""
### databricks_dr_migrate

Copy a Databricks workspace's objects to a secondary workspace for disaster recovery: cluster
policies (not the built-in families), instance pools, secret scopes with their keys and ACLs (not
the scopes backed by an Azure Key Vault: recreate those over the secondary's vault), global init
scripts, notebooks and files under `roots`, clusters, cluster libraries, jobs and their permissions.

The documented first choice is Databricks' managed disaster recovery (gated by the account team).
This DAG serves the workspaces without it, and the objects it does not cover.

1. `preflight` (**DrPreflightOperator**): reads both workspaces, checks that every user, group and
   service principal named by a source ACL exists in the target (nothing is written otherwise), and
   prints per object type what would be created, updated, left identical, filtered (with the
   reason), blocked by an unresolved reference, in conflict with a same-name object that carries no
   migration marker, or lacking a secret value. Mounts, Git folders (/Repos), MLflow, Unity Catalog
   tables and data, users and groups are reported as out of scope, never migrated.
   `dry_run` (default **true**) stops here: no task writes to either workspace.
2. `migrate_<type>` (**DrMigrateOperator**), one task per type in dependency order: a thread pool
   sharing one adaptive rate limiter per workspace host (at most `parallelism` calls in flight to
   each workspace, fewer while it answers 429/503); every object is looked up
   in the target by its marker before any create, so a re-run, a retry or a new run after a crash
   never duplicates anything. Schedules, continuous runs and triggers arrive PAUSED. A cluster or
   job whose init script the target would miss (on DBFS, or a workspace file outside `roots`) is
   blocked with the script named; with `relocate_dbfs_init_scripts` a DBFS script is copied to a
   workspace file under `init_scripts_folder` instead (a re-run writes it again only when it
   changed). A source object the target holds more than once (by marker) is reported as a
   duplicate with every id, and nothing is written for it. Progress is
   logged every N objects. The resume checkpoint is shared by every run of the same
   (source, target) pair.
3. `teardown` (**DrTeardownOperator**, runs even after a failure): terminates the clusters this run
   created, unless `keep_clusters_running`.
4. `validate` (**DrValidateOperator**): every eligible object identical in both workspaces,
   every migrated schedule/continuous/trigger PAUSED, every created cluster terminated; the table
   is in the log, the counts in XCom, the report in the run state.

Then trigger `databricks_dr_cutover` to un-pause in the target what ran in the source.

Params: `source_conn_id`, `target_conn_id` (Airflow Databricks connections), `dry_run`,
`object_types`, `roots`, `keep_clusters_running`, `keep_idle_instances`, `skip_blocked_jobs`,
`references` (`warehouses` / `pipelines` / `notification_destinations` id maps), the secret values'
source (`secret_values_conn_id`: a connection whose extra is `{scope: {key: value}}`, or
`secret_values_variable`: a Variable holding that JSON; values are never logged),
`refresh_secret_values` (values cannot be read back, so a key already in the target is not put
again unless this is true: set it after rotating a secret), `relocate_dbfs_init_scripts`,
`init_scripts_folder`, `parallelism`. An instance pool whose Docker images sign in with basic auth
needs each password in the secret values, as `{"instance_pools:docker_basic_auth": {pool name:
{image url: password}}}` (the API never returns one); without it the pool is reported `needs value`.
Git credentials are per-user tokens: the preflight lists the users to ask to add theirs.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from platform_ops.dag_defaults import default_args
from platform_ops.operators.dr_migrate import OBJECT_TYPES, build_dr_migration, workspace_pair_params

START = pendulum.datetime(2026, 11, 1, tz="UTC")
TAGS = ["databricks", "disaster-recovery", "manual", "local"]  # local: make demo runs it on two sandboxes

with DAG(
    dag_id="databricks_dr_migrate",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=TAGS,
    doc_md=__doc__,
    description="Copy a Databricks workspace to a secondary one: dry run first, resumable, validated",
    default_args=default_args(retries=2),
    render_template_as_native_obj=True,
    max_active_runs=1,  # two runs of one pair would race on the same target objects
    params={
        **workspace_pair_params(),
        "dry_run": Param(True, type="boolean", description="read both workspaces and print the plan only"),
        "object_types": Param(
            list(OBJECT_TYPES),
            type="array",
            items={"type": "string", "enum": list(OBJECT_TYPES)},
            minItems=1,
            description="the object types to migrate (dependencies are found by marker when left out)",
        ),
        "roots": Param(
            ["/Users", "/Shared"],
            type="array",
            items={"type": "string", "pattern": "^/"},
            minItems=1,
            description="workspace folders whose notebooks and files are copied (/Repos never is)",
        ),
        "keep_clusters_running": Param(
            False, type="boolean", description="leave the clusters this run creates running (they bill)"
        ),
        "keep_idle_instances": Param(
            False, type="boolean", description="keep instance pools' min idle instances (default 0)"
        ),
        "skip_blocked_jobs": Param(
            False,
            type="boolean",
            description="skip jobs whose cluster or reference cannot be resolved (else validation fails)",
        ),
        "references": Param(
            {},
            type="object",
            description='id maps for what is not migrated: {"warehouses": {src: tgt}, "pipelines": {...}, '
            '"notification_destinations": {...}}',
        ),
        "secret_values_conn_id": Param(
            None,
            type=["null", "string"],
            description="connection whose extra holds {scope: {key: value}} for the secret scopes, and "
            'instance pools\' Docker passwords under "instance_pools:docker_basic_auth"',
        ),
        "secret_values_variable": Param(
            None,
            type=["null", "string"],
            description="Variable holding {scope: {key: value}} as JSON (pools' Docker passwords: as for "
            "secret_values_conn_id)",
        ),
        "refresh_secret_values": Param(
            False,
            type="boolean",
            description="put every configured secret value and pool Docker password again (after a rotation)",
        ),
        "relocate_dbfs_init_scripts": Param(
            False,
            type="boolean",
            title="Relocate DBFS init scripts",
            description="copy each DBFS init script of a cluster or job to a workspace file of the target "
            "(under init_scripts_folder, with a marker line) and point the copy at it; off: such "
            "clusters and jobs are blocked (DBFS init scripts are end-of-life)",
        ),
        "init_scripts_folder": Param(
            "/Shared/dr-init-scripts",
            type="string",
            pattern="^/",
            minLength=2,
            title="Folder of relocated init scripts",
            description="target workspace folder the relocated DBFS init scripts go to (their DBFS path "
            "below it), outside /Repos",
        ),
        "parallelism": Param(
            8, type="integer", minimum=1, maximum=64, description="calls in flight per workspace"
        ),
    },
) as dag:
    build_dr_migration()
