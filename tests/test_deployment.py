"""docker-compose.yaml cannot run here (no Docker engine): check its shape instead."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
RAW = (REPO / "docker-compose.yaml").read_text()


def _pinned(name: str) -> str:
    for line in (REPO / "requirements.txt").read_text().splitlines():
        m = re.match(rf"^{re.escape(name)}(?:\[[^\]]*\])?==(\S+)", line.strip())
        if m:
            return m.group(1)
    raise AssertionError(f"{name} is not pinned in requirements.txt")


def test_all_services_of_a_celery_deployment_exist() -> None:
    assert set(COMPOSE["services"]) >= {
        "postgres",
        "redis",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    }
    worker_env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    assert worker_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert COMPOSE["services"]["airflow-triggerer"]["command"] == "triggerer"


def test_image_matches_the_pinned_airflow() -> None:
    version = _pinned("apache-airflow")
    base = COMPOSE["services"]["airflow-scheduler"]["build"]["args"]["AIRFLOW_IMAGE"]
    assert base.startswith(f"apache/airflow:{version}-"), base
    dockerfile = (REPO / "docker/Dockerfile").read_text()
    assert f"ARG AIRFLOW_IMAGE=apache/airflow:{version}-" in dockerfile
    assert "requirements.lock" in dockerfile
    assert "envs/dbt/requirements.lock" in dockerfile


def test_project_folders_are_mounted() -> None:
    volumes = COMPOSE["services"]["airflow-worker"]["volumes"]
    for folder in ("dags", "plugins", "include"):
        assert f"./{folder}:/opt/airflow/{folder}" in volumes


SECRET_KEY = re.compile(r"(PASSWORD|SECRET|TOKEN|FERNET|KEY)[A-Z_]*\s*[:=]\s*(?P<value>\S+)", re.I)


def secret_literals(text: str) -> list[str]:
    """Values given to secret-looking keys that are not ${...} references to the env file."""
    found = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        for m in SECRET_KEY.finditer(line):
            value = m.group("value").strip("'\"")
            if not value.startswith(("${", "$${", '"$${')):
                found.append(line.strip())
    for m in re.finditer(r"://[^:/@\s]+:(?P<pw>[^@\s]+)@", text):
        if not m.group("pw").startswith("${"):
            found.append(m.group(0))
    return found


def test_no_secret_literal_in_compose() -> None:
    assert secret_literals(RAW) == []
    assert COMPOSE["x-airflow-common"]["env_file"] == [".env"]


def test_secret_scanner_catches_literals() -> None:
    assert secret_literals("  POSTGRES_PASSWORD: hunter2\n")
    assert secret_literals("  CONN: postgresql://u:hunter2@db/x\n")
    assert not secret_literals("  POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n")


def test_env_example_is_committed_and_env_ignored() -> None:
    assert (REPO / ".env.example").exists()
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_init_creates_the_pools_the_dags_queue_in() -> None:
    """The dbt and CDC tasks queue in pools; without them the scheduler never runs those tasks."""
    init = "\n".join(COMPOSE["services"]["airflow-init"]["command"])
    assert "airflow pools import /opt/airflow/include/config/pools.json" in init
    assert (REPO / "include" / "config" / "pools.json").is_file()
