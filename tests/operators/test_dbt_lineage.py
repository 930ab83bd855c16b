"""OpenLineage of DbtRunOrRetryOperator through the real provider: `airflow dags test` with the
file transport, the events read back.

Each node dbt ran emits its own events (parented to the Airflow task's run), with the DuckDB
file as dataset namespace; a `dbt retry` emits only what it re-ran; lineage that cannot be
built or sent never changes the task's outcome.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox.dbt_failures import failure_project
from tests.airflow_runner import ensure_db

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).parent / "dags" / "dbt_scenarios.py"
NAMESPACE = "platform-ops-tests"
RETRIED = {
    "model.shop.stg_orders",
    "model.shop.orders",
    "model.shop.customers",
    "model.shop.order_status_counts",
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    ensure_db()
    values = dict(os.environ)
    values.update(
        {
            "PLATFORM_OPS_STATE_ROOT": f"file://{tmp_path}/state",
            "PLATFORM_OPS_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
            "PLATFORM_OPS_DBT_PROJECT_DIR": str(failure_project(tmp_path / "dbt")),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(tmp_path / "events.jsonl"), "append": True}
            ),
        }
    )
    return values


def dags_test(env: dict[str, str], date: datetime, conf: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "airflow", "dags", "test", "-f", str(DAG_FILE), "-c", json.dumps(conf)]
    return subprocess.run(
        [*argv, "dbt_scenarios", date.isoformat()], env=env, capture_output=True, text=True, timeout=600
    )


def events(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["log_file_path"])
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


def dbt_events(all_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e for e in all_events if "dbt_node" in e["job"].get("facets", {}) or ".build.seed" in e["job"]["name"]
    ]


def by_node(evs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """unique_id (seeds: job name) -> event types, for the execution events (not tests)."""
    out: dict[str, list[str]] = {}
    for e in evs:
        facets = e["job"].get("facets", {})
        kind = facets.get("jobType", {}).get("jobType")
        if kind == "SEED":
            key = e["job"]["name"]
        elif kind == "MODEL":
            key = facets["dbt_node"]["unique_id"]
        else:
            continue
        out.setdefault(key, []).append(e["eventType"])
    return out


def task_event(all_events: list[dict[str, Any]], state: str) -> dict[str, Any]:
    [event] = [e for e in all_events if e["job"]["name"] == "dbt_scenarios.dbt" and e["eventType"] == state]
    return event


def test_each_node_emits_its_datasets_and_a_retry_only_what_it_reran(
    env: dict[str, str], tmp_path: Path
) -> None:
    date = datetime(2026, 11, 1, tzinfo=UTC)
    failed = dags_test(env, date, {"vars": {"fail_models": ["stg_orders"]}})
    assert "forced failure of stg_orders" in failed.stdout + failed.stderr
    first = events(env)
    nodes = by_node(dbt_events(first))
    assert nodes["model.shop.stg_orders"] == ["START", "FAIL"]
    assert nodes["model.shop.stg_customers"] == ["START", "COMPLETE"]
    assert not RETRIED - {"model.shop.stg_orders"} & set(nodes)  # skipped downstream: nothing emitted
    assert sum(1 for k in nodes if k.endswith(".build.seed")) == 3
    # the tests of the skipped models did not run: no test event says they failed
    tests = [
        e
        for e in dbt_events(first)
        if e["job"]["name"].endswith(".test") or e["job"]["name"].startswith("test.")
    ]
    assert tests, "the tests that ran emit events"
    assert [e["job"]["name"] for e in tests if e["eventType"] == "FAIL"] == []

    warehouse = f"duckdb://{tmp_path / 'warehouse.duckdb'}"
    model_event = next(e for e in dbt_events(first) if e["job"]["name"].endswith("stg_orders.build.run"))
    assert [(d["namespace"], d["name"]) for d in model_event["inputs"]] == [
        (warehouse, "warehouse.main.raw_orders")
    ]
    assert [(d["namespace"], d["name"]) for d in model_event["outputs"]] == [
        (warehouse, "warehouse.main.stg_orders")
    ]
    seed_reader = next(e for e in dbt_events(first) if e["job"]["name"].endswith("stg_customers.build.run"))
    assert [d["name"] for d in seed_reader["inputs"]] == ["warehouse.main.raw_customers"]  # a seed, no source
    parent = model_event["run"]["facets"]["parent"]
    task_fail = task_event(first, "FAIL")
    assert parent["job"] == {"namespace": NAMESPACE, "name": "dbt_scenarios.dbt"}
    assert parent["run"]["runId"] == task_fail["run"]["runId"]
    # the task's own event: what the try wrote, and nothing it only read from its own nodes
    written = {d["name"] for d in task_fail["outputs"]}
    assert {"warehouse.main.stg_customers", "warehouse.main.raw_orders"} <= written
    assert "warehouse.main.stg_orders" not in written
    assert task_fail["inputs"] == []

    fixed = dags_test(env, date, {})
    assert " retry " in fixed.stdout + fixed.stderr
    second = events(env)[len(first) :]
    nodes = by_node(dbt_events(second))
    assert set(nodes) == RETRIED, sorted(nodes)
    assert all(types == ["START", "COMPLETE"] for types in nodes.values()), nodes
    assert {d["name"] for d in task_event(second, "COMPLETE")["outputs"]} == {
        "warehouse.main." + uid.removeprefix("model.shop.") for uid in RETRIED
    }


def test_a_broken_transport_is_logged_and_the_task_stays_green(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    broken = {
        "type": "file",
        "log_file_path": str(tmp_path / "not-a-folder" / "events.jsonl"),
        "append": True,
    }
    done = dags_test(
        {**env, "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(broken)}, datetime(2026, 11, 2, tzinfo=UTC), {}
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Failed to emit OpenLineage" in output, output[-3000:]
    assert re.search(r"DagRun Finished: dag_id=dbt_scenarios,.*state=success", output), output[-1500:]


def test_lineage_that_cannot_be_built_is_logged_not_raised(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The operator's own part (profiles.yml unreadable here): a warning, no lineage, no exception."""
    from platform_ops.core.dbt import DbtRequest
    from platform_ops.operators.dbt import DbtRunOrRetryOperator, _Outcome

    op = DbtRunOrRetryOperator(task_id="dbt", project_dir=str(tmp_path), target="local")
    request = DbtRequest(project_dir=str(tmp_path), target="local")
    op._lineage_source = (_Outcome({"results": [{}]}, {"nodes": {}}, []), request, {})
    assert op.get_openlineage_facets_on_complete(None) is None
    assert op.get_openlineage_facets_on_failure(None) is None
    logged = "".join(capfd.readouterr())  # the task logger writes through structlog, not logging
    assert logged.count("OpenLineage: the dbt lineage of this try was not emitted") == 2, logged
    op._lineage_source = None  # nothing ran in this try
    assert op.get_openlineage_facets_on_complete(None) is None
