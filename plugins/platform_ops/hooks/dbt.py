"""DbtHook: runs the dbt executable of its own environment as a subprocess.

dbt lives in a separate virtualenv (it pins pydantic/protobuf/packaging below Airflow's needs), so
Airflow never imports it: the hook runs ``<env>/bin/dbt``, streams every line to the task log and
keeps the tail for error messages. With a Databricks connection it exports the host, HTTP path and
token as environment variables for profiles.yml; the token goes in ``DBT_ENV_SECRET_*``, which dbt
scrubs from its own logs, and it is registered with Airflow's secrets masker.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from platform_ops.exceptions import ConfigError

DBT_EXECUTABLE_ENV = "PLATFORM_OPS_DBT_EXECUTABLE"
#: the repository's own dbt environment (made by `make bootstrap`), used when nothing else is set
REPO_DBT_EXECUTABLE = Path(__file__).resolve().parents[3] / ".venv-dbt" / "bin" / "dbt"
TOKEN_ENV = "DBT_ENV_SECRET_DATABRICKS_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True)
class DbtInvocation:
    returncode: int
    tail: list[str]


def resolve_dbt_executable(explicit: str | None = None) -> str:
    exe = explicit or os.environ.get(DBT_EXECUTABLE_ENV) or str(REPO_DBT_EXECUTABLE)
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise ConfigError(
            "dbt_executable",
            f"{exe!r} is not an executable file",
            f"run `make bootstrap` to create .venv-dbt, or set {DBT_EXECUTABLE_ENV} / dbt_executable "
            "to the dbt of an environment with the adapters installed",
        )
    return exe


class DbtHook(BaseHook):
    """Runs dbt commands; optionally with credentials from an Airflow Databricks connection."""

    conn_name_attr = "databricks_conn_id"
    hook_name = "dbt (subprocess)"

    def __init__(self, dbt_executable: str | None = None, databricks_conn_id: str | None = None) -> None:
        super().__init__()
        self.dbt_executable = resolve_dbt_executable(dbt_executable)
        self.databricks_conn_id = databricks_conn_id
        self._proc: subprocess.Popen[str] | None = None

    @cached_property
    def databricks_env(self) -> dict[str, str]:
        """DBT_DATABRICKS_HOST / _HTTP_PATH and the token, from the Databricks connection."""
        if not self.databricks_conn_id:
            return {}
        from airflow.providers.databricks.hooks.databricks_sql import DatabricksSqlHook

        hook = DatabricksSqlHook(databricks_conn_id=self.databricks_conn_id)
        extra = hook.databricks_conn.extra_dejson
        http_path = extra.get("http_path")
        if not hook.host or not http_path:
            raise ConfigError(
                "databricks_conn_id",
                f"connection {self.databricks_conn_id!r} lacks a host or extra.http_path",
                "set the workspace URL as host and the SQL warehouse path as extra.http_path",
            )
        token = hook._get_token(raise_error=True)  # PAT, service-principal OAuth or Azure AD
        mask_secret(token)
        env = {"DBT_DATABRICKS_HOST": hook.host, "DBT_DATABRICKS_HTTP_PATH": http_path, TOKEN_ENV: token}
        for key in ("catalog", "schema"):
            if extra.get(key):
                env[f"DBT_DATABRICKS_{key.upper()}"] = str(extra[key])
        return env

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **(extra or {}), **self.databricks_env}
        env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        env.setdefault("DBT_VERSION_CHECK", "false")
        return env

    def run(self, argv: list[str], env: Mapping[str, str], cwd: str, tail_lines: int = 60) -> DbtInvocation:
        """Run dbt, streaming each output line to the task log; returns the exit code and the tail."""
        tail: deque[str] = deque(maxlen=tail_lines)
        self._proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # on_kill can stop dbt and its children together
        )
        assert self._proc.stdout is not None
        # A reader thread drains dbt's output as fast as dbt writes it; logging happens here. dbt
        # never blocks on a full pipe while the task logger is busy.
        lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        stdout = self._proc.stdout

        def drain() -> None:
            for raw in stdout:
                lines.put(raw.rstrip())
            lines.put(None)

        reader = threading.Thread(target=drain, name="dbt-output", daemon=True)
        reader.start()
        while (line := lines.get()) is not None:
            tail.append(line)
            self.log.info("dbt | %s", line)
        reader.join()
        returncode = self._proc.wait()
        self._proc = None
        return DbtInvocation(returncode, list(tail))

    def kill(self) -> None:
        proc = self._proc
        if proc and proc.poll() is None:
            self.log.warning("Stopping dbt (pid %s)", proc.pid)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
