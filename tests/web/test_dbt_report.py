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
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from platform_ops.core.dbt import STATE_NAME
from tests.airflow_runner import ensure_db

DATA = Path(__file__).resolve().parents[1] / "core" / "data" / "dbt_report" / "state"
DAG, TASK, DATE = "dbt_scenarios", "dbt", "2026-11-01T000000Z"
PAGE = f"/platform-ops/dbt-report/{DAG}/{TASK}"


@pytest.fixture(scope="module")
def airflow_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Airflow's API server app with SimpleAuthManager users ``viewer`` (role viewer) and no admins."""
    from airflow.api_fastapi.app import create_app, purge_cached_app

    home = tmp_path_factory.mktemp("auth")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "AIRFLOW__CORE__AUTH_MANAGER",
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        )
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "viewer:viewer")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(home / "passwords.json"))
        mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-secret-of-the-dbt-report-tests")
        ensure_db()
        purge_cached_app()
        app = create_app()
        try:
            yield app
        finally:
            purge_cached_app()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file:// state root holding the real build's documents for DAG/TASK/DATE."""
    root = tmp_path / "state"
    shutil.copytree(DATA, root)
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{root}")
    return root


def _password(username: str) -> str:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    return SimpleAuthManager.get_passwords()[username]


@pytest.fixture
def viewer_token(airflow_app: Any) -> str:
    """The viewer's JWT, from the auth manager's own login route (what the UI's login form posts)."""
    client = TestClient(airflow_app)
    response = client.post("/auth/token", json={"username": "viewer", "password": _password("viewer")})
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def _client(app: Any, token: str | None = None, cookie: bool = False) -> TestClient:
    client = TestClient(app)
    if token and cookie:
        client.cookies.set("_token", token)
    elif token:
        client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_logged_out_gets_401_on_every_route_of_the_plugin_app(airflow_app: Any, state: Path) -> None:
    from platform_ops.web.dbt_report import app as report_app

    paths = [getattr(r, "path", "") for r in report_app.routes]
    # docs and openapi routes are off: no route answers without a user
    assert paths == ["/dbt-report/{dag_id}/{task_id}"]
    client = _client(airflow_app)
    for path in (PAGE, f"{PAGE}?date={DATE}", "/platform-ops/docs", "/platform-ops/openapi.json"):
        response = client.get(path)
        assert response.status_code == (401 if path.startswith(PAGE) else 404), (path, response.text)
        assert "stg_orders" not in response.text
    assert client.get(PAGE, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403


def test_a_user_the_auth_manager_lets_read_no_dag_gets_403(airflow_app: Any, state: Path) -> None:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = airflow_app.state.auth_manager.generate_jwt(SimpleAuthManagerUser(username="nobody", role=None))
    response = _client(airflow_app, token).get(PAGE)
    assert response.status_code == 403
    assert "stg_orders" not in response.text


@pytest.mark.parametrize("cookie", [False, True], ids=["bearer", "ui-cookie"])
def test_a_viewer_sees_every_node_with_its_history(
    airflow_app: Any, state: Path, viewer_token: str, cookie: bool
) -> None:
    response = _client(airflow_app, viewer_token, cookie=cookie).get(PAGE)
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
    client = _client(airflow_app, viewer_token)
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
    response = _client(airflow_app, viewer_token).get(PAGE)
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
    response = _client(airflow_app, viewer_token).get("/" + tab)
    assert response.status_code == 200, response.text
    body = response.text
    assert '<option value="2026-11-03T000000Z" selected>' in body
    row = body[body.index("<b>stg_orders</b>") :]
    row = row[: row.index("</tr>")]
    assert '<tr data-status="error">' in body
    assert "forced failure of stg_orders" in row
    assert "#1 run, try 1" in row
    assert body.count('<tr data-status="skipped">') == result.summary(TASK)["counts"]["skipped"]
    unknown = _client(airflow_app, viewer_token).get(PAGE, params={"run_id": "manual__nope"})
    assert unknown.status_code == 200
    assert "has no run &#x27;manual__nope&#x27;: showing the newest date stored" in unknown.text
