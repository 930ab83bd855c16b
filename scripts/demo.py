"""make demo: run every DAG that has a local mode end to end and print where everything went.

A DAG has a local mode when it carries the tag ``local``. Each runs through ``airflow dags test``
(the real scheduler loop, task runner, params validation and retries) on the embedded defaults:
SQLite metadata DB in .airflow/, DuckDB for the warehouse, file:// run state. DAGs with a scenario
below run it (several steps, each with the outcome it expects); the others run once.
Exit code: non-zero when any step ends differently from what it expects.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stand_ins  # scripts/, beside this file

REPO = Path(__file__).resolve().parents[1]
HOME = Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow"))
DEMO = HOME / "demo"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
POOLS = REPO / "include" / "config" / "pools.json"
FAKES: dict[str, Any] = {}  # local stand-ins started for the demo, by name
SERVED_MODEL = "main.ml.churn"
SERVING_DAG = "model_serving_deploy_churn"


@dataclass
class Step:
    title: str
    date: str
    conf: dict = field(default_factory=dict)
    expect: str = "success"
    before: Callable[[], None] | None = None  # e.g. a knob of a local stand-in


def register_model_version() -> None:
    """A new version of the served model lands in Unity Catalog (what a training run does)."""
    FAKES["databricks"].add_model_version(SERVED_MODEL)


def no_flex_capacity() -> None:
    """The Reservation API fake keeps new commitments PENDING: capacity is not available."""
    FAKES["bigquery_reservation"].api.config["active_after_reads"] = None


SCENARIOS: dict[str, list[Step]] = {
    "bigquery_cdc_before_after": [
        Step(
            "buy 100 FLEX slots, before/after images for the Tokyo day 2026-11-21 from the generated log,"
            " release the slots",
            "2026-11-22T00:00:00+09:00",
        ),
        Step(
            "re-run of the same window while no FLEX capacity is available: on-demand fallback; the"
            " window is replaced, not duplicated",
            "2026-11-22T00:00:00+09:00",
            before=no_flex_capacity,
        ),
    ],
    SERVING_DAG: [
        Step(
            "deploy main.ml.churn (latest = version 1): the endpoint is created and the deferrable sensor"
            " waits through its states",
            "2026-11-22T01:00:00+00:00",
        ),
        Step(
            "version 2 is registered: latest now means 2, the endpoint is updated",
            "2026-11-22T02:00:00+00:00",
            before=register_model_version,
        ),
        Step("roll back to version 1 (trigger param)", "2026-11-22T03:00:00+00:00", {"rollback_version": 1}),
        Step(
            "force_delete without confirm_delete: refused before any change",
            "2026-11-22T04:00:00+00:00",
            {"force_delete": True},
            expect="failed",
        ),
    ],
    "dbt_transform": [
        Step("first run of a date: full dbt build", "2026-11-20"),
        Step("re-run of that green date: nothing to rebuild", "2026-11-20"),
        Step(
            "next date, stg_orders breaks (var fail_models); Airflow retries it twice",
            "2026-11-21",
            {"vars": {"fail_models": ["stg_orders"]}},
            expect="failed",
        ),
        Step(
            "repaired without the var (under a scheduler: a backfill of the date with"
            " --reprocess-behavior failed --dag-run-conf '{}'): only stg_orders and its descendants",
            "2026-11-21",
        ),
    ],
}


def sh(argv: list[str], log: Path, env: dict[str, str]) -> int:
    with log.open("w") as fh:
        return subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False).returncode


def local_dags(env: dict[str, str]) -> list[str]:
    code = (
        "import json\nfrom airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r}, load_op_links=False)\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print('@@' + json.dumps(sorted(d for d, dag in bag.dags.items() if 'local' in dag.tags)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("@@")]
    if out.returncode != 0 or not lines:
        sys.exit(f"demo: could not parse dags/:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][2:])


def dbt_state(date: str) -> tuple[Path, list[dict]]:
    path = DEMO / "state" / "dbt_transform" / "dbt_run" / f"{date}T000000Z" / "dbt_run_results.json"
    return path, (json.loads(path.read_text())["invocations"] if path.is_file() else [])


def dbt_notes(new: list[dict]) -> list[str]:
    """What the dbt invocations of one step did."""
    if not new:
        return ["no dbt invocation: the stored results for this date are green (skip)"]
    notes = []
    for inv in new:
        models = [u.split(".")[-1] for u in inv.get("executed", []) if u.startswith("model.")]
        notes.append(
            f"try {inv['try_number']}: dbt {inv['mode']:<7} {inv['counts']}  models: {', '.join(models)}"
        )
    return notes


def cdc_notes() -> list[str]:
    import duckdb

    con = duckdb.connect(str(DEMO / "cdc.duckdb"), read_only=True)
    try:
        notes = []
        for table in ("orders_before_after", "order_lines_before_after"):
            counts = con.execute(
                f"SELECT op, before_source, count(*) FROM {table} GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            notes.append(f"{table}: " + ", ".join(f"{op}/{src}={n}" for op, src, n in counts))
        sample = con.execute(
            "SELECT order_id, op, before, after, change_count, before_source FROM orders_before_after "
            "WHERE change_count > 1 AND op = 'u' ORDER BY order_id LIMIT 1"
        ).fetchone()
        notes.append(f"e.g. {sample}")
        return notes
    finally:
        con.close()


def start_reservation_fake(env: dict[str, str]) -> None:
    """The BigQuery Reservation API fake, holding the reservation the CDC config buys slots for."""
    started = stand_ins.reservation_fake(env)
    if started:
        FAKES["bigquery_reservation"], FAKES["reservation"] = started


def start_databricks_sandbox(env: dict[str, str]) -> None:
    """The local Databricks workspace (sandbox/databricks) with the served model's version 1."""
    sandbox = stand_ins.databricks_workspace(env, DEMO / "databricks")
    FAKES["databricks"] = sandbox
    sandbox.configure(deploy_seconds=4.0)
    env["PLATFORM_OPS_SERVING_POLL_SECONDS"] = "1"


