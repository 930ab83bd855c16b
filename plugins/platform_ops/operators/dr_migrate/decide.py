"""One object type as both workspaces hold it, each source object prepared and classified."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from platform_ops.core import dr_objects as objs
from platform_ops.core.dr_migrate import (
    Action,
    Decision,
    DrParams,
    TargetIndex,
    classify,
)
from platform_ops.hooks.dr_migrate import ExportTooLargeError
from platform_ops.operators.dr_migrate.base import Pair
from platform_ops.operators.dr_migrate.compare import Comparer


@dataclass
class Side:
    """One object type as both workspaces hold it now, prepared against the current id map."""

    object_type: str
    source: list[dict[str, Any]]
    index: TargetIndex
    target: list[dict[str, Any]] = field(default_factory=list)


def read_side(pair: Pair, params: DrParams, object_type: str) -> Side:
    """Both workspaces' objects of one type (jobs in the order their run_job_task references need)."""
    source = pair.source.list_objects(object_type, params.roots)
    if object_type == "jobs":
        source = [dict(j) for j in objs.job_order(source)]
    target = pair.target.list_objects(object_type, params.roots)
    return Side(object_type, source, TargetIndex.of(object_type, target), target)


def decide_side(
    side: Side,
    ctx: objs.Context,
    comparer: Comparer,
    trust_checkpoint: bool,
    planning: bool = False,
    workers: int = 1,
) -> list[tuple[objs.Prepared, Decision]]:
    """Prepare and classify every source object of a side (exports of oversized notebooks are blocked).

    The comparisons (notebook exports) run on ``workers`` threads. ``planning`` (the dry run's plan)
    records each decision in ``ctx``'s id map and filtered map, a create under a placeholder id, so
    what refers to it is planned as a run would do it (jobs one by one: a job may run another).
    """
    if side.object_type == "workspace_objects":
        comparer.remember(side.source)
    if planning and side.object_type == "jobs":
        out = []
        for obj in side.source:
            job, decision = _decided(side, comparer, trust_checkpoint, objs.prepare("jobs", obj, ctx))
            _plan_into(ctx, job, decision)
            out.append((job, decision))
        return out
    prepared = [objs.prepare(side.object_type, obj, ctx) for obj in side.source]
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dr-compare") as pool:
        out = list(pool.map(lambda p: _decided(side, comparer, trust_checkpoint, p), prepared))
    if planning:
        for prepared_one, decision in out:
            _plan_into(ctx, prepared_one, decision)
    return out


def _decided(
    side: Side, comparer: Comparer, trust_checkpoint: bool, prepared: objs.Prepared
) -> tuple[objs.Prepared, Decision]:
    if prepared.relocations:
        problems, _ = comparer.relocator.check(prepared)
        if problems:
            reason = f"{prepared.object_type} {prepared.name}: " + "; ".join(problems)
            prepared = dataclasses.replace(
                prepared, outcome=objs.Outcome.BLOCKED, spec=None, reason=reason, relocations=()
            )
    found = side.index.found(prepared)
    try:
        same = comparer.identical(prepared, found[1] if found else None, trust_checkpoint)
    except ExportTooLargeError as exc:
        prepared = too_large(prepared, exc)
        same = None
    return prepared, classify(prepared, side.index, same)


def _plan_into(ctx: objs.Context, prepared: objs.Prepared, decision: Decision) -> None:
    """Record a planned decision in the (mutable) maps of ``ctx``."""
    if decision.action in (Action.CREATE, Action.UPDATE, Action.IDENTICAL):
        planned = decision.target_id or f"new-{prepared.source_id}"
        ctx.id_map.setdefault(prepared.object_type, {})[prepared.source_id] = planned  # type: ignore[attr-defined]
    elif decision.action is Action.FILTERED:
        ctx.filtered.setdefault(prepared.object_type, {})[prepared.source_id] = prepared.reason  # type: ignore[attr-defined]
    elif decision.action is Action.DUPLICATE:
        ctx.duplicates.setdefault(prepared.object_type, {})[prepared.source_id] = decision.copies  # type: ignore[attr-defined]


def too_large(prepared: objs.Prepared, exc: ExportTooLargeError) -> objs.Prepared:
    """``prepared`` as BLOCKED: its export is over the size limit."""
    return objs.Prepared(
        prepared.object_type,
        prepared.source_id,
        prepared.name,
        prepared.marker,
        objs.Outcome.BLOCKED,
        None,
        f"{exc.path} is over the export size limit ({exc.size} bytes): copy it another way",
    )
