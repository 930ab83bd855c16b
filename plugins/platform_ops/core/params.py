"""Parsing of operator arguments that may arrive as Python values or as rendered templates."""

from __future__ import annotations

import re
from typing import Any

from platform_ops.exceptions import ConfigError


def parse_bool(field_name: str, value: Any) -> bool:
    """Booleans from Python or from rendered templates ('true'/'false'), nothing else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ConfigError(field_name, f"{value!r} is not a boolean", "pass true or false")


def is_unset(value: Any) -> bool:
    """An optional argument left empty (None, or a template that rendered to nothing)."""
    return value is None or value == ""


def parse_int(field_name: str, value: Any) -> int:
    """Integers from Python or from rendered templates ('4'), nothing else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value.strip())
    raise ConfigError(field_name, f"{value!r} is not an integer", "pass a whole number, e.g. 100")
