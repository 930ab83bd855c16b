"""Model-serving deployments on Databricks: the config, the deploy plan and the readiness rule.

A deployment config (YAML under include/config/model_serving/, or the same keys as JSON) names an
endpoint, the Unity Catalog models it serves (each pinned to a version or ``latest``), workload
size, scale-to-zero and inference-table capture. :func:`plan` compares it with the live endpoint
and the registered versions and says what to do: create, update, roll back to a lower version,
delete, or nothing (the live config already matches). ``latest`` is resolved when the plan is
made, against the versions registered at that moment.

:class:`EndpointState` (a value object, JSON round-trip included, as trigger events carry it)
decides when an endpoint is really ready: ``ready == READY`` and ``config_update == NOT_UPDATING``
and every served entity ``DEPLOYMENT_READY``. A config update that failed or was cancelled, or an
entity whose deployment failed or was aborted, is a failure (with the entity's state message);
anything else is still on its way. :class:`ConfigUpdateState` says whether a config update still
runs (an update refused with 409 waits for it). :class:`EndpointWaitEvent` is how a wait ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from platform_ops.core.params import is_unset, parse_bool, parse_int
from platform_ops.exceptions import ConfigError

WORKLOAD_SIZES = ("Small", "Medium", "Large")
# Whole-string patterns, always used with fullmatch: ``$`` would let a trailing newline through.
_ENDPOINT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")
_UC_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_CONFIG_KEYS = {
    "endpoint_name",
    "served_entities",
    "auto_capture_config",
    "force_delete",
    "training_job",
    "description",
}
_ENTITY_KEYS = {"entity_name", "entity_version", "workload_size", "scale_to_zero_enabled", "name"}
_CAPTURE_KEYS = {"catalog_name", "schema_name", "table_name_prefix", "enabled"}
_JOB_KEYS = {"job_id", "job_parameters"}


class DeployAction(StrEnum):
    """What a deployment does to the endpoint (the plan's verdict)."""

    CREATE = "create"
    UPDATE = "update"
    ROLLBACK = "rollback"  # an update to a lower version of a model already served
    DELETE = "delete"
    NOTHING = "nothing"


class Readiness(StrEnum):
    """Where an endpoint stands on its way to serving its config."""

    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"


# -- the config ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntitySpec:
    """One served Unity Catalog model: ``entity_version`` is ``"latest"`` or a version number."""

    entity_name: str
    entity_version: str = "latest"
    workload_size: str = "Small"
    scale_to_zero_enabled: bool = True
    name: str | None = None

    def served_name(self, version: int) -> str:
        """The served entity's name: the given one, else Databricks' default ``<model>-<version>``."""
        return self.name or f"{self.entity_name.rsplit('.', 1)[-1]}-{version}"


@dataclass(frozen=True)
class DeploySpec:
    """One deployment file, validated: the endpoint, what it serves and the optional training job."""

    endpoint_name: str
    served_entities: tuple[EntitySpec, ...]
    auto_capture_config: Mapping[str, Any] | None = None
    force_delete: bool = False
    training_job: Mapping[str, Any] | None = None
    description: str | None = None
    model_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "model_names", tuple(dict.fromkeys(e.entity_name for e in self.served_entities))
        )


