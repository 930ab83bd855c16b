"""The migration's tasks wired in a DAG, in dependency order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseOperator

from platform_ops.operators.dr_migrate.base import OBJECT_TYPES
from platform_ops.operators.dr_migrate.migrate import DrMigrateOperator
from platform_ops.operators.dr_migrate.preflight import DrPreflightOperator
from platform_ops.operators.dr_migrate.teardown import DrTeardownOperator
from platform_ops.operators.dr_migrate.validate import DrValidateOperator

# The task of a type runs after the tasks of the types its specs refer to (the others start at once).
TASK_UPSTREAM: dict[str, tuple[str, ...]] = {
    "cluster_policies": ("instance_pools",),  # a policy's definition may fix a pool id
    "clusters": ("cluster_policies", "instance_pools", "global_init_scripts", "workspace_objects"),
    "cluster_libraries": ("clusters",),
    "jobs": ("cluster_policies", "instance_pools", "workspace_objects", "clusters"),
    "permissions": tuple(t for t in OBJECT_TYPES if t != "permissions"),
}


def build_dr_migration(
    migrate_operators: Mapping[str, type[DrMigrateOperator]] | None = None, **task_kwargs: Any
) -> dict[str, BaseOperator]:
    """The migration's tasks in the current DAG, wired in dependency order; returns them by task id.

    ``preflight`` first; one ``migrate_<type>`` per object type after the types its specs refer to
    (``migrate_operators`` may give a type its own DrMigrateOperator subclass); ``teardown`` after
    every migration task whatever happened; ``validate`` last. ``task_kwargs`` go to every task.
    """
    preflight = DrPreflightOperator(task_id="preflight", **task_kwargs)
    tasks: dict[str, BaseOperator] = {"preflight": preflight}
    for object_type in OBJECT_TYPES:
        cls = (migrate_operators or {}).get(object_type, DrMigrateOperator)
        task = cls(task_id=f"migrate_{object_type}", object_type=object_type, **task_kwargs)
        ups = TASK_UPSTREAM.get(object_type, ())
        for up in ups:
            tasks[f"migrate_{up}"] >> task
        if not ups:
            preflight >> task
        tasks[task.task_id] = task
    teardown = DrTeardownOperator(task_id="teardown", **task_kwargs)
    validate = DrValidateOperator(task_id="validate", **task_kwargs)
    [tasks[f"migrate_{t}"] for t in OBJECT_TYPES] >> teardown
    [tasks["migrate_permissions"], teardown] >> validate
    tasks.update(teardown=teardown, validate=validate)
    return tasks
