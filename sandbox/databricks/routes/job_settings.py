"""Job definition routes in front of minilake's (``/api/2.2/jobs``): references checked, lists and
job arrays paged, as Databricks' Jobs API 2.2 does.

* ``POST create`` / ``reset`` / ``update`` refuse (400 INVALID_PARAMETER_VALUE, naming the field
  and the id) settings that reference what this workspace does not have: an ``existing_cluster_id``
  (job level or in a task), a ``policy_id``, ``instance_pool_id`` or ``driver_instance_pool_id`` in
  a ``new_cluster`` (job level, in ``job_clusters`` or in a task), or a ``run_job_task.job_id``. The
  job is then not created (or not changed). ``reset`` / ``update`` of an unknown job stay minilake's.
* ``GET list``: ``limit`` (default 20, 1..100, else 400), ``offset`` (deprecated) or ``page_token``
  (``next_page_token`` / ``prev_page_token`` of the previous page), ``name`` (exact,
  case-insensitive), ``expand_tasks``; answers ``jobs``, ``has_more`` and the tokens. Without
  ``expand_tasks`` the settings carry no ``tasks`` / ``job_clusters``; with it each array is cut
  to 100 and the job says ``has_more``.
* ``GET get`` answers ``tasks``, ``job_clusters``, ``parameters`` and ``environments`` 100 at a time:
  a job with more carries ``next_page_token``, and ``page_token`` asks for the next 100 of each
  (databricks-sdk's ``jobs.get`` follows the pages and joins them).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from sandbox.databricks.fault import invalid, read_json
from sandbox.databricks.routes.clusters import ClusterExtras, check_references, page_token, token_offset

PAGED_ARRAYS = ("tasks", "job_clusters", "parameters", "environments")
ARRAY_PAGE = 100
MAX_LIMIT, DEFAULT_LIMIT = 100, 20


def _job_ids() -> set[int]:
    from minilake.services import jobs as minilake_jobs

    return set(minilake_jobs._state["jobs"])


def check_job_references(settings: dict[str, Any], extras: ClusterExtras) -> None:
    """400 INVALID_PARAMETER_VALUE for the first reference in ``settings`` this workspace lacks."""
    clusters = extras.clusters()
    cluster_id = settings.get("existing_cluster_id")
    if cluster_id and cluster_id not in clusters:
        raise invalid(f"existing_cluster_id: Cluster {cluster_id} does not exist")
    if isinstance(settings.get("new_cluster"), dict):
        check_references(settings["new_cluster"], "new_cluster.")
    for job_cluster in settings.get("job_clusters") or []:
        spec = job_cluster.get("new_cluster") if isinstance(job_cluster, dict) else None
        if isinstance(spec, dict):
            check_references(spec, f"job_clusters[{job_cluster.get('job_cluster_key')}].new_cluster.")
    jobs = _job_ids()
    for task in settings.get("tasks") or []:
        if not isinstance(task, dict):
            continue
        where = f"tasks[{task.get('task_key')}]."
        cluster_id = task.get("existing_cluster_id")
        if cluster_id and cluster_id not in clusters:
            raise invalid(f"{where}existing_cluster_id: Cluster {cluster_id} does not exist")
        if isinstance(task.get("new_cluster"), dict):
            check_references(task["new_cluster"], f"{where}new_cluster.")
        run_job = task.get("run_job_task")
        if isinstance(run_job, dict) and run_job.get("job_id") is not None:
            try:
                known = int(run_job["job_id"]) in jobs
            except (TypeError, ValueError):
                known = False
            if not known:
                raise invalid(f"{where}run_job_task.job_id: Job {run_job['job_id']} does not exist")


def _paged(settings: dict[str, Any], offset: int) -> tuple[dict[str, Any], bool]:
    """``settings`` with each paged array cut to [offset, offset + 100); whether any has more."""
    cut = dict(settings)
    more = False
    for name in PAGED_ARRAYS:
        items = settings.get(name)
        if isinstance(items, list):
            cut[name] = items[offset : offset + ARRAY_PAGE]
            more = more or len(items) > offset + ARRAY_PAGE
    return cut, more


def _job_json(job: dict[str, Any]) -> dict[str, Any]:
    """A stored job as minilake's get answers it, without nulls."""
    from minilake.models.jobs import JobInfo

    return JobInfo(**job).model_dump(mode="json", exclude_none=True)