def _entity(i: int, raw: Any) -> EntitySpec:
    where = f"served_entities[{i}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "is not a mapping", "give entity_name, entity_version, workload_size")
    unknown = sorted(set(raw) - _ENTITY_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}", "is not a served-entity option", f"use {sorted(_ENTITY_KEYS)}"
        )
    name = raw.get("entity_name")
    parts = name.split(".") if isinstance(name, str) else []
    if len(parts) != 3 or not all(_UC_PART.fullmatch(p) for p in parts):
        raise ConfigError(
            f"{where}.entity_name",
            f"{name!r} is not a Unity Catalog model name",
            "write catalog.schema.model, e.g. main.ml.churn",
        )
    version = raw.get("entity_version", "latest")
    if str(version).strip().lower() == "latest":
        version = "latest"
    else:
        try:
            number = parse_int(f"{where}.entity_version", version)
        except ConfigError:
            raise ConfigError(
                f"{where}.entity_version",
                f"{version!r} is not latest or a version number",
                "e.g. latest or 3",
            ) from None
        if number < 1:
            raise ConfigError(f"{where}.entity_version", f"{number} is not a version", "versions start at 1")
        version = str(number)
    size = raw.get("workload_size", "Small")
    if size not in WORKLOAD_SIZES:
        raise ConfigError(
            f"{where}.workload_size",
            f"{size!r} is not a workload size",
            f"use one of {', '.join(WORKLOAD_SIZES)}",
        )
    served = raw.get("name")
    if served is not None and (not isinstance(served, str) or not _ENDPOINT.fullmatch(served)):
        raise ConfigError(
            f"{where}.name", f"{served!r} is not a served entity name", "letters, digits, - and _"
        )
    return EntitySpec(
        entity_name=str(name),
        entity_version=version,
        workload_size=size,
        scale_to_zero_enabled=parse_bool(
            f"{where}.scale_to_zero_enabled", raw.get("scale_to_zero_enabled", True)
        ),
        name=served,
    )


def parse_config(raw: Any, source: str = "config") -> DeploySpec:
    """A checked deployment config from YAML/JSON; every error names the key and the fix."""
    if not isinstance(raw, Mapping):
        raise ConfigError(source, "is not a mapping", "start with endpoint_name: and served_entities:")
    unknown = sorted(set(raw) - _CONFIG_KEYS)
    if unknown:
        raise ConfigError(unknown[0], "is not a deployment option", f"use {sorted(_CONFIG_KEYS)}")
    name = raw.get("endpoint_name")
    if not isinstance(name, str) or not _ENDPOINT.fullmatch(name):
        raise ConfigError(
            "endpoint_name",
            f"{name!r} is not a valid endpoint name",
            "use 1-63 letters, digits, - and _, starting and ending with a letter or digit",
        )
    entities = raw.get("served_entities")
    if not isinstance(entities, Sequence) or isinstance(entities, str) or not entities:
        raise ConfigError("served_entities", "is missing or empty", "list at least one entity_name")
    specs = tuple(_entity(i, e) for i, e in enumerate(entities))
    capture = raw.get("auto_capture_config")
    if capture is not None:
        if not isinstance(capture, Mapping) or set(capture) - _CAPTURE_KEYS:
            raise ConfigError(
                "auto_capture_config", "has unknown keys or is not a mapping", f"use {sorted(_CAPTURE_KEYS)}"
            )
        for key in ("catalog_name", "schema_name"):
            if not isinstance(capture.get(key), str) or not _UC_PART.fullmatch(capture[key]):
                raise ConfigError(
                    f"auto_capture_config.{key}", "is missing or invalid", "name an existing one"
                )
    job = raw.get("training_job")
    if job is not None:
        if not isinstance(job, Mapping) or not isinstance(job.get("job_id"), int) or set(job) - _JOB_KEYS:
            raise ConfigError(
                "training_job",
                "needs an integer job_id (and optional job_parameters)",
                "name the job to run first",
            )
        params = job.get("job_parameters") or {}
        if not isinstance(params, Mapping) or not all(isinstance(v, str) for v in params.values()):
            raise ConfigError(
                "training_job.job_parameters",
                "must map names to strings",
                'quote the values, e.g. epochs: "3"',
            )
    return DeploySpec(
        endpoint_name=name,
        served_entities=specs,
        auto_capture_config=dict(capture) if capture else None,
        force_delete=parse_bool("force_delete", raw.get("force_delete", False)),
        training_job=dict(job) if job else None,
        description=raw.get("description"),
    )


