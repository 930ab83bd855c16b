"""The local Databricks workspace API: minilake's app plus the sandbox's routes (runs in .venv-minilake).

minilake (envs/minilake) emulates much of the workspace API on DuckDB: clusters, jobs, workspace
files, DBFS, SQL warehouses and statements, Unity Catalog catalogs/schemas/tables, secrets, ...
Everything it does not implement falls through to its ``/api/{path}`` catch-all (501). The sandbox
puts its own routers in front of that catch-all:

* ``routes.serving``: model serving endpoints, with a time- or read-driven deployment lifecycle;
* ``routes.models``: Unity Catalog registered models and their versions;
* ``routes.accounts``: the account API (credentials, storage, VPC endpoints, networks, private
  access settings, workspaces) with workspace and endpoint lifecycles and their own knobs;
* ``routes.workspace_host``: each new workspace's own instance profiles and cluster policies, under
  its host (``/_sandbox/workspaces/{deployment_name}``), with request counts per deployment;
* ``routes.jobs``: the jobs run repair minilake lacks (the provider's ``repair_run``);
* ``routes.clusters``: clusters keeping every field (``cluster_source``, init scripts, access mode,
  cloud attributes), list paging, the libraries API, and ``/_sandbox/clusters`` seeding;
* ``routes.job_settings``: job references checked on create/reset/update, list paging, and
  ``jobs/get`` paging its tasks over 100;
* ``routes.workspace``: the workspace export size limit (``export_limit_bytes``), and ``/Shared``;
* ``routes.secret_scopes``: secret scopes backed by an Azure Key Vault (kept and listed as such);
* ``routes.instance_pools``: pools answered without their Docker basic-auth passwords, as Databricks
  answers them, and ``/_sandbox/instance-pools/docker-digest``;
* ``routes.admin``: ``/_sandbox`` knobs (``fault``), reset, health, and model-version seeding;
* ``fault.FaultLayer`` (middleware): latency and faults on every ``/api/`` request, minilake's
  included, and request counts per route; ``fault.WorkspaceIdentity`` (middleware): the workspace
  id (``--workspace-id``) on every answer;
* ``routes.discovery``: the host metadata databricks-sdk asks for when it builds a client.

State is in memory and gone on restart; minilake keeps its files under ``<state-dir>/minilake``.

    .venv-minilake/bin/python -m sandbox.databricks.server --port 8765 --state-dir /tmp/dbx

prints ``databricks sandbox ready on http://127.0.0.1:8765`` once it accepts requests. databricks-sdk
reaches it with ``WorkspaceClient(host=url, token=<any>, auth_type="pat")``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvicorn
from fastapi import FastAPI

from sandbox.databricks.fault import FaultLayer, Faults, WorkspaceIdentity, install_error_handler
from sandbox.databricks.routes import (
    accounts,
    admin,
    clusters,
    discovery,
    instance_pools,
    job_settings,
    jobs,
    models,
    secret_scopes,
    serving,
    workspace,
    workspace_host,
)

# minilake settings the sandbox needs unless the caller chose otherwise: jobs run as local
# subprocesses (no Docker), and no embedded JupyterLab.
MINILAKE_DEFAULTS = {"MINILAKE_JOB_EXECUTOR": "subprocess", "MINILAKE_NOTEBOOK": "0"}
READY_LINE = "databricks sandbox ready on {url}"


def _install_delta_extension(ext_dir: Path) -> None:
    """Copy DuckDB's ``delta`` extension from the duckdb-extension-delta package into ``ext_dir``,
    laid out as DuckDB looks for it (``<dir>/v<version>/<platform>/delta.duckdb_extension``).

    Without the package (or with a mismatched version) nothing is copied: minilake then logs that
    EXTERNAL Delta tables are unreadable, and everything else works.
    """
    import duckdb

    try:
        import duckdb_extension_delta
    except ImportError:
        return
    version = f"v{duckdb.__version__}"
    source = Path(duckdb_extension_delta.__file__).parent / "extensions" / version / "delta.duckdb_extension"
    if not source.is_file():
        return
    row = duckdb.sql("PRAGMA platform").fetchone()
    if row is None:
        return
    target = ext_dir / version / str(row[0]) / source.name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _configure_minilake(state_dir: Path) -> None:
    """Point minilake at ``state_dir`` before (and, if already imported, after) it reads its settings.

    DuckDB's extension directory is ours, holding the ``delta`` extension from PyPI, so DuckDB
    never tries to download an extension.
    """
    for key, value in MINILAKE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    data_dir, ext_dir = state_dir / "minilake", state_dir / "duckdb_extensions"
    data_dir.mkdir(parents=True, exist_ok=True)
    ext_dir.mkdir(parents=True, exist_ok=True)
    _install_delta_extension(ext_dir)
    os.environ["MINILAKE_DATA_DIR"] = str(data_dir)
    os.environ["MINILAKE_DUCKDB_EXTENSION_DIR"] = str(ext_dir)
    from minilake.config import settings

    settings.data_dir = data_dir
    settings.duckdb_extension_dir = ext_dir
    _keep_terminations()


def _keep_terminations() -> None:
    """A cluster terminated while it starts stays terminated, as in Databricks.

    minilake's delayed start flips a cluster to RUNNING whatever happened meanwhile, so a cluster
    terminated while PENDING came back RUNNING a moment later.
    """
    from minilake.services import clusters as minilake_clusters

    started = minilake_clusters._transition
    if getattr(started, "keeps_terminations", False):
        return

    async def transition(cluster_id: str, delay_seconds: float, target_state: str) -> None:
        if target_state != "RUNNING":
            await started(cluster_id, delay_seconds, target_state)
            return
        await asyncio.sleep(delay_seconds)
        cluster = minilake_clusters._state["clusters"].get(cluster_id)
        if cluster is not None and cluster.get("state") not in ("TERMINATING", "TERMINATED"):
            await started(cluster_id, 0, target_state)

    transition.keeps_terminations = True  # type: ignore[attr-defined]
    minilake_clusters._transition = transition


def _put_first(app: FastAPI, routers: list[Any]) -> None:
    """Include ``routers`` ahead of every route already there (minilake's catch-all included)."""
    before = len(app.router.routes)
    for r in routers:
        app.include_router(r)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added


def _wiper(state_dir: Path, cluster_extras: clusters.ClusterExtras) -> Callable[[], Awaitable[None]]:
    """Empty minilake's stores (as its ``POST /_minilake/reset``) and put back what a new workspace has."""

    async def wipe() -> None:
        from minilake.admin import reset_state
        from minilake.services.workspace import ensure_user_home

        await reset_state()
        cluster_extras.clear()
        workspace.ensure_shared(state_dir / "minilake")
        ensure_user_home()

    return wipe


def create_app(state_dir: str | Path, workspace_id: str | None = None) -> FastAPI:
    """minilake's FastAPI app with the sandbox's routes in front; ``app.state.sandbox`` holds
    ``faults`` (knobs), ``registry`` (UC models) and ``endpoints`` (serving) for in-process use.

    ``workspace_id`` (digits; default minilake's fixed id) is what this instance reports as its
    workspace id, in the host metadata and the ``x-databricks-org-id`` header: give each instance
    its own to run two workspaces side by side."""
    state_dir = Path(state_dir).resolve()
    _configure_minilake(state_dir)
    from minilake.app import create_app as create_minilake_app
    from minilake.services.identity import FAKE_ORG_ID, USER_NAME

    workspace_id = workspace_id or FAKE_ORG_ID
    if not workspace_id.isdigit():
        raise ValueError(f"workspace_id must be digits, got {workspace_id!r}")
    app = create_minilake_app()
    install_error_handler(app)
    faults = Faults()
    registry = models.ModelRegistry(state_dir, USER_NAME)
    endpoints = serving.EndpointStore(registry, faults, USER_NAME)
    account_store = accounts.AccountStore()
    host_store = workspace_host.WorkspaceHostStore(account_store, USER_NAME)
    cluster_extras = clusters.ClusterExtras()
    workspace.ensure_shared(state_dir / "minilake")
    _put_first(
        app,
        [
            serving.router(endpoints, faults),
            models.router(registry, faults),
            accounts.router(account_store, faults),
            workspace_host.router(host_store),
            jobs.router(faults),
            clusters.router(cluster_extras),
            job_settings.router(cluster_extras),
            workspace.router(faults),
            secret_scopes.router(),
            instance_pools.router(),
            admin.router(
                faults,
                registry,
                [registry.reset, endpoints.reset, account_store.reset, host_store.reset],
                wipe=_wiper(state_dir, cluster_extras),
            ),
            discovery.router(workspace_id),
        ],
    )
    app.add_middleware(FaultLayer, faults=faults, router=app.router)
    app.add_middleware(WorkspaceIdentity, workspace_id=workspace_id)
    app.state.sandbox = SimpleNamespace(
        workspace_id=workspace_id,
        faults=faults,
        registry=registry,
        endpoints=endpoints,
        accounts=account_store,
        workspace_hosts=host_store,
        clusters=cluster_extras,
    )
    return app


class _Server(uvicorn.Server):
    """uvicorn's server, printing the ready line once the socket accepts connections."""

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        print(READY_LINE.format(url=f"http://{host}:{port}"), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free port")
    parser.add_argument("--state-dir", help="where minilake keeps its files (default: a new temp dir)")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--workspace-id", help="the workspace id this instance reports (digits)")
    args = parser.parse_args(argv)
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="databricks-sandbox-")
    app = create_app(state_dir, args.workspace_id)
    from minilake.config import settings

    settings.port = args.port  # only shown in minilake's banner
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level, lifespan="on")
    _Server(config).run()


if __name__ == "__main__":
    main()
