"""Secret scopes: the keys a scope gets (those with a configured value), comparison form and decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platform_ops.core.dr_objects.common import require
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, result


def canonical_scope(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison form of a secret scope: its name and sorted keys."""
    return {"scope": obj.get("scope") or obj.get("name"), "keys": sorted(obj.get("keys") or [])}


def prepare_scope(source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide a secret scope: Databricks-backed ones migrate with the keys that have a configured value."""
    name = str(require("secret_scopes", source, "name"))
    backend = source.get("backend_type") or "DATABRICKS"
    if backend != "DATABRICKS":
        return result(
            "secret_scopes",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"secret_scopes {name}: backend_type {backend} "
            "(create it in the secondary over its vault)",
        )
    keys = sorted(source.get("keys") or [])
    configured = ctx.secret_values.get(name, frozenset())
    with_value = [k for k in keys if k in configured]
    missing = [k for k in keys if k not in configured]
    reason = f"secret_scopes {name}: needs value: {', '.join(missing)}" if missing else ""
    if keys and not with_value:
        return result("secret_scopes", source, ctx, Outcome.NEEDS_VALUE, reason=reason)
    return result("secret_scopes", source, ctx, Outcome.MIGRATE, {"scope": name, "keys": with_value}, reason)
