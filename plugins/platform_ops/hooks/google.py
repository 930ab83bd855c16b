"""What the project's Google hooks share: where the API is.

An endpoint comes from the hook's argument or the connection's ``extra.api_endpoint`` and goes to
the official client through the provider's ``get_client_options`` (which keeps universe-domain
rules). Pointing a connection at a local stand-in takes ``api_endpoint`` plus ``is_anonymous``.
"""

from __future__ import annotations

from airflow.providers.google.common.hooks.base_google import GoogleBaseHook


def api_endpoint(hook: GoogleBaseHook, override: str | None = None) -> str | None:
    """The API endpoint for ``hook``: the argument, else the connection's ``extra.api_endpoint``."""
    return override or hook._get_field("api_endpoint") or None
