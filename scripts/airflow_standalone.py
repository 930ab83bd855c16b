"""`make airflow` / `make airflow-stop`: airflow standalone on 127.0.0.1:8080 for trying the UI.

start: runs `airflow standalone` in the foreground (Ctrl-C stops it) with parallelism 4 and the
project's dags/ and plugins/, recording its PID in .airflow/standalone.pid. Unless
google_cloud_default is already defined, it also serves the BigQuery Reservation API fake (holding
the reservation include/config/cdc_tables.yaml buys slots for) and points the connection at it;
likewise, unless databricks_default is defined, it starts the local Databricks workspace
(sandbox/databricks, with version 1 of each model the serving configs name) and points
databricks_default at it. Both stop with standalone. Unless PLATFORM_OPS_CDC_DUCKDB_PATH names a file
of your own, the CDC DAG's DuckDB file ($AIRFLOW_HOME/cdc.duckdb) gets a generated change-tracking
log (scripts/cdc_demo_data.py) for the window its runs read: the Tokyo day that ended last.
stop: from another shell, signals every child process first, then the parent (what a clean stop
of standalone needs), waiting up to 30 s before killing what is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
HOME = Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow"))
PIDFILE = HOME / "standalone.pid"


def cdc_demo_data(env: dict[str, str], now: datetime | None = None) -> Path | None:
    """Give bigquery_cdc_before_after a log to read: generate one into $AIRFLOW_HOME/cdc.duckdb for
    the Tokyo day that ended last (the window of the latest scheduled run and of a manual
    trigger), unless the file already holds that day's log; the rest of the file is left alone.
    A file named by PLATFORM_OPS_CDC_DUCKDB_PATH is yours: left alone (returns None)."""
    if env.get("PLATFORM_OPS_CDC_DUCKDB_PATH"):
        return None
    if str(REPO / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO / "scripts"))
    import duckdb
    from cdc_demo_data import TOKYO, generate

    path = Path(env.get("AIRFLOW_HOME") or HOME) / "cdc.duckdb"
    day = (now or datetime.now(UTC)).astimezone(TOKYO).date()  # the window ends at its midnight
    end = datetime(day.year, day.month, day.day, tzinfo=TOKYO)
    start = end - timedelta(days=1)
    has_window = False
    if path.exists():
        con = duckdb.connect(str(path), read_only=True)
        try:
            tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            if "orders_ct_log" in tables:
                sql = "SELECT count(*) FROM orders_ct_log WHERE bigquery_insert_time BETWEEN ? AND ?"
                has_window = con.execute(sql, [start, end - timedelta(microseconds=1)]).fetchone()[0] > 0
        finally:
            con.close()
    if not has_window:
        path.parent.mkdir(parents=True, exist_ok=True)
        counts = generate(str(path), day.isoformat())
        print(f"CDC demo data for the Tokyo day before {day} generated in {path}: {counts}", flush=True)
    env["PLATFORM_OPS_CDC_DUCKDB_PATH"] = str(path)
    return path


def stop() -> int:
    if not PIDFILE.is_file():
        print("airflow standalone is not running (no .airflow/standalone.pid)")
        return 0
    pid = int(PIDFILE.read_text())
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        PIDFILE.unlink()
        print(f"airflow standalone (pid {pid}) had already stopped")
        return 0
    children = parent.children(recursive=True)
    for proc in children:
        proc.send_signal(signal.SIGTERM)
    psutil.wait_procs(children, timeout=20)
    parent.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs([parent, *children], timeout=10)
    for proc in alive:
        proc.kill()
    PIDFILE.unlink(missing_ok=True)
    print(f"stopped airflow standalone (pid {pid}, {len(children)} child processes)")
    return 0


def start() -> int:
    HOME.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # standalone starts its components as `airflow ...`: the venv's bin must be on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env.setdefault("AIRFLOW__API__PORT", "8080")
    airflow = str(Path(sys.executable).with_name("airflow"))
    sys.path.insert(0, str(REPO / "scripts"))
    from stand_ins import databricks_workspace, reservation_fake

    started = []
    if "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT" not in env and (fake := reservation_fake(env)):
        started.append(fake[0])
    if "AIRFLOW_CONN_DATABRICKS_DEFAULT" not in env:
        started.append(databricks_workspace(env, HOME / "databricks"))
    cdc_demo_data(env)
    # The DAGs' writers queue in these pools; a task whose pool is missing is never scheduled.
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [airflow, "pools", "import", str(REPO / "include" / "config" / "pools.json")], env=env, check=True
    )
    proc = subprocess.Popen([airflow, "standalone"], env=env)
    PIDFILE.write_text(str(proc.pid))
    print(f"airflow standalone pid {proc.pid}: UI at http://127.0.0.1:8080 in ~15 s.")
    print(f"Admin password: {HOME}/simple_auth_manager_passwords.json.generated")
    print("Stop: Ctrl-C here, or `make airflow-stop` from another shell.")
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return stop()
    finally:
        PIDFILE.unlink(missing_ok=True)
        for stand_in in started:
            stand_in.stop()


if __name__ == "__main__":
    sys.exit(stop() if sys.argv[1:] == ["stop"] else start())