def serving_notes(log: Path) -> list[str]:
    """The plan and the endpoint states the sensor saw, from the task log."""
    notes, seen = [], set()
    for line in log.read_text(errors="replace").splitlines():
        for marker in ("Plan for ", "Endpoint churn-model: "):
            if marker in line:
                text = line[line.index(marker) :].split(" [", 1)[0].strip()
                if text not in seen:
                    seen.add(text)
                    notes.append(text[:160])
    return notes


def slot_notes(calls_before: int, changes_before: int, capacity_before: str) -> list[str]:
    """What the slot purchase and release of one step did, as the Reservation API saw it."""
    server = FAKES.get("bigquery_reservation")
    if server is None:
        return []
    api, name = server.api, FAKES["reservation"]
    calls = api.calls[calls_before:]
    bought = sum(c.startswith("POST") and c.endswith("/capacityCommitments") for c in calls)
    values = [capacity_before]
    values += [str(v) for res, f, v in api.changes[changes_before:] if res == name and f == "slotCapacity"]
    if any(c.startswith("DELETE") and "/assignments/" in c for c in calls):
        what = "commitment stayed PENDING: deleted, assignment removed (on-demand) and restored afterwards"
    else:
        what = "slotCapacity " + " -> ".join(values)
    left = f"after release: slotCapacity {api.reservations[name]['slotCapacity']}, "
    left += f"{len(api.commitments)} commitment(s), {len(api.assignments)} assignment(s)"
    return [f"slots: {bought} FLEX commitment(s) bought; {what}; {left}"]


def failure_lines(log: Path) -> str:
    """The first failure message the task raised, as the task log shows it."""
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if "dbt finished with" in line or "AirflowFailException:" in line:
            return "\n       ".join(lines[i : i + 3])
    return "(see the log)"


