"""Shared fixtures: an isolated AIRFLOW_HOME per test session and a moto server on 127.0.0.1."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sandbox.ports import free_port

if TYPE_CHECKING:
    from sandbox.bigquery.emulator import BigQueryEmulator
    from sandbox.bigquery_reservation.server import FakeReservationServer
    from sandbox.databricks.launcher import DatabricksSandbox

REPO = Path(__file__).resolve().parents[1]

# Isolate Airflow before anything imports it: tests never touch a developer's ~/airflow, and two test
# sessions in one checkout (a full `make test` and a `pytest -k` beside it) never share a metadata DB,
# run-state root or temp folder: each session gets a home of its own under .airflow/test-sessions/
# (PLATFORM_OPS_TEST_HOME names a fixed one instead), removed when the session ends unless
# PLATFORM_OPS_KEEP_TEST_HOME is set. Ports are free ones picked per server (sandbox.ports).
# Under pytest-xdist every worker is a session of its own: a fixed home gets one sub-folder per worker.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if os.environ.get("PLATFORM_OPS_TEST_HOME"):
    _SESSION_HOME = Path(os.environ["PLATFORM_OPS_TEST_HOME"]) / _WORKER
    _SESSION_HOME.mkdir(parents=True, exist_ok=True)
else:
    (REPO / ".airflow" / "test-sessions").mkdir(parents=True, exist_ok=True)
    _SESSION_HOME = Path(tempfile.mkdtemp(prefix="session-", dir=REPO / ".airflow" / "test-sessions"))
    if not os.environ.get("PLATFORM_OPS_KEEP_TEST_HOME"):
        atexit.register(shutil.rmtree, _SESSION_HOME, True)
os.environ["AIRFLOW_HOME"] = str(_SESSION_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ.pop(  # a developer's own setting must not leak into tests
    "PLATFORM_OPS_STATE_ROOT", None
)
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))


def pytest_configure(config: pytest.Config) -> None:
    """The session's temp folders (``tmp_path``) live in its own home, not in pytest's shared root.

    Property tests keep hypothesis' example counts but run with no per-example deadline: a busy
    2-core machine makes a 200 ms deadline a timer, not a check (speed is measured in benchmarks/).
    """
    # an xdist worker (``workerinput``) gets a folder of the controller's basetemp from xdist itself
    if not config.option.basetemp and not hasattr(config, "workerinput"):
        config.option.basetemp = str(_SESSION_HOME / "tmp")
    from hypothesis import settings

    settings.register_profile("platform-ops", deadline=None)
    settings.load_profile("platform-ops")


@pytest.fixture(scope="session", autouse=True)
def strict_moto() -> None:
    """moto refuses what EC2 refuses wherever a test relies on it (sandbox/aws_strict.py), in-process
    (``mock_aws``) and in the session's moto server alike."""
    from sandbox import aws_strict

    aws_strict.install()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (real AWS wire protocol) on a free 127.0.0.1 port, stopped after the session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_conn(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow AWS connection pointing at the moto server; returns its conn id."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOTO_AWS", json.dumps(conn))
    return "moto_aws"


@pytest.fixture
def bq_reservation_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeReservationServer]:
    """The Reservation API fake on a free 127.0.0.1 port; google_cloud_default points at it."""
    from sandbox.bigquery_reservation.server import FakeReservationServer

    server = FakeReservationServer().start()
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", server.connection())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """bqemulator on free 127.0.0.1 ports for the session (an empty, in-memory BigQuery)."""
    from sandbox.bigquery.emulator import BigQueryEmulator

    emulator = BigQueryEmulator(log_path=tmp_path_factory.mktemp("bqemulator") / "emulator.log").start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def bq_emulator_conn(bigquery_emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Airflow connection ``bq_emulator`` pointing at the session's emulator."""
    monkeypatch.setenv("AIRFLOW_CONN_BQ_EMULATOR", bigquery_emulator.connection())
    return "bq_emulator"


@pytest.fixture(scope="session")
def databricks_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabricksSandbox]:
    """The local Databricks workspace API (minilake + serving endpoints and UC models, run from
    .venv-minilake) on a free 127.0.0.1 port for the session; state is in memory."""
    from sandbox.databricks.launcher import DatabricksSandbox

    sandbox = DatabricksSandbox(tmp_path_factory.mktemp("databricks")).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


# The workspace ids of the sandbox pair: distinct, as a primary and its disaster-recovery secondary are.
PRIMARY_WORKSPACE_ID, SECONDARY_WORKSPACE_ID = "1000000000000001", "1000000000000002"


@pytest.fixture(scope="session")
def databricks_sandbox_pair(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DatabricksSandbox, DatabricksSandbox]]:
    """Two independent Databricks sandboxes for the session, (primary, secondary), each reporting its
    own workspace id (``sandbox.workspace_id``, what ``client().get_workspace_id()`` answers)."""
    from sandbox.databricks.launcher import DatabricksSandbox

    primary = DatabricksSandbox(tmp_path_factory.mktemp("dbx-primary"), workspace_id=PRIMARY_WORKSPACE_ID)
    secondary = DatabricksSandbox(
        tmp_path_factory.mktemp("dbx-secondary"), workspace_id=SECONDARY_WORKSPACE_ID
    )
    try:
        primary.start()
        secondary.start()
        yield primary, secondary
    finally:
        secondary.stop()
        primary.stop()


@pytest.fixture
def reset_sandbox_pair(databricks_sandbox_pair: Any) -> Iterator[Any]:
    """The session's sandbox pair with default knobs and zeroed counters, reset again afterwards."""
    for sandbox in databricks_sandbox_pair:
        sandbox.reset()
    yield databricks_sandbox_pair
    for sandbox in databricks_sandbox_pair:
        sandbox.reset()
