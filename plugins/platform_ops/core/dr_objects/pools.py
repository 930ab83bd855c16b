"""Instance pools: the create body (no idle instances, Docker passwords apart), comparison, decision."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from platform_ops.core.dr_objects.catalogue import DOCKER_PASSWORDS_KEY, POOL_CREATE_FIELDS
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.identity import (
    marker_value,
    object_name,
    set_marker,
    source_id,
    without_marker_tag,
)
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, result


def canonical_pool(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison form of a pool: its create fields without marker, idle instances or passwords."""
    body = without_docker_passwords({k: v for k, v in obj.items() if k in POOL_CREATE_FIELDS})
    body["custom_tags"] = without_marker_tag(body.get("custom_tags"))
    body.pop("min_idle_instances", None)  # set to 0 by the migration unless asked otherwise
    return body


def docker_auth_images(pool: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(index, url) of each of a pool's preloaded Docker images that signs in with basic auth."""
    out = []
    for i, image in enumerate(pool.get("preloaded_docker_images") or []):
        if isinstance(image, Mapping) and isinstance(image.get("basic_auth"), Mapping):
            out.append((i, str(image.get("url") or "")))
    return out


def without_docker_passwords(pool: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a pool body whose Docker images carry no basic-auth password."""
    out = copy.deepcopy(dict(pool))
    for image in out.get("preloaded_docker_images") or []:
        if isinstance(image, dict) and isinstance(image.get("basic_auth"), dict):
            image["basic_auth"].pop("password", None)
    return out


def with_docker_passwords(pool: Mapping[str, Any], passwords: Mapping[str, str]) -> dict[str, Any]:
    """A copy of a pool body with each basic-auth image's password taken from ``passwords`` (by url)."""
    out = without_docker_passwords(pool)
    for image in out.get("preloaded_docker_images") or []:
        if isinstance(image, dict) and isinstance(image.get("basic_auth"), dict):
            url = str(image.get("url") or "")
            if url in passwords:
                image["basic_auth"]["password"] = passwords[url]
    return out


def prepare_pool(source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide an instance pool: no idle instances unless kept, each Docker password configured."""
    spec = {k: copy.deepcopy(v) for k, v in source.items() if k in POOL_CREATE_FIELDS and v is not None}
    spec = without_docker_passwords(spec)  # the API never returns one; the run adds the configured ones
    if not ctx.keep_idle_instances:
        spec["min_idle_instances"] = 0
    name = object_name("instance_pools", source)
    configured = ctx.docker_passwords.get(name, frozenset())
    missing = [(i, url) for i, url in docker_auth_images(spec) if url not in configured]
    if missing:
        listed = ", ".join(f"preloaded_docker_images[{i}].basic_auth.password ({url})" for i, url in missing)
        reason = (
            f"instance_pools {name}: needs value: {listed} (the API never returns it: put it in the "
            f'secret values under "{DOCKER_PASSWORDS_KEY}" as {{"{name}": {{"<image url>": "<password>"}}}})'
        )
        return result("instance_pools", source, ctx, Outcome.NEEDS_VALUE, reason=reason)
    marker = marker_value(ctx.source_workspace_id, source_id("instance_pools", source))
    return result("instance_pools", source, ctx, Outcome.MIGRATE, set_marker("instance_pools", spec, marker))
