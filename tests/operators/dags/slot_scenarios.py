"""Test DAGs: buy slots (setup), do the work (may fail), release (teardown); knobs through run conf.

``slot_scenarios`` waits in the triggerer (deferrable, as the shipped DAG does);
``slot_scenarios_blocking`` waits in the worker (the non-deferrable path).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task

from platform_ops.operators.bigquery_reservation import FlexSlotPurchaseOperator, FlexSlotReleaseOperator

for dag_id, deferrable in (("slot_scenarios", True), ("slot_scenarios_blocking", False)):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["test"],
        doc_md=__doc__,
        render_template_as_native_obj=True,
        default_args={"owner": "tests", "retries": 0},
    ):
        buy = FlexSlotPurchaseOperator(
            task_id="buy_slots",
            admin_project="admin-proj",
            location="US",
            reservation="{{ dag_run.conf.get('reservation', 'batch') }}",
            assignee_project="etl-proj",
            strategy="{{ dag_run.conf.get('strategy', 'flex_commitment') }}",
            slots="{{ dag_run.conf.get('slots', 100) }}",
            reservation_slot_capacity="{{ dag_run.conf.get('baseline') }}",
            max_slots_ceiling=1000,
            dry_run="{{ dag_run.conf.get('dry_run', False) }}",
            activation_timeout=timedelta(seconds=1),
            poll_interval=0.05,
            deferrable=deferrable,
            retries=1,  # a retry of the purchase must find its own commitment
            retry_delay=timedelta(seconds=0),
        )

        @task
        def heavy_work(**context) -> dict:
            """Reports what the work saw: the capacity, the commitments and the assignments."""
            from platform_ops.hooks.bigquery_reservation import BigQueryReservationHook

            hook = BigQueryReservationHook()
            parent = "projects/admin-proj/locations/US"
            res = f"{parent}/reservations/batch"
            reservation = hook.get_reservation(res)
            seen = {
                "slot_capacity": reservation.slot_capacity,
                "max_slots": reservation.autoscale.max_slots,
                "commitments": [c.name for c in hook.client.list_capacity_commitments(parent=parent)],
                "assignees": [a.assignee for a in hook.list_assignments(res)],
            }
            if context["dag_run"].conf.get("delete_reservation"):  # someone else deletes it meanwhile
                for assignment in hook.list_assignments(res):
                    hook.delete_assignment(assignment.name)
                hook.client.delete_reservation(name=res)
            if context["dag_run"].conf.get("fail_work"):
                raise RuntimeError(f"the heavy work failed (saw {seen})")
            return seen

        release = FlexSlotReleaseOperator(
            task_id="release_slots",
            purchase_task_id="buy_slots",
            poll_interval=0.05,
            deferrable=deferrable,
            release_timeout=timedelta(seconds=10),
        )
        # A failed release must not hide behind a green run; `done` keeps a failed work failing it too
        # (with on_failure_fail_dagrun the release, not the work, is the DAG's leaf).
        work = heavy_work()
        buy >> work >> release.as_teardown(setups=buy, on_failure_fail_dagrun=True)
        [work, release] >> EmptyOperator(task_id="done")