# -- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What the deploy operator will do to one endpoint, and why; JSON-safe through :meth:`as_dict`."""

    action: DeployAction
    endpoint_name: str
    reason: str
    served_entities: tuple[dict[str, Any], ...] = ()  # the API's ServedEntityInput shape
    auto_capture_config: Mapping[str, Any] | None = None
    delete_registered_models: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The plan as plain JSON types (XCom, logs, a deferral)."""
        return {
            "action": str(self.action),
            "endpoint_name": self.endpoint_name,
            "reason": self.reason,
            "served_entities": [dict(e) for e in self.served_entities],
            "auto_capture_config": dict(self.auto_capture_config) if self.auto_capture_config else None,
            "delete_registered_models": list(self.delete_registered_models),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Plan:
        """The inverse of :meth:`as_dict` (a plan carried across a deferral)."""
        return cls(
            action=DeployAction(raw["action"]),
            endpoint_name=str(raw["endpoint_name"]),
            reason=str(raw["reason"]),
            served_entities=tuple(dict(e) for e in raw.get("served_entities") or ()),
            auto_capture_config=raw.get("auto_capture_config"),
            delete_registered_models=tuple(raw.get("delete_registered_models") or ()),
        )


def _live_entities(endpoint: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    config = endpoint.get("pending_config") or endpoint.get("config") or {}
    return list(config.get("served_entities") or config.get("served_models") or [])


def _comparable(entities: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            e.get("entity_name") or e.get("model_name"),
            str(e.get("entity_version") or e.get("model_version")),
            e.get("workload_size"),
            bool(e.get("scale_to_zero_enabled")),
            e.get("name"),
        )
        for e in entities
    )


def plan(
    spec: DeploySpec,
    live: Mapping[str, Any] | None,
    versions: Mapping[str, Iterable[int]],
    *,
    rollback_version: Any = None,
    confirm_delete: Any = False,
    delete_registered_model: Any = False,
) -> Plan:
    """What to do, from the config, the live endpoint and the registered versions per model.

    ``live`` is None when no endpoint exists. Raises ConfigError, before any change, for anything
    it cannot do.
    """
    name = spec.endpoint_name
    if spec.force_delete:
        if not parse_bool("confirm_delete", confirm_delete):
            raise ConfigError(
                "confirm_delete",
                f"force_delete would delete endpoint {name} but the deletion is not confirmed",
                "set confirm_delete=true as well (the endpoint stops serving at once)",
            )
        models = spec.model_names if parse_bool("delete_registered_model", delete_registered_model) else ()
        if live is None:
            return Plan(
                DeployAction.NOTHING if not models else DeployAction.DELETE,
                name,
                "no endpoint to delete",
                (),
                None,
                models,
            )
        return Plan(DeployAction.DELETE, name, "force_delete confirmed", (), None, models)

    rollback = None if is_unset(rollback_version) else parse_int("rollback_version", rollback_version)
    if rollback is not None and len(spec.model_names) != 1:
        raise ConfigError(
            "rollback_version",
            "applies to an endpoint serving one model",
            "pin entity_version per entity instead",
        )
    entities: list[dict[str, Any]] = []
    for i, entity in enumerate(spec.served_entities):
        registered = sorted(int(v) for v in versions.get(entity.entity_name, []))
        if not registered:
            raise ConfigError(
                f"served_entities[{i}].entity_name",
                f"{entity.entity_name} has no registered version",
                "register the model in Unity Catalog (or fix the name) before deploying it",
            )
        wanted = rollback if rollback is not None else entity.entity_version
        version = registered[-1] if wanted == "latest" else int(wanted)
        if version not in registered:
            field_name = (
                "rollback_version" if rollback is not None else f"served_entities[{i}].entity_version"
            )
            raise ConfigError(
                field_name,
                f"version {version} of {entity.entity_name} is not registered (registered: {registered})",
                "pick a registered version",
            )
        entities.append(
            {
                "entity_name": entity.entity_name,
                "entity_version": str(version),
                "workload_size": entity.workload_size,
                "scale_to_zero_enabled": entity.scale_to_zero_enabled,
                "name": entity.served_name(version),
            }
        )
    capture = spec.auto_capture_config
    if live is None:
        return Plan(DeployAction.CREATE, name, "no endpoint yet", tuple(entities), capture)
    current = _live_entities(live)
    if _comparable(current) == _comparable(entities):
        return Plan(DeployAction.NOTHING, name, "the live config already matches", tuple(entities), capture)
    live_versions = {
        (e.get("entity_name") or e.get("model_name")): int(
            e.get("entity_version") or e.get("model_version") or 0
        )
        for e in current
    }
    lower = [e for e in entities if int(e["entity_version"]) < live_versions.get(e["entity_name"], 0)]
    if lower:
        versions_text = ", ".join(
            f"{e['entity_name']} {live_versions[e['entity_name']]} -> {e['entity_version']}" for e in lower
        )
        return Plan(DeployAction.ROLLBACK, name, f"roll back {versions_text}", tuple(entities), capture)
    return Plan(DeployAction.UPDATE, name, "the live config differs", tuple(entities), capture)


# -- the endpoint's state ------------------------------------------------------------------------

_FAILED_UPDATES = {"UPDATE_FAILED", "UPDATE_CANCELED"}
_FAILED_DEPLOYMENTS = {"DEPLOYMENT_FAILED", "DEPLOYMENT_ABORTED"}


@dataclass(frozen=True)
class ConfigUpdateState:
    """The endpoint's ``state.config_update``: IN_PROGRESS, NOT_UPDATING, UPDATE_FAILED or UPDATE_CANCELED.

    Terminal once no update runs; successful when the last update went through (NOT_UPDATING).
    """

    value: str = "NOT_UPDATING"

    @property
    def is_terminal(self) -> bool:
        """No config update is running any more."""
        return self.value != "IN_PROGRESS"

    @property
    def is_successful(self) -> bool:
        """The last config update went through."""
        return self.value == "NOT_UPDATING"

    @property
    def is_failed(self) -> bool:
        """The last config update failed or was cancelled."""
        return self.value in _FAILED_UPDATES

    def to_json(self) -> str:
        """JSON text, for trigger events."""
        return json.dumps(self.value)

    @classmethod
    def from_json(cls, data: str) -> ConfigUpdateState:
        """The inverse of :meth:`to_json`."""
        return cls(str(json.loads(data)))

    def __str__(self) -> str:
        """The API's value."""
        return self.value


