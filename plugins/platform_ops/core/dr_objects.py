"""What a Databricks DR migration copies, and the body each object gets in the secondary workspace.

Pure: no Airflow, no SDK, no I/O. Objects are the plain JSON dicts of the REST API (the field names of
``clusters/get``, ``jobs/get``, ``instance-pools/get``, ``policies/clusters/get``, ``global-init-scripts``
with the script decoded to text, ``workspace/list`` entries, secret scopes as ``{"name", "keys"}``,
permissions responses).

:func:`prepare` turns one source object into a :class:`Prepared`: the create/update body for the target
(target ids, a marker of its source) or the reason it is not migrated (filtered, blocked by an
unresolved reference, out of scope, needs a secret value, skipped). :func:`canonical` and
:func:`content_hash` give the comparison form a source object and its migrated copy share.

Identity: a created object carries :func:`marker_value` of its source (a custom tag on clusters and pools,
a job tag, a last line of a policy description or of a global init script); :func:`marker_of` reads it
back. Secret scopes and workspace objects are identified by their name/path (``IDENTITY_BY_NAME``).

A permissions item for :func:`prepare` is ``{"object_type", "object_id", "access_control_list"}``: the
object's type (one of ``PERMISSION_OBJECT_TYPES``, or notebooks/directories/files), its SOURCE id (the path
for workspace objects) looked up in ``Context.id_map``, and the source's permissions response.

Additions to the shared interface: ``IDENTITY_BY_NAME``, ``PERMISSION_OBJECT_TYPES``, ``REFERENCE_KINDS``,
``JOB_TAG_LIMIT``, ``CLUSTER_CREATE_FIELDS`` / ``POOL_CREATE_FIELDS`` / ``POLICY_CREATE_FIELDS``,
:func:`object_name`, :func:`set_marker`, :func:`job_cycles`, :func:`run_job_targets`,
:func:`job_dependencies`, :func:`spec_principals`; reference maps ``queries``, ``alerts`` and
``dashboards`` next to ``warehouses``, ``pipelines`` and ``notification_destinations``; :class:`Context`
refuses relative roots, a non-positive export limit and an empty workspace id. One rule differs from the
first outline: a policy created from a policy family WITH overrides is migrated (it is a workspace's own
policy, created with the family id and the overrides); default policies and a family's plain instance are
filtered. ``OBJECT_TYPES`` puts instance pools before cluster policies (the outline had them the other way
round): a policy's definition may fix a pool id, while a pool refers to nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from platform_ops.exceptions import ConfigError

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

_ID_FIELD = {
    "cluster_policies": "policy_id",
    "instance_pools": "instance_pool_id",
    "secret_scopes": "name",
    "global_init_scripts": "script_id",
    "workspace_objects": "path",
    "clusters": "cluster_id",
    "cluster_libraries": "cluster_id",
    "jobs": "job_id",
}
_NAME_FIELD = {
    "cluster_policies": "name",
    "instance_pools": "instance_pool_name",
    "secret_scopes": "name",
    "global_init_scripts": "name",
    "workspace_objects": "path",
    "clusters": "cluster_name",
    "cluster_libraries": "cluster_id",
}
_POLICY_MARKER = re.compile(r"^\[" + MARKER_KEY + r" (\S+)\]$")
_SCRIPT_MARKER = re.compile(r"^# " + MARKER_KEY + r" (\S+)$")
# What a remapped id is replaced with in the comparison form.
_REF = "<ref>"
_PRINCIPAL_KEYS = ("user_name", "group_name", "service_principal_name")
# The groups every workspace has (they are never listed as missing from a target).
BUILTIN_GROUPS = frozenset({"admins", "users"})


class Outcome(StrEnum):
    """What the migration does with one source object."""

    MIGRATE = "migrate"
    FILTERED = "filtered"
    BLOCKED = "blocked"
    OUT_OF_SCOPE = "out_of_scope"
    NEEDS_VALUE = "needs_value"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Context:
    """What :func:`prepare` needs besides the object: ids mapped so far, what was filtered, parameters."""

    source_workspace_id: str
    id_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    filtered: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    references: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    keep_idle_instances: bool = False
    skip_blocked_jobs: bool = False
    roots: tuple[str, ...] = ("/Users", "/Shared")
    export_limit_bytes: int = 10 * 1024 * 1024
    secret_values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    relocate_dbfs_init_scripts: bool = False
    init_scripts_folder: str = DEFAULT_INIT_SCRIPTS_FOLDER
    # pool name -> the Docker image URLs whose basic-auth password is configured
    docker_passwords: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # type -> source id -> every target id of an object the target holds more than once (by marker)
    duplicates: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def copies(self, object_type: str, source_id: str) -> tuple[str, ...]:
        """The target ids of ``source_id``'s copies when the target holds more than one, else ()."""
        return tuple((self.duplicates.get(object_type) or {}).get(source_id, ()))

    def __post_init__(self) -> None:
        if not str(self.source_workspace_id).strip():
            raise ConfigError("source_workspace_id", "empty", "pass the source workspace's numeric id")
        bad = [r for r in self.roots if not isinstance(r, str) or not r.startswith("/")]
        if not self.roots or bad:
            raise ConfigError(
                "roots",
                f"{bad or 'no roots'} is not a list of absolute workspace paths",
                "give folders such as /Users and /Shared",
            )
        if not self.init_scripts_folder.startswith("/") or self.init_scripts_folder.rstrip("/") == "":
            raise ConfigError(
                "init_scripts_folder",
                f"{self.init_scripts_folder!r} is not an absolute workspace folder",
                "give a folder such as /Shared/dr-init-scripts",
            )
        if self.export_limit_bytes <= 0:
            raise ConfigError(
                "export_limit_bytes", f"{self.export_limit_bytes} is not positive", "give a byte count"
            )


@dataclass(frozen=True)
class Prepared:
    """One source object, decided: the target body when it migrates, else why not."""

    object_type: str
    source_id: str
    name: str
    marker: str | None
    outcome: Outcome
    spec: dict[str, Any] | None
    reason: str = ""
    pause_status: str | None = None
    # (DBFS path, target workspace file path) of each DBFS init script the spec now points elsewhere
    relocations: tuple[tuple[str, str], ...] = ()


