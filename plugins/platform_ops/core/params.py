"""Parsing of operator arguments that may arrive as Python values or as rendered templates."""

from __future__ import annotations

from typing import Any

from platform_ops.exceptions import ConfigError


def parse_bool(field_name: str, value: Any) -> bool:
    """Booleans from Python or from rendered templates ('true'/'false'), nothing else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ConfigError(field_name, f"{value!r} is not a boolean", "pass true or false")
