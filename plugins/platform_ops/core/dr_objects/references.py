"""The ids of other objects a cluster spec or job settings hold, walked and resolved to target ids."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from platform_ops.core.dr_objects.catalogue import REFERENCE_KINDS
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, result

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


def walk_cluster_refs(cluster: Any, where: str, visit: _RefVisitor) -> None:
    """Call ``visit`` on the policy and pool ids of a cluster spec, replacing each by the answer."""
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
    walk_cluster_refs(task.get("new_cluster"), f"{where}.new_cluster", visit)
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


def job_tasks(settings: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, task) of every task of a job, each followed by its ``for_each_task``'s inner task."""
    for task in settings.get("tasks") or []:
        where = f"task {task.get('task_key', '?')!r}"
        while isinstance(task, dict):
            yield where, task
            task = (task.get("for_each_task") or {}).get("task")
            where = f"{where}.for_each_task.task"


def walk_job_refs(settings: dict[str, Any], visit: _RefVisitor) -> None:
    """Call ``visit`` on every id of another object the job settings hold, replacing it by the answer."""
    _swap(settings, "existing_cluster_id", "clusters", "job", visit)
    walk_cluster_refs(settings.get("new_cluster"), "job.new_cluster", visit)
    for cluster in settings.get("job_clusters") or []:
        key = cluster.get("job_cluster_key", "?")
        walk_cluster_refs(cluster.get("new_cluster"), f"job_clusters[{key}].new_cluster", visit)
    for where, task in job_tasks(settings):
        _walk_task(task, where, visit)
    _walk_notifications(settings, "job", visit)


def duplicated(kind: str, copies: Sequence[str]) -> str:
    """The reason for an object the target holds more than once (by marker)."""
    return (
        f"the target holds {len(copies)} {kind} objects carrying its marker ({', '.join(copies)}): "
        "delete all but one there"
    )


def referenced_target(
    object_type: str,
    source: Mapping[str, Any],
    ctx: Context,
    kind: str,
    sid: str,
    where: str,
    hint: str,
) -> Prepared | str:
    """The target id of the ``kind`` object ``sid`` that ``source`` belongs to, or why ``source`` waits.

    An object attached to another migrated object (a cluster's libraries, an object's ACL) is
    filtered with it, blocked while the target holds it more than once, and blocked until it is in
    the target (``hint`` says what runs first). ``where`` names the object and its field.
    """
    why = (ctx.filtered.get(kind) or {}).get(sid)
    if why is not None:
        reason = f"{where} {sid} is not migrated ({why})"
        return result(object_type, source, ctx, Outcome.FILTERED, reason=reason)
    copies = ctx.copies(kind, sid)
    if copies:
        reason = f"{where} {sid}: {duplicated(kind, copies)}"
        return result(object_type, source, ctx, Outcome.BLOCKED, reason=reason)
    target = (ctx.id_map.get(kind) or {}).get(sid)
    if target is None:
        reason = f"{where} {sid} is not in the target yet ({hint})"
        return result(object_type, source, ctx, Outcome.BLOCKED, reason=reason)
    return target


class Resolver:
    """Maps source ids to target ids through the context, collecting what cannot be resolved."""

    def __init__(self, ctx: Context) -> None:
        """Resolve through ``ctx``."""
        self.ctx = ctx
        self.problems: list[str] = []

    def __call__(self, where: str, kind: str, value: str) -> str | None:
        """The target id of ``value`` (a ``kind`` object's source id), or None with a problem recorded."""
        if kind in REFERENCE_KINDS:
            target = (self.ctx.references.get(kind) or {}).get(value)
            if target is None:
                self.problems.append(
                    f"{where} {value}: no target id in the {kind} reference map (add {value} to it)"
                )
            return target
        copies = self.ctx.copies(kind, value)
        if copies:
            self.problems.append(f"{where} {value}: {duplicated(kind, copies)}")
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
