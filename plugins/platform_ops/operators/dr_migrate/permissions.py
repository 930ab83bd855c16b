"""The ACL copy: which objects' permissions a run copies, and the copy itself."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from platform_ops.core import dr_objects as objs
from platform_ops.core.dr_migrate import (
    DrParams,
    marker_ids,
)
from platform_ops.hooks.dr_migrate import DrWorkspaceHook
from platform_ops.operators.dr_migrate.base import DrBaseOperator, Pair, pool_threads

# Permission object types per migrated type (workspace objects: per their own object_type).
PERMISSION_TYPES = (
    "cluster_policies",
    "instance_pools",
    "secret_scopes",
    "clusters",
    "jobs",
    "workspace_objects",
)
_WORKSPACE_PERMISSIONS = {"NOTEBOOK": "notebooks", "DIRECTORY": "directories", "FILE": "files"}
_OWNER = "IS_OWNER"


def _marker_ids(
    pair_source_id: str, object_type: str, target_objects: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Source id -> target id, read back from the target's markers (or paths and names).

    A source object the target holds more than once is left out (see :func:`marker_ids`).
    """
    return marker_ids(pair_source_id, object_type, target_objects)[0]


def permission_objects(hook: DrWorkspaceHook, params: DrParams) -> list[tuple[str, str]]:
    """(permission object type, id) of every object whose ACL a run copies, as ``hook`` lists them."""
    out: list[tuple[str, str]] = []
    for object_type in PERMISSION_TYPES:
        for obj in hook.list_objects(object_type, params.roots):
            if object_type == "workspace_objects":
                kind = _WORKSPACE_PERMISSIONS.get(str(obj.get("object_type")))
                if (
                    kind
                    and obj.get("object_id") is not None
                    and not str(obj.get("path", "")).startswith("/Repos")
                ):
                    out.append((kind, str(obj["object_id"])))
            elif object_type == "clusters" and obj.get("cluster_source") not in objs.MIGRATED_CLUSTER_SOURCES:
                continue
            elif object_type == "secret_scopes" and obj.get("backend_type", "DATABRICKS") != "DATABRICKS":
                continue  # a vault-backed scope is not migrated
            else:
                out.append((object_type, objs.source_id(object_type, obj)))
    return out


class PermissionCopy:
    """Copy the non-inherited ACLs of every migrated object (principals were checked by the preflight)."""

    def __init__(self, op: DrBaseOperator, pair: Pair, params: DrParams) -> None:
        """Copy within ``pair``."""
        self.op = op
        self.pair = pair
        self.params = params

    def targets(self) -> list[tuple[str, str, str]]:
        """(permission type, source id, target id) of every migrated object.

        An object the target holds more than once is left out (its own task and the validation
        report it with every id): its ACL would land on one copy picked at random.
        """
        mapped: dict[str, dict[str, str]] = {}
        for object_type in PERMISSION_TYPES:
            if object_type == "workspace_objects":
                continue
            mapped[object_type] = _marker_ids(
                self.pair.source_id, object_type, self.pair.target.list_objects(object_type)
            )
        out = []
        for object_type, source_id in permission_objects(self.pair.source, self.params):
            if object_type in mapped:
                target_id = mapped[object_type].get(source_id)
                if target_id:
                    out.append((object_type, source_id, target_id))
        out += self._workspace_targets()
        return out

    def _workspace_targets(self) -> list[tuple[str, str, str]]:
        roots = self.params.roots
        target_ids = {
            str(o.get("path")): str(o.get("object_id"))
            for o in self.pair.target.list_objects("workspace_objects", roots)
            if o.get("object_id") is not None
        }
        out = []
        for o in self.pair.source.list_objects("workspace_objects", roots):
            kind = _WORKSPACE_PERMISSIONS.get(str(o.get("object_type")))
            path = str(o.get("path"))
            if kind and path in target_ids and o.get("object_id") is not None:
                out.append((kind, str(o["object_id"]), target_ids[path]))
        return out

    def compare(
        self, object_type: str, source_id: str, target_id: str
    ) -> tuple[list[dict[str, Any]], bool, str | None]:
        """The entries to set, whether the target already has them, and an owner problem.

        A source ACL that names no owner keeps the target's owner (the identity that created it).
        """
        entries = objs.acl_entries(self.pair.source.get_permissions(object_type, source_id))
        current = objs.acl_entries(self.pair.target.get_permissions(object_type, target_id))
        if any(e.get("permission_level") == _OWNER for e in entries):
            problem = objs.owner_problem(object_type, entries)
        else:
            problem = None
            entries = [*entries, *(e for e in current if e.get("permission_level") == _OWNER)]
        have = _acl_key(current)
        same = _acl_key(entries) <= have
        if object_type == "secret_scopes":  # scope ACL items are put one by one: the missing ones only
            entries = [e for e in entries if not _acl_key([e]) <= have]
        return entries, same, problem

    def run(self) -> dict[str, Any]:
        """Set every ACL that differs; an object whose owner is ambiguous is reported and left alone."""
        counts: dict[str, int] = {}
        problems: list[str] = []
        lock = threading.Lock()

        def one(item: tuple[str, str, str]) -> None:
            object_type, source_id, target_id = item
            entries, same, problem = self.compare(object_type, source_id, target_id)
            if problem:
                outcome = "blocked"
                problems.append(f"{object_type}/{source_id}: {problem}")
            elif same:
                outcome = "identical"
            else:
                self.pair.target.set_permissions(object_type, target_id, entries)
                outcome = "update"
            with lock:
                counts[outcome] = counts.get(outcome, 0) + 1

        with ThreadPoolExecutor(
            max_workers=pool_threads(self.params.parallelism), thread_name_prefix="dr-permissions"
        ) as pool:
            list(pool.map(one, self.targets()))
        for problem in problems:
            self.op.log.warning("permissions blocked: %s", problem)
        self.op.log.info(
            "permissions: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to copy"
        )
        return {
            "object_type": "permissions",
            "actions": counts,
            "writes": counts.get("update", 0),
            "failures": 0,
        }


def _acl_key(entries: Iterable[Mapping[str, Any]]) -> set[str]:
    return {repr(sorted((k, str(v)) for k, v in e.items())) for e in entries}
