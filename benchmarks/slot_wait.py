"""Waiting for FLEX slot commitments to turn ACTIVE: deferrable purchase vs the blocking wait.

Against the Reservation API fake (sandbox/bigquery_reservation, the official client over REST),
N purchases (default 20, env BENCH_SLOT_WAITS) each wait for their own new FLEX commitment, which
turns ACTIVE after ``BENCH_SLOT_ACTIVE_SECONDS`` (default 20) of polling every
``BENCH_SLOT_POLL_SECONDS`` (default 2). The same waits are done two ways:

* deferrable: what the triggerer does, N CommitmentActiveTrigger.run() coroutines on one event
  loop in one process; the purchases hold no worker slot meanwhile;
* blocking (``deferrable=False``): every purchase holds a worker slot (its own task process) for
  the whole wait, polling through FlexSlotPurchaseOperator.wait_until_terminal. N real processes
  are started, one wait each, as N task processes would.

Reported per way: wall time, worker slots held during the wait (processes waiting in a worker),
CPU seconds (user + system of the waiting processes) per wait, and memory per wait (peak RSS of the
waiting processes / waits; for the triggerer, the growth over its idle baseline). Figures only.
Last line: worker slots held, deferrable vs blocking, and the memory ratio per wait.
Run with the benchmark environment: ``make bench`` (or .venv-bench/bin/python benchmarks/slot_wait.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "slot_wait"
sys.path[:0] = [str(REPO), str(REPO / "plugins")]

from _processes import stop_on_signals  # noqa: E402 (benchmarks/)
from _wait_processes import cpu_seconds, log, peak_rss_mb, result, spawn  # noqa: E402 (benchmarks/)

N = int(os.environ.get("BENCH_SLOT_WAITS", "20"))
ACTIVE_SECONDS = float(os.environ.get("BENCH_SLOT_ACTIVE_SECONDS", "20"))
POLL = float(os.environ.get("BENCH_SLOT_POLL_SECONDS", "2"))
PARENT = "projects/admin-proj/locations/US"
TIMEOUT = 10 * ACTIVE_SECONDS + 60  # far beyond the activation: every wait ends ACTIVE


# -- the two ways of waiting (each runs in a child process) ---------------------------------------


def deferrable_child(names: list[str]) -> dict:
    """The triggerer's share: every trigger on one event loop until each fired its event."""
    from platform_ops.triggers.bigquery_reservation import CommitmentActiveTrigger

    async def first_event(name: str) -> str:
        trigger = CommitmentActiveTrigger(name, deadline=time.time() + TIMEOUT, poll_interval=POLL)
        async for event in trigger.run():
            return str(event.payload["state"]["phase"])
        return "none"

    async def all_events() -> list[str]:
        return await asyncio.gather(*(first_event(n) for n in names))

    baseline, cpu0, t0 = peak_rss_mb(), cpu_seconds(), time.monotonic()
    phases = asyncio.run(all_events())
    return {
        "seconds": time.monotonic() - t0,
        "cpu": cpu_seconds() - cpu0,
        "rss_growth_mb": peak_rss_mb() - baseline,
        "rss_mb": peak_rss_mb(),
        "active": phases.count("ACTIVE"),
    }


def blocking_child(name: str) -> dict:
    """One blocking purchase's task process: the operator's own wait, polling until ACTIVE."""
    from platform_ops.operators.bigquery_reservation import FlexSlotPurchaseOperator

    op = FlexSlotPurchaseOperator(
        task_id="buy_slots",
        admin_project="admin-proj",
        location="US",
        reservation="batch",
        assignee_project="etl-proj",
        slots=100,
        max_slots_ceiling=1000,
        poll_interval=POLL,
        deferrable=False,
    )
    cpu0, t0 = cpu_seconds(), time.monotonic()
    state = op.wait_until_terminal(name, TIMEOUT)
    return {
        "seconds": time.monotonic() - t0,
        "cpu": cpu_seconds() - cpu0,
        "rss_mb": peak_rss_mb(),
        "active": state.is_successful,
    }


# -- the run --------------------------------------------------------------------------------------


def buy(server, prefix: str, count: int) -> list[str]:
    from platform_ops.hooks.bigquery_reservation import BigQueryReservationHook

    os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = server.connection()
    hook = BigQueryReservationHook()
    return [
        hook.create_flex_commitment(PARENT, 100, commitment_id=f"{prefix}-{i:03d}").name for i in range(count)
    ]


def main() -> None:
    stop_on_signals()
    from sandbox.bigquery_reservation.server import FakeReservationServer

    WORK.mkdir(parents=True, exist_ok=True)
    reads = max(1, round(ACTIVE_SECONDS / POLL) + 1)
    log(
        f"{N} purchases; each commitment ACTIVE on its read {reads} "
        f"(~{ACTIVE_SECONDS:g} s, a read every {POLL:g} s)"
    )
    server = FakeReservationServer().start()
    try:
        server.api.config["active_after_reads"] = reads
        env = {
            **os.environ,
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": server.connection(),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_HOME": str(WORK / "airflow"),
        }

        names = buy(server, "deferred", N)
        deferred = result(spawn(__file__, "deferrable", names, env))
        log(
            f"deferrable: {deferred['active']}/{N} ACTIVE in {deferred['seconds']:.1f} s; worker slots held "
            f"during the wait: 0 (one triggerer process); CPU {deferred['cpu']:.2f} s "
            f"({deferred['cpu'] / N * 1000:.1f} ms per wait); memory {deferred['rss_growth_mb']:.1f} MB "
            f"over the triggerer's baseline ({deferred['rss_growth_mb'] / N * 1024:.0f} KB per wait; "
            f"process peak {deferred['rss_mb']:.0f} MB)"
        )

        names = buy(server, "blocking", N)
        t0 = time.monotonic()
        procs = [spawn(__file__, "blocking", [name], env) for name in names]
        waits = [result(p) for p in procs]
        wall = time.monotonic() - t0
        active = sum(bool(w["active"]) for w in waits)
        longest = max(w["seconds"] for w in waits)
        cpu_per_wait = sum(w["cpu"] for w in waits) / N
        mb_per_wait = sum(w["rss_mb"] for w in waits) / N
        log(
            f"blocking: {active}/{N} ACTIVE, longest wait {longest:.1f} s "
            f"({wall:.1f} s with process start-up); worker slots held during the wait: {N} "
            f"(a task process each); CPU {cpu_per_wait * 1000:.0f} ms per wait; memory "
            f"{mb_per_wait:.0f} MB per wait -> {mb_per_wait * N / 1024:.1f} GB for {N}"
        )
        mem_deferred = deferred["rss_growth_mb"] / N
        log(
            f"worker slots held while {N} slot purchases wait for ACTIVE, deferrable vs blocking: 0 vs {N}; "
            f"CPU per wait {deferred['cpu'] / N * 1000:.1f} ms vs {cpu_per_wait * 1000:.0f} ms; "
            f"memory per wait {mem_deferred:.2f} MB vs {mb_per_wait:.0f} MB "
            f"({mb_per_wait / max(mem_deferred, 0.01):.0f}x)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--deferrable", "--blocking"):
        names = json.loads(sys.argv[2])
        out = deferrable_child(names) if sys.argv[1] == "--deferrable" else blocking_child(names[0])
        print(json.dumps(out), flush=True)
    else:
        main()
