"""The CDC DAG's slot purchase on the stack: when the mapped work fails, the teardown still gives
the capacity back and the DAG run is failed (not green because the teardown succeeded).

The stack's CDC warehouse has no change-tracking log, so every mapped before/after task fails as
it would on a missing source table. The Reservation API fake (in this process) shows what was
bought and released.
"""

from __future__ import annotations

import pytest
from airflow_stack import Stack

from tests.stack.helpers import runs, task_instances, unpause, wait_run

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("stack")]

DAG_ID = "bigquery_cdc_before_after"


def _capacity(stack: Stack) -> dict[str, int]:
    state = stack.reservation.api.state()
    return {r["name"]: int(r.get("slotCapacity", 0)) for r in state["reservations"]}


def test_failed_mapped_work_still_releases_the_slots(stack: Stack) -> None:
    baseline = _capacity(stack)
    assert stack.reservation.api.state()["commitments"] == []
    unpause(stack, DAG_ID)  # catchup is off: one scheduled run, for the day that ended last
    run = stack.wait_for(lambda: runs(stack, DAG_ID), 120, "the scheduled CDC run", every=2)[0]
    wait_run(stack, DAG_ID, run["dag_run_id"], "failed", timeout=300)

    states: dict[str, list[str]] = {}
    for ti in task_instances(stack, DAG_ID, run["dag_run_id"]):
        states.setdefault(ti["task_id"], []).append(ti["state"])
    assert states["buy_slots"] == ["success"]
    assert len(states["before_after"]) == 2  # one mapped task per configured table
    assert set(states["before_after"]) == {"failed"}
    assert states["release_slots"] == ["success"]  # the teardown ran although the work failed

    state = stack.reservation.api.state()
    bought = [c for c in state["calls"] if c.startswith("POST") and "capacityCommitments" in c]
    released = [c for c in state["calls"] if c.startswith("DELETE") and "capacityCommitments" in c]
    assert len(bought) == 1, state["calls"]
    assert len(released) == 1, state["calls"]
    assert state["commitments"] == []
    assert _capacity(stack) == baseline
