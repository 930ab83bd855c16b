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

        from sandbox import aws_strict
        from sandbox.ports import free_port

        aws_strict.install()  # refuse what EC2 refuses (a second private-DNS endpoint of one service...)

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


DR_PRIMARY_ID, DR_SECONDARY_ID = "7100000000000001", "7100000000000002"
DR_DEMO_SIZES = {"notebooks": 16, "files": 4, "clusters": 8, "jobs": 12, "repos_notebooks": 2}


def databricks_dr_pair(env: dict[str, str], state_dir: Path) -> tuple[Any, Any, Any]:
    """Two local Databricks workspaces with distinct ids for the DR migration: the primary seeded
    (sandbox/dr_seed.py, small sizes), the secondary empty but for the same users and groups
    (identities are not migrated). The DAGs' default connections ``databricks_primary`` and
    ``databricks_secondary`` point at them. Returns (primary, secondary, the seed's manifest)."""
    from sandbox.databricks.launcher import DatabricksSandbox
    from sandbox.dr_seed import ensure_principals, seed

    primary = DatabricksSandbox(state_dir / "primary", workspace_id=DR_PRIMARY_ID).start()
    secondary = DatabricksSandbox(state_dir / "secondary", workspace_id=DR_SECONDARY_ID).start()
    manifest = seed(primary.client(), sandbox=primary, **DR_DEMO_SIZES)
    ensure_principals(secondary.client())
    env["AIRFLOW_CONN_DATABRICKS_PRIMARY"] = primary.connection()
    env["AIRFLOW_CONN_DATABRICKS_SECONDARY"] = secondary.connection()
    counts = ", ".join(f"{k} {v}" for k, v in sorted(manifest.counts().items()))
    print(
        f"Databricks DR pair: primary {primary.url} (workspace {DR_PRIMARY_ID}, seeded: {counts}), "
        f"secondary {secondary.url} (workspace {DR_SECONDARY_ID}, empty); connections "
        "databricks_primary / databricks_secondary",
        flush=True,
    )
    return primary, secondary, manifest
