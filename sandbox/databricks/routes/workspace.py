"""The workspace export route in front of minilake's, with Databricks' export size limit.

``GET /api/2.0/workspace/export`` of a notebook or file larger than the ``export_limit_bytes`` knob
(default 10 MiB, Databricks' limit; see ``sandbox.databricks.fault``) is refused with 400
``MAX_NOTEBOOK_SIZE_EXCEEDED`` and the message ``Notebook size exceeded limit: <size> > <limit>``
(as Databricks answers); anything else is minilake's export.

A real workspace always has ``/Shared``: ``ensure_shared`` creates it in minilake's tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from sandbox.databricks.fault import ApiError, Faults, invalid

TOO_LARGE = "MAX_NOTEBOOK_SIZE_EXCEEDED"


def ensure_shared(data_dir: Path) -> None:
    """Create ``/Shared`` in minilake's workspace tree under ``data_dir``."""
    (data_dir / "workspace" / "Shared").mkdir(parents=True, exist_ok=True)


def router(faults: Faults) -> APIRouter:
    from minilake.services import workspace as minilake_workspace

    api = APIRouter()

    @api.get("/api/2.0/workspace/export")
    async def export(request: Request) -> Any:
        params = request.query_params
        path = params.get("path")
        if not path:
            raise invalid("path is required")
        target = minilake_workspace._resolve(path)
        limit = faults.snapshot()["export_limit_bytes"]
        if target.is_file() and (size := target.stat().st_size) > limit:
            raise ApiError(400, TOO_LARGE, f"Notebook size exceeded limit: {size} > {limit}")
        direct = (params.get("direct_download") or "").lower() == "true"
        return await minilake_workspace.export_object(
            path=path, format=params.get("format"), direct_download=direct
        )

    return api
