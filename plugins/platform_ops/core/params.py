"""Parsing of operator arguments and config values.

Arguments may arrive as Python values or as rendered templates; a config mapping may name only keys
its reader knows (:func:`refuse_unknown_keys`: a typo is refused with the closest key, never ignored).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from platform_ops.exceptions import ConfigError

# The keys a config mapping may hold: each key maps to the keys of its own mapping value, or to None
# when its value is not a mapping of named keys (a scalar, a list, or a map of free names).
KeyTree: TypeAlias = Mapping[str, "KeyTree | None"]


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


def closest(name: str, known: Iterable[str]) -> str | None:
    """The name of ``known`` nearest to ``name`` (difflib's similarity 0.6 or more), None if none is."""
    found = difflib.get_close_matches(name, sorted(known), n=1)
    return found[0] if found else None


def _paths(known: KeyTree, where: str = "") -> dict[str, str]:
    """Every key of ``known`` at every level: its dotted path -> its own name."""
    out: dict[str, str] = {}
    for key, below in known.items():
        out[f"{where}{key}"] = key
        if below is not None:
            out.update(_paths(below, f"{where}{key}."))
    return out


def refuse_unknown_keys(
    doc: Mapping[Any, Any], known: KeyTree, where: str = "", root: KeyTree | None = None
) -> None:
    """Raise for the first key of ``doc``, at any nesting level ``known`` describes, that it does not list.

    ``where`` prefixes the key's path (``"network."``); the error names the full path, the known key
    closest to it at that level (else the closest key of another level, by its path) and the keys
    allowed at that level. A value that is not a mapping where ``known`` expects one is left to the
    field's own check.

    Raises:
        ConfigError: naming e.g. ``network.subnet_id`` and suggesting ``subnet_ids``.
    """
    top = known if root is None else root
    for key, value in doc.items():
        path = f"{where}{key}"
        if key not in known:
            level = f"under {where[:-1]}" if where else "at the top level"
            guess = closest(str(key), known)
            hint = f"did you mean {guess!r}? " if guess else ""
            if guess is None:  # a key put at the wrong level: point at where it belongs
                elsewhere = _paths(top)
                name = closest(str(key), set(elsewhere.values()))
                moved = next((p for p, n in sorted(elsewhere.items()) if n == name), None)
                if moved is not None:
                    at = f"under {moved.rsplit('.', 1)[0]}" if "." in moved else "at the top level"
                    hint = f"did you mean {name!r}, a key {at} ({moved})? "
            raise ConfigError(
                path,
                "is not a known key",
                f"{hint}the keys {level} are {', '.join(sorted(known))}",
            )
        below = known[key]
        if below is not None and isinstance(value, Mapping):
            refuse_unknown_keys(value, below, f"{path}.", top)
