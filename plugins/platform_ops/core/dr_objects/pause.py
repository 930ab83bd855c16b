"""Pause statuses of job settings: every schedule, continuous run and trigger carries its own."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from platform_ops.core.dr_objects.catalogue import PAUSED, UNPAUSED
from platform_ops.exceptions import ConfigError


def pausables(settings: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The blocks of job settings that carry a pause status (schedule, continuous, trigger, triggers)."""
    blocks = [
        settings[k] for k in ("schedule", "continuous", "trigger") if isinstance(settings.get(k), Mapping)
    ]
    blocks += [t for t in settings.get("triggers") or [] if isinstance(t, Mapping)]
    return blocks


def with_pause(settings: Mapping[str, Any], status: str) -> dict[str, Any]:
    """A copy of job settings with every schedule, continuous and trigger pause_status set to ``status``."""
    if status not in (PAUSED, UNPAUSED):
        raise ConfigError("pause_status", f"{status!r} is not a pause status", f"use {PAUSED} or {UNPAUSED}")
    out = copy.deepcopy(dict(settings))
    for key in ("schedule", "continuous", "trigger"):
        if isinstance(out.get(key), dict):
            out[key]["pause_status"] = status
    for trigger in out.get("triggers") or []:
        if isinstance(trigger, dict):
            trigger["pause_status"] = status
    return out


def source_pause(settings: Mapping[str, Any]) -> str | None:
    """The job's pause status: UNPAUSED if any schedule/continuous/trigger runs, None if it has none.

    The API's default for an absent pause_status is UNPAUSED.
    """
    blocks = pausables(settings.get("settings", settings))
    if not blocks:
        return None
    return UNPAUSED if any(b.get("pause_status", UNPAUSED) == UNPAUSED for b in blocks) else PAUSED
