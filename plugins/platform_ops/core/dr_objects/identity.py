"""Who an object is: its source id and name, and the marker a migrated copy carries of its source."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from platform_ops.core.dr_objects.catalogue import MARKER_KEY
from platform_ops.core.dr_objects.common import check_type, require

_ID_FIELD = {
    "cluster_policies": "policy_id",
    "instance_pools": "instance_pool_id",
    "secret_scopes": "name",
    "global_init_scripts": "script_id",
    "workspace_objects": "path",
    "clusters": "cluster_id",
    "cluster_libraries": "cluster_id",
    "jobs": "job_id",
}
_NAME_FIELD = {
    "cluster_policies": "name",
    "instance_pools": "instance_pool_name",
    "secret_scopes": "name",
    "global_init_scripts": "name",
    "workspace_objects": "path",
    "clusters": "cluster_name",
    "cluster_libraries": "cluster_id",
}
POLICY_MARKER = re.compile(r"^\[" + MARKER_KEY + r" (\S+)\]$")
SCRIPT_MARKER = re.compile(r"^# " + MARKER_KEY + r" (\S+)$")


def source_id(object_type: str, obj: Mapping[str, Any]) -> str:
    """The source identity of an object: its id, scope name or path; permissions ``<type>/<id>``."""
    check_type(object_type)
    if object_type == "permissions":
        kind = require(object_type, obj, "object_type")
        return f"{kind}/{require(object_type, obj, 'object_id')}"
    return str(require(object_type, obj, _ID_FIELD[object_type]))


def object_name(object_type: str, obj: Mapping[str, Any]) -> str:
    """The human name of an object (cluster name, job name, path, ...), for reports and name conflicts."""
    check_type(object_type)
    if object_type == "permissions":
        return source_id(object_type, obj)
    if object_type == "jobs":
        settings = obj.get("settings", obj)
        return str(settings.get("name") or f"job {obj.get('job_id', '?')}")
    return str(obj.get(_NAME_FIELD[object_type]) or source_id(object_type, obj))


def marker_value(source_workspace_id: str, source_id: str) -> str:
    """The marker a migrated object carries: ``<source workspace id>:<source id>``."""
    return f"{source_workspace_id}:{source_id}"


def strip_line_marker(text: str, pattern: re.Pattern[str]) -> tuple[str, str | None]:
    """``text`` without a last line matching ``pattern``, and that line's marker (or None)."""
    lines = text.rstrip("\n").split("\n")
    match = pattern.match(lines[-1].strip()) if lines else None
    if match:
        return "\n".join(lines[:-1]).rstrip("\n"), match.group(1)
    return text.rstrip("\n"), None


def marker_of(object_type: str, target_obj: Mapping[str, Any]) -> str | None:
    """The marker a target object carries, or None (types identified by name carry none)."""
    check_type(object_type)
    if object_type in ("clusters", "instance_pools"):
        return (target_obj.get("custom_tags") or {}).get(MARKER_KEY)
    if object_type == "jobs":
        settings = target_obj.get("settings", target_obj)
        return (settings.get("tags") or {}).get(MARKER_KEY)
    if object_type == "cluster_policies":
        return strip_line_marker(target_obj.get("description") or "", POLICY_MARKER)[1]
    if object_type == "global_init_scripts":
        return strip_line_marker(target_obj.get("script") or "", SCRIPT_MARKER)[1]
    return None


def set_marker(object_type: str, spec: Mapping[str, Any], marker: str) -> dict[str, Any]:
    """A copy of a create body with ``marker`` set where the type keeps it (replacing an older one)."""
    check_type(object_type)
    out = copy.deepcopy(dict(spec))
    if object_type in ("clusters", "instance_pools"):
        out["custom_tags"] = {**(out.get("custom_tags") or {}), MARKER_KEY: marker}
    elif object_type == "jobs":
        out["tags"] = {**(out.get("tags") or {}), MARKER_KEY: marker}
    elif object_type == "cluster_policies":
        text = strip_line_marker(out.get("description") or "", POLICY_MARKER)[0]
        out["description"] = f"{text}\n[{MARKER_KEY} {marker}]" if text else f"[{MARKER_KEY} {marker}]"
    elif object_type == "global_init_scripts":
        text = strip_line_marker(out.get("script") or "", SCRIPT_MARKER)[0]
        out["script"] = f"{text}\n# {MARKER_KEY} {marker}\n"
    return out


def without_marker_tag(tags: Any) -> Any:
    """Tags without the marker's key (anything but a mapping is returned as it is)."""
    if isinstance(tags, Mapping):
        return {k: v for k, v in tags.items() if k != MARKER_KEY}
    return tags
