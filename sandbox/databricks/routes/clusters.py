"""Cluster routes in front of minilake's (``/api/2.1/clusters``), the libraries API minilake lacks, and
cluster seeding, as a disaster-recovery copy needs them.

minilake stores a cluster's name, runtime, node types, size, tags, Spark settings, policy and pools,
and silently drops the rest of a create body. Here:

* ``POST /api/2.1/clusters/create`` and ``/edit`` keep every other field given (``init_scripts``,
  ``data_security_mode``, ``single_user_name``, ``aws_attributes`` / ``azure_attributes`` /
  ``gcp_attributes``, ``runtime_engine``, ``cluster_log_conf``, ...) and ``get`` / ``list`` answer
  them; a cluster created through the API has ``cluster_source`` API. A ``driver_instance_pool_id``
  that names no pool is refused (400 INVALID_PARAMETER_VALUE), as minilake already refuses an
  unknown ``policy_id`` or ``instance_pool_id``.
* ``GET /api/2.1/clusters/list`` pages as Databricks does: ``page_size`` (default and at most 100),
  ``page_token`` (from ``next_page_token`` / ``prev_page_token``; an unknown token is 400), and
  ``filter_by.cluster_sources`` / ``filter_by.cluster_states``; databricks-sdk's iterator follows
  the pages.
* ``POST /api/2.1/clusters/permanent-delete`` also forgets the cluster's extra fields and libraries.
* The libraries API (``/api/2.0/libraries``): ``install`` and ``uninstall`` (``cluster_id``,
  ``libraries``: each exactly one of ``jar``, ``egg``, ``whl``, ``pypi``, ``maven``, ``cran``,
  ``requirements``), ``cluster-status?cluster_id=`` -> ``{"cluster_id", "library_statuses"}`` and
  ``all-cluster-statuses`` -> ``{"statuses": [...]}``. A library's status is INSTALLED while its
  cluster runs, PENDING otherwise; uninstalling from a running cluster leaves it
  UNINSTALL_ON_RESTART, from a stopped one removes it. Installing a library already there changes
  nothing. An unknown cluster is refused (400 INVALID_PARAMETER_VALUE).
* ``POST /_sandbox/clusters`` (control route, never faulted) with a cluster spec plus
  ``cluster_source`` (UI, API, JOB, PIPELINE, PIPELINE_MAINTENANCE, MODELS, SQL, SOQL; default UI)
  and ``state`` (default TERMINATED) -> the cluster as ``clusters/get`` answers it: how clusters
  made by the UI, jobs, pipelines or model serving get into a workspace here.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request

from sandbox.databricks.fault import ApiError, invalid, read_json

CLUSTER_SOURCES = ("UI", "API", "JOB", "PIPELINE", "PIPELINE_MAINTENANCE", "MODELS", "SQL", "SOQL")
CLUSTER_STATES = ("PENDING", "RUNNING", "RESTARTING", "RESIZING", "TERMINATING", "TERMINATED", "ERROR")
LIBRARY_KINDS = ("jar", "egg", "whl", "pypi", "maven", "cran", "requirements")
MAX_PAGE_SIZE = 100
# Fields a create/edit body may carry that describe the request, not the cluster.
_NOT_STORED = {"cluster_id", "cluster_source", "state", "apply_policy_default_values"}


def page_token(offset: int) -> str:
    """An opaque page token for ``offset`` (what the list routes answer and take back)."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def token_offset(token: str | None, total: int) -> int:
    """The offset a page token names; 400 INVALID_PARAMETER_VALUE for a token this server never made."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid(f"Invalid page_token: {token!r}") from None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise invalid(f"Invalid page_token: {token!r}")
    return min(offset, total)  # objects deleted since the token was made: an empty last page


def _pool_exists(pool_id: str) -> bool:
    from minilake.services import instance_pools

    return pool_id in instance_pools._state["pools"]


class ClusterExtras:
    """What minilake drops from a cluster (per cluster id) and the libraries installed on each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fields: dict[str, dict[str, Any]] = {}
        self.libraries: dict[str, list[dict[str, Any]]] = {}

    @staticmethod
    def clusters() -> dict[str, dict[str, Any]]:
        from minilake.services import clusters as minilake_clusters

        return dict(minilake_clusters._state["clusters"])

    def cluster(self, cluster_id: str) -> dict[str, Any]:
        """The cluster as Databricks answers it (minilake's fields, ours, no nulls); 400 if unknown."""
        stored = self.clusters().get(cluster_id)
        if stored is None:
            raise invalid(f"Cluster {cluster_id} does not exist")
        return self.merged(stored)

    def merged(self, stored: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            extra = dict(self.fields.get(stored["cluster_id"], {}))
        merged = {k: v for k, v in stored.items() if v is not None and v != {}}
        merged.update(extra)
        merged.setdefault("cluster_source", "API")
        return merged

    def remember(self, cluster_id: str, body: dict[str, Any], source: str) -> None:
        """Keep the fields of ``body`` minilake does not store, and ``cluster_source``."""
        from minilake.models.clusters import CreateClusterRequest

        kept = set(CreateClusterRequest.model_fields)
        extra = {k: v for k, v in body.items() if k not in kept and k not in _NOT_STORED and v is not None}
        with self._lock:
            self.fields[cluster_id] = {**extra, "cluster_source": source}

    def forget(self, cluster_id: str) -> None:
        with self._lock:
            self.fields.pop(cluster_id, None)
            self.libraries.pop(cluster_id, None)

    # -- libraries ---------------------------------------------------------------------------------
    def install(self, cluster_id: str, libraries: list[dict[str, Any]]) -> None:
        self.cluster(cluster_id)
        with self._lock:
            installed = self.libraries.setdefault(cluster_id, [])
            for library in libraries:
                entry = next((e for e in installed if e["library"] == library), None)
                if entry is None:
                    installed.append({"library": library, "uninstall_on_restart": False})
                else:
                    entry["uninstall_on_restart"] = False

    def uninstall(self, cluster_id: str, libraries: list[dict[str, Any]]) -> None:
        running = self.cluster(cluster_id).get("state") == "RUNNING"
        with self._lock:
            installed = self.libraries.get(cluster_id, [])
            for entry in [e for e in installed if e["library"] in libraries]:
                if running:
                    entry["uninstall_on_restart"] = True
                else:
                    installed.remove(entry)

    def statuses(self, cluster_id: str) -> list[dict[str, Any]]:
        running = self.cluster(cluster_id).get("state") == "RUNNING"
        with self._lock:
            installed = [dict(e) for e in self.libraries.get(cluster_id, [])]
        return [
            {
                "library": e["library"],
                "status": "UNINSTALL_ON_RESTART"
                if e["uninstall_on_restart"]
                else ("INSTALLED" if running else "PENDING"),
                "is_library_for_all_clusters": False,
            }
            for e in installed
        ]

    def seed(self, body: dict[str, Any]) -> dict[str, Any]:
        """Put a cluster in minilake's store as a workspace would show it; returns it."""
        from minilake.services import clusters as minilake_clusters

        source = body.get("cluster_source", "UI")
        state = body.get("state", "TERMINATED")
        if source not in CLUSTER_SOURCES:
            raise invalid(f"cluster_source must be one of {list(CLUSTER_SOURCES)}, got {source!r}")
        if state not in CLUSTER_STATES:
            raise invalid(f"state must be one of {list(CLUSTER_STATES)}, got {state!r}")
        if not body.get("spark_version"):
            raise invalid("spark_version is required")
        check_references(body)
        now = int(time.time() * 1000)
        cluster_id = body.get("cluster_id") or f"{time.strftime('%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        if cluster_id in self.clusters():
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Cluster {cluster_id} already exists")
        stored = {
            "cluster_id": cluster_id,
            "cluster_name": body.get("cluster_name"),
            "spark_version": body["spark_version"],
            "node_type_id": body.get("node_type_id"),
            "driver_node_type_id": body.get("driver_node_type_id") or body.get("node_type_id"),
            "num_workers": body.get("num_workers"),
            "autotermination_minutes": body.get("autotermination_minutes"),
            "spark_conf": body.get("spark_conf"),
            "spark_env_vars": body.get("spark_env_vars"),
            "custom_tags": body.get("custom_tags"),
            "autoscale": body.get("autoscale"),
            "policy_id": body.get("policy_id"),
            "instance_pool_id": body.get("instance_pool_id"),
            "driver_instance_pool_id": body.get("driver_instance_pool_id"),
            "state": state,
            "state_message": "",
            "creator_user_name": body.get("creator_user_name", "minilake-user"),
            "start_time": now,
            "terminated_time": now if state == "TERMINATED" else None,
            "last_restarted_time": None,
            "default_tags": {},
        }
        minilake_clusters._state["clusters"][cluster_id] = stored
        self.remember(cluster_id, body, source)
        return self.merged(stored)

    def clear(self) -> None:
        """Forget everything (minilake's clusters are gone: ``POST /_sandbox/wipe``). A sandbox reset
        keeps it all: the extra fields belong to minilake's clusters, which outlive a reset."""
        with self._lock:
            self.fields.clear()
            self.libraries.clear()


def check_references(spec: dict[str, Any], where: str = "") -> None:
    """Refuse a cluster spec naming a policy or pool this workspace does not have (400)."""
    from minilake.services import cluster_policies

    policy_id = spec.get("policy_id")
    if policy_id and policy_id not in cluster_policies._state["policies"]:
        raise invalid(f"{where}policy_id: Cluster policy {policy_id} does not exist")
    for field in ("instance_pool_id", "driver_instance_pool_id"):
        pool_id = spec.get(field)
        if pool_id and not _pool_exists(pool_id):
            raise invalid(f"{where}{field}: Instance pool {pool_id} does not exist")


def _libraries(body: dict[str, Any]) -> list[dict[str, Any]]:
    libraries = body.get("libraries")
    if not isinstance(libraries, list) or not libraries:
        raise invalid("libraries must be a non-empty list")
    for library in libraries:
        kinds = [k for k in LIBRARY_KINDS if isinstance(library, dict) and library.get(k)]
        if len(kinds) != 1 or len(library) != 1:
            raise invalid(f"Each library must set exactly one of {list(LIBRARY_KINDS)}, got {library!r}")
    return libraries


def _cluster_id(body: dict[str, Any]) -> str:
    cluster_id = body.get("cluster_id")
    if not cluster_id or not isinstance(cluster_id, str):
        raise invalid("cluster_id is required")
    return cluster_id


def _filtered(clusters: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    params = request.query_params
    sources = params.getlist("filter_by.cluster_sources")
    states = params.getlist("filter_by.cluster_states")
    return [
        c
        for c in clusters
        if (not sources or c.get("cluster_source") in sources) and (not states or c.get("state") in states)
    ]


def _list_page(extras: ClusterExtras, request: Request) -> dict[str, Any]:
    """One page of ``clusters/list`` (``page_size``, ``page_token``, ``filter_by.*``)."""
    raw_size = request.query_params.get("page_size")
    try:
        size = int(raw_size) if raw_size is not None else MAX_PAGE_SIZE
    except ValueError:
        raise invalid(f"page_size must be an integer, got {raw_size!r}") from None
    if size < 0:
        raise invalid(f"page_size must be >= 0, got {size}")
    size = min(size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    clusters = _filtered([extras.merged(c) for c in extras.clusters().values()], request)
    offset = token_offset(request.query_params.get("page_token"), len(clusters))
    page: dict[str, Any] = {"clusters": clusters[offset : offset + size]}
    if offset + size < len(clusters):
        page["next_page_token"] = page_token(offset + size)
    if offset > 0:
        page["prev_page_token"] = page_token(max(offset - size, 0))
    return page


def router(extras: ClusterExtras) -> APIRouter:
    """The cluster, library and seeding routes over minilake's cluster store and ``extras``."""
    from minilake.models.clusters import ClusterIdRequest, CreateClusterRequest, EditClusterRequest
    from minilake.services import clusters as minilake_clusters

    api = APIRouter()
    base = "/api/2.1/clusters"

    @api.post(f"{base}/create")
    async def create(request: Request) -> dict:
        body = await read_json(request)
        check_references(body)
        created = await minilake_clusters.create_cluster(CreateClusterRequest(**body))
        extras.remember(created.cluster_id, body, "API")
        return {"cluster_id": created.cluster_id}

    @api.post(f"{base}/edit")
    async def edit(request: Request) -> dict:
        body = await read_json(request)
        cluster_id = _cluster_id(body)
        check_references(body)
        with extras._lock:
            source = extras.fields.get(cluster_id, {}).get("cluster_source", "API")
        await minilake_clusters.edit_cluster(EditClusterRequest(**body))  # 404 for an unknown cluster
        extras.remember(cluster_id, body, source)
        return {}

    @api.get(f"{base}/get")
    async def get(cluster_id: str) -> dict:
        stored = extras.clusters().get(cluster_id)
        if stored is None:
            await minilake_clusters.get_cluster(cluster_id)  # minilake's own answer for an unknown cluster
        return extras.merged(extras.clusters()[cluster_id])

    @api.get(f"{base}/list")
    async def list_clusters(request: Request) -> dict:
        return _list_page(extras, request)

    @api.post(f"{base}/permanent-delete")
    async def permanent_delete(request: Request) -> dict:
        body = await read_json(request)
        await minilake_clusters.permanent_delete_cluster(ClusterIdRequest(cluster_id=_cluster_id(body)))
        extras.forget(body["cluster_id"])
        return {}

    _library_routes(api, extras)

    @api.post("/_sandbox/clusters")
    async def seed(request: Request) -> dict:
        return extras.seed(await read_json(request))

    return api


def _library_routes(api: APIRouter, extras: ClusterExtras) -> None:
    """The libraries API (``/api/2.0/libraries``) over ``extras``."""

    @api.post("/api/2.0/libraries/install")
    async def install(request: Request) -> dict:
        body = await read_json(request)
        extras.install(_cluster_id(body), _libraries(body))
        return {}

    @api.post("/api/2.0/libraries/uninstall")
    async def uninstall(request: Request) -> dict:
        body = await read_json(request)
        extras.uninstall(_cluster_id(body), _libraries(body))
        return {}

    @api.get("/api/2.0/libraries/cluster-status")
    async def cluster_status(cluster_id: str) -> dict:
        return {"cluster_id": cluster_id, "library_statuses": extras.statuses(cluster_id)}

    @api.get("/api/2.0/libraries/all-cluster-statuses")
    async def all_cluster_statuses() -> dict:
        with extras._lock:
            ids = [cluster_id for cluster_id, libs in extras.libraries.items() if libs]
        known = extras.clusters()
        return {
            "statuses": [
                {"cluster_id": cluster_id, "library_statuses": extras.statuses(cluster_id)}
                for cluster_id in ids
                if cluster_id in known
            ]
        }
