"""`make stack` and docker-compose.yaml run the same deployment: docker-compose.yaml stays the
production artifact, the stack its local double. Both must set the same executor, the same remote
run-state and log settings and the same Airflow configuration keys that matter; only the values
that name local places (hosts, ports, folders) and the auth manager may differ."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from airflow_stack import AIRFLOW_COMPONENTS, WORKERS, stack_env

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
ENV_EXAMPLE = dict(
    line.split("=", 1)
    for line in (REPO / ".env.example").read_text().splitlines()
    if line and not line.startswith("#")
)
# The compose image runs FAB's auth manager (users in the DB); the stack keeps Airflow's simple
# auth manager and prints its generated admin password, so it needs no user setup.
ALLOWED_ONLY_IN_COMPOSE = {"AIRFLOW__CORE__AUTH_MANAGER"}
# Keys whose values are the same in both (not places, not secrets).
SAME_VALUE = {
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
    "AIRFLOW__LOGGING__REMOTE_LOGGING",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
}
# Keys whose URL scheme (the driver, the storage) must agree.
SAME_SCHEME = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "PLATFORM_OPS_STATE_ROOT",
    "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER",
}


def _compose_env() -> dict[str, str]:
    """The environment compose gives every Airflow container, with ${VAR} taken from .env.example."""
    env = COMPOSE["x-airflow-common"]["environment"]
    return {k: re.sub(r"\$\{(\w+)\}", lambda m: ENV_EXAMPLE[m.group(1)], str(v)) for k, v in env.items()}


def _stack_env() -> dict[str, str]:
    secrets = {"fernet_key": "f", "jwt_secret": "j"}
    return stack_env(
        Path("/stack"), api_port=1, pg_port=2, redis_port=3, s3_url="http://127.0.0.1:4", secrets=secrets
    )


def _norm(key: str, value: str) -> str:
    return value.lower() if key in SAME_VALUE else value


def test_the_stack_sets_every_airflow_key_compose_sets() -> None:
    compose, stack = _compose_env(), _stack_env()
    missing = set(compose) - set(stack) - ALLOWED_ONLY_IN_COMPOSE
    assert not missing, f"compose sets {sorted(missing)}, make stack does not"


def test_same_executor_and_same_fixed_settings() -> None:
    compose, stack = _compose_env(), _stack_env()
    assert compose["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for key in SAME_VALUE:
        assert _norm(key, compose[key]) == _norm(key, stack[key]), key


def test_same_drivers_broker_and_object_storage() -> None:
    compose, stack = _compose_env(), _stack_env()
    for key in SAME_SCHEME:
        assert urlsplit(compose[key]).scheme == urlsplit(stack[key]).scheme, (key, compose[key], stack[key])
    assert urlsplit(stack["PLATFORM_OPS_STATE_ROOT"]).scheme == "s3"


def test_remote_logs_and_run_state_use_one_connection() -> None:
    compose, stack = _compose_env(), _stack_env()
    for env in (compose, stack):
        assert env["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] == env["PLATFORM_OPS_STATE_CONN_ID"]


def test_same_components() -> None:
    """compose's Airflow services are the stack's components (plus init), workers included."""
    services = {name.removeprefix("airflow-") for name in COMPOSE["services"] if name.startswith("airflow-")}
    stack = {name.replace("api-server", "apiserver") for name in AIRFLOW_COMPONENTS} | {"worker"}
    assert services - {"init"} == stack
    assert WORKERS >= 2  # a task retried after a worker dies needs another worker
