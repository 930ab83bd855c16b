"""Stopping a benchmark (SIGTERM to its process group, or Ctrl-C) stops what it started.

A script shaped like a benchmark starts a child that ignores SIGTERM (as ``airflow dags test`` with
its own handler can) and is stopped while it waits: its ``finally`` must run and the child must be
gone, SIGKILLed after the grace period.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"

SCRIPT = """
import sys, pathlib
sys.path.insert(0, {benchmarks!r})
from _processes import {call}, stop_on_signals
stop_on_signals()
out = pathlib.Path({out!r})
child = [sys.executable, "-c", (
    "import os, signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "pid = pathlib.Path({out!r}, 'child.pid.part'); pid.write_text(str(os.getpid())); "
    "pid.rename(pid.with_suffix('')); time.sleep(600)"  # renamed: the test never reads it half-written
)]
try:
    {body}
finally:
    (out / "finally").write_text("ran")
"""
BODIES = {
    "run": "run(child, capture_output=True)",
    "started": "with started(child) as proc:\n        proc.wait()",
    "popen": "popen(child).wait()",
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
@pytest.mark.parametrize("call", sorted(BODIES))
def test_a_stopped_benchmark_runs_its_finally_and_leaves_no_child(
    tmp_path: Path, call: str, signum: signal.Signals
) -> None:
    script = SCRIPT.format(benchmarks=str(BENCHMARKS), out=str(tmp_path), call=call, body=BODIES[call])
    env = {**os.environ, "PLATFORM_OPS_BENCH_STOP_GRACE": "1"}
    bench = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    try:
        _wait_for(tmp_path / "child.pid")
        child = int((tmp_path / "child.pid").read_text())
        os.killpg(bench.pid, signum)  # what a CI runner's or a shell's stop does
        bench.wait(timeout=30)
        assert (tmp_path / "finally").read_text() == "ran"
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the benchmark's child outlived it"
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)


def test_every_benchmark_handles_stop_signals_and_starts_children_through_the_helper() -> None:
    for path in sorted(BENCHMARKS.glob("[!_]*.py")):
        tree = ast.parse(path.read_text())
        main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
        first_calls = [
            n.value.func.id
            for n in main.body[:2]
            if isinstance(n, ast.Expr)
            and isinstance(n.value, ast.Call)
            and isinstance(n.value.func, ast.Name)
        ]
        assert "stop_on_signals" in first_calls, f"{path.name}: main() must start with stop_on_signals()"
        direct = [
            n.lineno
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name)
            and n.value.id == "subprocess"
            and n.attr in {"run", "Popen", "call", "check_call", "check_output"}
        ]
        assert not direct, f"{path.name}: lines {direct} start a child outside benchmarks/_processes.py"