def run_step(dag_id: str, n: int, total: int, step: Step, env: dict[str, str]) -> tuple[Any, ...]:
    """Run one demo step with `airflow dags test`, print what it did; the summary row."""
    log = DEMO / "logs" / f"{dag_id}-{n}.log"
    print(
        f"\n[{dag_id} {n}/{total}] {step.title}\n  airflow dags test {dag_id} {step.date}"
        + (f" --conf '{json.dumps(step.conf)}'" if step.conf else ""),
        flush=True,
    )
    t0 = time.monotonic()
    argv = [AIRFLOW, "dags", "test", dag_id, step.date]
    if step.conf:
        argv += ["--conf", json.dumps(step.conf)]
    before = len(dbt_state(step.date)[1]) if dag_id == "dbt_transform" else 0
    fake = FAKES.get("bigquery_reservation")
    calls_before, changes_before = (len(fake.api.calls), len(fake.api.changes)) if fake else (0, 0)
    capacity_before = fake.api.reservations[FAKES["reservation"]]["slotCapacity"] if fake else ""
    if step.before:
        step.before()
    rc = sh(argv, log, env)
    result = "success" if rc == 0 else "failed"
    seconds = time.monotonic() - t0
    ok = result == step.expect
    where, notes = str(log.relative_to(REPO)), []
    if dag_id == "bigquery_cdc_before_after":
        notes = slot_notes(calls_before, changes_before, capacity_before)
    if dag_id == "bigquery_cdc_before_after" and result == "success":
        where, notes = (
            f"{DEMO.relative_to(REPO)}/cdc.duckdb: main.*_before_after",
            notes + cdc_notes(),
        )
    if dag_id == SERVING_DAG:
        notes = serving_notes(log)
    if dag_id == "dbt_transform":
        path, invocations = dbt_state(step.date)
        where, notes = str(path.relative_to(REPO)), dbt_notes(invocations[before:])
    print(f"  -> {result} (expected {step.expect}) in {seconds:.1f} s; log: {log.relative_to(REPO)}")
    for note in notes:
        print(f"     {note}")
    if result == "failed":
        print("     the task failed with: " + failure_lines(log))
    return (dag_id, n, step.expect, result if ok else f"{result} (!)", f"{seconds:.1f}s", where)


def main() -> int:
    env = dict(os.environ)
    shutil.rmtree(DEMO, ignore_errors=True)
    (DEMO / "logs").mkdir(parents=True)
    from sandbox.dbt_failures import failure_project  # REPO is on sys.path (stand_ins)

    env.update(
        # the shipped dbt project plus the switches the demo breaks a model with (var fail_models)
        PLATFORM_OPS_DBT_PROJECT_DIR=str(failure_project(DEMO / "dbt-project")),
        PLATFORM_OPS_CDC_DUCKDB_PATH=str(DEMO / "cdc.duckdb"),
        PLATFORM_OPS_STATE_ROOT=f"file://{DEMO / 'state'}",
        PLATFORM_OPS_DUCKDB_PATH=str(DEMO / "warehouse.duckdb"),
        PLATFORM_OPS_RETRY_DELAY_SECONDS="2",
    )
    print(f"demo: AIRFLOW_HOME={HOME}; migrating the SQLite metadata DB ...", flush=True)
    if sh([AIRFLOW, "db", "migrate"], DEMO / "logs" / "db-migrate.log", env) != 0:
        print(f"demo: airflow db migrate failed, see {DEMO / 'logs' / 'db-migrate.log'}")
        return 1
    # The DAGs' tasks queue in these pools under a scheduler (dags test does not need them, but
    # `make airflow` on this metadata DB does).
    if sh([AIRFLOW, "pools", "import", str(POOLS)], DEMO / "logs" / "pools.log", env) != 0:
        print(f"demo: airflow pools import failed, see {DEMO / 'logs' / 'pools.log'}")
        return 1
    dags = local_dags(env)
    if not dags:
        print("demo: no DAG with a local mode exists yet")
        return 0
    rows, failures = [], 0
    if "bigquery_cdc_before_after" in dags:
        from cdc_demo_data import generate

        counts = generate(str(DEMO / "cdc.duckdb"), "2026-11-22")
        print(f"demo: change-tracking log generated in {DEMO / 'cdc.duckdb'}: {counts}", flush=True)
        start_reservation_fake(env)
    if SERVING_DAG in dags:
        start_databricks_sandbox(env)
    for dag_id in dags:
        steps = SCENARIOS.get(dag_id, [Step("run once", time.strftime("%Y-%m-%d"))])
        for n, step in enumerate(steps, 1):
            row = run_step(dag_id, n, len(steps), step, env)
            failures += row[3] != step.expect
            rows.append(row)
    print("\nSummary")
    widths = [
        max(len(str(r[i])) for r in [*rows, ("DAG", "step", "expected", "result", "time", "")])
        for i in range(5)
    ]
    header = ("DAG", "step", "expected", "result", "time", "state / output")
    for row in [header, *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row[:5], widths, strict=True)) + "  " + row[5])
    print(f"\nWarehouse: {DEMO / 'warehouse.duckdb'}   Run state: {DEMO / 'state'}   Logs: {DEMO / 'logs'}")
    if failures:
        print(f"demo: {failures} step(s) did not end as expected; read the logs above")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        for fake in FAKES.values():
            if hasattr(fake, "stop"):
                fake.stop()
    sys.exit(code)
