"""Test DAGs: the DR migration's tasks with their params from the run conf, no retries.

``dr_scenarios`` is the migration as the shipped DAG wires it; ``dr_scenarios_crash`` is the same,
except that its jobs task fails after ``conf['crash_after']`` creates in the target; with
``conf['killed']`` (the default) its flushes never reach the store, as with a killed worker.
``dr_scenarios_crash_clusters`` crashes the same way in its clusters task; with
``conf['die_after_create']`` the crash comes right after a create the target committed.
``dr_cutover_scenarios`` is the cutover; ``dr_validate_scenarios`` the validation alone (what a
change made in the target after a run looks like to the next validation).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG

from platform_ops.operators.dr_migrate import (
    DrCutoverOperator,
    DrMigrateOperator,
    DrValidateOperator,
    build_dr_migration,
)

ARGS: dict[str, Any] = {
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    "tags": ["test"],
    "doc_md": __doc__,
    "render_template_as_native_obj": True,
    "default_args": {"owner": "tests", "retries": 0},
}
PARAMS = "{{ dag_run.conf['dr'] }}"


class Killed(RuntimeError):
    """What the worker's death looks like to the task: nothing after it runs, no finally flushes."""


class CrashingMigrateOperator(DrMigrateOperator):
    """Dies after ``conf['crash_after']`` creates in the target; its checkpoint never reaches the store."""

    def execute(self, context: Any) -> Any:
        self.crash_after = int(context["dag_run"].conf["crash_after"])
        self.killed = bool(context["dag_run"].conf.get("killed", True))
        self.die_after_create = bool(context["dag_run"].conf.get("die_after_create", False))
        return super().execute(context)

    def flush(self, pair: Any, delta: Any) -> None:
        """Lost with the process when it is killed; a failure that is not a kill still flushes."""
        if not self.killed:
            super().flush(pair, delta)

    def open_pair(self, *args: Any, **kwargs: Any) -> Any:
        pair = super().open_pair(*args, **kwargs)
        create = pair.target.create
        made = {"n": 0}
        limit = self.crash_after
        die_after_create = self.die_after_create

        def dying_create(object_type: str, spec: dict[str, Any]) -> str:
            if made["n"] >= limit:
                raise Killed(f"killed after {made['n']} creates")
            made["n"] += 1
            created = str(create(object_type, spec))
            if die_after_create and made["n"] >= limit:
                raise Killed(f"killed after {made['n']} creates")
            return created

        pair.target.create = dying_create  # type: ignore[method-assign]
        return pair


with DAG(dag_id="dr_scenarios", schedule=None, **ARGS):
    build_dr_migration(dr_params=PARAMS)

with DAG(dag_id="dr_scenarios_crash", schedule=None, **ARGS):
    build_dr_migration({"jobs": CrashingMigrateOperator}, dr_params=PARAMS)

with DAG(dag_id="dr_scenarios_crash_clusters", schedule=None, **ARGS):
    build_dr_migration({"clusters": CrashingMigrateOperator}, dr_params=PARAMS)

with DAG(dag_id="dr_cutover_scenarios", schedule=None, **ARGS):
    DrCutoverOperator(task_id="cutover", dr_params=PARAMS)

with DAG(dag_id="dr_validate_scenarios", schedule=None, **ARGS):
    DrValidateOperator(task_id="validate", dr_params=PARAMS)
