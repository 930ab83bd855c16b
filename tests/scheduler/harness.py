"""Airflow as a scheduler runs it: api-server, scheduler and dag-processor as separate processes.

``dag.test()`` runs one task at a time in one process; promises about concurrency, pools,
backfills and Clear only hold when the real scheduler queues task instances on an executor. This
harness starts the components from the project's venv with a LocalExecutor and a SQLite metadata
DB in a temporary AIRFLOW_HOME, imports the project's pools, and drives Airflow only through its
public interfaces: the REST API v2 (token auth of the simple auth manager) and the `airflow` CLI
where users use it (backfills). Everything it starts binds 127.0.0.1 and is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from sandbox.ports import free_port

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))

from airflow_stack import AIRFLOW, AirflowInterfaces  # noqa: E402

COMPONENTS = ("api-server", "scheduler", "dag-processor")


class LocalAirflow(AirflowInterfaces):
    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.logs = home  # the components' logs: <home>/<component>.log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = self._env(env or {})
        self._token: str | None = None

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": "platform-ops-scheduler-tests",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
                "PLATFORM_OPS_RETRY_DELAY_SECONDS": "1",
                "PLATFORM_OPS_STATE_ROOT": f"file://{self.home}/state",
                "PLATFORM_OPS_DUCKDB_PATH": str(self.home / "warehouse.duckdb"),
                "PLATFORM_OPS_CDC_DUCKDB_PATH": str(self.home / "cdc.duckdb"),
            }
        )
        env.update(extra)
        return env

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self, timeout: float = 180) -> LocalAirflow:
        self.home.mkdir(parents=True, exist_ok=True)
        self.cli("db", "migrate")
        self.cli("pools", "import", str(REPO / "include" / "config" / "pools.json"))
        for name in COMPONENTS:
            log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            args = [AIRFLOW, name] + (["--port", str(self.port)] if name == "api-server" else [])
            self.procs[name] = subprocess.Popen(
                args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_for(lambda: self._healthy(), timeout, "the api-server to answer")
        return self

    def stop(self) -> None:
        # the components fork workers and task supervisors: nothing of theirs may outlive us
        children: list[psutil.Process] = []
        for proc in self.procs.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                children += psutil.Process(proc.pid).children(recursive=True)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        # the api-server and dag-processor exit in a few seconds; the LocalExecutor scheduler keeps
        # waiting on its executor slots well past 30 s, and nothing of a test's home outlives it
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()

    def _healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited ({proc.returncode}): see {self.home}/{name}.log")
        try:
            return httpx.get(f"{self.base}/api/v2/monitor/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def admin_password(self) -> str:
        passwords: dict[str, str] = json.loads(
            (self.home / "simple_auth_manager_passwords.json.generated").read_text()
        )
        return passwords["admin"]

    def wait_dag(self, dag_id: str, timeout: float = 180) -> None:
        def parsed() -> bool:
            try:
                return bool(self.api("GET", f"/dags/{dag_id}"))
            except RuntimeError:
                return False

        self.wait_for(parsed, timeout, f"the dag-processor to serialise {dag_id}")