def _flag(request: Request, name: str) -> bool:
    return (request.query_params.get(name) or "").lower() == "true"


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"{name} must be an integer, got {raw!r}") from None


def _list_page(request: Request) -> dict[str, Any]:
    """One page of ``jobs/list`` (``limit``, ``offset`` / ``page_token``, ``name``, ``expand_tasks``)."""
    from minilake.services import jobs as minilake_jobs

    limit = _int_param(request, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    jobs = [_job_json(j) for j in minilake_jobs._state["jobs"].values()]
    name = request.query_params.get("name")
    if name:
        jobs = [j for j in jobs if (j.get("settings") or {}).get("name", "").lower() == name.lower()]
    token = request.query_params.get("page_token")
    offset = token_offset(token, len(jobs)) if token else _int_param(request, "offset", 0)
    if offset < 0:
        raise invalid(f"offset must be >= 0, got {offset}")
    page = [_listed(job, _flag(request, "expand_tasks")) for job in jobs[offset : offset + limit]]
    answer: dict[str, Any] = {"jobs": page, "has_more": offset + limit < len(jobs)}
    if answer["has_more"]:
        answer["next_page_token"] = page_token(offset + limit)
    if offset > 0:
        answer["prev_page_token"] = page_token(max(offset - limit, 0))
    return answer


def _listed(job: dict[str, Any], expand: bool) -> dict[str, Any]:
    """A job as ``jobs/list`` shows it: no tasks or job clusters, or (``expand_tasks``) 100 of each."""
    settings = job.get("settings") or {}
    if not expand:
        return {**job, "settings": {k: v for k, v in settings.items() if k not in ("tasks", "job_clusters")}}
    cut, more = _paged(settings, 0)
    return {**job, "settings": cut, **({"has_more": True} if more else {})}


def router(extras: ClusterExtras) -> APIRouter:
    """The job definition routes over minilake's job store."""
    from minilake.models.jobs import CreateJobRequest, ResetJobRequest, UpdateJobRequest
    from minilake.services import jobs as minilake_jobs

    api = APIRouter()
    base = "/api/2.2/jobs"

    @api.post(f"{base}/create")
    async def create(request: Request) -> dict:
        body = await read_json(request)
        check_job_references(body, extras)
        created = await minilake_jobs.create_job(CreateJobRequest(**body))
        return {"job_id": created.job_id}

    @api.post(f"{base}/reset")
    async def reset(request: Request) -> dict:
        body = await read_json(request)
        check_job_references(body.get("new_settings") or {}, extras)
        return await minilake_jobs.reset_job(ResetJobRequest(**body))

    @api.post(f"{base}/update")
    async def update(request: Request) -> dict:
        body = await read_json(request)
        check_job_references(body.get("new_settings") or {}, extras)
        return await minilake_jobs.update_job(UpdateJobRequest(**body))

    @api.get(f"{base}/get")
    async def get(request: Request) -> dict:
        raw_id = request.query_params.get("job_id")
        if raw_id is None:
            raise invalid("job_id is required")
        info = (await minilake_jobs.get_job(_int_param(request, "job_id", 0))).model_dump(
            mode="json", exclude_none=True
        )
        settings = info.get("settings") or {}
        longest = max((len(settings.get(n) or []) for n in PAGED_ARRAYS), default=0)
        offset = token_offset(request.query_params.get("page_token"), longest)
        info["settings"], more = _paged(settings, offset)
        if more:
            info["next_page_token"] = page_token(offset + ARRAY_PAGE)
        return info

    @api.get(f"{base}/list")
    async def list_jobs(request: Request) -> dict:
        return _list_page(request)

    return api
