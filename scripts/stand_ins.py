"""The local stand-ins `make demo` and `make airflow` start, seeded from the project's configs.

Each starter points the Airflow connection its DAGs use at the stand-in (in ``env``, which the
caller passes on to Airflow) and returns what it started; the caller stops it.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO), str(REPO / "plugins")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

CDC_CONFIG = REPO / "include" / "config" / "cdc_tables.yaml"
SERVING_CONFIGS = REPO / "include" / "config" / "model_serving"


def reservation_fake(env: dict[str, str]) -> tuple[Any, str] | None:
    """The BigQuery Reservation API fake (in this process), holding the reservation the CDC config's
    slot_capacity block buys slots for: (server, reservation name); None without a block."""
    from platform_ops.config_files import load_yaml
    from sandbox.bigquery_reservation.server import FakeReservationServer

    block = load_yaml(CDC_CONFIG).get("slot_capacity")
    if not block:
        return None
    server = FakeReservationServer().start()
    reservation = server.seed_for(block)
    env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = server.connection(block["admin_project"])
    print(f"BigQuery Reservation API fake on {server.url} (google_cloud_default points at it)", flush=True)
    return server, reservation


def databricks_workspace(env: dict[str, str], state_dir: Path) -> Any:
    """The local Databricks workspace (sandbox/databricks, a child process) with version 1 of
    every model the serving configs serve."""
    from platform_ops.config_files import load_yaml
    from platform_ops.core.model_serving import parse_config
    from sandbox.databricks.launcher import DatabricksSandbox

    sandbox = DatabricksSandbox(state_dir).start()
    client = sandbox.client()
    for path in sorted(Path(SERVING_CONFIGS).glob("*.yaml")):
        for model in parse_config(load_yaml(path), str(path)).model_names:
            catalog, schema, name = model.split(".")
            client.registered_models.create(catalog_name=catalog, schema_name=schema, name=name)
            sandbox.add_model_version(model)
    env["AIRFLOW_CONN_DATABRICKS_DEFAULT"] = sandbox.connection()
    print(f"Databricks sandbox on {sandbox.url} (databricks_default points at it)", flush=True)
    return sandbox


class MotoServer:
    """A moto server (the AWS wire protocol) on a free 127.0.0.1 port, in this process."""

    def __init__(self) -> None:
        """Pick the port; :meth:`start` serves."""
        from moto.server import ThreadedMotoServer

        from sandbox.ports import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> MotoServer:
        """Serve until :meth:`stop` (its request log silenced: werkzeug's logger)."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving (everything it held is gone)."""
        self._server.stop()

    def connection(self, region: str) -> str:
        """An Airflow ``aws`` connection (JSON) reaching this server."""
        extra = {"endpoint_url": self.url, "region_name": region}
        return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra})


def aws_moto(env: dict[str, str], region: str) -> MotoServer:
    """A moto server standing in for AWS (empty); aws_default points at it."""
    server = MotoServer().start()
    env["AIRFLOW_CONN_AWS_DEFAULT"] = server.connection(region)
    print(f"AWS stand-in (moto server) on {server.url} (aws_default points at it)", flush=True)
    return server
