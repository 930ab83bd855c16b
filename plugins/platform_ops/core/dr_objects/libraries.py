"""Cluster libraries: the specs installed on a migrated cluster, their comparison form and decision."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from platform_ops.core.dr_objects.common import drop_empty, require
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, result
from platform_ops.core.dr_objects.references import referenced_target


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


def canonical_libraries(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison form of a cluster's libraries: their specs, sorted."""
    libraries = sorted(
        (json.dumps(drop_empty(lib), sort_keys=True) for lib in _libraries(obj.get("libraries") or [])),
    )
    return {"libraries": [json.loads(lib) for lib in libraries]}


def prepare_libraries(source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide a cluster's libraries: the target cluster's id and the specs to install on it."""
    cid = str(require("cluster_libraries", source, "cluster_id"))
    where = f"cluster_libraries {cid}: cluster_id"
    target = referenced_target(
        "cluster_libraries", source, ctx, "clusters", cid, where, "clusters migrate first"
    )
    if isinstance(target, Prepared):
        return target
    spec = {"cluster_id": target, "libraries": _libraries(source.get("libraries") or [])}
    return result("cluster_libraries", source, ctx, Outcome.MIGRATE, spec)
