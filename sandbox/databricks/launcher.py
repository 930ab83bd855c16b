"""Start the local Databricks workspace API from any environment (standard library only).

The server (``sandbox.databricks.server``) runs in .venv-minilake, which scripts/bootstrap.sh builds
from envs/minilake; this module spawns it on a free 127.0.0.1 port and talks to it over HTTP::

    sandbox = DatabricksSandbox(tmp_dir).start()    # or workspace_id="1001" (digits) per instance
    w = sandbox.client()                    # databricks-sdk WorkspaceClient
    sandbox.configure(deploy_seconds=0.3)   # knobs, see sandbox/databricks/fault.py
    sandbox.add_model_version("main.ml.churn")
    sandbox.seed_cluster({"cluster_name": "etl", "spark_version": "15.4.x-scala2.12",
                          "cluster_source": "JOB"})
    os.environ["AIRFLOW_CONN_DATABRICKS_DEFAULT"] = sandbox.connection()
    sandbox.stop()
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from sandbox.ports import free_port

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-minilake"
TOKEN = "dapi-sandbox-token"  # noqa: S105 - not a secret: the sandbox accepts any token
ACCOUNT_ID = "0d5c6a4e-1f2b-4c3d-9e8f-7a6b5c4d3e2f"  # any id: the sandbox serves every account
MINILAKE_ENV = {"MINILAKE_JOB_EXECUTOR": "subprocess", "MINILAKE_NOTEBOOK": "0"}


class DatabricksSandbox:
    """One sandbox server process: ``start()``, ``url``, ``token``, ``workspace_id``, ``client()``,
    ``connection()``, ``configure(**knobs)``, ``stats()``, ``seed_cluster(spec)``, ``reset()``, ``wipe()``,
    ``stop()``; also a context manager. ``workspace_id`` (digits) is what the instance reports as
    its workspace id (default: minilake's fixed one); give each instance of a pair its own."""

    def __init__(
        self, state_dir: str | Path, port: int | None = None, workspace_id: str | None = None
    ) -> None:
        self.state_dir = Path(state_dir)
        self.workspace_id = workspace_id  # None: minilake's fixed id
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = TOKEN
        self.log_path = self.state_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- process -----------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> DatabricksSandbox:
        """Spawn the server and wait until ``/_sandbox/health`` answers; raises with the log's tail."""
        python = VENV / "bin" / "python"
        if not python.exists():
            raise RuntimeError(f"{python} is missing: run `make bootstrap` (scripts/bootstrap.sh) first")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(python), "-m", "sandbox.databricks.server",
            "--host", "127.0.0.1", "--port", str(self.port), "--state-dir", str(self.state_dir),
        ]  # fmt: skip
        if self.workspace_id:
            argv += ["--workspace-id", str(self.workspace_id)]
        env = {**os.environ, **MINILAKE_ENV, "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)  # the main environment's paths must not leak into .venv-minilake
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"databricks sandbox exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                self._call("GET", "/_sandbox/health", timeout=2)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"databricks sandbox not ready after {timeout:.0f} s: {self.log_tail()}"
                    ) from None
                time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate the server (it shuts minilake down cleanly); kill it if it does not exit."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def __enter__(self) -> DatabricksSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP --------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 URL
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(
                f"{method} {path}: HTTP {exc.code} {exc.read().decode(errors='replace')}"
            ) from None
        return json.loads(raw) if raw else None

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Set knobs (``deploy_seconds``, ``deploy_reads``, ``latency_seconds``, ``error_rate_429``,
        ``error_rate_503``, ``retry_after_seconds``, ``seed``, ``fail_next``, ``commit_then_503``,
        ``export_limit_bytes``; see sandbox/databricks/fault.py); returns every knob's value. Faults
        and latency apply to every ``/api/`` route, minilake's included."""
        return dict(self._call("POST", "/_sandbox/config", knobs))

    def stats(self) -> dict[str, Any]:
        """API requests seen and faults injected: ``requests``, ``injected_429|503|403``,
        ``committed_503``, ``writes``, ``by_method`` and ``by_route`` (``"POST /api/2.2/jobs/create"``
        -> count, keyed by path template); faulted requests are counted too."""
        return dict(self._call("GET", "/_sandbox/stats"))

    def reset(self) -> None:
        """Knobs back to defaults, counters cleared and the sandbox's endpoints and models gone
        (minilake's objects untouched)."""
        self._call("POST", "/_sandbox/reset", {})

    def wipe(self) -> None:
        """``reset()`` and minilake's objects gone too (clusters, jobs, policies, pools, secrets,
        workspace files, ...): an empty workspace with ``/Shared`` and the user's home."""
        self._call("POST", "/_sandbox/wipe", {})

    def add_model_version(self, full_name: str, **fields: Any) -> dict[str, Any]:
        """Register the next version of a Unity Catalog model (``source``, ``run_id``, ``comment``,
        ``status``); returns its ModelVersionInfo as a dict."""
        path = f"/_sandbox/models/{urllib.parse.quote(full_name, safe='')}/versions"
        return dict(self._call("POST", path, fields))

    def seed_cluster(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create a cluster as a workspace would show it, whatever made it: ``spec`` is a cluster spec
        plus ``cluster_source`` (UI, API, JOB, PIPELINE, MODELS, SQL, ...; default UI) and ``state``
        (default TERMINATED); returns the cluster as ``clusters/get`` answers it."""
        return dict(self._call("POST", "/_sandbox/clusters", spec))

    def configure_accounts(self, **knobs: Any) -> dict[str, Any]:
        """Set the account API's knobs (see sandbox/databricks/routes/accounts.py); returns them all."""
        return dict(self._call("POST", "/_sandbox/accounts/config", knobs))

    def account_stats(self) -> dict[str, Any]:
        """Account API requests per method (``by_method``) and per ``METHOD kind`` (``by_route``)."""
        return dict(self._call("GET", "/_sandbox/accounts/stats"))

    # -- clients -----------------------------------------------------------------------------------
    def connection(self) -> str:
        """An Airflow ``databricks`` connection (JSON) reaching this sandbox with a PAT. Host, port
        and schema are separate fields, as the Databricks provider's own (async) client needs."""
        parts = urllib.parse.urlsplit(self.url)
        return json.dumps(
            {
                "conn_type": "databricks",
                "host": parts.hostname,
                "port": parts.port,
                "schema": parts.scheme,
                "password": self.token,
            }
        )

    def client(self) -> Any:
        """A databricks-sdk ``WorkspaceClient`` for this sandbox."""
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=self.url, token=self.token, auth_type="pat")

    def account_client(self, account_id: str = ACCOUNT_ID) -> Any:
        """A databricks-sdk ``AccountClient`` for this sandbox's account API."""
        from databricks.sdk import AccountClient

        return AccountClient(host=self.url, account_id=account_id, token=self.token, auth_type="pat")

    def workspace_host_template(self) -> str:
        """Where a new workspace's own API answers here (``{deployment_name}`` filled in by the caller)."""
        return f"{self.url}/_sandbox/workspaces/{{deployment_name}}"

    def workspace_host_client(self, deployment_name: str) -> Any:
        """A databricks-sdk ``WorkspaceClient`` on the host of the new workspace ``deployment_name``
        (SCIM Me, instance profiles and cluster policies; see routes/workspace_host.py)."""
        from databricks.sdk import WorkspaceClient

        host = self.workspace_host_template().format(deployment_name=deployment_name)
        return WorkspaceClient(host=host, token=self.token, auth_type="pat")

    def workspace_host_stats(self, deployment_name: str) -> dict[str, Any]:
        """The instance profile and cluster policy requests the new workspace ``deployment_name`` got:
        ``by_route`` (``"POST policies/clusters/create"`` -> count) and ``writes`` (its POSTs)."""
        path = f"/_sandbox/workspace-hosts/{urllib.parse.quote(deployment_name, safe='')}/stats"
        return dict(self._call("GET", path))

    def account_connection(self, account_id: str = ACCOUNT_ID, **extra: Any) -> str:
        """An Airflow ``databricks`` connection (JSON) for the account API: the account id in
        ``extra.account_id``, a token as password unless ``extra`` says otherwise."""
        conn = json.loads(self.connection())
        conn["extra"] = {"account_id": account_id, **extra}
        return json.dumps(conn)
