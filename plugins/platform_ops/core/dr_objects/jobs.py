"""Jobs: the create body (paused, marker tag), comparison form, decision, and the run_job_task graph."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from platform_ops.core.dr_objects.catalogue import JOB_TAG_LIMIT, MARKER_KEY, PAUSED
from platform_ops.core.dr_objects.cluster_init_scripts import (
    init_script_problems,
    relocated_reason,
    relocations_of,
)
from platform_ops.core.dr_objects.common import REF, require
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.identity import (
    marker_value,
    object_name,
    set_marker,
    source_id,
    without_marker_tag,
)
from platform_ops.core.dr_objects.outcome import Outcome, Prepared, result
from platform_ops.core.dr_objects.pause import pausables, source_pause, with_pause
from platform_ops.core.dr_objects.references import Resolver, job_tasks, walk_job_refs


def canonical_job(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison form of a job: settings without server-set fields, pauses, marker and remapped ids."""
    settings = copy.deepcopy(dict(obj.get("settings", obj)))
    for key in ("format", "job_id", "created_time", "creator_user_name", "run_as_user_name"):
        settings.pop(key, None)
    settings["tags"] = without_marker_tag(settings.get("tags"))
    for block in pausables(settings):
        block.pop("pause_status", None)  # type: ignore[attr-defined]
    walk_job_refs(settings, lambda _where, _kind, _value: REF)
    tasks = settings.get("tasks") or []
    for task in tasks:
        if task.get("depends_on"):
            task["depends_on"] = sorted(task["depends_on"], key=lambda d: str(d.get("task_key")))
    settings["tasks"] = sorted(tasks, key=lambda t: str(t.get("task_key")))
    settings["job_clusters"] = sorted(
        settings.get("job_clusters") or [], key=lambda c: str(c.get("job_cluster_key"))
    )
    return settings


def run_job_targets(job: Mapping[str, Any]) -> list[str]:
    """The job ids a job's run_job_task tasks start (for_each tasks included)."""
    found: list[str] = []

    def visit(_where: str, kind: str, value: str) -> str | None:
        if kind == "jobs":
            found.append(value)
        return None

    walk_job_refs(copy.deepcopy(dict(job.get("settings", job))), visit)
    return found


def job_dependencies(jobs: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Source job id -> the ids of the jobs among ``jobs`` that it starts (:func:`run_job_targets`)."""
    ids = [str(require("jobs", j, "job_id")) for j in jobs]
    known = set(ids)
    return {jid: [t for t in run_job_targets(j) if t in known] for jid, j in zip(ids, jobs, strict=True)}


def job_cycles(jobs: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Groups of jobs that start each other through run_job_task (a job starting itself included)."""
    graph = job_dependencies(jobs)

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        stack = list(graph[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(graph[node])
        return seen

    reachable = {jid: reach(jid) for jid in graph}
    cycles: list[list[str]] = []
    placed: set[str] = set()
    for jid in graph:
        if jid in placed or jid not in reachable[jid]:
            continue
        group = sorted(j for j in reachable[jid] if jid in reachable[j])
        placed.update(group)
        cycles.append(group)
    return cycles


def job_order(jobs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The jobs with every run_job_task target before the job that starts it (otherwise input order).

    Jobs in a cycle (and jobs that start them) come last: :func:`prepare` blocks them, since the job
    they start is not in the target yet.
    """
    graph = job_dependencies(jobs)
    by_id = {str(j["job_id"]): j for j in jobs}
    done: set[str] = set()
    order: list[Mapping[str, Any]] = []
    progress = True
    while progress:
        progress = False
        for jid in graph:
            if jid not in done and all(t in done for t in graph[jid]):
                done.add(jid)
                order.append(by_id[jid])
                progress = True
    order.extend(by_id[jid] for jid in graph if jid not in done)
    return order


def _job_clusters(settings: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(label, new_cluster) of every cluster spec in job settings (job, job clusters, tasks)."""
    yield "job.new_cluster", settings.get("new_cluster")
    for cluster in settings.get("job_clusters") or []:
        key = cluster.get("job_cluster_key", "?")
        yield f"job_clusters[{key}].new_cluster", cluster.get("new_cluster")
    for where, task in job_tasks(settings):
        yield f"{where}.new_cluster", task.get("new_cluster")


def _job_init_script_problems(settings: Mapping[str, Any], ctx: Context) -> list[str]:
    out = []
    for where, cluster in _job_clusters(settings):
        out += init_script_problems(cluster, where, ctx.roots, ctx.relocate_dbfs_init_scripts)
    return out


def prepare_job(source: Mapping[str, Any], ctx: Context) -> Prepared:
    """Decide a job: its settings with target references, every trigger PAUSED, and its marker tag."""
    settings = copy.deepcopy(dict(require("jobs", source, "settings")))
    name = object_name("jobs", source)
    deployment = settings.get("deployment")
    if deployment:
        kind = deployment.get("kind", "BUNDLE") if isinstance(deployment, Mapping) else deployment
        return result(
            "jobs",
            source,
            ctx,
            Outcome.FILTERED,
            reason=f"jobs {name}: deployment.kind {kind} "
            "(bundle-managed: deploy its bundle to the secondary)",
        )
    settings.pop("format", None)  # ignored by create
    resolver = Resolver(ctx)
    walk_job_refs(settings, resolver)
    pause = source_pause(settings)
    problems = resolver.problems + _job_init_script_problems(settings, ctx)
    if problems:
        outcome = Outcome.SKIPPED if ctx.skip_blocked_jobs else Outcome.BLOCKED
        reason = f"jobs {name}: " + "; ".join(problems)
        return result("jobs", source, ctx, outcome, reason=reason, pause_status=pause)
    tags = {k for k in settings.get("tags") or {} if k != MARKER_KEY}
    if len(tags) >= JOB_TAG_LIMIT:
        reason = (
            f"jobs {name}: tags has {len(tags)} tags, the API's limit (remove one: {MARKER_KEY} needs it)"
        )
        return result("jobs", source, ctx, Outcome.BLOCKED, reason=reason, pause_status=pause)
    marker = marker_value(ctx.source_workspace_id, source_id("jobs", source))
    spec = set_marker("jobs", with_pause(settings, PAUSED), marker)
    moved = relocations_of([c for _, c in _job_clusters(spec)], ctx)
    reason = relocated_reason("jobs", name, moved)
    return result("jobs", source, ctx, Outcome.MIGRATE, spec, reason, pause, relocations=moved)
