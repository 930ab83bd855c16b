"""Permissions: the ACL entries a migration copies, their principals, and a permissions item's decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from platform_ops.core.dr_objects.catalogue import PERMISSION_OBJECT_TYPES, WORKSPACE_KINDS
from platform_ops.core.dr_objects.common import require
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, result
from platform_ops.core.dr_objects.references import referenced_target
from platform_ops.exceptions import ConfigError

_PRINCIPAL_KEYS = ("user_name", "group_name", "service_principal_name")


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


def canonical_permissions(obj: Mapping[str, Any]) -> dict[str, Any]:
    # the object's type and id differ between the item and a permissions response (jobs/11 vs job, /jobs/911)
    """The comparison form of a permissions item: its non-inherited ACL entries."""
    return {"access_control_list": acl_entries(obj)}


def _permission_kind(source: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(require("permissions", source, "object_type"))
    base = "workspace_objects" if kind in WORKSPACE_KINDS else kind
    if base not in PERMISSION_OBJECT_TYPES:
        raise ConfigError(
            "permissions.object_type",
            f"{kind!r} has no permissions to copy",
            f"use one of {', '.join(sorted(PERMISSION_OBJECT_TYPES | WORKSPACE_KINDS))}",
        )
    return kind, base


def prepare_permissions(source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide a permissions item: the target object's id and the ACL entries to set on it."""
    kind, base = _permission_kind(source)
    sid = str(require("permissions", source, "object_id"))
    label = f"permissions {kind}/{sid}"
    target = referenced_target(
        "permissions", source, ctx, base, sid, f"{label}: object_id", f"migrate {base} first"
    )
    if isinstance(target, Prepared):
        return target
    entries = acl_entries(source)
    problem = owner_problem(base, entries)
    if problem:
        return result("permissions", source, ctx, Outcome.BLOCKED, reason=f"{label}: {problem}")
    spec = {"object_type": kind, "object_id": target, "access_control_list": entries}
    return result("permissions", source, ctx, Outcome.MIGRATE, spec)
