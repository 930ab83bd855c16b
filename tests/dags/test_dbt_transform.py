"""The dbt_transform DAG end to end: UI params, Airflow retries and repairing a failed date."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from platform_ops.core.dbt import STATE_NAME
from platform_ops.state import RunStateStore
from sandbox.dbt_failures import failure_project
from tests.airflow_runner import run_dag

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", f"file://{tmp_path}/state")
    monkeypatch.setenv("PLATFORM_OPS_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    # the shipped project with its failure switches (vars fail_models, payments_in_cents)
    monkeypatch.setenv("PLATFORM_OPS_DBT_PROJECT_DIR", str(failure_project(tmp_path / "dbt")))
    monkeypatch.setenv("PLATFORM_OPS_RETRY_DELAY_SECONDS", "0")
    return tmp_path


@pytest.mark.parametrize(
    "conf",
    [
        {"threads": 0},
        {"threads": 65},
        {"target": "staging"},
        {"scope": "maybe"},
        {"scope": "true"},
        {"vars": "not an object"},
        {"select": ""},
        {"select": "   "},
        {"select": "None"},
        {"select": "null"},
        {"select": "[]"},
        {"select": "''"},
        {"select": '""'},
        {"select": 2026},
        {"full_refresh": "yes"},
        {"source_freshness": "sometimes"},
        {"retry_test_failures": "yes"},
    ],
    ids=repr,
)
def test_invalid_params_are_rejected_at_trigger_time(conf: dict) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    dag = DagBag(dag_folder=str(DAGS / "dbt_transform.py"), load_op_links=False).dags["dbt_transform"]
    params = copy.deepcopy(dag.params)
    params.validate()  # the defaults are valid
    with pytest.raises(ParamValidationError, match=f"param {next(iter(conf))}"):
        params.update(conf)  # ParamsDict validates each value it is given


def rendered_request(conf: dict):
    """The operator's arguments as Airflow renders them for a run with ``conf``, and the request
    the operator builds from them."""
    from airflow.dag_processing.dagbag import DagBag

    from platform_ops.core.dbt import DbtRequest

    dag = DagBag(dag_folder=str(DAGS / "dbt_transform.py"), load_op_links=False).dags["dbt_transform"]
    params = copy.deepcopy(dag.params)
    params.update(conf)
    task = copy.deepcopy(dag.get_task("dbt_run"))
    task.render_template_fields({"params": params.dump()})
    request = DbtRequest.from_params(
        project_dir=task.project_dir,
        target=task.target,
        command=task.command,
        select=task.select,
        exclude=task.exclude,
        full_refresh=task.full_refresh,
        threads=task.threads,
        vars=task.vars,
    )
    return task, request


@pytest.mark.parametrize("select", ["2026", "1e3", "True", "tag:daily stg_orders+"])
def test_selection_reaches_dbt_as_the_string_typed(select: str) -> None:
    """Rendered natively, "2026" became the int 2026 (a TypeError), "True" a bool."""
    task, request = rendered_request({"select": select})
    assert task.select == select
    assert request.select == tuple(select.split())


@pytest.mark.parametrize("scope", ["auto", "failed", "full"])
def test_the_scope_param_reaches_the_operator_argument_unchanged(scope: str) -> None:
    task, _ = rendered_request({"scope": scope})
    assert task.scope == scope
    assert task.mode is None


def test_every_param_renders_to_what_the_operator_expects() -> None:
    conf = {"vars": {"fail_models": ["a"], "n": 1, "s": "it's <b>"}, "threads": 8, "full_refresh": True}
    _, request = rendered_request(conf)
    assert request.vars == conf["vars"]
    assert (request.threads, request.full_refresh, request.target) == (8, True, "local")


def test_the_shipped_project_has_no_switch_to_break_it(tmp_path: Path) -> None:
    """Failure injection lives in the overlay the tests and the demo build, not in include/dbt."""
    from sandbox.dbt_failures import SWITCHES

    def mentions(project: Path) -> set[str]:
        texts = [
            p.read_text()
            for p in project.rglob("*")
            if p.is_file() and p.suffix in {".sql", ".yml"} and not {"target", "logs"} & set(p.parts)
        ]
        return {switch for switch in SWITCHES if any(switch in text for text in texts)}

    assert mentions(REPO / "include" / "dbt") == set()
    assert mentions(failure_project(tmp_path / "dbt")) == set(SWITCHES)


@pytest.mark.integration
def test_failed_date_is_retried_by_airflow_then_repaired_by_a_rerun(env: Path) -> None:
    date = datetime(2026, 11, 10, tzinfo=UTC)
    failed = run_dag(DAGS, "dbt_transform", date, {"vars": {"fail_models": ["stg_payments"]}})
    assert failed.state == "failed"
    assert failed.try_numbers["dbt_run"] == 3, "retries=2: three tries"
    doc = RunStateStore().get_latest("dbt_transform", "dbt_run", date, STATE_NAME)
    # try 1 ran everything; tries 2 and 3 were dbt retries of the failed model and its descendants
    assert [i["mode"] for i in doc["invocations"]] == ["run", "retry", "retry"]
    assert RunStateStore().list_versions("dbt_transform", "dbt_run", date, STATE_NAME) == [1, 2, 3]

    repaired = run_dag(DAGS, "dbt_transform", date, {})
    assert repaired.state == "success"
    summary = repaired.summary("dbt_run")
    assert summary["mode"] == "retry"
    assert {u for u in summary["executed"] if u.startswith("model.")} == {
        "model.shop.stg_payments",
        "model.shop.orders",
        "model.shop.customers",
        "model.shop.order_status_counts",
    }


@pytest.mark.parametrize(
    ("conf", "retry_test_failures", "freshness", "docs"),
    [
        ({}, True, "off", False),
        (
            {"retry_test_failures": False, "source_freshness": "error", "generate_docs": True},
            False,
            "error",
            True,
        ),
    ],
)
def test_the_build_switches_reach_the_operator_as_given(
    conf: dict, retry_test_failures: bool, freshness: str, docs: bool
) -> None:
    """The form's booleans render as "True"/"False" strings: the operator reads them back."""
    from platform_ops.operators.build_checks import Switches

    task, _ = rendered_request(conf)
    switches = Switches.from_params(
        on_warning_callback=None,
        retry_test_failures=task.retry_test_failures,
        source_freshness=task.source_freshness,
        generate_docs=task.generate_docs,
    )
    assert switches.retry_test_failures is retry_test_failures
    assert switches.generate_docs is docs
    assert switches.source_freshness == freshness  # a StrEnum
