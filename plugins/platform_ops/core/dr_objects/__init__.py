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

The package holds one concern per module: ``catalogue`` (the types, the fields each create call
accepts, what is out of scope), ``context`` (:class:`Context`), ``outcome`` (:class:`Prepared`,
:class:`Outcome`), ``identity`` (source ids, names, markers), ``references`` (the ids a cluster or
job refers to, resolved), ``pause`` (job pause statuses), ``cluster_init_scripts`` (the scripts a
cluster spec points at, DBFS relocation), one module per object type (``policies``, ``pools``,
``secret_scopes``, ``global_init_scripts``, ``workspace_objects``, ``clusters``, ``libraries``,
``jobs``, ``permissions``) holding its decision and comparison form, ``decide`` (:func:`prepare`)
and ``comparison`` (:func:`canonical`, :func:`content_hash`) dispatching by type; ``common`` has the
helpers they share. Everything public is importable from here, as before the split.
"""

from __future__ import annotations

from platform_ops.core.dr_objects.catalogue import (
    BUILTIN_GROUPS,
    CLUSTER_CREATE_FIELDS,
    DEFAULT_INIT_SCRIPTS_FOLDER,
    DOCKER_PASSWORDS_KEY,
    GLOBAL_INIT_SCRIPT_FIELDS,
    IDENTITY_BY_NAME,
    JOB_TAG_LIMIT,
    MARKER_KEY,
    MIGRATED_CLUSTER_SOURCES,
    OBJECT_TYPES,
    OUT_OF_SCOPE,
    PAUSED,
    PERMISSION_OBJECT_TYPES,
    POLICY_CREATE_FIELDS,
    POOL_CREATE_FIELDS,
    REFERENCE_KINDS,
    UNPAUSED,
    WORKSPACE_KINDS,
)
from platform_ops.core.dr_objects.cluster_init_scripts import (
    dbfs_path,
    init_script_problems,
    relocate_init_scripts,
    relocated_path,
    relocated_script,
    relocation_marker,
    script_marker,
)
from platform_ops.core.dr_objects.comparison import (
    canonical,
    content_hash,
)
from platform_ops.core.dr_objects.context import (
    Context,
)
from platform_ops.core.dr_objects.decide import (
    prepare,
)
from platform_ops.core.dr_objects.identity import (
    marker_of,
    marker_value,
    object_name,
    set_marker,
    source_id,
)
from platform_ops.core.dr_objects.jobs import (
    job_cycles,
    job_dependencies,
    job_order,
    run_job_targets,
)
from platform_ops.core.dr_objects.outcome import (
    Outcome,
    Prepared,
)
from platform_ops.core.dr_objects.pause import (
    source_pause,
    with_pause,
)
from platform_ops.core.dr_objects.permissions import (
    acl_entries,
    owner_problem,
    principals,
    spec_principals,
)
from platform_ops.core.dr_objects.pools import (
    docker_auth_images,
    with_docker_passwords,
    without_docker_passwords,
)

__all__ = [
    "BUILTIN_GROUPS",
    "CLUSTER_CREATE_FIELDS",
    "DEFAULT_INIT_SCRIPTS_FOLDER",
    "DOCKER_PASSWORDS_KEY",
    "GLOBAL_INIT_SCRIPT_FIELDS",
    "IDENTITY_BY_NAME",
    "JOB_TAG_LIMIT",
    "MARKER_KEY",
    "MIGRATED_CLUSTER_SOURCES",
    "OBJECT_TYPES",
    "OUT_OF_SCOPE",
    "PAUSED",
    "PERMISSION_OBJECT_TYPES",
    "POLICY_CREATE_FIELDS",
    "POOL_CREATE_FIELDS",
    "REFERENCE_KINDS",
    "UNPAUSED",
    "WORKSPACE_KINDS",
    "Context",
    "Outcome",
    "Prepared",
    "acl_entries",
    "canonical",
    "content_hash",
    "dbfs_path",
    "docker_auth_images",
    "init_script_problems",
    "job_cycles",
    "job_dependencies",
    "job_order",
    "marker_of",
    "marker_value",
    "object_name",
    "owner_problem",
    "prepare",
    "principals",
    "relocate_init_scripts",
    "relocated_path",
    "relocated_script",
    "relocation_marker",
    "run_job_targets",
    "script_marker",
    "set_marker",
    "source_id",
    "source_pause",
    "spec_principals",
    "with_docker_passwords",
    "with_pause",
    "without_docker_passwords",
]