@dataclass(frozen=True)
class EntityState:
    """One served entity of the endpoint and its deployment state."""

    name: str
    entity_name: str | None
    entity_version: str | None
    deployment: str | None
    message: str | None

    @property
    def is_failed(self) -> bool:
        """Its deployment failed or was aborted."""
        return self.deployment in _FAILED_DEPLOYMENTS


@dataclass(frozen=True)
class EndpointState:
    """What matters of a serving endpoint's GET response (the SDK's ServingEndpointDetailed).

    ``is_terminal``: the wait for readiness is over (ready or failed); ``is_successful``: the
    endpoint serves its config. ``to_json``/``from_json`` round-trip it through a trigger event.
    """

    name: str
    ready: str
    config_update: ConfigUpdateState
    entities: tuple[EntityState, ...]  # the pending config's while an update runs, else the config's

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> EndpointState:
        """The state from the API's JSON body of the endpoint."""
        state = body.get("state") or {}
        entities = tuple(
            EntityState(
                name=e.get("name", ""),
                entity_name=e.get("entity_name") or e.get("model_name"),
                entity_version=e.get("entity_version") or e.get("model_version"),
                deployment=(e.get("state") or {}).get("deployment"),
                message=(e.get("state") or {}).get("deployment_state_message"),
            )
            for e in _live_entities(body)
        )
        return cls(
            name=body.get("name", ""),
            ready=str(state.get("ready") or "NOT_READY"),
            config_update=ConfigUpdateState(str(state.get("config_update") or "NOT_UPDATING")),
            entities=entities,
        )

    @property
    def readiness(self) -> Readiness:
        """READY only when the endpoint serves, no update runs and every entity is deployed."""
        if self.config_update.is_failed or any(e.is_failed for e in self.entities):
            return Readiness.FAILED
        if (
            self.ready == "READY"
            and self.config_update.is_successful
            and self.entities
            and all(e.deployment == "DEPLOYMENT_READY" for e in self.entities)
        ):
            return Readiness.READY
        return Readiness.WAITING

    @property
    def is_terminal(self) -> bool:
        """The wait for readiness is over: ready, or failed."""
        return self.readiness is not Readiness.WAITING

    @property
    def is_successful(self) -> bool:
        """The endpoint serves its config."""
        return self.readiness is Readiness.READY

    @property
    def failure(self) -> str:
        """Why the endpoint failed: the config update's state and each failed entity's message."""
        failed = [e for e in self.entities if e.is_failed]
        detail = "; ".join(f"{e.name}: {e.deployment}: {e.message or 'no message'}" for e in failed)
        return f"config_update={self.config_update}" + (f"; {detail}" if detail else "")

    def failed_entities(self) -> list[str]:
        """Served entity names whose build logs explain a failure (all of them if none is marked)."""
        marked = [e.name for e in self.entities if e.is_failed]
        return marked or [e.name for e in self.entities]

    def describe(self) -> str:
        """One line for the task log, logged whenever it changes."""
        parts = ", ".join(
            f"{e.name} ({e.entity_name} v{e.entity_version}): {e.deployment or 'no state'}"
            for e in self.entities
        )
        return f"ready={self.ready} config_update={self.config_update}; {parts or 'no served entities'}"

    def to_json(self) -> str:
        """JSON text, for trigger events."""
        return json.dumps(
            {
                "name": self.name,
                "ready": self.ready,
                "config_update": self.config_update.value,
                "entities": [vars(e) for e in self.entities],
            }
        )

    @classmethod
    def from_json(cls, data: str) -> EndpointState:
        """The inverse of :meth:`to_json`."""
        raw = json.loads(data)
        return cls(
            name=raw["name"],
            ready=raw["ready"],
            config_update=ConfigUpdateState(raw["config_update"]),
            entities=tuple(EntityState(**e) for e in raw["entities"]),
        )


