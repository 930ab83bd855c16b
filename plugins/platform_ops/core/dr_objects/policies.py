"""Cluster policies: the pool ids a definition fixes, the comparison form and the decision."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from platform_ops.core.dr_objects.catalogue import POLICY_CREATE_FIELDS
from platform_ops.core.dr_objects.common import REF
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.identity import (
    POLICY_MARKER,
    marker_value,
    object_name,
    set_marker,
    source_id,
    strip_line_marker,
)
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, blocked, result
from platform_ops.core.dr_objects.references import Resolver


def _policy_definition(text: Any) -> Any:
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def canonical_policy(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison form of a policy: its create fields, no marker, pool ids as placeholders."""
    body = {k: copy.deepcopy(v) for k, v in obj.items() if k in POLICY_CREATE_FIELDS}
    body["description"] = strip_line_marker(body.get("description") or "", POLICY_MARKER)[0] or None
    for key in ("definition", "policy_family_definition_overrides"):
        definition = _policy_definition(body.get(key))
        if isinstance(definition, dict):
            _walk_policy_pools(definition, lambda _path, _value: REF)
        body[key] = definition
    return body


def _walk_policy_pools(definition: dict[str, Any], visit: Callable[[str, str], str | None]) -> None:
    for attr in ("instance_pool_id", "driver_instance_pool_id"):
        rule = definition.get(attr)
        if not isinstance(rule, dict):
            continue
        for key in ("value", "defaultValue"):
            if isinstance(rule.get(key), str):
                new = visit(f"definition.{attr}.{key}", rule[key])
                if new is not None:
                    rule[key] = new
        if isinstance(rule.get("values"), list):
            rule["values"] = [visit(f"definition.{attr}.values", str(v)) or v for v in rule["values"]]


def prepare_policy(source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide a cluster policy: defaults and plain family policies are filtered; pool ids are remapped."""
    name = object_name("cluster_policies", source)
    if source.get("is_default"):
        return result(
            "cluster_policies",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"cluster_policies {name}: is_default (a built-in policy every workspace has)",
        )
    if source.get("policy_family_id") and not source.get("policy_family_definition_overrides"):
        return result(
            "cluster_policies",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"cluster_policies {name}: policy_family_id {source['policy_family_id']} "
            "(a built-in family's policy every workspace has)",
        )
    spec = {k: copy.deepcopy(v) for k, v in source.items() if k in POLICY_CREATE_FIELDS and v is not None}
    if spec.get("policy_family_id"):
        spec.pop("definition", None)  # a family policy is its family's definition plus the overrides
    resolver = Resolver(ctx)
    for key in ("definition", "policy_family_definition_overrides"):
        definition = _policy_definition(spec.get(key))
        if isinstance(definition, dict):
            _walk_policy_pools(definition, lambda where, value: resolver(where, "instance_pools", value))
            spec[key] = json.dumps(definition)
    if resolver.problems:
        return blocked("cluster_policies", source, ctx, resolver.problems)
    marker = marker_value(ctx.source_workspace_id, source_id("cluster_policies", source))
    return result(
        "cluster_policies", source, ctx, Outcome.MIGRATE, set_marker("cluster_policies", spec, marker)
    )
