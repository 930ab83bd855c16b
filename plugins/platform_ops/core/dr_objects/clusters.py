"""Clusters: the create body from a `get` response, its comparison form and its decision."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from platform_ops.core.dr_objects.catalogue import CLUSTER_CREATE_FIELDS, MIGRATED_CLUSTER_SOURCES
from platform_ops.core.dr_objects.cluster_init_scripts import (
    init_script_problems,
    relocated_reason,
    relocations_of,
)
from platform_ops.core.dr_objects.common import REF
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.identity import (
    marker_value,
    object_name,
    set_marker,
    source_id,
    without_marker_tag,
)
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, blocked, result
from platform_ops.core.dr_objects.references import Resolver, walk_cluster_refs


def cluster_body(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The create body of a cluster from a `get` response (the fields create takes, none it refuses)."""
    body = {k: copy.deepcopy(v) for k, v in obj.items() if k in CLUSTER_CREATE_FIELDS}
    if body.get("autoscale"):
        body.pop("num_workers", None)  # a get response reports the current worker count beside autoscale
    if body.get("instance_pool_id"):
        # the pool decides the node types; the create call refuses them next to a pool
        body.pop("node_type_id", None)
        body.pop("driver_node_type_id", None)
    return body


def _blank_refs(cluster: dict[str, Any]) -> dict[str, Any]:
    for key in ("policy_id", "instance_pool_id", "driver_instance_pool_id"):
        if cluster.get(key):
            cluster[key] = REF
    return cluster


def canonical_cluster(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison form of a cluster: its create body without marker and with placeholder references."""
    body = _blank_refs(cluster_body(obj))
    body["custom_tags"] = without_marker_tag(body.get("custom_tags"))
    body.pop("apply_policy_default_values", None)  # a create-time switch, never returned
    return body


def prepare_cluster(source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide a cluster: only UI and API clusters migrate, with target references and its marker."""
    name = object_name("clusters", source)
    origin = source.get("cluster_source")
    if origin not in MIGRATED_CLUSTER_SOURCES:
        return result(
            "clusters",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"clusters {name}: cluster_source {origin} (only {' and '.join(MIGRATED_CLUSTER_SOURCES)} "
            "clusters are copied; the others are created by their job, pipeline, warehouse or endpoint)",
        )
    spec = {k: v for k, v in cluster_body(source).items() if v is not None}
    resolver = Resolver(ctx)
    walk_cluster_refs(spec, "cluster", resolver)
    problems = resolver.problems + init_script_problems(
        spec, "cluster", ctx.roots, ctx.relocate_dbfs_init_scripts
    )
    if problems:
        return blocked("clusters", source, ctx, problems)
    moved = relocations_of([spec], ctx)
    marker = marker_value(ctx.source_workspace_id, source_id("clusters", source))
    spec = set_marker("clusters", spec, marker)
    reason = relocated_reason("clusters", name, moved)
    return result("clusters", source, ctx, Outcome.MIGRATE, spec, reason, relocations=moved)
