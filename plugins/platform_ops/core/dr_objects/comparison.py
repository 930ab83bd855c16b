"""The comparison form a source object and its migrated copy share, and its hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from platform_ops.core.dr_objects.clusters import canonical_cluster
from platform_ops.core.dr_objects.common import check_type, drop_empty
from platform_ops.core.dr_objects.global_init_scripts import canonical_script
from platform_ops.core.dr_objects.jobs import canonical_job
from platform_ops.core.dr_objects.libraries import canonical_libraries
from platform_ops.core.dr_objects.permissions import canonical_permissions
from platform_ops.core.dr_objects.policies import canonical_policy
from platform_ops.core.dr_objects.pools import canonical_pool
from platform_ops.core.dr_objects.secret_scopes import canonical_scope
from platform_ops.core.dr_objects.workspace_objects import canonical_workspace_object

_CANONICAL: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "cluster_policies": canonical_policy,
    "instance_pools": canonical_pool,
    "secret_scopes": canonical_scope,
    "global_init_scripts": canonical_script,
    "workspace_objects": canonical_workspace_object,
    "clusters": canonical_cluster,
    "cluster_libraries": canonical_libraries,
    "jobs": canonical_job,
    "permissions": canonical_permissions,
}


def canonical(object_type: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison form: no nulls or empties, no marker, no remappable ids, no server-set fields.

    A source object and its migrated copy in the target (a `get` response or the create body) give
    equal forms; a change of content does not. Remapped ids are replaced by a placeholder, so a job that
    moves from an existing cluster to a job cluster still compares different.
    """
    check_type(object_type)
    result = drop_empty(_CANONICAL[object_type](obj))
    assert isinstance(result, dict)
    return result


def content_hash(object_type: str, obj: Mapping[str, Any]) -> str:
    """sha256 of the canonical form as JSON with sorted keys."""
    text = json.dumps(canonical(object_type, obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
