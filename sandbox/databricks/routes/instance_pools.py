"""Instance pools' Docker basic-auth passwords, in front of minilake's instance pools API.

Databricks never returns a password it was given: ``instance-pools/get`` and ``/list`` answer each
``preloaded_docker_images[].basic_auth`` with its ``username`` only. minilake returns the stored
record as it was posted, password included, so these two routes drop it (the record keeps it).

* ``GET /_sandbox/instance-pools/docker-digest?instance_pool_id=&url=`` -> ``{"sha256": ...}`` of the
  password stored for that image: how a test tells which password reached a workspace; 404 when
  there is none.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from fastapi import APIRouter, Query

from sandbox.databricks.fault import not_found


def _pools() -> dict[str, dict[str, Any]]:
    """minilake's pool records (its reset replaces the store: read it on every call)."""
    from minilake.services import instance_pools as minilake_pools

    return minilake_pools._state["pools"]  # type: ignore[no-any-return]


def without_passwords(pool: dict[str, Any]) -> dict[str, Any]:
    """An answer's pool with no Docker basic-auth password, as Databricks answers it."""
    out = copy.deepcopy(pool)
    for image in out.get("preloaded_docker_images") or []:
        if isinstance(image, dict) and isinstance(image.get("basic_auth"), dict):
            image["basic_auth"].pop("password", None)
    return out


def router() -> APIRouter:
    from minilake.services import instance_pools as minilake_pools

    api = APIRouter()

    @api.get("/api/2.0/instance-pools/get")
    async def get(instance_pool_id: str = Query(...)) -> Any:
        answer = await minilake_pools.get_instance_pool(instance_pool_id)
        return without_passwords(answer.model_dump(exclude_none=True))

    @api.get("/api/2.0/instance-pools/list")
    async def list_pools() -> Any:
        answer = await minilake_pools.list_instance_pools()
        pools = [without_passwords(p.model_dump(exclude_none=True)) for p in answer.instance_pools or []]
        return {"instance_pools": pools}

    @api.get("/_sandbox/instance-pools/docker-digest")
    async def digest(instance_pool_id: str = Query(...), url: str = Query(...)) -> Any:
        pool = _pools().get(instance_pool_id) or {}
        for image in pool.get("preloaded_docker_images") or []:
            auth = image.get("basic_auth") if isinstance(image, dict) else None
            if image.get("url") == url and isinstance(auth, dict) and auth.get("password"):
                return {"sha256": hashlib.sha256(str(auth["password"]).encode()).hexdigest()}
        raise not_found(f"no Docker password for {url} in pool {instance_pool_id}")

    return api
