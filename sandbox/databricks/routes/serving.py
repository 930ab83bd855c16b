"""Model serving endpoints (``/api/2.0/serving-endpoints``), as databricks-sdk's ServingEndpointsAPI
(``databricks.sdk.service.serving``) calls them:

* ``POST   /serving-endpoints`` create (``name``, ``config`` = EndpointCoreConfigInput)
  -> ServingEndpointDetailed;
* ``GET    /serving-endpoints`` list -> ``{"endpoints": [ServingEndpoint, ...]}`` (the tests check
  what a deployment left);
* ``GET    /serving-endpoints/{name}`` get -> ServingEndpointDetailed;
* ``PUT    /serving-endpoints/{name}/config`` update_config (``served_entities`` or the older
  ``served_models``, ``traffic_config``, ``auto_capture_config``) -> ServingEndpointDetailed;
* ``DELETE /serving-endpoints/{name}`` delete;
* ``GET    /serving-endpoints/{name}/served-models/{served}/build-logs`` -> ``{"logs": ...}``.

Every other route is the product's (the deploy operator, the readiness sensor and its trigger).

Lifecycle. A create or a config update starts a pending config: ``state.config_update`` is
IN_PROGRESS (a new endpoint is also ``state.ready`` NOT_READY) and its served entities are
DEPLOYMENT_CREATING. After ``deploy_seconds`` (or on the ``deploy_reads``-th read; see
``sandbox.databricks.fault``) the update settles, checked at that moment against the Unity Catalog
registry (``routes.models``):

* every entity names an existing READY model version: the pending config becomes ``config``, its
  entities DEPLOYMENT_READY, ``config_update`` NOT_UPDATING and ``ready`` READY;
* otherwise ``config_update`` is UPDATE_FAILED, the offending entities DEPLOYMENT_FAILED (the rest
  DEPLOYMENT_ABORTED) with a ``deployment_state_message`` and build logs saying why, left visible in
  ``pending_config``; the previous ``config``, if any, keeps serving (``ready`` READY), a new
  endpoint stays NOT_READY.

An update while one is IN_PROGRESS is refused with 409 RESOURCE_CONFLICT; an unknown endpoint is 404
RESOURCE_DOES_NOT_EXIST; a bad name, workload size or traffic split is 400 INVALID_PARAMETER_VALUE.
Served entities must be Unity Catalog models (``catalog.schema.model`` and a version number);
external and foundation models are refused.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from sandbox.databricks.fault import Faults, already_exists, conflict, invalid, not_found, read_json
from sandbox.databricks.routes.models import ModelRegistry

READY, NOT_READY = "READY", "NOT_READY"
NOT_UPDATING, IN_PROGRESS, UPDATE_FAILED = "NOT_UPDATING", "IN_PROGRESS", "UPDATE_FAILED"
DEPLOYMENT_READY, DEPLOYMENT_CREATING = "DEPLOYMENT_READY", "DEPLOYMENT_CREATING"
DEPLOYMENT_FAILED, DEPLOYMENT_ABORTED = "DEPLOYMENT_FAILED", "DEPLOYMENT_ABORTED"
WORKLOAD_SIZES = ("Small", "Medium", "Large")
WORKLOAD_TYPES = (
    "CPU",
    "CPU_MEDIUM",
    "CPU_LARGE",
    "GPU_SMALL",
    "GPU_MEDIUM",
    "GPU_LARGE",
    "GPU_XLARGE",
    "GPU_XLARGE_8",
    "MULTIGPU_MEDIUM",
)
MAX_SERVED_ENTITIES = 15
_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")  # fullmatch: "$" would accept a trailing newline
# Top-level create fields kept and echoed as given (ServingEndpointDetailed, and in part the list).
_ECHOED = (
    "description",
    "tags",
    "route_optimized",
    "budget_policy_id",
    "ai_gateway",
    "email_notifications",
    "telemetry_config",
)
_ECHOED_IN_LIST = ("description", "tags", "budget_policy_id", "ai_gateway", "telemetry_config")
# Served-entity input fields kept and echoed as given.
_ENTITY_EXTRAS = (
    "environment_vars",
    "instance_profile_arn",
    "min_provisioned_concurrency",
    "max_provisioned_concurrency",
    "burst_scaling_enabled",
    "provisioned_model_units",
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


@dataclass
class _Entity:
    """One served entity of one config (pending or serving)."""

    name: str
    entity_name: str
    entity_version: str
    workload_size: str | None
    workload_type: str
    scale_to_zero_enabled: bool
    extras: dict[str, Any]
    creator: str
    creation_timestamp: int
    deployment: str = DEPLOYMENT_CREATING
    message: str = "Creating the served entity's container image and compute resources."

    def output(self) -> dict[str, Any]:
        """ServedEntityOutput."""
        out: dict[str, Any] = {
            "name": self.name,
            "entity_name": self.entity_name,
            "entity_version": self.entity_version,
            "workload_type": self.workload_type,
            "scale_to_zero_enabled": self.scale_to_zero_enabled,
            "creator": self.creator,
            "creation_timestamp": self.creation_timestamp,
            "state": {"deployment": self.deployment, "deployment_state_message": self.message},
            **self.extras,
        }
        if self.workload_size is not None:
            out["workload_size"] = self.workload_size
        return out

    def model_output(self) -> dict[str, Any]:
        """ServedModelOutput (the older ``served_models`` view of the same entity)."""
        out = self.output()
        out["model_name"] = out.pop("entity_name")
        out["model_version"] = out.pop("entity_version")
        return out


@dataclass
class _Config:
    """An endpoint config: EndpointCoreConfigOutput, or EndpointPendingConfig with a start time."""

    version: int
    entities: list[_Entity]
    routes: list[dict[str, Any]]
    capture: dict[str, Any] | None
    legacy: bool  # given as served_models: echoed under both keys

    def output(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "config_version": self.version,
            "served_entities": [e.output() for e in self.entities],
            "traffic_config": {"routes": [dict(r) for r in self.routes]},
        }
        if self.legacy:
            out["served_models"] = [e.model_output() for e in self.entities]
        if self.capture is not None:
            out["auto_capture_config"] = dict(self.capture)
        return out


@dataclass
class _Pending:
    config: _Config
    started: float  # the store's clock
    start_time: int  # epoch ms, as the API reports it
    reads: int = 0


@dataclass
class _Endpoint:
    name: str
    id: str
    creator: str
    created: int
    updated: int
    extras: dict[str, Any]
    config: _Config | None = None
    pending: _Pending | None = None
    config_update: str = IN_PROGRESS
    build_logs: dict[str, list[str]] = field(default_factory=dict)
    last_config_version: int = 0

    @property
    def ready(self) -> str:
        return READY if self.config is not None else NOT_READY

    def state(self) -> dict[str, str]:
        return {"ready": self.ready, "config_update": self.config_update}

    def _common(self, echoed: Any) -> dict[str, Any]:
        """The fields the detailed and the list views share."""
        return {
            "name": self.name,
            "id": self.id,
            "creator": self.creator,
            "creation_timestamp": self.created,
            "last_updated_timestamp": self.updated,
            "state": self.state(),
            **{k: v for k, v in self.extras.items() if k in echoed},
        }

    def detailed(self) -> dict[str, Any]:
        """ServingEndpointDetailed."""
        out: dict[str, Any] = {**self._common(_ECHOED), "permission_level": "CAN_MANAGE"}
        if self.config is not None:
            out["config"] = self.config.output()
        if self.pending is not None:
            out["pending_config"] = {**self.pending.config.output(), "start_time": self.pending.start_time}
        return out

    def summary(self) -> dict[str, Any]:
        """ServingEndpoint, as the list shows it."""
        out: dict[str, Any] = self._common(_ECHOED_IN_LIST)
        shown = self.config or (self.pending.config if self.pending else None)
        if shown is not None:  # EndpointCoreConfigSummary: ServedEntitySpec per entity
            specs = [
                {"name": e.name, "entity_name": e.entity_name, "entity_version": e.entity_version}
                for e in shown.entities
            ]
            out["config"] = {"served_entities": specs}
        return out


def _parse_entity(where: str, raw: Any, legacy: bool, creator: str, now: int) -> _Entity:
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object")
    if raw.get("external_model") or raw.get("foundation_model"):
        raise invalid(f"{where}: external and foundation models are not served by this workspace")
    name_key, version_key = ("model_name", "model_version") if legacy else ("entity_name", "entity_version")
    entity_name = raw.get(name_key)
    if not entity_name or not isinstance(entity_name, str):
        raise invalid(f"{where}.{name_key} is required")
    if len(entity_name.split(".")) != 3 or not all(entity_name.split(".")):
        raise invalid(
            f"{where}.{name_key} {entity_name!r} must be a Unity Catalog model name catalog.schema.model"
        )
    version = raw.get(version_key)
    if version is None:
        raise invalid(f"{where}.{version_key} is required for a Unity Catalog model")
    if not str(version).isdigit() or int(str(version)) < 1:
        raise invalid(f"{where}.{version_key} {version!r} is not a model version number")
    version = str(int(str(version)))
    size = raw.get("workload_size")
    concurrency = raw.get("min_provisioned_concurrency") is not None
    if size is None and not concurrency:
        size = "Small"
    elif size is not None and size not in WORKLOAD_SIZES:
        raise invalid(
            f"Invalid workload_size {size!r} for {where}: must be one of {', '.join(WORKLOAD_SIZES)}"
        )
    workload_type = raw.get("workload_type", "CPU")
    if workload_type not in WORKLOAD_TYPES:
        raise invalid(f"Invalid workload_type {workload_type!r} for {where}")
    scale_to_zero = raw.get("scale_to_zero_enabled", False)
    if not isinstance(scale_to_zero, bool):
        raise invalid(f"{where}.scale_to_zero_enabled must be a boolean")
    served_name = raw.get("name") or f"{entity_name.rsplit('.', 1)[-1]}-{version}"
    if not isinstance(served_name, str) or not _NAME.fullmatch(served_name):
        raise invalid(
            f"Invalid served entity name {served_name!r}: use up to 63 letters, digits, '-' and '_'"
        )
    return _Entity(
        name=served_name,
        entity_name=entity_name.lower(),
        entity_version=version,
        workload_size=size,
        workload_type=workload_type,
        scale_to_zero_enabled=scale_to_zero,
        extras={k: raw[k] for k in _ENTITY_EXTRAS if raw.get(k) is not None},
        creator=creator,
        creation_timestamp=now,
    )


def _parse_routes(traffic: Any, entities: list[_Entity], legacy: bool) -> list[dict[str, Any]]:
    key = "served_model_name" if legacy else "served_entity_name"
    if traffic is None:
        share, rest = divmod(100, len(entities))
        return [
            {key: e.name, "traffic_percentage": share + (rest if i == 0 else 0)}
            for i, e in enumerate(entities)
        ]
    routes = traffic.get("routes") if isinstance(traffic, dict) else None
    if not isinstance(routes, list) or not routes:
        raise invalid("traffic_config.routes must be a non-empty list")
    names = {e.name for e in entities}
    total = 0
    out = []
    for route in routes:
        target = route.get("served_entity_name") or route.get("served_model_name")
        if target not in names:
            raise invalid(f"traffic_config routes to {target!r}, which is not a served entity of this config")
        pct = route.get("traffic_percentage")
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise invalid(f"traffic_percentage of route {target!r} must be an integer from 0 to 100")
        total += pct
        out.append({key: target, "traffic_percentage": pct})
    if total != 100:
        raise invalid(f"traffic_config percentages add up to {total}, not 100")
    return out


def _parse_capture(raw: Any, previous: dict[str, Any] | None, endpoint: str) -> dict[str, Any] | None:
    if raw is None:
        return previous
    if not isinstance(raw, dict):
        raise invalid("auto_capture_config must be an object")
    enabled = raw.get("enabled", True)
    out: dict[str, Any] = {"enabled": bool(enabled)}
    if enabled:
        if not raw.get("catalog_name") or not raw.get("schema_name"):
            raise invalid("auto_capture_config needs catalog_name and schema_name when enabled")
        prefix = raw.get("table_name_prefix") or endpoint
        out.update(
            catalog_name=raw["catalog_name"],
            schema_name=raw["schema_name"],
            table_name_prefix=prefix,
            state={"payload_table": {"name": f"{prefix}_payload", "status": "ACTIVE", "status_message": ""}},
        )
    return out


class EndpointStore:
    """The serving endpoints, in memory (thread-safe); settles updates lazily as they are read."""

    def __init__(
        self,
        registry: ModelRegistry,
        faults: Faults,
        user: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.faults = faults
        self.user = user
        self.clock = clock
        self._lock = threading.RLock()
        self._endpoints: dict[str, _Endpoint] = {}

    def reset(self) -> None:
        with self._lock:
            self._endpoints.clear()

    # -- config parsing ----------------------------------------------------------------------------
    def _config(self, body: dict[str, Any], endpoint: _Endpoint) -> _Config:
        served_entities, served_models = body.get("served_entities"), body.get("served_models")
        if served_entities and served_models:
            raise invalid("Give served_entities or served_models, not both")
        legacy = bool(served_models) and not served_entities
        raw = served_models if legacy else served_entities
        if not isinstance(raw, list) or not raw:
            raise invalid("The endpoint config must serve at least one entity (served_entities)")
        if len(raw) > MAX_SERVED_ENTITIES:
            raise invalid(f"An endpoint serves at most {MAX_SERVED_ENTITIES} entities, got {len(raw)}")
        kind = "served_models" if legacy else "served_entities"
        now = _now_ms()
        entities = [_parse_entity(f"{kind}[{i}]", e, legacy, self.user, now) for i, e in enumerate(raw)]
        names = [e.name for e in entities]
        if len(set(names)) != len(names):
            raise invalid(f"Served entity names must be unique within a config: {names}")
        previous = endpoint.config.capture if endpoint.config else None
        return _Config(
            version=endpoint.last_config_version + 1,
            entities=entities,
            routes=_parse_routes(body.get("traffic_config"), entities, legacy),
            capture=_parse_capture(body.get("auto_capture_config"), previous, endpoint.name),
            legacy=legacy,
        )

    def _start(self, endpoint: _Endpoint, config: _Config) -> None:
        endpoint.last_config_version = config.version
        endpoint.pending = _Pending(config=config, started=self.clock(), start_time=_now_ms())
        endpoint.config_update = IN_PROGRESS
        endpoint.updated = _now_ms()
        for e in config.entities:
            size = e.workload_size or "provisioned concurrency"
            endpoint.build_logs[e.name] = [
                f"{_stamp()} Build started for served entity '{e.name}' (config version {config.version}):"
                f" model {e.entity_name} version {e.entity_version}, workload {size} {e.workload_type},"
                f" scale to zero {'enabled' if e.scale_to_zero_enabled else 'disabled'}",
                f"{_stamp()} Resolving {e.entity_name} version {e.entity_version} in Unity Catalog",
            ]

    # -- lifecycle ---------------------------------------------------------------------------------
    def _settle(self, endpoint: _Endpoint) -> None:
        pending = endpoint.pending
        if pending is None or endpoint.config_update != IN_PROGRESS:
            return
        knobs = self.faults.snapshot()
        if knobs["deploy_reads"] is not None:
            due = pending.reads >= knobs["deploy_reads"]
        else:
            due = self.clock() - pending.started >= knobs["deploy_seconds"]
        if not due:
            return
        problems: dict[str, str] = {}
        locations: dict[str, str] = {}
        for e in pending.config.entities:
            status, detail = self.registry.version_state(e.entity_name, e.entity_version)
            if status is None:
                problems[e.name] = detail
            elif status != "READY":
                problems[e.name] = (
                    f"Model version {e.entity_version} of registered model '{e.entity_name}' is {status},"
                    " not READY."
                )
            else:
                locations[e.name] = detail
        endpoint.updated = _now_ms()
        if problems:
            failed = ", ".join(sorted(problems))
            for e in pending.config.entities:
                log = endpoint.build_logs.setdefault(e.name, [])
                if e.name in problems:
                    e.deployment = DEPLOYMENT_FAILED
                    e.message = f"Failed to deploy served entity '{e.name}': {problems[e.name]}"
                    log += [
                        f"{_stamp()} ERROR {problems[e.name]}",
                        f"{_stamp()} Build failed for served entity '{e.name}'.",
                    ]
                else:
                    e.deployment = DEPLOYMENT_ABORTED
                    e.message = f"Deployment aborted: served entity {failed} of the same update failed."
                    log.append(f"{_stamp()} Build aborted: served entity {failed} of the same update failed.")
            endpoint.config_update = UPDATE_FAILED
            return
        for e in pending.config.entities:
            e.deployment = DEPLOYMENT_READY
            e.message = f"Served entity '{e.name}' is ready to serve requests."
            endpoint.build_logs.setdefault(e.name, []).extend(
                [
                    f"{_stamp()} Downloaded model artifacts from {locations[e.name]}",
                    f"{_stamp()} Built the model environment and container image",
                    f"{_stamp()} Served entity '{e.name}' is ready.",
                ]
            )
        endpoint.config = pending.config
        endpoint.pending = None
        endpoint.config_update = NOT_UPDATING

    def _endpoint(self, name: str) -> _Endpoint:
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise not_found(f"Endpoint with name '{name}' does not exist.")
        self._settle(endpoint)
        return endpoint

    # -- operations --------------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise invalid(
                f"Invalid endpoint name {name!r}: use 1 to 63 letters, digits, dashes and underscores"
            )
        config = body.get("config")
        if not isinstance(config, dict):
            raise invalid("config is required: the endpoint's served entities")
        with self._lock:
            if name in self._endpoints:
                raise already_exists(f"Endpoint with name '{name}' already exists.")
            now = _now_ms()
            endpoint = _Endpoint(
                name=name,
                id=uuid.uuid4().hex,
                creator=self.user,
                created=now,
                updated=now,
                extras={k: body[k] for k in _ECHOED if body.get(k) is not None},
            )
            self._start(endpoint, self._config(config, endpoint))
            self._endpoints[name] = endpoint
            return endpoint.detailed()

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            endpoint = self._endpoints.get(name)
            if endpoint is not None and endpoint.pending is not None:
                endpoint.pending.reads += 1
            return self._endpoint(name).detailed()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._endpoint(name).summary() for name in list(self._endpoints)]

    def update_config(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            endpoint = self._endpoint(name)
            if endpoint.config_update == IN_PROGRESS:
                raise conflict(
                    f"Endpoint '{name}' already has a config update in progress; "
                    "wait for it to finish before updating again."
                )
            self._start(endpoint, self._config(body, endpoint))
            return endpoint.detailed()

    def delete(self, name: str) -> None:
        with self._lock:
            self._endpoint(name)
            del self._endpoints[name]

    def _served(self, endpoint: _Endpoint, served: str) -> _Entity:
        for config in (endpoint.pending.config if endpoint.pending else None, endpoint.config):
            for e in config.entities if config else ():
                if e.name == served:
                    return e
        raise not_found(f"Served model '{served}' does not exist on endpoint '{endpoint.name}'.")

    def build_logs(self, name: str, served: str) -> str:
        with self._lock:
            endpoint = self._endpoint(name)
            self._served(endpoint, served)
            return "\n".join(endpoint.build_logs.get(served, [])) + "\n"


def router(store: EndpointStore, faults: Faults) -> APIRouter:
    """The serving-endpoint routes over ``store`` (faults: the server's ``FaultLayer``)."""
    api = APIRouter(prefix="/api/2.0/serving-endpoints")  # faults: server.py's FaultLayer

    @api.post("")
    async def create_serving_endpoint(request: Request) -> dict:
        return store.create(await read_json(request))

    @api.get("")
    async def list_serving_endpoints() -> dict:
        return {"endpoints": store.list()}

    @api.get("/{name}")
    async def get_serving_endpoint(name: str) -> dict:
        return store.get(name)

    @api.put("/{name}/config")
    async def update_serving_endpoint_config(name: str, request: Request) -> dict:
        return store.update_config(name, await read_json(request))

    @api.delete("/{name}")
    async def delete_serving_endpoint(name: str) -> dict:
        store.delete(name)
        return {}

    @api.get("/{name}/served-models/{served_model_name}/build-logs")
    async def serving_build_logs(name: str, served_model_name: str) -> dict:
        return {"logs": store.build_logs(name, served_model_name)}

    return api
