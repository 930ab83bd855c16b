"""Unity Catalog registered models and their versions (``/api/2.1/unity-catalog/models``).

The paths, JSON fields and enum values are those of databricks-sdk's ``RegisteredModelsAPI`` and
``ModelVersionsAPI`` (``databricks.sdk.service.catalog``). Only what the product calls, or its
tests and demo need to set a workspace up, is served:

* ``POST   /models`` create (``catalog_name``, ``schema_name``, ``name``) -> RegisteredModelInfo
  (the tests and the demo register the models the configs serve);
* ``GET|DELETE /models/{full_name}`` get (the tests check a model outlives its endpoint), delete
  with its versions (the deploy operator's ``delete_registered_model``);
* ``GET /models/{full_name}/versions`` list -> ``{"model_versions": [...], "next_page_token": ...}``
  (how the deploy operator resolves ``latest``).

Model versions are not created through this API on Databricks (MLflow's client uploads the
artifacts and registers them), so the sandbox seeds them with ``POST
/_sandbox/models/{full_name}/versions`` (see ``admin``) or :meth:`ModelRegistry.add_version`.
Versions are numbered 1, 2, ... per model and a number is never reused. Names are stored in lower
case, as Unity Catalog does; the catalog and schema need not exist in minilake's catalog.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from sandbox.databricks.fault import ApiError, Faults, already_exists, invalid, not_found, read_json

METASTORE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "databricks-sandbox/metastore"))
VERSION_STATUSES = ("PENDING_REGISTRATION", "READY", "FAILED_REGISTRATION")
# Whole-string patterns, used with fullmatch: "$" would accept a trailing newline.
_NAME = re.compile(r"[^\s./\\]{1,255}")
DEFAULT_PAGE = 100
MAX_PAGE = 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


def split_full_name(full_name: str) -> tuple[str, str, str]:
    """``catalog.schema.model`` -> its three lower-cased parts; 400 when it is not three names."""
    parts = full_name.split(".")
    if len(parts) != 3 or not all(_NAME.fullmatch(p) for p in parts):
        raise invalid(f"Invalid registered model full name {full_name!r}: expected catalog.schema.model")
    catalog, schema, name = (p.lower() for p in parts)
    return catalog, schema, name


def parse_version(version: str | int) -> int:
    text = str(version)
    if not text.isdigit() or int(text) < 1:
        raise invalid(f"Invalid model version {version!r}: versions are integers starting at 1")
    return int(text)


def page(items: list[dict[str, Any]], key: str, max_results: str | None, page_token: str | None) -> dict:
    """One page of ``items`` under ``key``, with ``next_page_token`` while more remain."""
    try:
        size = int(max_results) if max_results not in (None, "") else 0
    except ValueError:
        raise invalid(f"max_results must be an integer, got {max_results!r}") from None
    if size < 0:
        raise invalid("max_results must be greater than or equal to 0")
    size = min(size or DEFAULT_PAGE, MAX_PAGE)
    try:
        start = int(page_token) if page_token else 0
    except ValueError:
        raise invalid(f"Invalid page_token {page_token!r}") from None
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["next_page_token"] = str(start + size)
    return out


@dataclass
class _Version:
    number: int
    id: str
    source: str
    run_id: str | None
    comment: str | None
    status: str
    storage_location: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str


@dataclass
class _Model:
    catalog: str
    schema: str
    name: str
    id: str
    owner: str
    comment: str | None
    storage_location: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    versions: dict[int, _Version] = field(default_factory=dict)
    next_version: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"


class ModelRegistry:
    """The registered models and their versions, in memory (thread-safe)."""

    def __init__(self, storage_root: Path, user: str) -> None:
        self.storage_root = storage_root
        self.user = user
        self._lock = threading.RLock()
        self._models: dict[str, _Model] = {}

    def reset(self) -> None:
        with self._lock:
            self._models.clear()

    # -- rendering ---------------------------------------------------------------------------------
    def _model_info(self, model: _Model) -> dict[str, Any]:
        info: dict[str, Any] = {
            "catalog_name": model.catalog,
            "schema_name": model.schema,
            "name": model.name,
            "full_name": model.full_name,
            "owner": model.owner,
            "storage_location": model.storage_location,
            "metastore_id": METASTORE_ID,
            "created_at": model.created_at,
            "created_by": model.created_by,
            "updated_at": model.updated_at,
            "updated_by": model.updated_by,
        }
        if model.comment is not None:
            info["comment"] = model.comment
        return info

    def _version_info(self, model: _Model, version: _Version) -> dict[str, Any]:
        info: dict[str, Any] = {
            "catalog_name": model.catalog,
            "schema_name": model.schema,
            "model_name": model.name,
            "version": version.number,
            "id": version.id,
            "source": version.source,
            "status": version.status,
            "storage_location": version.storage_location,
            "metastore_id": METASTORE_ID,
            "created_at": version.created_at,
            "created_by": version.created_by,
            "updated_at": version.updated_at,
            "updated_by": version.updated_by,
        }
        if version.run_id is not None:
            info["run_id"] = version.run_id
        if version.comment is not None:
            info["comment"] = version.comment
        return info

    # -- lookups -----------------------------------------------------------------------------------
    def _model(self, full_name: str) -> _Model:
        key = ".".join(split_full_name(full_name))
        model = self._models.get(key)
        if model is None:
            raise not_found(f"Registered model '{key}' does not exist.")
        return model

    def _version(self, model: _Model, version: str | int) -> _Version:
        number = parse_version(version)
        found = model.versions.get(number)
        if found is None:
            raise not_found(f"Model version {number} of registered model '{model.full_name}' does not exist.")
        return found

    def version_state(self, full_name: str, version: str | int) -> tuple[str | None, str]:
        """(status, storage location) of a version, or (None, why it cannot be found)."""
        with self._lock:
            try:
                model = self._model(full_name)
                found = self._version(model, version)
            except ApiError as exc:
                return None, exc.message
            return found.status, found.storage_location

    # -- registered models -------------------------------------------------------------------------
    def create_model(self, body: dict[str, Any]) -> dict[str, Any]:
        catalog, schema, name = body.get("catalog_name"), body.get("schema_name"), body.get("name")
        if not (catalog and schema and name) and body.get("full_name"):
            catalog, schema, name = split_full_name(str(body["full_name"]))
        if not (catalog and schema and name):
            raise invalid("catalog_name, schema_name and name are required")
        catalog, schema, name = split_full_name(f"{catalog}.{schema}.{name}")
        key = f"{catalog}.{schema}.{name}"
        now = _now_ms()
        with self._lock:
            if key in self._models:
                raise already_exists(f"Registered model '{key}' already exists.")
            model_id = str(uuid.uuid4())
            model = _Model(
                catalog=catalog,
                schema=schema,
                name=name,
                id=model_id,
                owner=str(body.get("owner") or self.user),
                comment=body.get("comment"),
                storage_location=str(
                    body.get("storage_location") or (self.storage_root / "models" / model_id).as_uri()
                ),
                created_at=now,
                created_by=self.user,
                updated_at=now,
                updated_by=self.user,
            )
            self._models[key] = model
            return self._model_info(model)

    def get_model(self, full_name: str) -> dict[str, Any]:
        with self._lock:
            return self._model_info(self._model(full_name))

    def delete_model(self, full_name: str) -> None:
        with self._lock:
            del self._models[self._model(full_name).full_name]

    # -- model versions ----------------------------------------------------------------------------
    def add_version(
        self,
        full_name: str,
        *,
        source: str | None = None,
        run_id: str | None = None,
        comment: str | None = None,
        status: str = "READY",
    ) -> dict[str, Any]:
        """Register the model's next version (the sandbox's stand-in for MLflow's registration)."""
        if status not in VERSION_STATUSES:
            raise invalid(f"status must be one of {list(VERSION_STATUSES)}, got {status!r}")
        now = _now_ms()
        with self._lock:
            model = self._model(full_name)
            number = model.next_version
            model.next_version += 1
            version_id = str(uuid.uuid4())
            version = _Version(
                number=number,
                id=version_id,
                source=source or f"{model.storage_location}/artifacts/{number}",
                run_id=run_id,
                comment=comment,
                status=status,
                storage_location=f"{model.storage_location}/versions/{version_id}",
                created_at=now,
                created_by=self.user,
                updated_at=now,
                updated_by=self.user,
            )
            model.versions[number] = version
            return self._version_info(model, version)

    def list_versions(self, full_name: str) -> list[dict[str, Any]]:
        with self._lock:
            model = self._model(full_name)
            return [self._version_info(model, v) for _, v in sorted(model.versions.items())]


def router(registry: ModelRegistry, faults: Faults) -> APIRouter:
    """The Unity Catalog model routes over ``registry`` (faults: the server's ``FaultLayer``)."""
    api = APIRouter(prefix="/api/2.1/unity-catalog/models")  # faults: server.py's FaultLayer

    @api.post("")
    async def create_registered_model(request: Request) -> dict:
        return registry.create_model(await read_json(request))

    @api.get("/{full_name}")
    async def get_registered_model(full_name: str) -> dict:
        return registry.get_model(full_name)

    @api.delete("/{full_name}")
    async def delete_registered_model(full_name: str) -> dict:
        registry.delete_model(full_name)
        return {}

    @api.get("/{full_name}/versions")
    async def list_model_versions(
        full_name: str, max_results: str | None = None, page_token: str | None = None
    ) -> dict:
        return page(registry.list_versions(full_name), "model_versions", max_results, page_token)

    return api
