"""``GET /.well-known/databricks-config``: the host metadata databricks-sdk reads when it builds its
config (``databricks.sdk.oauth.HostMetadata``: ``oidc_endpoint``, ``workspace_id``, ...).

Without it the SDK logs a warning on every client it builds and falls back to the explicit
configuration; with it the SDK learns the workspace id (and sends it as
``X-Databricks-Workspace-Id``). The OIDC endpoint is named but not served: clients reach the
sandbox with a personal access token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request


def router(workspace_id: str) -> APIRouter:
    api = APIRouter()

    @api.get("/.well-known/databricks-config")
    async def host_metadata(request: Request) -> dict:
        base = str(request.base_url).rstrip("/")
        return {"oidc_endpoint": f"{base}/oidc", "workspace_id": workspace_id}

    return api
