"""Secret scopes backed by an Azure Key Vault, in front of minilake's secrets API.

minilake creates every scope Databricks-backed and lists it so. Databricks also has scopes backed by
an Azure Key Vault (``scope_backend_type: AZURE_KEYVAULT`` with ``backend_azure_keyvault``
``{resource_id, dns_name}``): their secrets live in the vault, and the API cannot write them.

* ``POST /api/2.0/secrets/scopes/create`` of an AZURE_KEYVAULT scope needs both vault fields (400
  INVALID_PARAMETER_VALUE otherwise) and keeps them; any other scope is minilake's.
* ``GET /api/2.0/secrets/scopes/list`` lists each scope with its ``backend_type`` and, for a
  vault-backed one, its ``keyvault_metadata``.
* ``POST /api/2.0/secrets/put`` into a vault-backed scope is refused (400 BAD_REQUEST).
* ``GET /_sandbox/secrets/digest?scope=&key=`` -> ``{"sha256": ...}`` of the stored value: how a test
  tells which value reached a workspace (the API never returns one); 404 when there is none.

The vault fields are kept in minilake's own record of the scope, so its reset and wipe clear them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request

from sandbox.databricks.fault import ApiError, invalid

VAULT = "AZURE_KEYVAULT"


def scopes() -> dict[str, dict[str, Any]]:
    """minilake's scope records (its reset replaces the store: read it on every call)."""
    from minilake.services import secrets as minilake_secrets

    return minilake_secrets._state["scopes"]  # type: ignore[no-any-return]


def router() -> APIRouter:
    from minilake.models.secrets import CreateScopeRequest, PutSecretRequest
    from minilake.services import secrets as minilake_secrets

    api = APIRouter()

    @api.post("/api/2.0/secrets/scopes/create")
    async def create(request: Request) -> Any:
        body = await request.json()
        backend = body.get("scope_backend_type") or "DATABRICKS"
        if backend not in ("DATABRICKS", VAULT):
            raise invalid(f"scope_backend_type {backend!r} is not DATABRICKS or {VAULT}")
        vault = body.get("backend_azure_keyvault") or {}
        if backend == VAULT and not (vault.get("resource_id") and vault.get("dns_name")):
            raise invalid("backend_azure_keyvault needs resource_id and dns_name for an AZURE_KEYVAULT scope")
        request_body = {k: body[k] for k in ("scope", "initial_manage_principal") if k in body}
        answer = await minilake_secrets.create_scope(CreateScopeRequest(**request_body))
        if backend == VAULT:
            scopes()[body["scope"]]["keyvault"] = {
                "resource_id": vault["resource_id"],
                "dns_name": vault["dns_name"],
            }
        return answer

    @api.get("/api/2.0/secrets/scopes/list")
    async def list_scopes() -> dict[str, Any]:
        listed = []
        for name, stored in scopes().items():
            vault = stored.get("keyvault")
            scope: dict[str, Any] = {"name": name, "backend_type": VAULT if vault else "DATABRICKS"}
            if vault:
                scope["keyvault_metadata"] = dict(vault)
            listed.append(scope)
        return {"scopes": listed}

    @api.post("/api/2.0/secrets/put")
    async def put(request: Request) -> Any:
        body = await request.json()
        stored = scopes().get(str(body.get("scope")))
        if stored is not None and stored.get("keyvault"):
            raise ApiError(
                400,
                "BAD_REQUEST",
                f"Scope {body['scope']} is backed by an Azure Key Vault: write its secrets in the vault",
            )
        return await minilake_secrets.put_secret(PutSecretRequest(**body))

    api.include_router(_digest_router())
    return api


def _digest_router() -> APIRouter:
    api = APIRouter()

    @api.get("/_sandbox/secrets/digest")
    async def digest(scope: str, key: str) -> dict[str, str]:
        secret = (scopes().get(scope) or {}).get("secrets", {}).get(key)
        if secret is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"no secret {key} in scope {scope}")
        value = secret["value"]
        return {"sha256": hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()}

    return api
