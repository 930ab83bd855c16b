"""The dbt run report page through Airflow's own API server app and auth manager.

The app is Airflow's (``create_app``), with the plugins folder of the repository, so the page is
reached where the UI reaches it (``/platform-ops/...``), mounted by the plugins manager. Users are
SimpleAuthManager's: a viewer logs in with the password the auth manager generated, as in the UI;
a user without a role is one the auth manager lets read no DAG. The state documents are those of a
real dbt build (tests/core/data/dbt_report, see tests/core/test_dbt_report.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from platform_ops.core.dbt import STATE_NAME
from tests.web.clients import client_of

DATA = Path(__file__).resolve().parents[1] / "core" / "data" / "dbt_report" / "state"
DAG, TASK, DATE = "dbt_scenarios", "dbt", "2026-11-01T000000Z"
PAGE = f"/platform-ops/dbt-report/{DAG}/{TASK}"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file:// state root holding the real build's documents for DAG/TASK/DATE."""
    root = tmp_path / "state"
    shutil.copytree(DATA, root)
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{root}")
    return root


def test_logged_out_gets_401_on_every_route_of_the_plugin_app(airflow_app: Any, state: Path) -> None:
    from platform_ops.web.dbt_report import app as report_app

    paths = [getattr(r, "path", "") for r in report_app.routes]
    # docs and openapi routes are off: no route answers without a user
    assert paths == [
        "/dbt-report/{dag_id}/{task_id}",
        "/dbt-docs/{dag_id}/{task_id}",
        "/dbt-docs/{dag_id}/{task_id}/{date}/{filename}",
    ]
    client = client_of(airflow_app)
    docs = f"/platform-ops/dbt-docs/{DAG}/{TASK}"
    pages = (PAGE, f"{PAGE}?date={DATE}", docs, f"{docs}/{DATE}/index.html", f"{docs}/{DATE}/manifest.json")
    for path in (*pages, "/platform-ops/docs", "/platform-ops/openapi.json"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == (401 if path in pages else 404), (path, response.text)
        assert "stg_orders" not in response.text
    assert client.get(PAGE, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403


def test_a_user_the_auth_manager_lets_read_no_dag_gets_403(airflow_app: Any, state: Path) -> None:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = airflow_app.state.auth_manager.generate_jwt(SimpleAuthManagerUser(username="nobody", role=None))
    response = client_of(airflow_app, token).get(PAGE)
    assert response.status_code == 403
    assert "stg_orders" not in response.text


@pytest.mark.parametrize("cookie", [False, True], ids=["bearer", "ui-cookie"])
def test_a_viewer_sees_every_node_with_its_history(
    airflow_app: Any, state: Path, viewer_token: str, cookie: bool
) -> None:
    response = client_of(airflow_app, viewer_token, cookie=cookie).get(PAGE)
    assert response.status_code == 200, response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    body = response.text
    assert body.count('<tr data-status="') == 25
    assert body.count('class="bar"') == 25
    # the data test that failed twice before passing, with each try in its history
    row = body[body.index("<b>assert_payment_amounts_in_dollars</b>") :]
    history = row[row.index('<ol class="history">') : row.index("</ol>")]
    tries = [item.split("</span>")[0] for item in history.split("<li>")[1:]]
    assert [t.split(":")[0] for t in tries] == ["#1 run, try 1", "#2 rebuild, try 1", "#3 rebuild, try 1"]
    assert [t.rsplit(">", 1)[-1] for t in tries] == ["fail", "fail", "pass"]
    assert '<option value="2026-11-01T000000Z" selected>' in body


def test_the_status_filter_and_bad_input(airflow_app: Any, state: Path, viewer_token: str) -> None:
    client = client_of(airflow_app, viewer_token)
    success = client.get(PAGE, params={"date": DATE, "status": "success"})
    assert success.status_code == 200
    assert success.text.count('<tr data-status="success">') == 9
    assert '<tr data-status="pass">' not in success.text
    bad_status = client.get(PAGE, params={"status": "<b>failed</b>"})
    assert bad_status.status_code == 400
    assert "status: " in bad_status.text
    assert "&lt;b&gt;failed&lt;/b&gt;" in bad_status.text
    bad_date = client.get(PAGE, params={"date": "../../etc"})
    assert bad_date.status_code == 400
    assert "date: " in bad_date.text
    missing = client.get(PAGE, params={"date": "2026-10-01T000000Z"})
    assert missing.status_code == 404
    assert "No dbt run results are stored" in missing.text
    assert '<option value="2026-11-01T000000Z">' in missing.text  # the picker offers what is stored
    nothing = client.get("/platform-ops/dbt-report/other_dag/dbt")
    assert nothing.status_code == 404
    assert "No dbt run results are stored for other_dag / dbt" in nothing.text


def test_model_names_and_messages_are_escaped(airflow_app: Any, state: Path, viewer_token: str) -> None:
    """Node names, dbt's messages and thread ids come from the project and the warehouse."""
    payload = '<script>alert("x")</script>'
    latest = state / DAG / TASK / DATE / f"{STATE_NAME}.json"
    doc = json.loads(latest.read_text())
    result = doc["run_results"]["results"][0]
    result["unique_id"] = f"model.shop.{payload}"
    result["status"] = "error"
    result["message"] = f'<img src=x onerror="alert(1)"> {payload}'
    result["thread_id"] = f"Thread-1 {payload}"
    latest.write_text(json.dumps(doc))
    shutil.rmtree(latest.parent / f"{STATE_NAME}.versions")
    response = client_of(airflow_app, viewer_token).get(PAGE)
    assert response.status_code == 200
    assert "<script" not in response.text
    assert "<img" not in response.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in response.text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in response.text


@pytest.mark.integration
def test_the_task_instance_tab_of_a_real_failed_dbt_run(
    airflow_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, viewer_token: str
) -> None:
    """A real dbt build through Airflow, then the page as the tab opens it: by run id, not by date."""
    from datetime import UTC, datetime

    from platform_ops.core.dbt_report import report_path
    from platform_ops.plugin import DBT_REPORT_VIEW
    from sandbox.dbt_failures import failure_project
    from tests.airflow_runner import run_dag

    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    monkeypatch.setenv("PLATFORM_OPS_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("PLATFORM_OPS_DBT_PROJECT_DIR", str(failure_project(tmp_path / "dbt")))
    scenarios = Path(__file__).resolve().parents[1] / "operators" / "dags" / "dbt_scenarios.py"
    failing = {"vars": {"fail_models": ["stg_orders"]}}
    result = run_dag(scenarios, DAG, datetime(2026, 11, 3, tzinfo=UTC), failing)
    assert result.state == "failed"
    # a newer date in the store: the tab must show the run's date, not the newest
    shutil.copytree(DATA / DAG / TASK / DATE, tmp_path / "state" / DAG / TASK / "2026-12-01T000000Z")
    tab = DBT_REPORT_VIEW["href"].format(DAG_ID=DAG, TASK_ID=TASK, RUN_ID=quote(result.run_id, safe=""))
    assert tab == report_path(DAG, TASK, run_id=result.run_id)
    response = client_of(airflow_app, viewer_token).get("/" + tab)
    assert response.status_code == 200, response.text
    body = response.text
    assert '<option value="2026-11-03T000000Z" selected>' in body
    row = body[body.index("<b>stg_orders</b>") :]
    row = row[: row.index("</tr>")]
    assert '<tr data-status="error">' in body
    assert "forced failure of stg_orders" in row
    assert "#1 run, try 1" in row
    assert body.count('<tr data-status="skipped">') == result.summary(TASK)["counts"]["skipped"]
    unknown = client_of(airflow_app, viewer_token).get(PAGE, params={"run_id": "manual__nope"})
    assert unknown.status_code == 200
    assert "has no run &#x27;manual__nope&#x27;: showing the newest date stored" in unknown.text
