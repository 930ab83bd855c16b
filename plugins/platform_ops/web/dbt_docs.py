"""dbt docs in the Airflow UI: the sites DbtRunOrRetryOperator(generate_docs=True) stored.

Routes of the plugin's FastAPI app (:mod:`platform_ops.web.dbt_report`, mounted under
``/platform-ops``), each behind the UI's login and the DAG's read permission like the report:

* ``GET /dbt-docs/{dag_id}/{task_id}?run_id=...|date=...``: redirects to the docs of the date
  asked for, else of the run's date, else of the newest date that has docs;
* ``GET /dbt-docs/{dag_id}/{task_id}/{date}/{filename}``: ``index.html``, ``manifest.json`` or
  ``catalog.json`` of that date, served only if its content has the sha256 the docs document
  recorded (409 otherwise: the state was changed behind the operator's back).

Nothing else of the state store is reachable through these routes.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from platform_ops.core.dbt_docs import (
    CONTENT_TYPES,
    DOCS_CONTENT_SECURITY_POLICY,
    DOCS_FILES,
    DOCS_PATH,
    DOCS_STATE_NAME,
    INDEX,
    read_docs_document,
    verified,
)
from platform_ops.core.state_keys import validate_segment
from platform_ops.exceptions import ConfigError
from platform_ops.state import RunStateStore
from platform_ops.web.dbt_report import _date_address, _error, app, may_read_dag, run_date_key


def docs_dates(store: RunStateStore, dag_id: str, task_id: str) -> list[str]:
    """The date keys holding docs of the task: newest first, run ids last."""
    names = store.dates(dag_id, task_id, DOCS_STATE_NAME)
    dated = sorted((n for n in names if not n.startswith("run_id=")), reverse=True)
    return dated + sorted(n for n in names if n.startswith("run_id="))


@app.get(f"/{DOCS_PATH}/{{dag_id}}/{{task_id}}", dependencies=[Depends(may_read_dag)], response_model=None)
def dbt_docs(
    dag_id: str, task_id: str, date: str | None = None, run_id: str | None = None
) -> HTMLResponse | RedirectResponse:
    """Redirect to the docs of the date asked for, the run's, else the newest."""
    try:
        validate_segment("dag_id", dag_id)
        validate_segment("task_id", task_id)
        if date is not None:
            _date_address(date)
        dates = docs_dates(RunStateStore(), dag_id, task_id)
    except ConfigError as exc:
        return _error(400, str(exc))
    key = date
    if key is None and run_id:
        key = run_date_key(dag_id, run_id)
        if key not in dates:
            key = None  # this run stored no docs (a failed build): the newest docs stand
    if key is None and dates:
        key = dates[0]
    if key is None or key not in dates:
        where = f" at {key}" if key else ""
        return _error(
            404, f"No dbt docs are stored for {dag_id} / {task_id}{where}: run it with generate_docs=True."
        )
    # relative to this page, so that a proxy prefix in front of the UI is kept
    return RedirectResponse(
        "/".join(quote(p, safe="=") for p in (task_id, key, INDEX)),
        status_code=307,
        headers={"Cache-Control": "no-store"},
    )


@app.get(
    f"/{DOCS_PATH}/{{dag_id}}/{{task_id}}/{{date}}/{{filename}}",
    dependencies=[Depends(may_read_dag)],
    response_model=None,
)
def dbt_docs_file(dag_id: str, task_id: str, date: str, filename: str) -> Response:
    """One file of a stored docs site, if its content is what the docs document recorded."""
    try:
        validate_segment("dag_id", dag_id)
        validate_segment("task_id", task_id)
        logical_date, run_id = _date_address(date)
    except ConfigError as exc:
        return _error(400, str(exc))
    if filename not in DOCS_FILES:
        return _error(404, f"{filename!r} is not a file of a dbt docs site ({', '.join(DOCS_FILES)})")
    store = RunStateStore()
    address = (dag_id, task_id, logical_date, DOCS_STATE_NAME)
    record = (
        read_docs_document(store.get_latest(*address, run_id=run_id))
        if store.has(*address, run_id=run_id)
        else None
    )
    if record is None:
        return _error(404, f"No dbt docs are stored for {dag_id} / {task_id} at {date}.")
    content = store.read_file(*address, record.digest, filename, run_id=run_id)
    if content is None:
        return _error(404, f"The dbt docs of {dag_id} / {task_id} at {date} have no {filename} any more.")
    if not verified(record, filename, content):
        return _error(
            409,
            f"{filename} of the dbt docs of {dag_id} / {task_id} at {date} is not the file the task stored "
            "(its sha256 differs): not served. Run the task again with generate_docs=True.",
        )
    return Response(
        content,
        media_type=CONTENT_TYPES[filename],
        headers={
            "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
