"""Run a DAG end to end in-process against the test metadata DB (SQLite in the test AIRFLOW_HOME).

The DAG file is parsed by DagBag, serialized to the DB like the DAG processor does, and run with
``dag.test()`` (the scheduler loop of ``airflow dags test``); task code goes through the real task
runner, XCom, params validation and retries.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

_MIGRATED = False


def ensure_db() -> None:
    global _MIGRATED
    if not _MIGRATED:
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        _MIGRATED = True


@dataclass
class RunResult:
    state: str
    run_id: str
    xcom: dict[tuple[str, str], Any]
    try_numbers: dict[str, int]
    states: dict[str, str | None] = field(default_factory=dict)

    def summary(self, task_id: str) -> dict[str, Any]:
        summary: dict[str, Any] = self.xcom[(task_id, "summary")]
        return summary


def run_dag(
    folder: Path, dag_id: str, logical_date: datetime, conf: dict[str, Any] | None = None
) -> RunResult:
    ensure_db()
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]  # Airflow leaves it untyped
    bag = DagBag(dag_folder=str(folder), load_op_links=False)
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    dag = bag.dags[dag_id]
    dr = dag.test(logical_date=logical_date, run_conf=conf)
    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=dr.run_id).all()
        xcom = {(r.task_id, r.key): XComModel.deserialize_value(r) for r in rows}
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=dr.run_id).all()
        tries = {ti.task_id: ti.try_number for ti in tis}
        states = {ti.task_id: (str(ti.state) if ti.state else None) for ti in tis}
    return RunResult(state=str(dr.state), run_id=dr.run_id, xcom=xcom, try_numbers=tries, states=states)