def _check_type(object_type: str) -> None:
    if object_type not in OBJECT_TYPES:
        raise ConfigError(
            "object_type", f"unknown object type {object_type!r}", f"use one of {', '.join(OBJECT_TYPES)}"
        )


def _require(object_type: str, obj: Mapping[str, Any], key: str) -> Any:
    value = obj.get(key)
    if value is None or value == "":
        raise ConfigError(
            f"{object_type}.{key}",
            f"missing in {object_type} object {_brief(obj)}",
            f"pass {object_type} objects as the REST API returns them (with {key})",
        )
    return value


def _brief(obj: Mapping[str, Any]) -> str:
    return json.dumps({k: obj[k] for k in list(obj)[:3]}, default=str)


def source_id(object_type: str, obj: Mapping[str, Any]) -> str:
    """The source identity of an object: its id, scope name or path; permissions ``<type>/<id>``."""
    _check_type(object_type)
    if object_type == "permissions":
        kind = _require(object_type, obj, "object_type")
        return f"{kind}/{_require(object_type, obj, 'object_id')}"
    return str(_require(object_type, obj, _ID_FIELD[object_type]))


def object_name(object_type: str, obj: Mapping[str, Any]) -> str:
    """The human name of an object (cluster name, job name, path, ...), for reports and name conflicts."""
    _check_type(object_type)
    if object_type == "permissions":
        return source_id(object_type, obj)
    if object_type == "jobs":
        settings = obj.get("settings", obj)
        return str(settings.get("name") or f"job {obj.get('job_id', '?')}")
    return str(obj.get(_NAME_FIELD[object_type]) or source_id(object_type, obj))


def marker_value(source_workspace_id: str, source_id: str) -> str:
    """The marker a migrated object carries: ``<source workspace id>:<source id>``."""
    return f"{source_workspace_id}:{source_id}"


def _strip_line_marker(text: str, pattern: re.Pattern[str]) -> tuple[str, str | None]:
    lines = text.rstrip("\n").split("\n")
    match = pattern.match(lines[-1].strip()) if lines else None
    if match:
        return "\n".join(lines[:-1]).rstrip("\n"), match.group(1)
    return text.rstrip("\n"), None


def marker_of(object_type: str, target_obj: Mapping[str, Any]) -> str | None:
    """The marker a target object carries, or None (types identified by name carry none)."""
    _check_type(object_type)
    if object_type in ("clusters", "instance_pools"):
        return (target_obj.get("custom_tags") or {}).get(MARKER_KEY)
    if object_type == "jobs":
        settings = target_obj.get("settings", target_obj)
        return (settings.get("tags") or {}).get(MARKER_KEY)
    if object_type == "cluster_policies":
        return _strip_line_marker(target_obj.get("description") or "", _POLICY_MARKER)[1]
    if object_type == "global_init_scripts":
        return _strip_line_marker(target_obj.get("script") or "", _SCRIPT_MARKER)[1]
    return None


def set_marker(object_type: str, spec: Mapping[str, Any], marker: str) -> dict[str, Any]:
    """A copy of a create body with ``marker`` set where the type keeps it (replacing an older one)."""
    _check_type(object_type)
    out = copy.deepcopy(dict(spec))
    if object_type in ("clusters", "instance_pools"):
        out["custom_tags"] = {**(out.get("custom_tags") or {}), MARKER_KEY: marker}
    elif object_type == "jobs":
        out["tags"] = {**(out.get("tags") or {}), MARKER_KEY: marker}
    elif object_type == "cluster_policies":
        text = _strip_line_marker(out.get("description") or "", _POLICY_MARKER)[0]
        out["description"] = f"{text}\n[{MARKER_KEY} {marker}]" if text else f"[{MARKER_KEY} {marker}]"
    elif object_type == "global_init_scripts":
        text = _strip_line_marker(out.get("script") or "", _SCRIPT_MARKER)[0]
        out["script"] = f"{text}\n# {MARKER_KEY} {marker}\n"
    return out


# --- pause status -------------------------------------------------------------------------------


