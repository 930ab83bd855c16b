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

from platform_ops.dag_defaults import default_args, dry_run_param, multi_select_param, workspace_pair_params
from platform_ops.operators.dr_migrate import OBJECT_TYPES, build_dr_migration

START = pendulum.datetime(2026, 11, 1, tz="UTC")
TAGS = ["databricks", "disaster-recovery", "manual", "local"]  # local: make demo runs it on two sandboxes
# How the trigger form lists each object type (every one of OBJECT_TYPES, in their order).
OBJECT_TYPE_LABELS = {
    "instance_pools": "Instance pools",
    "cluster_policies": "Cluster policies",
    "secret_scopes": "Secret scopes (keys and ACLs)",
    "global_init_scripts": "Global init scripts",
    "workspace_objects": "Notebooks and files (under the roots)",
    "clusters": "Clusters",
    "cluster_libraries": "Cluster libraries",
    "jobs": "Jobs",
    "permissions": "Permissions (ACLs of the objects above)",
}

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
        "dry_run": dry_run_param(
            True,
            "On (the default): read both workspaces and print the plan only, nothing is written to "
            "either. Off: migrate",
        ),
        "object_types": multi_select_param(
            OBJECT_TYPES,
            {t: OBJECT_TYPE_LABELS[t] for t in OBJECT_TYPES},
            title="Object types to migrate",
            description="The kinds of objects to copy (default: all of them, in dependency order). "
            "Objects that a chosen one refers to and that are left out are found in the target by "
            "their migration marker",
            minItems=1,
        ),
        "roots": Param(
            ["/Users", "/Shared"],
            "Workspace folders whose notebooks and files are copied, one absolute path a line "
            "(default /Users and /Shared); /Repos is never copied",
            type="array",
            items={"type": "string", "pattern": "^/"},
            minItems=1,
            title="Folders to copy",
        ),
        "keep_clusters_running": Param(
            False,
            "Leave the clusters this run creates running (they bill). Off (the default): the "
            "teardown terminates them",
            type="boolean",
            title="Keep created clusters running",
        ),
        "keep_idle_instances": Param(
            False,
            "Keep each instance pool's minimum idle instances (they bill). Off (the default): the "
            "copies get 0 idle instances",
            type="boolean",
            title="Keep pools' idle instances",
        ),
        "skip_blocked_jobs": Param(
            False,
            "Skip the jobs whose cluster or reference cannot be resolved in the target. Off (the "
            "default): they are reported and validation fails",
            type="boolean",
            title="Skip blocked jobs",
        ),
        "references": Param(
            {},
            'Source id -> target id maps for what is not migrated: {"warehouses": {src: tgt}, '
            '"pipelines": {...}, "notification_destinations": {...}}. Default {}: none mapped, '
            "objects referring to them are blocked",
            type="object",
            title="Id maps of unmigrated references",
        ),
        "secret_values_conn_id": Param(
            None,
            "Airflow connection whose extra holds {scope: {key: value}} for the secret scopes, and "
            'instance pools\' Docker passwords under "instance_pools:docker_basic_auth". Empty (the '
            "default): no values from a connection (keys without one are reported needs value)",
            type=["null", "string"],
            title="Secret values: connection",
        ),
        "secret_values_variable": Param(
            None,
            "Airflow Variable holding {scope: {key: value}} as JSON (pools' Docker passwords: as for "
            "the connection); use this or the connection, not both. Empty (the default): no Variable",
            type=["null", "string"],
            title="Secret values: Variable",
        ),
        "refresh_secret_values": Param(
            False,
            "Put every configured secret value and pool Docker password again, e.g. after a "
            "rotation (values cannot be read back). Off (the default): a key already in the target "
            "is left as it is",
            type="boolean",
            title="Put secret values again",
        ),
        "relocate_dbfs_init_scripts": Param(
            False,
            type="boolean",
            title="Relocate DBFS init scripts",
            description="copy each DBFS init script of a cluster or job to a workspace file of the target "
            "(under init_scripts_folder, with a marker line) and point the copy at it; off (the "
            "default): such clusters and jobs are blocked (DBFS init scripts are end-of-life)",
        ),
        "init_scripts_folder": Param(
            "/Shared/dr-init-scripts",
            type="string",
            pattern="^/",
            minLength=2,
            title="Folder of relocated init scripts",
            description="target workspace folder the relocated DBFS init scripts go to (their DBFS path "
            "below it), outside /Repos; default /Shared/dr-init-scripts",
        ),
        "parallelism": Param(
            8,
            "Calls in flight to each workspace at most, 1-64 (default 8); fewer while a workspace "
            "answers 429 or 503",
            type="integer",
            minimum=1,
            maximum=64,
            title="Parallel calls per workspace",
        ),
    },
) as dag:
    build_dr_migration()
