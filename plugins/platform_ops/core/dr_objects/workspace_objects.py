"""Workspace objects (notebooks, files, directories): which are copied, their comparison form and decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platform_ops.core.dr_objects.catalogue import OUT_OF_SCOPE
from platform_ops.core.dr_objects.common import require, under
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, result


def canonical_workspace_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison form of a workspace object: path, type and language."""
    return {k: obj.get(k) for k in ("path", "object_type", "language")}


def prepare_workspace_object(source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide a workspace object: notebooks, files and directories under the roots (Repos out of scope)."""
    path = str(require("workspace_objects", source, "path"))
    kind = str(require("workspace_objects", source, "object_type"))
    if kind == "REPO" or under(path, "/Repos"):
        return result(
            "workspace_objects",
            source,
            ctx,
            Outcome.OUT_OF_SCOPE,
            reason=f"workspace_objects {path}: {OUT_OF_SCOPE['repos']}",
        )
    if not any(under(path, root) for root in ctx.roots):
        return result(
            "workspace_objects",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"workspace_objects {path}: path outside roots {', '.join(ctx.roots)}",
        )
    if kind == "DIRECTORY":
        return result("workspace_objects", source, ctx, Outcome.MIGRATE, {"path": path, "object_type": kind})
    if kind not in ("NOTEBOOK", "FILE"):
        return result(
            "workspace_objects",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"workspace_objects {path}: object_type {kind} is not copied "
            "(only notebooks, files and directories are)",
        )
    size = source.get("size")
    if isinstance(size, int) and size > ctx.export_limit_bytes:
        return result(
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
    return result("workspace_objects", source, ctx, Outcome.MIGRATE, spec)
