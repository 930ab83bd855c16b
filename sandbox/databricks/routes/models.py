"""Unity Catalog registered models, model versions and aliases (``/api/2.1/unity-catalog/models``).

The paths, JSON fields and enum values are those of databricks-sdk's ``RegisteredModelsAPI`` and
``ModelVersionsAPI`` (``databricks.sdk.service.catalog``):

* ``POST   /models`` create (``catalog_name``, ``schema_name``, ``name``) -> RegisteredModelInfo;
* ``GET    /models`` list (``catalog_name``, ``schema_name``, ``max_results``, ``page_token``)
  -> ``{"registered_models": [...], "next_page_token": ...}``;
* ``GET|PATCH|DELETE /models/{full_name}`` get (``include_aliases``), update (``comment``,
  ``owner``, ``new_name``), delete (with its versions and aliases);
* ``PUT|DELETE /models/{full_name}/aliases/{alias}`` set (``{"version_num": N}``) -> RegisteredModelAlias,
  delete; ``GET`` the same path gets the aliased ModelVersionInfo;
* ``GET /models/{full_name}/versions`` list -> ``{"model_versions": [...], "next_page_token": ...}``;
* ``GET|PATCH|DELETE /models/{full_name}/versions/{version}`` get, update (``comment``), delete.

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

from fastapi import APIRouter, Depends, Request

from sandbox.databricks.fault import ApiError, Faults, already_exists, invalid, not_found, read_json

METASTORE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "databricks-sandbox/metastore"))
VERSION_STATUSES = ("PENDING_REGISTRATION", "READY", "FAILED_REGISTRATION")
# Whole-string patterns, used with fullmatch: "$" would accept a trailing newline.
_NAME = re.compile(r"[^\s./\\]{1,255}")
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")
DEFAULT_PAGE = 100
MAX_PAGE = 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


def flag(value: str | None) -> bool:
    """A boolean query parameter as the SDK sends it (``True``/``true``/``1``)."""
    return (value or "").strip().lower() in ("true", "1", "yes")


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
    aliases: dict[str, int] = field(default_factory=dict)
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
    def _alias_dicts(self, model: _Model, only_version: int | None = None) -> list[dict[str, Any]]:
        return [
            {"alias_name": alias, "version_num": number}
            for alias, number in sorted(model.aliases.items())
            if only_version is None or number == only_version
        ]

    def _model_info(self, model: _Model, include_aliases: bool) -> dict[str, Any]:
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
        if include_aliases:
            info["aliases"] = self._alias_dicts(model)
        return info

    def _version_info(self, model: _Model, version: _Version, include_aliases: bool) -> dict[str, Any]:
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
        if include_aliases:
            info["aliases"] = self._alias_dicts(model, version.number)
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
            return self._model_info(model, include_aliases=False)

    def get_model(self, full_name: str, include_aliases: bool = False) -> dict[str, Any]:
        with self._lock:
            return self._model_info(self._model(full_name), include_aliases)

    def list_models(self, catalog: str | None, schema: str | None) -> list[dict[str, Any]]:
        if schema and not catalog:
            raise invalid("catalog_name is required when schema_name is given")
        with self._lock:
            return [
                self._model_info(m, include_aliases=False)
                for m in sorted(self._models.values(), key=lambda m: m.full_name)
                if (not catalog or m.catalog == catalog.lower())
                and (not schema or m.schema == schema.lower())
            ]

    def update_model(self, full_name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            model = self._model(full_name)
            new_name = body.get("new_name")
            if new_name:
                _, _, new_short = split_full_name(f"{model.catalog}.{model.schema}.{new_name}")
                new_key = f"{model.catalog}.{model.schema}.{new_short}"
                if new_key != model.full_name:
                    if new_key in self._models:
                        raise already_exists(f"Registered model '{new_key}' already exists.")
                    del self._models[model.full_name]
                    model.name = new_short
                    self._models[new_key] = model
            if "comment" in body:
                model.comment = body["comment"]
            if body.get("owner"):
                model.owner = str(body["owner"])
            model.updated_at, model.updated_by = _now_ms(), self.user
            return self._model_info(model, include_aliases=False)

    def delete_model(self, full_name: str) -> None:
        with self._lock:
            del self._models[self._model(full_name).full_name]

    # -- aliases -----------------------------------------------------------------------------------
    def set_alias(self, full_name: str, alias: str, version_num: Any) -> dict[str, Any]:
        if not _ALIAS.fullmatch(alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
            raise invalid(
                f"Invalid alias {alias!r}: use letters, digits, '_' and '-', not 'latest' or v<number>"
            )
        if version_num is None:
            raise invalid("version_num is required")
        with self._lock:
            model = self._model(full_name)
            version = self._version(model, version_num)
            model.aliases[alias.lower()] = version.number
            model.updated_at, model.updated_by = _now_ms(), self.user
            return {
                "alias_name": alias.lower(),
                "version_num": version.number,
                "catalog_name": model.catalog,
                "schema_name": model.schema,
                "model_name": model.name,
            }

    def delete_alias(self, full_name: str, alias: str) -> None:
        with self._lock:
            model = self._model(full_name)
            if model.aliases.pop(alias.lower(), None) is None:
                raise not_found(f"Alias '{alias}' does not exist on registered model '{model.full_name}'.")

    def get_by_alias(self, full_name: str, alias: str, include_aliases: bool = False) -> dict[str, Any]:
        with self._lock:
            model = self._model(full_name)
            number = model.aliases.get(alias.lower())
            if number is None:
                raise not_found(f"Alias '{alias}' does not exist on registered model '{model.full_name}'.")
            return self._version_info(model, model.versions[number], include_aliases)

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
            return self._version_info(model, version, include_aliases=False)

    def list_versions(self, full_name: str) -> list[dict[str, Any]]:
        with self._lock:
            model = self._model(full_name)
            return [self._version_info(model, v, False) for _, v in sorted(model.versions.items())]

    def get_version(self, full_name: str, version: str, include_aliases: bool = False) -> dict[str, Any]:
        with self._lock:
            model = self._model(full_name)
            return self._version_info(model, self._version(model, version), include_aliases)

    def update_version(self, full_name: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            model = self._model(full_name)
            found = self._version(model, version)
            if "comment" in body:
                found.comment = body["comment"]
            found.updated_at, found.updated_by = _now_ms(), self.user
            return self._version_info(model, found, include_aliases=False)

    def delete_version(self, full_name: str, version: str) -> None:
        with self._lock:
            model = self._model(full_name)
            number = self._version(model, version).number
            del model.versions[number]
            for alias in [a for a, n in model.aliases.items() if n == number]:
                del model.aliases[alias]


def router(registry: ModelRegistry, faults: Faults) -> APIRouter:
    """The Unity Catalog model routes over ``registry``, with ``faults`` applied to each request."""
    api = APIRouter(prefix="/api/2.1/unity-catalog/models", dependencies=[Depends(faults.inject)])

    @api.post("")
    async def create_registered_model(request: Request) -> dict:
        return registry.create_model(await read_json(request))

    @api.get("")
    async def list_registered_models(
        catalog_name: str | None = None,
        schema_name: str | None = None,
        max_results: str | None = None,
        page_token: str | None = None,
    ) -> dict:
        models = registry.list_models(catalog_name, schema_name)
        return page(models, "registered_models", max_results, page_token)

    @api.get("/{full_name}")
    async def get_registered_model(full_name: str, include_aliases: str | None = None) -> dict:
        return registry.get_model(full_name, flag(include_aliases))

    @api.patch("/{full_name}")
    async def update_registered_model(full_name: str, request: Request) -> dict:
        return registry.update_model(full_name, await read_json(request))

    @api.delete("/{full_name}")
    async def delete_registered_model(full_name: str) -> dict:
        registry.delete_model(full_name)
        return {}

    @api.put("/{full_name}/aliases/{alias}")
    async def set_alias(full_name: str, alias: str, request: Request) -> dict:
        body = await read_json(request)
        return registry.set_alias(full_name, alias, body.get("version_num"))

    @api.delete("/{full_name}/aliases/{alias}")
    async def delete_alias(full_name: str, alias: str) -> dict:
        registry.delete_alias(full_name, alias)
        return {}

    @api.get("/{full_name}/aliases/{alias}")
    async def get_by_alias(full_name: str, alias: str, include_aliases: str | None = None) -> dict:
        return registry.get_by_alias(full_name, alias, flag(include_aliases))

    @api.get("/{full_name}/versions")
    async def list_model_versions(
        full_name: str, max_results: str | None = None, page_token: str | None = None
    ) -> dict:
        return page(registry.list_versions(full_name), "model_versions", max_results, page_token)

    @api.get("/{full_name}/versions/{version}")
    async def get_model_version(full_name: str, version: str, include_aliases: str | None = None) -> dict:
        return registry.get_version(full_name, version, flag(include_aliases))

    @api.patch("/{full_name}/versions/{version}")
    async def update_model_version(full_name: str, version: str, request: Request) -> dict:
        return registry.update_version(full_name, version, await read_json(request))

    @api.delete("/{full_name}/versions/{version}")
    async def delete_model_version(full_name: str, version: str) -> dict:
        registry.delete_version(full_name, version)
        return {}

    return api
