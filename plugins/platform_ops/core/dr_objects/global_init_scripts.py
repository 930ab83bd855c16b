"""Global init scripts: the comparison form and the create body (the script as text, its marker last)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platform_ops.core.dr_objects.catalogue import GLOBAL_INIT_SCRIPT_FIELDS
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.identity import (
    SCRIPT_MARKER,
    marker_value,
    set_marker,
    source_id,
    strip_line_marker,
)
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, result
from platform_ops.exceptions import ConfigError


def canonical_script(obj: Mapping[str, Any]) -> dict[str, Any]:
    # position is left out: the target numbers its scripts itself
    """The comparison form of a global init script: name, enabled and the script without marker."""
    body = {k: obj.get(k) for k in ("name", "enabled")}
    body["script"] = strip_line_marker(obj.get("script") or "", SCRIPT_MARKER)[0]
    return body


def prepare_script(source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide a global init script: its create body (text script, marker as last line)."""
    spec = {k: source[k] for k in GLOBAL_INIT_SCRIPT_FIELDS if source.get(k) is not None}
    if not isinstance(source.get("script"), str):
        raise ConfigError(
            "global_init_scripts.script",
            f"not text in global init script {source.get('name')!r}",
            "decode the API's base64 script to text before preparing it",
        )
    marker = marker_value(ctx.source_workspace_id, source_id("global_init_scripts", source))
    return result(
        "global_init_scripts", source, ctx, Outcome.MIGRATE, set_marker("global_init_scripts", spec, marker)
    )
