"""Parse time of every DAG file in dags/, against a minimal one-task DAG as the reference peer.

Each file is parsed by Airflow's DagBag in a warm process (Airflow already imported), best of 5, so
the figure is what the DAG processor pays per file on every parse loop. Figures only; no target is
asserted. Last line: slowest file / minimal DAG.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))
from _processes import stop_on_signals  # noqa: E402 (benchmarks/)

os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

MINIMAL = '''"""minimal dag"""
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
with DAG("minimal", schedule=None, catchup=False, start_date=pendulum.datetime(2026, 1, 1)):
    EmptyOperator(task_id="noop")
'''


def parse_seconds(path: Path, repeat: int = 5) -> tuple[float, int]:
    from airflow.dag_processing.dagbag import DagBag

    best, n = float("inf"), 0
    for _ in range(repeat):
        for mod in [m for m in sys.modules if m.startswith("unusual_prefix")]:
            del sys.modules[mod]
        t0 = time.perf_counter()
        bag = DagBag(dag_folder=str(path), load_op_links=False)
        best = min(best, time.perf_counter() - t0)
        if bag.import_errors:
            raise SystemExit(f"{path.name}: import errors: {bag.import_errors}")
        n = len(bag.dags)
    return best, n


def main() -> None:
    stop_on_signals()
    t0 = time.perf_counter()
    import airflow.sdk  # noqa: F401  (warm the interpreter the way the DAG processor is)
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401

    print(f"airflow import: {time.perf_counter() - t0:.2f} s (paid once per processor, not per file)")
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "minimal_dag.py"
        ref.write_text(MINIMAL)
        ref_s, _ = parse_seconds(ref)
    print(f"{'file':<40} {'dags':>4} {'parse ms':>9}")
    print(f"{'(reference) minimal one-task DAG':<40} {1:>4} {ref_s * 1000:>9.1f}")
    slowest = ("none", 0.0)
    files = sorted((REPO / "dags").glob("*.py"))
    for f in files:
        s, n = parse_seconds(f)
        print(f"{f.name:<40} {n:>4} {s * 1000:>9.1f}")
        if s > slowest[1]:
            slowest = (f.name, s)
    if not files:
        print("no DAG files in dags/")
    print(
        f"slowest DAG file {slowest[0]}: {slowest[1] * 1000:.1f} ms; "
        f"ratio vs minimal DAG: {slowest[1] / ref_s:.2f}x"
    )


if __name__ == "__main__":
    main()
