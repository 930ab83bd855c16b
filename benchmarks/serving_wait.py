"""Waiting for many serving endpoints: deferrable EndpointReadySensor vs poke-mode sensors.

Against the local Databricks workspace (sandbox/databricks), N endpoints (default 200, env
BENCH_SERVING_WAITS) are created at once; each turns READY ``BENCH_SERVING_DEPLOY_SECONDS``
(default 20) after its creation. The same waits are then done two ways, each polling every
``BENCH_SERVING_POLL_SECONDS`` (default 2):

* deferrable: what the triggerer does, N EndpointReadyTrigger.run() coroutines on one event loop
  in one process (the provider's async client); the sensors hold no worker slot meanwhile;
* poke mode: every sensor holds a worker slot (its own task process) for the whole wait, looping
  poke() and sleeping. Running N full Airflow task processes does not fit this machine, so
  ``BENCH_SERVING_POKE_PROCESSES`` (default 20) real processes are measured, each doing one wait
  exactly as a poke-mode sensor does, and the per-wait figures are multiplied by N.

Reported per way: wall time, worker slots held during the wait, CPU seconds (user + system of
the waiting processes) per wait, and memory per wait (peak RSS of the waiting processes / waits;
for the triggerer, the growth over its idle baseline). Figures only.
Last line: worker slots held, deferrable vs poke, and the CPU and memory per wait.
Run with the benchmark environment: ``make bench`` (or .venv-bench/bin/python benchmarks/serving_wait.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "serving_wait"
sys.path[:0] = [str(REPO), str(REPO / "plugins")]

from _processes import stop_on_signals  # noqa: E402 (benchmarks/)
from _wait_processes import cpu_seconds, log, peak_rss_mb, result, spawn  # noqa: E402 (benchmarks/)

N = int(os.environ.get("BENCH_SERVING_WAITS", "200"))
DEPLOY_SECONDS = float(os.environ.get("BENCH_SERVING_DEPLOY_SECONDS", "20"))
POLL = float(os.environ.get("BENCH_SERVING_POLL_SECONDS", "2"))
POKE_PROCESSES = int(os.environ.get("BENCH_SERVING_POKE_PROCESSES", "20"))
MODEL = "main.ml.bench"
CONN_ID = "databricks_default"


# -- the two ways of waiting (each runs in a child process) ---------------------------------------


def deferrable_child(names: list[str]) -> dict:
    """The triggerer's share: every trigger on one event loop until each fired its event."""
    from platform_ops.triggers.model_serving import EndpointReadyTrigger

    async def first_event(name: str) -> str:
        async for event in EndpointReadyTrigger(name, CONN_ID, POLL).run():
            return str(event.payload["outcome"])
        return "none"

    async def all_events() -> list[str]:
        return await asyncio.gather(*(first_event(n) for n in names))

    baseline, cpu0, t0 = peak_rss_mb(), cpu_seconds(), time.monotonic()
    statuses = asyncio.run(all_events())
    return {
        "seconds": time.monotonic() - t0,
        "cpu": cpu_seconds() - cpu0,
        "rss_growth_mb": peak_rss_mb() - baseline,
        "rss_mb": peak_rss_mb(),
        "ready": statuses.count("finished"),  # the ready trigger finishes when the endpoint serves
    }


def poke_child(name: str) -> dict:
    """One poke-mode sensor's task process: poke, sleep, until ready."""
    from platform_ops.sensors.model_serving import EndpointReadySensor

    sensor = EndpointReadySensor(task_id="wait", endpoint_name=name, poke_interval=POLL, mode="poke")
    cpu0, t0 = cpu_seconds(), time.monotonic()
    while not sensor.poke({}):
        time.sleep(POLL)
    return {"seconds": time.monotonic() - t0, "cpu": cpu_seconds() - cpu0, "rss_mb": peak_rss_mb()}


# -- the run --------------------------------------------------------------------------------------


def create_endpoints(client, prefix: str, count: int) -> list[str]:
    from databricks.sdk.service.serving import EndpointCoreConfigInput, ServedEntityInput

    entity = ServedEntityInput(
        entity_name=MODEL, entity_version="1", workload_size="Small", scale_to_zero_enabled=True
    )
    names = [f"{prefix}-{i:04d}" for i in range(count)]
    for name in names:
        client.serving_endpoints.create(
            name=name, config=EndpointCoreConfigInput(name=name, served_entities=[entity])
        )
    return names


def main() -> None:
    stop_on_signals()
    from sandbox.databricks.launcher import DatabricksSandbox

    WORK.mkdir(parents=True, exist_ok=True)
    log(f"{N} waits; endpoints ready {DEPLOY_SECONDS:.0f} s after creation; polling every {POLL:.0f} s")
    sandbox = DatabricksSandbox(WORK / "sandbox").start()
    try:
        sandbox.configure(deploy_seconds=DEPLOY_SECONDS)
        client = sandbox.client()
        client.registered_models.create(catalog_name="main", schema_name="ml", name="bench")
        sandbox.add_model_version(MODEL)
        env = {
            **os.environ,
            "AIRFLOW_CONN_DATABRICKS_DEFAULT": sandbox.connection(),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }

        names = create_endpoints(client, "deferred", N)
        deferred = result(spawn(__file__, "deferrable", names, env))
        log(
            f"deferrable: {deferred['ready']}/{N} ready in {deferred['seconds']:.1f} s; worker slots held "
            f"during the wait: 0 (one triggerer process); CPU {deferred['cpu']:.2f} s "
            f"({deferred['cpu'] / N * 1000:.1f} ms per wait); memory {deferred['rss_growth_mb']:.1f} MB "
            f"over the triggerer's baseline ({deferred['rss_growth_mb'] / N * 1024:.0f} KB per wait; "
            f"process peak {deferred['rss_mb']:.0f} MB)"
        )

        k = min(POKE_PROCESSES, N)
        names = create_endpoints(client, "poked", k)
        t0 = time.monotonic()
        procs = [spawn(__file__, "poke", [name], env) for name in names]
        pokes = [result(p) for p in procs]
        wall = time.monotonic() - t0
        cpu_per_wait = sum(p["cpu"] for p in pokes) / k
        mb_per_wait = sum(p["rss_mb"] for p in pokes) / k
        log(
            f"poke mode ({k} sensor processes measured): all ready in {wall:.1f} s; worker slots held during "
            f"the wait: {k} here, {N} for {N} waits; CPU {cpu_per_wait * 1000:.0f} ms per wait; memory "
            f"{mb_per_wait:.0f} MB per wait (a task process each) -> {mb_per_wait * N / 1024:.1f} GB for {N}"
        )
        mem_deferred = deferred["rss_growth_mb"] / N
        log(
            f"worker slots held during the wait, deferrable vs poke: 0 vs {N}; CPU per wait "
            f"{deferred['cpu'] / N * 1000:.1f} ms vs {cpu_per_wait * 1000:.0f} ms; memory per wait "
            f"{mem_deferred:.2f} MB vs {mb_per_wait:.0f} MB ({mb_per_wait / max(mem_deferred, 0.01):.0f}x)"
        )
    finally:
        sandbox.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--deferrable", "--poke"):
        names = json.loads(sys.argv[2])
        out = deferrable_child(names) if sys.argv[1] == "--deferrable" else poke_child(names[0])
        print(json.dumps(out), flush=True)
    else:
        main()