def readiness(state: EndpointState) -> tuple[Readiness, str]:
    """The state's readiness and the line that explains it (the failure, or the state)."""
    verdict = state.readiness
    return verdict, state.failure if verdict is Readiness.FAILED else state.describe()


class WaitOutcome(StrEnum):
    """How a wait on an endpoint ended."""

    FINISHED = "finished"  # the awaited state was reached: ready, or no update running any more
    FAILED = "failed"  # the endpoint failed (a failed update or deployment)
    GONE = "gone"  # the endpoint does not exist
    TIMED_OUT = "timed_out"  # the deadline passed first


@dataclass(frozen=True)
class EndpointWaitEvent:
    """The one event a wait on an endpoint fires: the outcome, why, and the last state read.

    ``to_json`` is the JSON-safe trigger event payload; ``from_json`` rebuilds it on resume.
    """

    endpoint_name: str
    outcome: WaitOutcome
    message: str
    state: EndpointState | None = None

    def to_json(self) -> dict[str, Any]:
        """The trigger event's payload (JSON-safe)."""
        return {
            "endpoint_name": self.endpoint_name,
            "outcome": str(self.outcome),
            "message": self.message,
            "state": self.state.to_json() if self.state else None,
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> EndpointWaitEvent:
        """The inverse of :meth:`to_json`."""
        state = payload.get("state")
        return cls(
            endpoint_name=str(payload["endpoint_name"]),
            outcome=WaitOutcome(payload["outcome"]),
            message=str(payload.get("message", "")),
            state=EndpointState.from_json(state) if state else None,
        )


def failed_entities(state: EndpointState) -> list[str]:
    """Served entity names whose build logs explain a failure (all of them if none is marked)."""
    return state.failed_entities()


def is_transient_status(status: int | None) -> bool:
    """An HTTP status worth polling again: 429 (throttled) and every 5xx.

    Anything else (400, 401, 403, ...) will not heal by waiting; 404 is the endpoint's absence,
    decided by the caller.
    """
    return status is not None and (status == 429 or 500 <= status <= 599)


def log_tail(text: str, lines: int = 20) -> str:
    """The last ``lines`` lines of a build log."""
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


def endpoint_url(host: str, name: str) -> str:
    """The endpoint's page in the workspace UI."""
    return f"{host.rstrip('/')}/ml/endpoints/{name}"