def _pausables(settings: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    blocks = [
        settings[k] for k in ("schedule", "continuous", "trigger") if isinstance(settings.get(k), Mapping)
    ]
    blocks += [t for t in settings.get("triggers") or [] if isinstance(t, Mapping)]
    return blocks


def with_pause(settings: Mapping[str, Any], status: str) -> dict[str, Any]:
    """A copy of job settings with every schedule, continuous and trigger pause_status set to ``status``."""
    if status not in (PAUSED, UNPAUSED):
        raise ConfigError("pause_status", f"{status!r} is not a pause status", f"use {PAUSED} or {UNPAUSED}")
    out = copy.deepcopy(dict(settings))
    for key in ("schedule", "continuous", "trigger"):
        if isinstance(out.get(key), dict):
            out[key]["pause_status"] = status
    for trigger in out.get("triggers") or []:
        if isinstance(trigger, dict):
            trigger["pause_status"] = status
    return out


def source_pause(settings: Mapping[str, Any]) -> str | None:
    """The job's pause status: UNPAUSED if any schedule/continuous/trigger runs, None if it has none.

    The API's default for an absent pause_status is UNPAUSED.
    """
    blocks = _pausables(settings.get("settings", settings))
    if not blocks:
        return None
    return UNPAUSED if any(b.get("pause_status", UNPAUSED) == UNPAUSED for b in blocks) else PAUSED


# --- permissions --------------------------------------------------------------------------------


def acl_entries(permissions: Mapping[str, Any]) -> list[dict[str, str]]:
    """The non-inherited entries of a permissions response, in the form a permissions request takes.

    ``{"user_name"|"group_name"|"service_principal_name": ..., "permission_level": ...}``, sorted.
    A secret scope's ACL list (``{"items": [{"principal", "permission"}]}``, all direct) gives
    ``{"principal": ..., "permission": ...}`` entries, the form ``secrets/acls/put`` takes.
    """
    if "items" in permissions:
        scope_entries = {
            (str(i["principal"]), str(i["permission"]))
            for i in permissions.get("items") or []
            if i.get("principal") and i.get("permission")
        }
        return [{"principal": p, "permission": level} for p, level in sorted(scope_entries)]
    entries: set[tuple[str, str, str]] = set()
    for item in permissions.get("access_control_list") or []:
        key = next((k for k in _PRINCIPAL_KEYS if item.get(k)), None)
        if key is None:
            continue
        for perm in item.get("all_permissions") or []:
            if perm.get("inherited") or not perm.get("permission_level"):
                continue
            entries.add((key, item[key], perm["permission_level"]))
        if item.get("permission_level"):  # already in request form
            entries.add((key, item[key], item["permission_level"]))
    return [{key: name, "permission_level": level} for key, name, level in sorted(entries)]


def principals(entries: Sequence[Mapping[str, Any]]) -> set[str]:
    """The user names, group names and service principal application ids the entries name."""
    return {e[k] for e in entries for k in (*_PRINCIPAL_KEYS, "principal") if e.get(k)}


def owner_problem(object_type: str, entries: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the entries cannot be set on the object type, or None: a job needs exactly one IS_OWNER."""
    if object_type != "jobs":
        return None
    owners = [e for e in entries if e.get("permission_level") == "IS_OWNER"]
    if len(owners) != 1:
        names = ", ".join(sorted(principals(owners))) or "none"
        return f"access_control_list: a job needs exactly one IS_OWNER entry, found {len(owners)} ({names})"
    if owners[0].get("group_name"):
        group = owners[0]["group_name"]
        return (
            f"access_control_list: IS_OWNER {group} is a group; a job owner is a user or a service principal"
        )
    return None


def spec_principals(object_type: str, spec: Mapping[str, Any]) -> set[str]:
    """Principals a create body names outside ACLs (a cluster's single user, a job's run_as)."""
    if object_type == "clusters" and spec.get("single_user_name"):
        return {str(spec["single_user_name"])}
    if object_type == "jobs":
        return principals([spec.get("run_as") or {}])
    return set()


# --- canonical form -----------------------------------------------------------------------------


def _drop_empty(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value if v is not None]
    return value


def _cluster_body(obj: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: copy.deepcopy(v) for k, v in obj.items() if k in CLUSTER_CREATE_FIELDS}
    if body.get("autoscale"):
        body.pop("num_workers", None)  # a get response reports the current worker count beside autoscale
    if body.get("instance_pool_id"):
        # the pool decides the node types; the create call refuses them next to a pool
        body.pop("node_type_id", None)
        body.pop("driver_node_type_id", None)
    return body


def _without_marker_tag(tags: Any) -> Any:
    if isinstance(tags, Mapping):
        return {k: v for k, v in tags.items() if k != MARKER_KEY}
    return tags


def _blank_refs(cluster: dict[str, Any]) -> dict[str, Any]:
    for key in ("policy_id", "instance_pool_id", "driver_instance_pool_id"):
        if cluster.get(key):
            cluster[key] = _REF
    return cluster


def _canonical_cluster(obj: Mapping[str, Any]) -> dict[str, Any]:
    body = _blank_refs(_cluster_body(obj))
    body["custom_tags"] = _without_marker_tag(body.get("custom_tags"))
    body.pop("apply_policy_default_values", None)  # a create-time switch, never returned
    return body


def _canonical_pool(obj: Mapping[str, Any]) -> dict[str, Any]:
    body = without_docker_passwords({k: v for k, v in obj.items() if k in POOL_CREATE_FIELDS})
    body["custom_tags"] = _without_marker_tag(body.get("custom_tags"))
    body.pop("min_idle_instances", None)  # set to 0 by the migration unless asked otherwise
    return body


def _policy_definition(text: Any) -> Any:
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _canonical_policy(obj: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: copy.deepcopy(v) for k, v in obj.items() if k in POLICY_CREATE_FIELDS}
    body["description"] = _strip_line_marker(body.get("description") or "", _POLICY_MARKER)[0] or None
    for key in ("definition", "policy_family_definition_overrides"):
        definition = _policy_definition(body.get(key))
        if isinstance(definition, dict):
            _walk_policy_pools(definition, lambda _path, _value: _REF)
        body[key] = definition
    return body


def _canonical_script(obj: Mapping[str, Any]) -> dict[str, Any]:
    # position is left out: the target numbers its scripts itself
    body = {k: obj.get(k) for k in ("name", "enabled")}
    body["script"] = _strip_line_marker(obj.get("script") or "", _SCRIPT_MARKER)[0]
    return body


def _canonical_job(obj: Mapping[str, Any]) -> dict[str, Any]:
    settings = copy.deepcopy(dict(obj.get("settings", obj)))
    for key in ("format", "job_id", "created_time", "creator_user_name", "run_as_user_name"):
        settings.pop(key, None)
    settings["tags"] = _without_marker_tag(settings.get("tags"))
    for block in _pausables(settings):
        block.pop("pause_status", None)  # type: ignore[attr-defined]
    _walk_job_refs(settings, lambda _where, _kind, _value: _REF)
    tasks = settings.get("tasks") or []
    for task in tasks:
        if task.get("depends_on"):
            task["depends_on"] = sorted(task["depends_on"], key=lambda d: str(d.get("task_key")))
    settings["tasks"] = sorted(tasks, key=lambda t: str(t.get("task_key")))
    settings["job_clusters"] = sorted(
        settings.get("job_clusters") or [], key=lambda c: str(c.get("job_cluster_key"))
    )
    return settings


def _canonical_workspace_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: obj.get(k) for k in ("path", "object_type", "language")}


def _canonical_scope(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"scope": obj.get("scope") or obj.get("name"), "keys": sorted(obj.get("keys") or [])}


def _canonical_libraries(obj: Mapping[str, Any]) -> dict[str, Any]:
    libraries = sorted(
        (json.dumps(_drop_empty(lib), sort_keys=True) for lib in _libraries(obj.get("libraries") or [])),
    )
    return {"libraries": [json.loads(lib) for lib in libraries]}


def _canonical_permissions(obj: Mapping[str, Any]) -> dict[str, Any]:
    # the object's type and id differ between the item and a permissions response (jobs/11 vs job, /jobs/911)
    return {"access_control_list": acl_entries(obj)}


_CANONICAL: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "cluster_policies": _canonical_policy,
    "instance_pools": _canonical_pool,
    "secret_scopes": _canonical_scope,
    "global_init_scripts": _canonical_script,
    "workspace_objects": _canonical_workspace_object,
    "clusters": _canonical_cluster,
    "cluster_libraries": _canonical_libraries,
    "jobs": _canonical_job,
    "permissions": _canonical_permissions,
}


def canonical(object_type: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison form: no nulls or empties, no marker, no remappable ids, no server-set fields.

    A source object and its migrated copy in the target (a `get` response or the create body) give
    equal forms; a change of content does not. Remapped ids are replaced by a placeholder, so a job that
    moves from an existing cluster to a job cluster still compares different.
    """
    _check_type(object_type)
    result = _drop_empty(_CANONICAL[object_type](obj))
    assert isinstance(result, dict)
    return result


def content_hash(object_type: str, obj: Mapping[str, Any]) -> str:
    """sha256 of the canonical form as JSON with sorted keys."""
    text = json.dumps(canonical(object_type, obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- references ---------------------------------------------------------------------------------

# Visitor: (where, kind, source id) -> replacement id, or None when it cannot be resolved.
_RefVisitor = Callable[[str, str, str], str | None]

# Task blocks holding a reference: (task field, key inside it, reference kind).
_TASK_REFS = (
    ("run_job_task", "job_id", "jobs"),
    ("pipeline_task", "pipeline_id", "pipelines"),
    ("sql_task", "warehouse_id", "warehouses"),
    ("notebook_task", "warehouse_id", "warehouses"),
    ("dbt_task", "warehouse_id", "warehouses"),
    ("dashboard_task", "warehouse_id", "warehouses"),
    ("dashboard_task", "dashboard_id", "dashboards"),
    ("alert_task", "warehouse_id", "warehouses"),
    ("alert_task", "alert_id", "alerts"),
    ("power_bi_task", "warehouse_id", "warehouses"),
)
_SQL_TASK_REFS = (
    ("query", "query_id", "queries"),
    ("alert", "alert_id", "alerts"),
    ("dashboard", "dashboard_id", "dashboards"),
)


def _swap(container: Any, key: str, kind: str, where: str, visit: _RefVisitor) -> None:
    if not isinstance(container, dict) or container.get(key) in (None, ""):
        return
    old = container[key]
    new = visit(f"{where}.{key}", kind, str(old))
    if new is not None:
        # job ids are numbers in the API; keep the type the source used
        container[key] = int(new) if isinstance(old, int) and str(new).isdigit() else new


def _walk_cluster_refs(cluster: Any, where: str, visit: _RefVisitor) -> None:
    _swap(cluster, "policy_id", "cluster_policies", where, visit)
    _swap(cluster, "instance_pool_id", "instance_pools", where, visit)
    _swap(cluster, "driver_instance_pool_id", "instance_pools", where, visit)


def _walk_notifications(holder: Mapping[str, Any], where: str, visit: _RefVisitor) -> None:
    for event, hooks in sorted((holder.get("webhook_notifications") or {}).items()):
        for i, hook in enumerate(hooks or []):
            _swap(
                hook, "id", "notification_destinations", f"{where}.webhook_notifications.{event}[{i}]", visit
            )


def _walk_subscriptions(block: Any, where: str, visit: _RefVisitor) -> None:
    """Notification destinations of SQL alert/dashboard subscriptions (three spellings in the API)."""
    if not isinstance(block, dict):
        return
    subscription = block.get("subscription")
    lists = [
        ("subscriptions", block.get("subscriptions")),  # sql_task.alert / sql_task.dashboard
        ("subscribers", block.get("subscribers")),  # alert_task
        (
            "subscription.subscribers",
            subscription.get("subscribers") if isinstance(subscription, dict) else None,
        ),
    ]
    for label, items in lists:
        for i, sub in enumerate(items or []):
            _swap(sub, "destination_id", "notification_destinations", f"{where}.{label}[{i}]", visit)


def _walk_task(task: dict[str, Any], where: str, visit: _RefVisitor) -> None:
    _swap(task, "existing_cluster_id", "clusters", where, visit)
    _walk_cluster_refs(task.get("new_cluster"), f"{where}.new_cluster", visit)
    for block, key, kind in _TASK_REFS:
        _swap(task.get(block), key, kind, f"{where}.{block}", visit)
    sql = task.get("sql_task")
    if isinstance(sql, dict):
        for block, key, kind in _SQL_TASK_REFS:
            _swap(sql.get(block), key, kind, f"{where}.sql_task.{block}", visit)
            _walk_subscriptions(sql.get(block), f"{where}.sql_task.{block}", visit)
    for block in ("alert_task", "dashboard_task"):
        _walk_subscriptions(task.get(block), f"{where}.{block}", visit)
    _walk_notifications(task, where, visit)


def _job_tasks(settings: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, task) of every task of a job, each followed by its ``for_each_task``'s inner task."""
    for task in settings.get("tasks") or []:
        where = f"task {task.get('task_key', '?')!r}"
        while isinstance(task, dict):
            yield where, task
            task = (task.get("for_each_task") or {}).get("task")
            where = f"{where}.for_each_task.task"


def _walk_job_refs(settings: dict[str, Any], visit: _RefVisitor) -> None:
    """Call ``visit`` on every id of another object the job settings hold, replacing it by the answer."""
    _swap(settings, "existing_cluster_id", "clusters", "job", visit)
    _walk_cluster_refs(settings.get("new_cluster"), "job.new_cluster", visit)
    for cluster in settings.get("job_clusters") or []:
        key = cluster.get("job_cluster_key", "?")
        _walk_cluster_refs(cluster.get("new_cluster"), f"job_clusters[{key}].new_cluster", visit)
    for where, task in _job_tasks(settings):
        _walk_task(task, where, visit)
    _walk_notifications(settings, "job", visit)


def _walk_policy_pools(definition: dict[str, Any], visit: Callable[[str, str], str | None]) -> None:
    for attr in ("instance_pool_id", "driver_instance_pool_id"):
        rule = definition.get(attr)
        if not isinstance(rule, dict):
            continue
        for key in ("value", "defaultValue"):
            if isinstance(rule.get(key), str):
                new = visit(f"definition.{attr}.{key}", rule[key])
                if new is not None:
                    rule[key] = new
        if isinstance(rule.get("values"), list):
            rule["values"] = [visit(f"definition.{attr}.values", str(v)) or v for v in rule["values"]]


def _duplicated(kind: str, copies: Sequence[str]) -> str:
    return (
        f"the target holds {len(copies)} {kind} objects carrying its marker ({', '.join(copies)}): "
        "delete all but one there"
    )


class _Resolver:
    """Maps source ids to target ids through the context, collecting what cannot be resolved."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.problems: list[str] = []

    def __call__(self, where: str, kind: str, value: str) -> str | None:
        if kind in REFERENCE_KINDS:
            target = (self.ctx.references.get(kind) or {}).get(value)
            if target is None:
                self.problems.append(
                    f"{where} {value}: no target id in the {kind} reference map (add {value} to it)"
                )
            return target
        copies = self.ctx.copies(kind, value)
        if copies:
            self.problems.append(f"{where} {value}: {_duplicated(kind, copies)}")
            return None
        target = (self.ctx.id_map.get(kind) or {}).get(value)
        if target is not None:
            return target
        why = (self.ctx.filtered.get(kind) or {}).get(value)
        if why is not None:
            self.problems.append(f"{where} {value}: the {kind} object is not migrated ({why})")
        else:
            self.problems.append(
                f"{where} {value}: the {kind} object is not in the target (missing or not migrated yet)"
            )
        return None


def run_job_targets(job: Mapping[str, Any]) -> list[str]:
    """The job ids a job's run_job_task tasks start (for_each tasks included)."""
    found: list[str] = []

    def visit(_where: str, kind: str, value: str) -> str | None:
        if kind == "jobs":
            found.append(value)
        return None

    _walk_job_refs(copy.deepcopy(dict(job.get("settings", job))), visit)
    return found


def job_dependencies(jobs: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Source job id -> the ids of the jobs among ``jobs`` that it starts (:func:`run_job_targets`)."""
    ids = [str(_require("jobs", j, "job_id")) for j in jobs]
    known = set(ids)
    return {jid: [t for t in run_job_targets(j) if t in known] for jid, j in zip(ids, jobs, strict=True)}


def job_cycles(jobs: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Groups of jobs that start each other through run_job_task (a job starting itself included)."""
    graph = job_dependencies(jobs)

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        stack = list(graph[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(graph[node])
        return seen

    reachable = {jid: reach(jid) for jid in graph}
    cycles: list[list[str]] = []
    placed: set[str] = set()
    for jid in graph:
        if jid in placed or jid not in reachable[jid]:
            continue
        group = sorted(j for j in reachable[jid] if jid in reachable[j])
        placed.update(group)
        cycles.append(group)
    return cycles


def job_order(jobs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The jobs with every run_job_task target before the job that starts it (otherwise input order).

    Jobs in a cycle (and jobs that start them) come last: :func:`prepare` blocks them, since the job
    they start is not in the target yet.
    """
    graph = job_dependencies(jobs)
    by_id = {str(j["job_id"]): j for j in jobs}
    done: set[str] = set()
    order: list[Mapping[str, Any]] = []
    progress = True
    while progress:
        progress = False
        for jid in graph:
            if jid not in done and all(t in done for t in graph[jid]):
                done.add(jid)
                order.append(by_id[jid])
                progress = True
    order.extend(by_id[jid] for jid in graph if jid not in done)
    return order


# --- prepare ------------------------------------------------------------------------------------


def _result(
    object_type: str,
    source: Mapping[str, Any],
    ctx: Context,
    outcome: Outcome,
    spec: dict[str, Any] | None = None,
    reason: str = "",
    pause_status: str | None = None,
    relocations: tuple[tuple[str, str], ...] = (),
) -> Prepared:
    sid = source_id(object_type, source)
    marker = None if object_type in IDENTITY_BY_NAME else marker_value(ctx.source_workspace_id, sid)
    if object_type in ("cluster_libraries", "permissions"):
        marker = None
    return Prepared(
        object_type=object_type,
        source_id=sid,
        name=object_name(object_type, source),
        marker=marker,
        outcome=outcome,
        spec=spec if outcome is Outcome.MIGRATE else None,
        reason=reason,
        pause_status=pause_status,
        relocations=relocations if outcome is Outcome.MIGRATE else (),
    )


def _blocked(object_type: str, source: Mapping[str, Any], ctx: Context, problems: list[str]) -> Prepared:
    name = object_name(object_type, source)
    return _result(
        object_type, source, ctx, Outcome.BLOCKED, reason=f"{object_type} {name}: " + "; ".join(problems)
    )


def _prepare_policy(source: Mapping[str, Any], ctx: Context) -> Prepared:
    name = object_name("cluster_policies", source)
    if source.get("is_default"):
        return _result(
            "cluster_policies",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"cluster_policies {name}: is_default (a built-in policy every workspace has)",
        )
    if source.get("policy_family_id") and not source.get("policy_family_definition_overrides"):
        return _result(
            "cluster_policies",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"cluster_policies {name}: policy_family_id {source['policy_family_id']} "
            "(a built-in family's policy every workspace has)",
        )
    spec = {k: copy.deepcopy(v) for k, v in source.items() if k in POLICY_CREATE_FIELDS and v is not None}
    if spec.get("policy_family_id"):
        spec.pop("definition", None)  # a family policy is its family's definition plus the overrides
    resolver = _Resolver(ctx)
    for key in ("definition", "policy_family_definition_overrides"):
        definition = _policy_definition(spec.get(key))
        if isinstance(definition, dict):
            _walk_policy_pools(definition, lambda where, value: resolver(where, "instance_pools", value))
            spec[key] = json.dumps(definition)
    if resolver.problems:
        return _blocked("cluster_policies", source, ctx, resolver.problems)
    marker = marker_value(ctx.source_workspace_id, source_id("cluster_policies", source))
    return _result(
        "cluster_policies", source, ctx, Outcome.MIGRATE, set_marker("cluster_policies", spec, marker)
    )


def docker_auth_images(pool: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(index, url) of each of a pool's preloaded Docker images that signs in with basic auth."""
    out = []
    for i, image in enumerate(pool.get("preloaded_docker_images") or []):
        if isinstance(image, Mapping) and isinstance(image.get("basic_auth"), Mapping):
            out.append((i, str(image.get("url") or "")))
    return out


def without_docker_passwords(pool: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a pool body whose Docker images carry no basic-auth password."""
    out = copy.deepcopy(dict(pool))
    for image in out.get("preloaded_docker_images") or []:
        if isinstance(image, dict) and isinstance(image.get("basic_auth"), dict):
            image["basic_auth"].pop("password", None)
    return out


def with_docker_passwords(pool: Mapping[str, Any], passwords: Mapping[str, str]) -> dict[str, Any]:
    """A copy of a pool body with each basic-auth image's password taken from ``passwords`` (by url)."""
    out = without_docker_passwords(pool)
    for image in out.get("preloaded_docker_images") or []:
        if isinstance(image, dict) and isinstance(image.get("basic_auth"), dict):
            url = str(image.get("url") or "")
            if url in passwords:
                image["basic_auth"]["password"] = passwords[url]
    return out


def _prepare_pool(source: Mapping[str, Any], ctx: Context) -> Prepared:
    spec = {k: copy.deepcopy(v) for k, v in source.items() if k in POOL_CREATE_FIELDS and v is not None}
    spec = without_docker_passwords(spec)  # the API never returns one; the run adds the configured ones
    if not ctx.keep_idle_instances:
        spec["min_idle_instances"] = 0
    name = object_name("instance_pools", source)
    configured = ctx.docker_passwords.get(name, frozenset())
    missing = [(i, url) for i, url in docker_auth_images(spec) if url not in configured]
    if missing:
        listed = ", ".join(f"preloaded_docker_images[{i}].basic_auth.password ({url})" for i, url in missing)
        reason = (
            f"instance_pools {name}: needs value: {listed} (the API never returns it: put it in the "
            f'secret values under "{DOCKER_PASSWORDS_KEY}" as {{"{name}": {{"<image url>": "<password>"}}}})'
        )
        return _result("instance_pools", source, ctx, Outcome.NEEDS_VALUE, reason=reason)
    marker = marker_value(ctx.source_workspace_id, source_id("instance_pools", source))
    return _result("instance_pools", source, ctx, Outcome.MIGRATE, set_marker("instance_pools", spec, marker))


def _prepare_scope(source: Mapping[str, Any], ctx: Context) -> Prepared:
    name = str(_require("secret_scopes", source, "name"))
    backend = source.get("backend_type") or "DATABRICKS"
    if backend != "DATABRICKS":
        return _result(
            "secret_scopes",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"secret_scopes {name}: backend_type {backend} "
            "(create it in the secondary over its vault)",
        )
    keys = sorted(source.get("keys") or [])
    configured = ctx.secret_values.get(name, frozenset())
    with_value = [k for k in keys if k in configured]
    missing = [k for k in keys if k not in configured]
    reason = f"secret_scopes {name}: needs value: {', '.join(missing)}" if missing else ""
    if keys and not with_value:
        return _result("secret_scopes", source, ctx, Outcome.NEEDS_VALUE, reason=reason)
    return _result("secret_scopes", source, ctx, Outcome.MIGRATE, {"scope": name, "keys": with_value}, reason)


def _prepare_script(source: Mapping[str, Any], ctx: Context) -> Prepared:
    spec = {k: source[k] for k in GLOBAL_INIT_SCRIPT_FIELDS if source.get(k) is not None}
    if not isinstance(source.get("script"), str):
        raise ConfigError(
            "global_init_scripts.script",
            f"not text in global init script {source.get('name')!r}",
            "decode the API's base64 script to text before preparing it",
        )
    marker = marker_value(ctx.source_workspace_id, source_id("global_init_scripts", source))
    return _result(
        "global_init_scripts", source, ctx, Outcome.MIGRATE, set_marker("global_init_scripts", spec, marker)
    )


def _under(path: str, root: str) -> bool:
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/") or root == ""


def _prepare_workspace_object(source: Mapping[str, Any], ctx: Context) -> Prepared:
    path = str(_require("workspace_objects", source, "path"))
    kind = str(_require("workspace_objects", source, "object_type"))
    if kind == "REPO" or _under(path, "/Repos"):
        return _result(
            "workspace_objects",
            source,
            ctx,
            Outcome.OUT_OF_SCOPE,
            reason=f"workspace_objects {path}: {OUT_OF_SCOPE['repos']}",
        )
    if not any(_under(path, root) for root in ctx.roots):
        return _result(
            "workspace_objects",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"workspace_objects {path}: path outside roots {', '.join(ctx.roots)}",
        )
    if kind == "DIRECTORY":
        return _result("workspace_objects", source, ctx, Outcome.MIGRATE, {"path": path, "object_type": kind})
    if kind not in ("NOTEBOOK", "FILE"):
        return _result(
            "workspace_objects",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"workspace_objects {path}: object_type {kind} is not copied "
            "(only notebooks, files and directories are)",
        )
    size = source.get("size")
    if isinstance(size, int) and size > ctx.export_limit_bytes:
        return _result(
            "workspace_objects",
            source,
            ctx,
            Outcome.BLOCKED,
            reason=f"workspace_objects {path}: size {size} bytes over the export limit "
            f"({ctx.export_limit_bytes} bytes)",
        )
    spec = {"path": path, "object_type": kind}
    if source.get("language"):
        spec["language"] = source["language"]
    return _result("workspace_objects", source, ctx, Outcome.MIGRATE, spec)


def _workspace_path(path: str) -> str:
    """A workspace path without the ``/Workspace`` prefix the UI and newer APIs write."""
    return path[len("/Workspace") :] if path == "/Workspace" or path.startswith("/Workspace/") else path


def init_script_problems(
    cluster: Any, where: str, roots: Sequence[str], relocate_dbfs: bool = False
) -> list[str]:
    """The init scripts a cluster created from ``cluster`` would not find in the target.

    A script on DBFS is not copied (Databricks ended DBFS init scripts) unless ``relocate_dbfs``
    (it then becomes a workspace file of the target, see :func:`relocate_init_scripts`), nor is a
    workspace file outside the migrated ``roots``. Volumes, cloud storage (s3, abfss, gcs) and
    node-local files (``file``) are the same for both workspaces and pass.
    """
    if not isinstance(cluster, Mapping):
        return []
    out = []
    for i, script in enumerate(cluster.get("init_scripts") or []):
        if not isinstance(script, Mapping):
            continue
        label = f"{where}.init_scripts[{i}]"
        dbfs = (script.get("dbfs") or {}).get("destination")
        if dbfs and not relocate_dbfs:
            out.append(
                f"{label}.dbfs.destination {dbfs}: DBFS init scripts are not migrated (Databricks ended "
                "them; set relocate_dbfs_init_scripts to copy it as a workspace file of the target, or "
                "move it to a workspace file under the roots or a Unity Catalog volume)"
            )
        path = (script.get("workspace") or {}).get("destination")
        if path and not any(_under(_workspace_path(str(path)), root) for root in roots):
            out.append(
                f"{label}.workspace.destination {path}: outside the migrated roots "
                f"{', '.join(roots)} (add its folder to roots so it is copied)"
            )
    return out


def dbfs_path(destination: str) -> str:
    """A DBFS destination as the DBFS API names it: ``dbfs:/a/b.sh`` and ``/a/b.sh`` are ``/a/b.sh``."""
    path = destination[len("dbfs:") :] if destination.startswith("dbfs:") else destination
    return "/" + path.lstrip("/")


def relocated_path(folder: str, destination: str) -> str:
    """The target workspace file a DBFS init script becomes: its DBFS path under ``folder``."""
    return folder.rstrip("/") + dbfs_path(destination)


def relocation_marker(source_workspace_id: str, path: str) -> str:
    """The marker of a relocated DBFS init script: its source workspace and DBFS path (quoted)."""
    return marker_value(source_workspace_id, "dbfs:" + quote(dbfs_path(path), safe="/"))


def relocated_script(text: str, marker: str) -> str:
    """A relocated init script's content: the source's text with a last comment line of its marker."""
    return str(set_marker("global_init_scripts", {"script": text}, marker)["script"])


def script_marker(text: str) -> str | None:
    """The marker of a relocated init script's content (its last line), or None."""
    return _strip_line_marker(text, _SCRIPT_MARKER)[1]


def relocate_init_scripts(cluster: Any, folder: str) -> list[tuple[str, str]]:
    """Point the cluster spec's DBFS init scripts at their relocated workspace files (in place).

    Returns (DBFS path, workspace path) per relocated script.
    """
    if not isinstance(cluster, dict):
        return []
    out = []
    scripts = cluster.get("init_scripts") or []
    for i, script in enumerate(scripts):
        dbfs = (script.get("dbfs") or {}).get("destination") if isinstance(script, Mapping) else None
        if dbfs:
            target = relocated_path(folder, str(dbfs))
            scripts[i] = {"workspace": {"destination": target}}
            out.append((dbfs_path(str(dbfs)), target))
    return out


def _job_clusters(settings: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(label, new_cluster) of every cluster spec in job settings (job, job clusters, tasks)."""
    yield "job.new_cluster", settings.get("new_cluster")
    for cluster in settings.get("job_clusters") or []:
        key = cluster.get("job_cluster_key", "?")
        yield f"job_clusters[{key}].new_cluster", cluster.get("new_cluster")
    for where, task in _job_tasks(settings):
        yield f"{where}.new_cluster", task.get("new_cluster")


def _job_init_script_problems(settings: Mapping[str, Any], ctx: Context) -> list[str]:
    out = []
    for where, cluster in _job_clusters(settings):
        out += init_script_problems(cluster, where, ctx.roots, ctx.relocate_dbfs_init_scripts)
    return out


def _relocated_reason(object_type: str, name: str, moved: Sequence[tuple[str, str]]) -> str:
    if not moved:
        return ""
    listed = ", ".join(f"dbfs:{dbfs} -> {path}" for dbfs, path in moved)
    return f"{object_type} {name}: DBFS init script(s) relocated to workspace files: {listed}"


def _relocations(specs: Iterable[Any], ctx: Context) -> tuple[tuple[str, str], ...]:
    if not ctx.relocate_dbfs_init_scripts:
        return ()
    found = [r for spec in specs for r in relocate_init_scripts(spec, ctx.init_scripts_folder)]
    return tuple(dict.fromkeys(found))


def _prepare_cluster(source: Mapping[str, Any], ctx: Context) -> Prepared:
    name = object_name("clusters", source)
    origin = source.get("cluster_source")
    if origin not in MIGRATED_CLUSTER_SOURCES:
        return _result(
            "clusters",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"clusters {name}: cluster_source {origin} (only {' and '.join(MIGRATED_CLUSTER_SOURCES)} "
            "clusters are copied; the others are created by their job, pipeline, warehouse or endpoint)",
        )
    spec = {k: v for k, v in _cluster_body(source).items() if v is not None}
    resolver = _Resolver(ctx)
    _walk_cluster_refs(spec, "cluster", resolver)
    problems = resolver.problems + init_script_problems(
        spec, "cluster", ctx.roots, ctx.relocate_dbfs_init_scripts
    )
    if problems:
        return _blocked("clusters", source, ctx, problems)
    moved = _relocations([spec], ctx)
    marker = marker_value(ctx.source_workspace_id, source_id("clusters", source))
    spec = set_marker("clusters", spec, marker)
    reason = _relocated_reason("clusters", name, moved)
    return _result("clusters", source, ctx, Outcome.MIGRATE, spec, reason, relocations=moved)


def _libraries(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Library specs from a libraries list or from library_statuses (all-cluster libraries left out)."""
    out = []
    for item in items:
        if "library" in item:
            if item.get("is_library_for_all_clusters"):
                continue
            out.append(copy.deepcopy(dict(item["library"])))
        else:
            out.append(copy.deepcopy(dict(item)))
    return out


def _prepare_libraries(source: Mapping[str, Any], ctx: Context) -> Prepared:
    cid = str(_require("cluster_libraries", source, "cluster_id"))
    why = (ctx.filtered.get("clusters") or {}).get(cid)
    if why is not None:
        return _result(
            "cluster_libraries",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"cluster_libraries {cid}: cluster_id {cid} is not migrated ({why})",
        )
    copies = ctx.copies("clusters", cid)
    if copies:
        reason = f"cluster_libraries {cid}: cluster_id {cid}: {_duplicated('clusters', copies)}"
        return _result("cluster_libraries", source, ctx, Outcome.BLOCKED, reason=reason)
    target = (ctx.id_map.get("clusters") or {}).get(cid)
    if target is None:
        return _result(
            "cluster_libraries",
            source,
            ctx,
            Outcome.BLOCKED,
            reason=f"cluster_libraries {cid}: cluster_id {cid} is not in the target yet "
            "(clusters migrate first)",
        )
    spec = {"cluster_id": target, "libraries": _libraries(source.get("libraries") or [])}
    return _result("cluster_libraries", source, ctx, Outcome.MIGRATE, spec)


def _prepare_job(source: Mapping[str, Any], ctx: Context) -> Prepared:
    settings = copy.deepcopy(dict(_require("jobs", source, "settings")))
    name = object_name("jobs", source)
    deployment = settings.get("deployment")
    if deployment:
        kind = deployment.get("kind", "BUNDLE") if isinstance(deployment, Mapping) else deployment
        return _result(
            "jobs",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"jobs {name}: deployment.kind {kind} "
            "(bundle-managed: deploy its bundle to the secondary)",
        )
    settings.pop("format", None)  # ignored by create
    resolver = _Resolver(ctx)
    _walk_job_refs(settings, resolver)
    pause = source_pause(settings)
    problems = resolver.problems + _job_init_script_problems(settings, ctx)
    if problems:
        outcome = Outcome.SKIPPED if ctx.skip_blocked_jobs else Outcome.BLOCKED
        reason = f"jobs {name}: " + "; ".join(problems)
        return _result("jobs", source, ctx, outcome, reason=reason, pause_status=pause)
    tags = {k for k in settings.get("tags") or {} if k != MARKER_KEY}
    if len(tags) >= JOB_TAG_LIMIT:
        reason = (
            f"jobs {name}: tags has {len(tags)} tags, the API's limit (remove one: {MARKER_KEY} needs it)"
        )
        return _result("jobs", source, ctx, Outcome.BLOCKED, reason=reason, pause_status=pause)
    marker = marker_value(ctx.source_workspace_id, source_id("jobs", source))
    spec = set_marker("jobs", with_pause(settings, PAUSED), marker)
    moved = _relocations([c for _, c in _job_clusters(spec)], ctx)
    reason = _relocated_reason("jobs", name, moved)
    return _result("jobs", source, ctx, Outcome.MIGRATE, spec, reason, pause, relocations=moved)


def _permission_kind(source: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(_require("permissions", source, "object_type"))
    base = "workspace_objects" if kind in WORKSPACE_KINDS else kind
    if base not in PERMISSION_OBJECT_TYPES:
        raise ConfigError(
            "permissions.object_type",
            f"{kind!r} has no permissions to copy",
            f"use one of {', '.join(sorted(PERMISSION_OBJECT_TYPES | WORKSPACE_KINDS))}",
        )
    return kind, base


def _prepare_permissions(source: Mapping[str, Any], ctx: Context) -> Prepared:
    kind, base = _permission_kind(source)
    sid = str(_require("permissions", source, "object_id"))
    label = f"permissions {kind}/{sid}"
    why = (ctx.filtered.get(base) or {}).get(sid)
    if why is not None:
        return _result(
            "permissions",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"{label}: object_id {sid} is not migrated ({why})",
        )
    copies = ctx.copies(base, sid)
    if copies:
        reason = f"{label}: object_id {sid}: {_duplicated(base, copies)}"
        return _result("permissions", source, ctx, Outcome.BLOCKED, reason=reason)
    target = (ctx.id_map.get(base) or {}).get(sid)
    if target is None:
        return _result(
            "permissions",
            source,
            ctx,
            Outcome.BLOCKED,
            reason=f"{label}: object_id {sid} is not in the target yet (migrate {base} first)",
        )
    entries = acl_entries(source)
    problem = owner_problem(base, entries)
    if problem:
        return _result("permissions", source, ctx, Outcome.BLOCKED, reason=f"{label}: {problem}")
    spec = {"object_type": kind, "object_id": target, "access_control_list": entries}
    return _result("permissions", source, ctx, Outcome.MIGRATE, spec)


_PREPARE: dict[str, Callable[[Mapping[str, Any], Context], Prepared]] = {
    "cluster_policies": _prepare_policy,
    "instance_pools": _prepare_pool,
    "secret_scopes": _prepare_scope,
    "global_init_scripts": _prepare_script,
    "workspace_objects": _prepare_workspace_object,
    "clusters": _prepare_cluster,
    "cluster_libraries": _prepare_libraries,
    "jobs": _prepare_job,
    "permissions": _prepare_permissions,
}


def prepare(object_type: str, source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide one source object: the target body (target ids, marker, paused) or why it is not migrated."""
    _check_type(object_type)
    return _PREPARE[object_type](source, ctx)
