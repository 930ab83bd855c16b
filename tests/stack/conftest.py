"""The production-shaped stack (scripts/airflow_stack.py), started once per test session.

PostgreSQL, Redis, moto (S3 for run state and task logs), the stand-ins, and Airflow's api-server,
scheduler, dag-processor, triggerer and two Celery workers. The tests drive it only through its
public interfaces: the REST API v2, the `airflow` CLI, and the UI in Chromium. dbt builds a copy of
the project (``dbt_project``) so a test can break a model the way a bad commit would.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))

from airflow_stack import Stack  # noqa: E402

from sandbox.dbt_failures import failure_project  # noqa: E402

# Serving DAGs of the session: the shipped churn config plus WAITS copies, each its own endpoint.
WAITS = 20
SERVING_CONFIG = REPO / "include" / "config" / "model_serving" / "churn.yaml"


def wait_dag_ids() -> list[str]:
    return [f"model_serving_deploy_wait_{n:02d}" for n in range(1, WAITS + 1)]


# The Databricks token of databricks_default: it must surface nowhere (tests/stack/test_secrets.py).
CANARY_TOKEN = f"dapi-canary-{secrets.token_hex(12)}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    project = root / "dbt-project"
    failure_project(project)  # the shipped dbt project with its failure switches (vars fail_models, ...)
    serving = root / "serving-configs"
    serving.mkdir()
    shutil.copy(SERVING_CONFIG, serving)
    text = SERVING_CONFIG.read_text()
    for n in range(1, WAITS + 1):
        (serving / f"wait_{n:02d}.yaml").write_text(
            text.replace("endpoint_name: churn-model", f"endpoint_name: wait-{n:02d}")
        )
    stack = Stack(
        root,
        databricks_token=CANARY_TOKEN,
        extra_env={
            "PLATFORM_OPS_DBT_PROJECT_DIR": str(project),
            "PLATFORM_OPS_RETRY_DELAY_SECONDS": "1",
            "PLATFORM_OPS_SERVING_CONFIG_DIR": str(serving),
            # a task whose worker died is noticed in seconds, not the default 5 minutes
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            # a new triggerer takes over a dead one's triggers after 15 s instead of 30
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
            # a loaded 2-core machine (e.g. a second pytest-xdist worker beside this stack): a DAG
            # file parse may take longer than the defaults allow, and a DAG must not turn stale
            # (or its file time out) because the machine is busy
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
            "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "300",
        },
    )
    try:
        stack.start()
    except BaseException:
        print(f"the stack did not start: component logs in {stack.logs}")
        raise
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def dbt_project(stack: Stack) -> Path:
    return Path(stack.env["PLATFORM_OPS_DBT_PROJECT_DIR"])


@pytest.fixture(autouse=True)
def _component_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "stack" in request.fixturenames:
        print(f"stack component logs: {request.getfixturevalue('stack').logs}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    if report.failed:
        _list_screenshots(item, report)
    return report


def _list_screenshots(item: pytest.Item, report: pytest.TestReport) -> None:
    """A browser test that failed: one more screenshot, of the page as it was at the failure,
    and the paths of all its screenshots in the failure report (they stay in the temp folder)."""
    shots = getattr(item, "screenshots", None)
    if shots is None:
        return
    page = getattr(item, "funcargs", {}).get("page")
    if page is not None and report.when == "call":
        try:
            page.shot("at-failure")
        except Exception as exc:  # a crashed browser: the earlier screenshots still count
            report.sections.append(("screenshots", f"no screenshot at the failure: {exc}"))
    listing = "\n".join(str(path) for path in shots) or "(none taken)"
    report.sections.append(("screenshots", listing))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``, the stack's tests first, in their own order (a stable sort).

    With pytest-xdist the tests marked ``xdist_group("stack")`` run on one worker, against one
    stack: they share the deployment's runs (the token test reads the logs of the serving runs)
    and two stacks on 2 cores time out. Handed out first, that long group starts at once and the
    other worker drains the rest. A serial run keeps the collection order: there the stack would
    only stay up (session-scoped) through every later test.
    """
    # a worker sees dist "no" and xdist's own ``loadgroup`` flag instead (xdist.remote.setup_config)
    if config.getoption("dist", "no") == "loadgroup" or getattr(config.option, "loadgroup", False):
        items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)
