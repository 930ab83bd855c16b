"""The dbt run report page, a FastAPI app the Airflow API server mounts under ``/platform-ops``.

``GET /platform-ops/dbt-report/{dag_id}/{task_id}?run_id=...|date=...&status=...`` shows what the
RunStateStore holds for one dbt task and logical date (:mod:`platform_ops.core.dbt_report`). The
date is the ``date`` key of the date picker, else the logical date of ``run_id`` (what the task
instance tab and the operator extra link pass), else the newest date stored.

Airflow does not protect a plugin's routes: every route here authenticates the caller with the
UI's own auth manager (the JWT in the ``Authorization: Bearer`` header or the UI's ``_token``
cookie, exactly as Airflow's API reads it) and checks read access to the DAG's task instances.
No token: 401; a user who may not read the DAG: 403. Airflow's security module is imported when
a request is served, not when the plugin is loaded (schedulers and workers load plugins too).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from platform_ops.core.dbt import STATE_NAME
from platform_ops.core.dbt_report import REPORT_PREFIX, Report, Version, build_report, parse_status_filter
from platform_ops.core.dbt_report_page import CONTENT_SECURITY_POLICY, Page, e, render
from platform_ops.core.state_keys import (
    date_key,
    parse_date_key,
    unescape_run_id,
    validate_segment,
)
from platform_ops.exceptions import ConfigError
from platform_ops.state import RunStateStore

log = logging.getLogger(__name__)

URL_PREFIX = "/" + REPORT_PREFIX
_bearer = HTTPBearer(auto_error=False)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


async def authenticated_user(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """The UI's user, read by Airflow's own ``get_user`` (bearer token, else the ``_token`` cookie)."""
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, bearer)


def may_read_dag(request: Request, dag_id: str, user: Annotated[Any, Depends(authenticated_user)]) -> None:
    """403 unless the auth manager lets ``user`` read the task instances of ``dag_id``."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE, param_dag_id=dag_id)(request, user)


app = FastAPI(
    title="platform-ops",
    # no unauthenticated documentation routes; every route below needs a user
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
    dependencies=[Depends(authenticated_user)],
)


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=_HEADERS)


def _error(status_code: int, message: str) -> HTMLResponse:
    return _html(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>dbt run report</title></head>'
        f"<body><p>{e(message)}</p></body></html>",
        status_code,
    )


def _date_address(key: str) -> tuple[datetime | None, str | None]:
    """The (logical date, run id) a date key stands for; ConfigError naming ``date`` if it is none."""
    fix = "pick a date from the date picker, or pass the key as stored, e.g. 2026-11-01T000000Z"
    try:
        validate_segment("date", key)
        if key.startswith("run_id="):
            return None, unescape_run_id(key[len("run_id=") :])
        return parse_date_key(key), None
    except (ConfigError, ValueError):
        raise ConfigError("date", f"{key!r} is not a logical date of the state store", fix) from None


def run_date_key(dag_id: str, run_id: str) -> str | None:
    """The date key of a DAG run, from Airflow's run record; None when there is no such run."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        found = session.execute(
            select(DagRun.logical_date).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).first()
    if found is None:
        return None
    return date_key(found[0], run_id)


def stored_dates(store: RunStateStore, dag_id: str, task_id: str) -> list[str]:
    """The date keys under which the store holds the task's dbt results: newest first, run ids last."""
    names = store.dates(dag_id, task_id, STATE_NAME)
    dated = sorted((n for n in names if not n.startswith(("run_id=", "."))), reverse=True)
    return dated + sorted(n for n in names if n.startswith("run_id="))


def load_report(store: RunStateStore, dag_id: str, task_id: str, key: str) -> Report:
    """The report of one date key: the latest document and every version of it (each try, each copy)."""
    logical_date, run_id = _date_address(key)
    address = (dag_id, task_id, logical_date, STATE_NAME)
    latest = store.get_latest(*address, run_id=run_id)
    versions = [Version(t, c, doc) for t, c, doc in store.get_versions(*address, run_id=run_id)]
    return build_report(latest, versions)


@app.get("/dbt-report/{dag_id}/{task_id}", response_class=HTMLResponse, dependencies=[Depends(may_read_dag)])
def dbt_report(
    dag_id: str,
    task_id: str,
    date: str | None = None,
    run_id: str | None = None,
    status: Annotated[list[str] | None, Query()] = None,
) -> HTMLResponse:
    """The report page of one dbt task: the date picked, else the run's, else the newest stored."""
    try:
        validate_segment("dag_id", dag_id)
        validate_segment("task_id", task_id)
        if date is not None:
            _date_address(date)
        store = RunStateStore()
        dates = stored_dates(store, dag_id, task_id)
        notes: list[str] = []
        key = date
        if key is None and run_id:
            key = run_date_key(dag_id, run_id)
            if key is None:
                notes.append(f"DAG {dag_id} has no run {run_id!r}: showing the newest date stored.")
            elif key not in dates:
                notes.append(
                    f"Run {run_id!r} ({key}) stored no dbt run results for task {task_id}"
                    + (": showing the newest date stored." if dates else ".")
                )
                key = None
        if key is None and dates:
            key = dates[0]
        if key is None:
            notes.append(f"No dbt run results are stored for {dag_id} / {task_id}.")
            return _html(render(Page(dag_id, task_id, None, dates, notes=notes)), 404)
        if key not in dates:
            notes.append(f"No dbt run results are stored for {dag_id} / {task_id} at {key}.")
            return _html(render(Page(dag_id, task_id, key, dates, notes=notes)), 404)
        report = load_report(store, dag_id, task_id, key)
        statuses = parse_status_filter(status or [], report.statuses)
    except ConfigError as exc:
        return _error(400, str(exc))
    return _html(render(Page(dag_id, task_id, key, dates, report, statuses, notes)))
