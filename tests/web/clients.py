"""Clients of the plugin's pages: a user's password and a test client carrying the user's JWT."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def password(username: str) -> str:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    return SimpleAuthManager.get_passwords()[username]


def client_of(app: Any, token: str | None = None, cookie: bool = False) -> TestClient:
    client = TestClient(app)
    if token and cookie:
        client.cookies.set("_token", token)
    elif token:
        client.headers["Authorization"] = f"Bearer {token}"
    return client
