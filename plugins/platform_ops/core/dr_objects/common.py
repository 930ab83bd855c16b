"""Helpers every object type's module uses: type and field checks, empties, paths, the id placeholder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from platform_ops.core.dr_objects.catalogue import OBJECT_TYPES
from platform_ops.exceptions import ConfigError

# What a remapped id is replaced with in the comparison form.
REF = "<ref>"


def check_type(object_type: str) -> None:
    """Refuse an object type outside ``OBJECT_TYPES``."""
    if object_type not in OBJECT_TYPES:
        raise ConfigError(
            "object_type", f"unknown object type {object_type!r}", f"use one of {', '.join(OBJECT_TYPES)}"
        )


def require(object_type: str, obj: Mapping[str, Any], key: str) -> Any:
    """``obj[key]``, refused with a ConfigError naming the field when missing or empty."""
    value = obj.get(key)
    if value is None or value == "":
        raise ConfigError(
            f"{object_type}.{key}",
            f"missing in {object_type} object {_brief(obj)}",
            f"pass {object_type} objects as the REST API returns them (with {key})",
        )
    return value


def _brief(obj: Mapping[str, Any]) -> str:
    return json.dumps({k: obj[k] for k in list(obj)[:3]}, default=str)


def drop_empty(value: Any) -> Any:
    """A copy of ``value`` without nulls, and without empty mappings and lists inside mappings."""
    if isinstance(value, Mapping):
        out = {k: drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [drop_empty(v) for v in value if v is not None]
    return value


def under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or inside it (every path is under the root ``/``)."""
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/") or root == ""
