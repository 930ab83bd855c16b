"""The catalogue of a DR migration: the object types in order, what is out of scope, the fields posted.

Also the marker key, the secret values' Docker entry, and the limits and statuses the types share.
"""

from __future__ import annotations

OBJECT_TYPES = (
    "instance_pools",  # first: pools refer to nothing, and a policy may fix a pool id
    "cluster_policies",
    "secret_scopes",
    "global_init_scripts",
    "workspace_objects",
    "clusters",
    "cluster_libraries",
    "jobs",
    "permissions",
)
OUT_OF_SCOPE = {
    "mounts": "DBFS mounts hold storage credentials the API cannot read: recreate them in the secondary "
    "(or move to Unity Catalog external locations, which are account-level)",
    "repos": "Git folders (/Repos) are clones of a remote: clone the same remote in the secondary "
    "(or deploy with Databricks Asset Bundles)",
    "mlflow": "MLflow experiments, runs and models: register models in Unity Catalog or copy them with "
    "the MLflow export/import tools",
    "unity_catalog": "Unity Catalog metadata is account-level and table data lives in cloud storage: use the "
    "metastore's own replication and Delta deep clone",
    "identities": "users, groups and service principals come from the account/IdP (SCIM): assign them "
    "to the secondary workspace before the migration",
    "git_credentials": "Git credentials are each user's own tokens, which no admin can read or create for "
    "them: each user adds theirs in the secondary (Settings > Linked accounts)",
}
MARKER_KEY = "dr_source"
# Where relocated DBFS init scripts go in the target (relocate_dbfs_init_scripts).
DEFAULT_INIT_SCRIPTS_FOLDER = "/Shared/dr-init-scripts"
# The entry of the secret values document holding instance pools' Docker basic-auth passwords,
# {pool name: {image url: password}} (":" is not allowed in a scope name, so no scope can clash).
DOCKER_PASSWORDS_KEY = "instance_pools:docker_basic_auth"
# Types identified by their name or path in the target (they carry no marker).
IDENTITY_BY_NAME = frozenset({"secret_scopes", "workspace_objects"})
# Object types whose ACLs the permissions step copies (the workspace kinds as the permissions API names them).
WORKSPACE_KINDS = frozenset({"notebooks", "directories", "files"})
PERMISSION_OBJECT_TYPES = frozenset(
    {"cluster_policies", "instance_pools", "clusters", "jobs", "workspace_objects"}
)

# The fields the create calls accept (databricks-sdk ClustersAPI.create, InstancePoolsAPI.create,
# ClusterPoliciesAPI.create, GlobalInitScriptsAPI.create). A `get` response has more (state, ids, driver,
# executors, default_tags, cluster_source, ...): only these are ever posted. clone_from is left out.
CLUSTER_CREATE_FIELDS = frozenset(
    {
        "apply_policy_default_values",
        "autoscale",
        "autotermination_minutes",
        "aws_attributes",
        "azure_attributes",
        "cluster_log_conf",
        "cluster_name",
        "custom_tags",
        "data_security_mode",
        "dependency_mode",
        "docker_image",
        "driver_instance_pool_id",
        "driver_node_type_flexibility",
        "driver_node_type_id",
        "enable_elastic_disk",
        "enable_local_disk_encryption",
        "gcp_attributes",
        "init_scripts",
        "instance_pool_id",
        "is_single_node",
        "kind",
        "node_type_id",
        "num_workers",
        "policy_id",
        "remote_disk_throughput",
        "runtime_engine",
        "single_user_name",
        "spark_conf",
        "spark_env_vars",
        "spark_version",
        "ssh_public_keys",
        "total_initial_remote_disk_size",
        "use_ml_runtime",
        "worker_node_type_flexibility",
        "workload_type",
    }
)
POOL_CREATE_FIELDS = frozenset(
    {
        "aws_attributes",
        "azure_attributes",
        "custom_tags",
        "disk_spec",
        "enable_elastic_disk",
        "gcp_attributes",
        "idle_instance_autotermination_minutes",
        "instance_pool_name",
        "max_capacity",
        "min_idle_instances",
        "node_type_flexibility",
        "node_type_id",
        "preloaded_docker_images",
        "preloaded_spark_versions",
        "remote_disk_throughput",
        "total_initial_remote_disk_size",
    }
)
POLICY_CREATE_FIELDS = frozenset(
    {
        "definition",
        "description",
        "libraries",
        "max_clusters_per_user",
        "name",
        "policy_family_definition_overrides",
        "policy_family_id",
    }
)
GLOBAL_INIT_SCRIPT_FIELDS = frozenset({"name", "script", "enabled", "position"})
MIGRATED_CLUSTER_SOURCES = ("UI", "API")
PAUSED = "PAUSED"
# The Jobs API keeps at most this many tags on a job; the marker needs one of them.
JOB_TAG_LIMIT = 25
UNPAUSED = "UNPAUSED"
# Reference maps a job may need (source id -> target id), given as parameters.
REFERENCE_KINDS = ("warehouses", "pipelines", "notification_destinations", "queries", "alerts", "dashboards")
# The groups every workspace has (they are never listed as missing from a target).
BUILTIN_GROUPS = frozenset({"admins", "users"})
