"""Deciding one source object: each type's module, dispatched by object type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from platform_ops.core.dr_objects.clusters import prepare_cluster
from platform_ops.core.dr_objects.common import check_type
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.global_init_scripts import prepare_script
from platform_ops.core.dr_objects.jobs import prepare_job
from platform_ops.core.dr_objects.libraries import prepare_libraries
from platform_ops.core.dr_objects.outcome import Prepared
from platform_ops.core.dr_objects.permissions import prepare_permissions
from platform_ops.core.dr_objects.policies import prepare_policy
from platform_ops.core.dr_objects.pools import prepare_pool
from platform_ops.core.dr_objects.secret_scopes import prepare_scope
from platform_ops.core.dr_objects.workspace_objects import prepare_workspace_object

_PREPARE: dict[str, Callable[[Mapping[str, Any], Context], Prepared]] = {
    "cluster_policies": prepare_policy,
    "instance_pools": prepare_pool,
    "secret_scopes": prepare_scope,
    "global_init_scripts": prepare_script,
    "workspace_objects": prepare_workspace_object,
    "clusters": prepare_cluster,
    "cluster_libraries": prepare_libraries,
    "jobs": prepare_job,
    "permissions": prepare_permissions,
}


def prepare(object_type: str, source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide one source object: the target body (target ids, marker, paused) or why it is not migrated."""
    check_type(object_type)
    return _PREPARE[object_type](source, ctx)
