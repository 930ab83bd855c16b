"""The sandbox's own control routes, under ``/_sandbox`` (not a Databricks API; no faults injected):

* ``GET  /_sandbox/health`` -> ``{"status": "ok"}`` (what the launcher polls);
* ``GET  /_sandbox/config`` -> every knob; ``POST /_sandbox/config`` with some knobs as a JSON object
  changes them and answers every knob (see ``sandbox.databricks.fault``);
* ``GET  /_sandbox/stats`` -> API requests seen (per method and route template) and faults injected;
* ``POST /_sandbox/reset`` -> knobs back to defaults, counters cleared, every store emptied
  (minilake's own state is reset by its ``POST /_minilake/reset``);
* ``POST /_sandbox/wipe`` -> the same and minilake's state too: an empty workspace (``/Shared``
  and the user's home only), for tests that need one;
* ``POST /_sandbox/models/{full_name}/versions`` with optional ``source``, ``run_id``, ``comment``,
  ``status`` (default READY) -> the new ModelVersionInfo: how versions get registered here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from fastapi import APIRouter, Request

from sandbox.databricks.fault import Faults, read_json
from sandbox.databricks.routes.models import ModelRegistry


def router(
    faults: Faults,
    registry: ModelRegistry,
    resets: Iterable[Callable[[], None]],
    wipe: Callable[[], Awaitable[None]] | None = None,
) -> APIRouter:
    """The control routes; ``resets`` empty the stores on ``POST /_sandbox/reset``, ``wipe`` also
    minilake's on ``POST /_sandbox/wipe``."""
    api = APIRouter(prefix="/_sandbox")
    reset_all = [faults.reset, *resets]

    @api.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @api.get("/config")
    async def get_config() -> dict:
        return faults.snapshot()

    @api.post("/config")
    async def set_config(request: Request) -> dict:
        return faults.configure(**await read_json(request))

    @api.get("/stats")
    async def stats() -> dict:
        return faults.stats()

    @api.post("/reset")
    async def reset() -> dict:
        for fn in reset_all:
            fn()
        return {}

    @api.post("/wipe")
    async def wipe_all() -> dict:
        for fn in reset_all:
            fn()
        if wipe is not None:
            await wipe()
        return {}

    @api.post("/models/{full_name}/versions")
    async def add_model_version(full_name: str, request: Request) -> dict:
        body = await read_json(request)
        return registry.add_version(
            full_name,
            source=body.get("source"),
            run_id=body.get("run_id"),
            comment=body.get("comment"),
            status=body.get("status", "READY"),
        )

    return api
