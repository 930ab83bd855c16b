"""The decision on one source object (:class:`Prepared`) and how each type's module builds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from platform_ops.core.dr_objects.catalogue import IDENTITY_BY_NAME
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.identity import marker_value, object_name, source_id


class Outcome(StrEnum):
    """What the migration does with one source object."""

    MIGRATE = "migrate"
    FILTERED = "filtered"
    BLOCKED = "blocked"
    OUT_OF_SCOPE = "out_of_scope"
    NEEDS_VALUE = "needs_value"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Prepared:
    """One source object, decided: the target body when it migrates, else why not."""

    object_type: str
    source_id: str
    name: str
    marker: str | None
    outcome: Outcome
    spec: dict[str, Any] | None
    reason: str = ""
    pause_status: str | None = None
    # (DBFS path, target workspace file path) of each DBFS init script the spec now points elsewhere
    relocations: tuple[tuple[str, str], ...] = ()


def result(
    object_type: str,
    source: Mapping[str, Any],
    ctx: Context,
    outcome: Outcome,
    spec: dict[str, Any] | None = None,
    reason: str = "",
    pause_status: str | None = None,
    relocations: tuple[tuple[str, str], ...] = (),
) -> Prepared:
    """The :class:`Prepared` of one source object (a spec and relocations only when it migrates)."""
    sid = source_id(object_type, source)
    marker = None if object_type in IDENTITY_BY_NAME else marker_value(ctx.source_workspace_id, sid)
    if object_type in ("cluster_libraries", "permissions"):
        marker = None
    return Prepared(
        object_type=object_type,
        source_id=sid,
        name=object_name(object_type, source),
        marker=marker,
        outcome=outcome,
        spec=spec if outcome is Outcome.MIGRATE else None,
        reason=reason,
        pause_status=pause_status,
        relocations=relocations if outcome is Outcome.MIGRATE else (),
    )


def blocked(object_type: str, source: Mapping[str, Any], ctx: Context, problems: list[str]) -> Prepared:
    """A BLOCKED :class:`Prepared` whose reason lists ``problems``."""
    name = object_name(object_type, source)
    return result(
        object_type, source, ctx, Outcome.BLOCKED, reason=f"{object_type} {name}: " + "; ".join(problems)
    )
