"""The plugin's pages through Airflow's own API server app and auth manager (SimpleAuthManager).

The app is Airflow's (``create_app``), with the plugins folder of the repository, so the pages are
reached where the UI reaches them (``/platform-ops/...``), mounted by the plugins manager. A viewer
logs in with the password the auth manager generated, as in the UI; a user without a role is one
the auth manager lets read no DAG.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.airflow_runner import ensure_db
from tests.web.clients import password


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
def viewer_token(airflow_app: Any) -> str:
    """The viewer's JWT, from the auth manager's own login route (what the UI's login form posts)."""
    client = TestClient(airflow_app)
    response = client.post("/auth/token", json={"username": "viewer", "password": password("viewer")})
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token
