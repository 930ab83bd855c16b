"""BigQuery for the tests and the demo: the bqemulator package, run from its own environment.

bqemulator executes BigQuery SQL (on DuckDB, translated with SQLGlot) behind the real REST API, so
google-cloud-bigquery talks to it unchanged. It lives in .venv-bqemulator (envs/bqemulator: it
pins duckdb 1.5, the project uses duckdb 2) and runs as a child process on free 127.0.0.1 ports,
with HOME pointing at .venv-bqemulator/home where bootstrap put DuckDB's spatial extension (no
download needed). Ephemeral: every start is an empty BigQuery.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox.ports import free_port

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-bqemulator"
# DuckDB column types -> BigQuery types, for copying local tables into the emulator.
DUCKDB_TO_BIGQUERY = {
    "INTEGER": "INT64",
    "BIGINT": "INT64",
    "VARCHAR": "STRING",
    "BOOLEAN": "BOOL",
    "DOUBLE": "FLOAT64",
    "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
}


class BigQueryEmulator:
    """One bqemulator process: ``start()``, ``client()``, ``connection()``, ``stop()``."""

    def __init__(self, project: str = "local-proj", log_path: Path | None = None) -> None:
        self.project = project
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.rest_port}"
        self.log_path = log_path or VENV / "emulator.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> BigQueryEmulator:
        exe = VENV / "bin" / "bqemulator"
        if not exe.exists():
            raise RuntimeError(f"{exe} is missing: run `make bootstrap` (scripts/bootstrap.sh) first")
        argv = [
            str(exe), "start",
            "--rest-host", "127.0.0.1", "--rest-port", str(self.rest_port),
            "--grpc-host", "127.0.0.1", "--grpc-port", str(self.grpc_port),
            "--project", self.project, "--log-level", "warning",
        ]  # fmt: skip
        env = {**os.environ, "HOME": str(VENV / "home")}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        probe = f"{self.url}/bigquery/v2/projects/{self.project}/datasets"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bqemulator exited ({self.proc.returncode}): {self._log_tail()}")
            try:
                with urllib.request.urlopen(probe, timeout=2):  # noqa: S310 - our own http://127.0.0.1 URL
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"bqemulator not ready after {timeout:.0f} s: {self._log_tail()}"
                    ) from None
                time.sleep(0.2)

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def connection(self) -> str:
        """An Airflow google_cloud_platform connection (JSON) whose clients reach this emulator."""
        extra = {"api_endpoint": self.url, "project": self.project, "is_anonymous": True}
        return json.dumps({"conn_type": "google_cloud_platform", "extra": extra})

    def client(self) -> Any:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.url),
        )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def load_rows(client: Any, table: str, schema: Iterable[tuple[str, str]], rows: Iterable[Mapping]) -> None:
    """Create ``table`` (replacing it) with ``schema`` [(name, BigQuery type)] holding ``rows``,
    through a load job of newline-delimited JSON."""
    from google.cloud import bigquery

    fields = [bigquery.SchemaField(name, kind) for name, kind in schema]
    data = "\n".join(json.dumps({k: _json_value(v) for k, v in r.items()}) for r in rows)
    config = bigquery.LoadJobConfig(
        schema=fields, source_format="NEWLINE_DELIMITED_JSON", write_disposition="WRITE_TRUNCATE"
    )
    client.load_table_from_file(io.BytesIO(data.encode()), table, job_config=config).result()


def copy_from_duckdb(con: Any, client: Any, dataset: str) -> list[str]:
    """Copy every table of a DuckDB connection's main schema into ``dataset``; returns their names."""
    client.create_dataset(dataset, exists_ok=True)
    names = [
        r[0]
        for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()
    ]
    for name in names:
        cols = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [name],
        ).fetchall()
        schema = [(c, "NUMERIC" if t.startswith("DECIMAL") else DUCKDB_TO_BIGQUERY[t]) for c, t in cols]
        cur = con.execute(f'SELECT * FROM "{name}"')
        rows = [dict(zip([c for c, _ in cols], r, strict=True)) for r in cur.fetchall()]
        load_rows(client, f"{dataset}.{name}", schema, rows)
    return names
