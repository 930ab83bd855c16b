"""The production-shaped stack (`make stack`): what the scheduler, the Celery workers and the
triggerer cost and save, against the same DAG through `airflow dags test`.

The stack is scripts/airflow_stack.py's, started here under benchmarks/.work/stack: PostgreSQL,
Redis, moto (S3 for run state and task logs), the stand-ins, the api-server, scheduler,
dag-processor, triggerer and two Celery workers (2 slots each). Measured, figures only:

* trigger to start: from the REST call that creates a dbt_transform run to the start of its first
  dbt process (the process's own start time, found by scanning the machine's processes);
* dbt_transform full run (trigger to run success) and recovery (a model broken in the project,
  the run fails after the scheduler's tries 2 and 3; the project fixed, a Clear of the failed
  task through the API, to run success) against the same two through `airflow dags test` (its
  own SQLite AIRFLOW_HOME and local run state; the recovery is a second `dags test` of the failed
  date): the difference is the scheduling overhead;
* worker slots held by N concurrent serving waits (``BENCH_STACK_WAITS``, default 50), one DAG of
  N EndpointReadySensor tasks deferrable and one in poke mode, every endpoint held IN_PROGRESS in
  the Databricks sandbox until the waits have settled: peak task instances ``running`` (a task
  slot each) and ``deferred``;
* peak memory: the sum of the RSS of every process of the stack (servers, Airflow components,
  workers and their task processes, dbt, the Databricks sandbox), sampled each second over the
  whole benchmark. The Reservation API fake runs inside this process and is not counted.

Last line: trigger-to-start seconds, slots held deferrable/poke, and the stack/`airflow dags test`
ratios. Run with the benchmark environment: ``make bench`` (or .venv-bench/bin/python
benchmarks/stack.py). Takes about 8 minutes on 2 cores with the defaults
and 50 waits (BENCH_STACK_WAITS and BENCH_STACK_SETTLE_SECONDS make it smaller).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "stack"
sys.path[:0] = [str(REPO), str(REPO / "plugins"), str(REPO / "scripts")]
from _processes import run, started, stop_on_signals  # noqa: E402 (benchmarks/)
from airflow_stack import AIRFLOW, WORKER_CONCURRENCY, WORKERS, Stack  # noqa: E402

WAITS = int(os.environ.get("BENCH_STACK_WAITS", "50"))
SETTLE_SECONDS = float(os.environ.get("BENCH_STACK_SETTLE_SECONDS", "20"))
DBT = os.environ.get("PLATFORM_OPS_DBT_EXECUTABLE", str(REPO / ".venv-dbt" / "bin" / "dbt"))
DAG_ID = "dbt_transform"
FULL_DATE, FAILED_DATE = "2026-11-01", "2026-11-02"
MODEL = "main.ml.bench"
BROKEN = " where no_such_column > 0"  # stg_orders fails at run time, as after a bad commit

SERVING_DAGS = '''
"""Benchmark DAGs (airflow dag): {waits} endpoint waits, deferrable and in poke mode."""
import pendulum
from airflow.sdk import DAG

from platform_ops.sensors.model_serving import EndpointReadySensor

for mode in ("deferrable", "poke"):
    with DAG(
        dag_id=f"bench_serving_{{mode}}",
        schedule=None,
        start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
        catchup=False,
        max_active_tasks={waits},
    ) as dag:
        for n in range({waits}):
            EndpointReadySensor(
                task_id=f"wait_{{n:03d}}",
                endpoint_name=f"bench-{{mode}}-{{n:03d}}",
                deferrable=mode == "deferrable",
                mode="poke",
                poke_interval=2,
                timeout=1800,
                retries=0,
            )
    globals()[dag.dag_id] = dag
'''


def log(msg: str) -> None:
    print(msg, flush=True)


# -- what runs where --------------------------------------------------------------------------------


def dbt_started(project: Path) -> float | None:
    """Start time (epoch) of the earliest dbt process on this project running now, if any."""
    first = None
    for proc in psutil.process_iter(["cmdline", "create_time"]):
        cmdline = proc.info["cmdline"] or []
        is_dbt = any(part.endswith(("/dbt", "retry_session.py")) for part in cmdline[:2])
        if is_dbt and str(project) in " ".join(cmdline):
            first = min(first or proc.info["create_time"], proc.info["create_time"])
    return first


def stack_processes(stack: Stack) -> list[psutil.Process]:
    roots = [p.pid for p in stack.procs.values() if p.poll() is None]
    sandbox = getattr(stack.databricks, "proc", None)
    if sandbox is not None and sandbox.poll() is None:
        roots.append(sandbox.pid)
    found: list[psutil.Process] = []
    for pid in roots:
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(pid)
            found += [root, *root.children(recursive=True)]
    return found


class MemorySampler(threading.Thread):
    """Peak of the summed RSS of ``processes()``, sampled every second."""

    def __init__(self, processes: Callable[[], list[psutil.Process]]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.peak_mb = 0.0
        self.count_at_peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1):
            total, count = 0, 0
            for proc in self.processes():
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
                    count += 1
            if total / 2**20 > self.peak_mb:
                self.peak_mb, self.count_at_peak = total / 2**20, count


def copy_project(dest: Path) -> Path:
    shutil.copytree(
        REPO / "include" / "dbt", dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    return dest


def break_project(project: Path, broken: bool) -> None:
    model = project / "models" / "staging" / "stg_orders.sql"
    text = model.read_text().replace(BROKEN, "")
    if broken:
        text = text.replace("from {{ ref('raw_orders') }}", "from {{ ref('raw_orders') }}" + BROKEN)
    model.write_text(text)


# -- on the stack -----------------------------------------------------------------------------------


def run_state(stack: Stack, dag_id: str, run_id: str) -> str:
    return str(stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])


def wait_state(stack: Stack, dag_id: str, run_id: str, timeout: float = 900) -> str:
    return str(
        stack.wait_for(
            lambda: (s := run_state(stack, dag_id, run_id)) in ("success", "failed") and s,
            timeout,
            f"{dag_id} {run_id} to end",
            every=0.5,
        )
    )


def unpause(stack: Stack, dag_id: str) -> None:
    def parsed() -> bool:
        try:
            return bool(stack.api("GET", f"/dags/{dag_id}"))
        except RuntimeError:
            return False

    stack.wait_for(parsed, 300, f"the dag-processor to serialise {dag_id}")
    stack.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})


def stack_dbt(stack: Stack, project: Path) -> dict[str, float]:
    unpause(stack, DAG_ID)
    t0 = time.time()
    run_id = stack.api(
        "POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": f"{FULL_DATE}T00:00:00+00:00"}
    )["dag_run_id"]
    started = stack.wait_for(lambda: dbt_started(project), 600, "the first dbt process", every=0.2)
    state = wait_state(stack, DAG_ID, run_id)
    full = time.time() - t0
    log(f"stack: trigger to first dbt process {started - t0:.1f} s; full run {full:.1f} s ({state})")

    break_project(project, broken=True)
    run_id = stack.api(
        "POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": f"{FAILED_DATE}T00:00:00+00:00"}
    )["dag_run_id"]
    t1 = time.time()
    failed = wait_state(stack, DAG_ID, run_id)
    failing = time.time() - t1
    break_project(project, broken=False)
    t2 = time.time()
    stack.api(
        "POST",
        f"/dags/{DAG_ID}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "task_ids": ["dbt_run"], "only_failed": True},
    )
    time.sleep(1)  # the Clear puts the run back to queued; wait for its new end
    recovered = wait_state(stack, DAG_ID, run_id)
    recovery = time.time() - t2
    summary = stack.api(
        "GET",
        f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/dbt_run/xcomEntries/summary",
        params={"deserialize": True},
    )["value"]
    log(
        f"stack: broken model, 3 tries {failing:.1f} s ({failed}); fixed, Clear to success "
        f"{recovery:.1f} s ({recovered}, {summary['mode']} of {len(summary['executed'])} nodes)"
    )
    return {"start": started - t0, "full": full, "recovery": recovery}


def ti_states(stack: Stack, dag_id: str, run_id: str) -> dict[str, int]:
    tis = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
    counts: dict[str, int] = {}
    for ti in tis["task_instances"]:
        counts[str(ti["state"])] = counts.get(str(ti["state"]), 0) + 1
    return counts


def serving_waits(stack: Stack, mode: str) -> dict[str, Any]:
    """N waits of one mode: trigger, let them settle with every endpoint IN_PROGRESS, release."""
    from databricks.sdk.service.serving import EndpointCoreConfigInput, ServedEntityInput

    dag_id = f"bench_serving_{mode}"
    client = stack.databricks.client()
    stack.databricks.configure(deploy_seconds=3600)  # IN_PROGRESS until released below
    entity = ServedEntityInput(
        entity_name=MODEL, entity_version="1", workload_size="Small", scale_to_zero_enabled=True
    )
    for n in range(WAITS):
        name = f"bench-{mode}-{n:03d}"
        client.serving_endpoints.create(
            name=name, config=EndpointCoreConfigInput(name=name, served_entities=[entity])
        )
    unpause(stack, dag_id)
    t0 = time.time()
    run_id = stack.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]
    peak = {"running": 0, "deferred": 0}

    def sample() -> dict[str, int]:
        counts = ti_states(stack, dag_id, run_id)
        for key in peak:
            peak[key] = max(peak[key], counts.get(key, 0))
        return counts

    slots = WORKERS * WORKER_CONCURRENCY
    # settled: every wait deferred, or (poke) every worker slot taken by a wait
    target = (
        (lambda c: c.get("deferred", 0) == WAITS)
        if mode == "deferrable"
        else (lambda c: c.get("running", 0) >= slots)
    )
    stack.wait_for(lambda: target(sample()), 900, f"{WAITS} {mode} waits to settle", every=1)
    settled = time.time() - t0
    counts = sample()
    end = time.time() + SETTLE_SECONDS
    while time.time() < end:
        counts = sample()
        time.sleep(1)
    stack.databricks.configure(deploy_seconds=0)  # every endpoint is ready now
    t1 = time.time()
    state = stack.wait_for(
        lambda: (sample() and (s := run_state(stack, dag_id, run_id)) in ("success", "failed")) and s,
        1800,
        f"{WAITS} {mode} waits to end",
        every=1,
    )
    drained = time.time() - t1
    waiting = WAITS - counts.get("running", 0) - counts.get("deferred", 0)
    log(
        f"{mode}: {WAITS} waits settled in {settled:.0f} s; during the wait "
        f"{counts.get('running', 0)} running (task slots held, peak {peak['running']}), "
        f"{counts.get('deferred', 0)} deferred, {waiting} not started; "
        f"endpoints ready -> run {state} {drained:.0f} s later"
    )
    return {"held": counts.get("running", 0), "peak": peak["running"], "waiting": waiting, "drained": drained}


# -- through `airflow dags test` --------------------------------------------------------------------


def dags_test(env: dict[str, str], date: str, project: Path) -> tuple[float, float | None, str]:
    """(wall seconds, seconds to the first dbt process, final state) of one `airflow dags test`."""
    out = WORK / "dags-test" / f"dags-test-{date}-{time.time_ns()}.log"
    t0 = time.time()
    with (
        out.open("w") as sink,
        started(
            [AIRFLOW, "dags", "test", DAG_ID, date], env=env, stdout=sink, stderr=subprocess.STDOUT
        ) as proc,
    ):
        first_dbt = None
        while proc.poll() is None:
            first_dbt = first_dbt or dbt_started(project)
            time.sleep(0.2)
    wall = time.time() - t0
    # `airflow dags test` exits "DagRun failed" (1) when the run failed
    return wall, (first_dbt - t0) if first_dbt else None, "success" if proc.returncode == 0 else "failed"


def peer_dbt(dags: Path) -> dict[str, float]:
    home = WORK / "dags-test"
    project = copy_project(home / "dbt-project")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLATFORM_OPS_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
            "PLATFORM_OPS_DBT_EXECUTABLE": DBT,
            "PLATFORM_OPS_DBT_PROJECT_DIR": str(project),
            "PLATFORM_OPS_STATE_ROOT": f"file://{home / 'state'}",
            "PLATFORM_OPS_DUCKDB_PATH": str(home / "warehouse.duckdb"),
            "PLATFORM_OPS_RETRY_DELAY_SECONDS": "1",  # dags test retries too, after the delay
        }
    )
    run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    full, start, state = dags_test(env, FULL_DATE, project)
    log(
        f"airflow dags test: start to first dbt process {start or float('nan'):.1f} s; "
        f"full run {full:.1f} s ({state})"
    )
    break_project(project, broken=True)
    failing, _, failed = dags_test(env, FAILED_DATE, project)
    break_project(project, broken=False)
    recovery, _, recovered = dags_test(env, FAILED_DATE, project)
    log(
        f"airflow dags test: broken model, 3 tries {failing:.1f} s ({failed}); "
        f"fixed, again {recovery:.1f} s ({recovered})"
    )
    return {"start": start or float("nan"), "full": full, "recovery": recovery}


# -- the run ----------------------------------------------------------------------------------------


def main() -> None:
    stop_on_signals()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    dags = WORK / "dags"
    dags.mkdir()
    shutil.copy(REPO / "dags" / "dbt_transform.py", dags)
    (dags / "bench_serving.py").write_text(SERVING_DAGS.format(waits=WAITS))
    project = copy_project(WORK / "dbt-project")
    log(f"stack: 2 Celery workers x {WORKER_CONCURRENCY} slots; {WAITS} serving waits per mode")
    stack = Stack(
        WORK / "stack",
        extra_env={
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "PLATFORM_OPS_DBT_EXECUTABLE": DBT,
            "PLATFORM_OPS_DBT_PROJECT_DIR": str(project),
            "PLATFORM_OPS_RETRY_DELAY_SECONDS": "1",
        },
    )
    sampler = MemorySampler(lambda: stack_processes(stack))
    t0 = time.time()
    try:
        stack.start()
        log(f"stack up in {time.time() - t0:.0f} s (UI {stack.base}, component logs {stack.logs})")
        sampler.start()
        ours = stack_dbt(stack, project)
        stack.databricks.client().registered_models.create(
            catalog_name="main", schema_name="ml", name="bench"
        )
        stack.databricks.add_model_version(MODEL)
        deferred = serving_waits(stack, "deferrable")
        poked = serving_waits(stack, "poke")
    finally:
        sampler.done.set()
        stack.stop()
    log(f"peak memory of the stack: {sampler.peak_mb:.0f} MB (RSS sum of {sampler.count_at_peak} processes)")
    peer = peer_dbt(dags)
    log(
        f"scheduling overhead vs airflow dags test: full run {ours['full'] - peer['full']:+.1f} s, "
        f"recovery {ours['recovery'] - peer['recovery']:+.1f} s"
    )
    log(
        f"trigger to start {ours['start']:.1f} s (dags test {peer['start']:.1f} s); "
        f"slots held by {WAITS} waits "
        f"deferrable/poke {deferred['held']}/{poked['held']} (+{poked['waiting']} poke waits not started); "
        f"stack/airflow dags test: full run {ours['full'] / peer['full']:.2f}x, recovery "
        f"{ours['recovery'] / peer['recovery']:.2f}x; peak memory {sampler.peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
