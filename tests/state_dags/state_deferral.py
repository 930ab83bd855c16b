"""Test DAG: a task stores its run state, defers, and stores it again once it resumes.

Each write opens a store object of its own, as a task resumed from a deferral does in Airflow (a new
process, a new operator object): the try's one version file must be rewritten, not copied.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import DAG, BaseOperator

from platform_ops.state import RunStateStore


class StoreAcrossDeferralOperator(BaseOperator):
    """Store ``{"step": ...}`` before deferring and again when the trigger fires."""

    def execute(self, context: Any) -> None:
        """Store the first document, then wait in the triggerer."""
        self._store(context, "before the deferral")
        self.defer(trigger=TimeDeltaTrigger(timedelta(0)), method_name="resume")

    def resume(self, context: Any, event: Any = None) -> str:
        """Store the second document of the same try; returns its URL."""
        return self._store(context, "after the deferral")

    def _store(self, context: Any, step: str) -> str:
        ti = context["ti"]
        return RunStateStore().put(
            {"step": step},
            ti.dag_id,
            ti.task_id,
            context["logical_date"],
            "progress",
            ti.try_number,
            run_id=ti.run_id,
        )


with DAG(
    dag_id="state_deferral",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test"],
    doc_md=__doc__,
    default_args={"owner": "tests", "retries": 0},
):
    StoreAcrossDeferralOperator(task_id="store")
