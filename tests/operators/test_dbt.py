"""DbtRunOrRetryOperator end to end: real dbt (its own environment), DuckDB, Airflow's task runner.

Each test gets its own DuckDB file and state root; runs go through dag.test() so templating,
XCom and try numbers are Airflow's own.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from platform_ops.core.dbt import STATE_NAME
from platform_ops.links.dbt import DatabricksWarehouseLink
from platform_ops.state import RunStateStore
from sandbox.dbt_failures import failure_project
from tests.airflow_runner import RunResult, run_dag

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# only this file: a broken scenario of another operator must not fail these tests
SCENARIOS = Path(__file__).parent / "dags" / "dbt_scenarios.py"
D1 = datetime(2026, 11, 1, tzinfo=UTC)
D2 = datetime(2026, 11, 2, tzinfo=UTC)

STG_ORDERS_AND_DESCENDANTS = {
    "model.shop.stg_orders",
    "model.shop.orders",
    "model.shop.customers",
    "model.shop.order_status_counts",
}


@pytest.fixture
def env(dbt_env: Path) -> Path:
    return dbt_env


def run(date: datetime, **conf) -> RunResult:
    return run_dag(SCENARIOS, "dbt_scenarios", date, conf)


def stored(date: datetime, dag_id: str = "dbt_scenarios", task_id: str = "dbt") -> dict | None:
    return RunStateStore().get_latest(dag_id, task_id, date, STATE_NAME)


def models(uids: list[str]) -> set[str]:
    return {u for u in uids if u.startswith("model.")}


def test_fail_fix_retry_runs_exactly_the_failed_model_and_descendants(env: Path) -> None:
    first = run(D1, vars={"fail_models": ["stg_orders"]})
    assert first.state == "failed"
    s1 = first.summary("dbt")
    assert s1["mode"] == "run"
    assert [f["unique_id"] for f in s1["failed"]] == ["model.shop.stg_orders"]
    assert "forced failure of stg_orders" in s1["failed"][0]["message"]
    assert s1["counts"]["skipped"] > 0

    fixed = run(D1)
    assert fixed.state == "success"
    s2 = fixed.summary("dbt")
    assert s2["mode"] == "retry"
    assert " retry " in s2["command"]
    assert models(s2["executed"]) == STG_ORDERS_AND_DESCENDANTS
    assert "seed.shop.raw_orders" not in s2["executed"]
    assert s2["failed"] == []
    # the merged picture for the date holds every node, all green
    doc = stored(D1)
    assert doc is not None
    statuses = {r["unique_id"]: r["status"] for r in doc["run_results"]["results"]}
    assert len(statuses) == sum(s1["counts"].values()) == 25
    assert set(statuses.values()) <= {"success", "pass"}
    assert [i["mode"] for i in doc["invocations"]] == ["run", "retry"]
    # each model the retry built emitted an asset event through the alias
    assert emitted_models(fixed.run_id) == STG_ORDERS_AND_DESCENDANTS


def test_a_retry_is_one_dbt_process(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored failures are checked against the project and retried by one process: a second
    dbt start-up and parse per retry would cost seconds on every recovery."""
    from platform_ops.hooks.dbt import DbtHook

    assert run(D1, vars={"fail_models": ["stg_orders"]}).state == "failed"
    started: list[list[str]] = []
    real_run = DbtHook.run

    def counting_run(self: DbtHook, argv: list[str], *args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(list(argv))
        return real_run(self, argv, *args, **kwargs)

    monkeypatch.setattr(DbtHook, "run", counting_run)
    fixed = run(D1)
    assert fixed.state == "success"
    s = fixed.summary("dbt")
    assert s["mode"] == "retry"
    assert models(s["executed"]) == STG_ORDERS_AND_DESCENDANTS
    assert len(started) == 1, f"a retry started {len(started)} processes: {started}"


def test_a_dbt_without_a_python_to_be_found_lists_then_retries(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dbt executable that is a shell wrapper: the check and the retry take a process each."""
    from platform_ops.hooks.dbt import DbtHook

    wrapper = tmp_path / "bin" / "dbt"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {REPO / ".venv-dbt" / "bin" / "dbt"} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PLATFORM_OPS_DBT_EXECUTABLE", str(wrapper))
    assert run(D1, vars={"fail_models": ["stg_orders"]}).state == "failed"
    started: list[str] = []
    real_run = DbtHook.run

    def counting_run(self: DbtHook, argv: list[str], *args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(argv[argv.index("--project-dir") - 1])  # the dbt command
        return real_run(self, argv, *args, **kwargs)

    monkeypatch.setattr(DbtHook, "run", counting_run)
    fixed = run(D1)
    assert fixed.state == "success"
    assert fixed.summary("dbt")["mode"] == "retry"
    assert models(fixed.summary("dbt")["executed"]) == STG_ORDERS_AND_DESCENDANTS
    assert started == ["ls", "retry"]


def emitted_models(run_id: str) -> set[str]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetModel.uri)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetEvent.source_dag_id == "dbt_scenarios", AssetEvent.source_run_id == run_id)
            .all()
        )
    return {uri.split("/", 3)[-1] for (uri,) in rows if uri.split("/", 3)[-1].startswith("model.")}


def test_green_date_is_not_rebuilt_unless_forced(env: Path) -> None:
    assert run(D1).state == "success"
    again = run(D1)
    assert again.state == "success"
    assert again.summary("dbt")["mode"] == "skip"
    assert again.summary("dbt")["executed"] == []
    forced = run(D1, force=True)
    assert forced.summary("dbt")["mode"] == "run"
    assert "seed.shop.raw_orders" in forced.summary("dbt")["executed"]


def test_chained_retries_keep_the_full_picture(env: Path) -> None:
    assert run(D1, vars={"fail_models": ["stg_orders", "stg_customers"]}).state == "failed"
    half = run(D1, vars={"fail_models": ["stg_customers"]})
    assert half.state == "failed"
    assert half.summary("dbt")["mode"] == "retry"
    assert [f["unique_id"] for f in half.summary("dbt")["failed"]] == ["model.shop.stg_customers"]
    done = run(D1)
    assert done.state == "success"
    executed = models(done.summary("dbt")["executed"])
    assert "model.shop.stg_customers" in executed
    assert "model.shop.stg_orders" not in executed, "already repaired by the previous retry"
    doc = stored(D1)
    statuses = {r["unique_id"]: r["status"] for r in doc["run_results"]["results"]}
    assert len(statuses) == 25
    assert set(statuses.values()) <= {"success", "pass"}


def test_state_survives_in_the_store_not_in_target(env: Path) -> None:
    """Nothing is kept in the project's target/: the retry restores run_results from the store."""
    assert run(D1, vars={"fail_models": ["orders"]}).state == "failed"
    shutil.rmtree(env / "dbt" / "target", ignore_errors=True)
    fixed = run(D1)
    assert fixed.summary("dbt")["mode"] == "retry"
    assert models(fixed.summary("dbt")["executed"]) == {
        "model.shop.orders",
        "model.shop.customers",
        "model.shop.order_status_counts",
    }


def test_two_logical_dates_keep_their_own_results(env: Path) -> None:
    assert run(D1, vars={"fail_models": ["stg_payments"]}).state == "failed"
    assert run(D2).state == "success"
    # a backfill of both dates: D1 repairs only its failures, D2 has nothing to do
    r1, r2 = run(D1), run(D2)
    assert r1.summary("dbt")["mode"] == "retry"
    assert "model.shop.stg_payments" in r1.summary("dbt")["executed"]
    assert "model.shop.stg_customers" not in r1.summary("dbt")["executed"]
    assert r2.summary("dbt")["mode"] == "skip"


def test_target_or_selection_mismatch_runs_in_full(env: Path) -> None:
    assert run(D1, vars={"fail_models": ["stg_orders"]}).state == "failed"
    other = run(D1, select="tag:hourly+")
    s = other.summary("dbt")
    assert s["mode"] == "run"
    assert "different request" in s["reason"]


def test_build_retry_of_a_failed_test_rebuilds_its_model(env: Path) -> None:
    broken = run(D1, vars={"payments_in_cents": True})
    assert broken.state == "failed"
    failed = [f["unique_id"] for f in broken.summary("dbt")["failed"]]
    assert failed == ["test.shop.assert_payment_amounts_in_dollars"]
    fixed = run(D1)
    s = fixed.summary("dbt")
    assert fixed.state == "success"
    assert s["mode"] == "rebuild"
    assert "model.shop.stg_payments" in s["executed"], "the tested model must be rebuilt, not just re-tested"
    assert "test.shop.assert_payment_amounts_in_dollars" in s["executed"]
    assert "model.shop.stg_customers" not in s["executed"]


def test_compile_error_fails_and_never_leaves_a_green_state(env: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    failure_project(project)
    assert run(D1, project_dir=str(project), vars={"fail_models": ["orders"]}).state == "failed"
    before = stored(D1)
    # A parse error: dbt stops before running anything and writes no run_results.json.
    (project / "models" / "marts" / "schema.yml").write_text("models: [\n  - name: orders\n    columns: {\n")
    broken = run(D1, project_dir=str(project))
    assert broken.state == "failed"
    assert ("dbt", "summary") not in broken.xcom
    assert stored(D1) == before, "a run that wrote no run_results must not touch the stored state"
    # Once the project parses again, the stored failure is still there to retry.
    shutil.copy(REPO / "include/dbt/models/marts/schema.yml", project / "models/marts/schema.yml")
    repaired = run(D1, project_dir=str(project))
    assert repaired.state == "success"
    assert repaired.summary("dbt")["mode"] == "retry"


def test_node_compile_error_is_reported_with_dbts_message(env: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    failure_project(project)
    (project / "models" / "marts" / "orders.sql").write_text("select {{ no_such_macro() }}\n")
    broken = run(D1, project_dir=str(project))
    assert broken.state == "failed"
    failed = broken.summary("dbt")["failed"]
    assert [f["unique_id"] for f in failed] == ["model.shop.orders"]
    assert "no_such_macro" in failed[0]["message"]


def test_scope_failed_without_state_fails_before_running_dbt(env: Path) -> None:
    result = run(D1, scope="failed")
    assert result.state == "failed"
    assert ("dbt", "summary") not in result.xcom
    assert stored(D1) is None
    assert not (env / "warehouse.duckdb").exists(), "dbt must not have run"


@pytest.mark.parametrize(("mode", "scope"), [("auto", "auto"), ("retry", "failed"), ("run", "full")])
def test_the_deprecated_mode_argument_warns_and_means_the_same_scope(mode: str, scope: str) -> None:
    from platform_ops.core.dbt import Scope
    from platform_ops.operators.dbt import DbtRunOrRetryOperator

    with pytest.warns(DeprecationWarning, match="pass scope= instead"):
        op = DbtRunOrRetryOperator(
            task_id="t", project_dir=str(REPO / "include/dbt"), target="local", mode=mode
        )
    assert op.resolved_scope() is Scope(scope)


def test_an_unknown_scope_fails_before_running_dbt(env: Path) -> None:
    assert run(D1, scope="retry").state == "failed"
    assert stored(D1) is None
    assert not (env / "warehouse.duckdb").exists()


def test_bad_threads_fail_before_running_dbt(env: Path) -> None:
    assert run(D1, threads=0).state == "failed"
    assert stored(D1) is None
    assert not (env / "warehouse.duckdb").exists()


def test_databricks_token_never_reaches_xcom_or_state(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """XCom and state files. Logs: dag.test() applies no masking, so the log side is tested under
    Airflow's task supervisor, in tests/hooks/test_dbt.py (test_the_token_is_masked_in_the_task_log...)."""
    token = "dapi0123456789abcdefSECRET"
    conn = {
        "conn_type": "databricks",
        "host": "https://dbc-test.cloud.databricks.com",
        "password": token,
        "extra": {"http_path": "/sql/1.0/warehouses/abc"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_DBX_TEST", json.dumps(conn))
    first = run(D1, databricks_conn_id="dbx_test", vars={"fail_models": ["stg_orders"]})
    second = run(D1, databricks_conn_id="dbx_test")
    assert (first.state, second.state) == ("failed", "success")
    # the extra link, as Airflow stores it for the UI: the warehouse page from the connection
    assert (
        second.xcom[("dbt", DatabricksWarehouseLink().xcom_key)]
        == "https://dbc-test.cloud.databricks.com/sql/warehouses/abc"
    )
    assert token not in json.dumps({str(k): v for k, v in {**first.xcom, **second.xcom}.items()})
    state_files = list((env / "state").rglob("*.json"))
    assert state_files
    for f in state_files:
        assert token not in f.read_text()


def test_state_on_s3_restores_the_retry(env: Path, aws_conn: str, moto_endpoint: str, monkeypatch) -> None:
    import boto3

    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket="dbt-state")
    monkeypatch.setenv("PLATFORM_OPS_STATE_ROOT", "s3://dbt-state/platform-ops")
    monkeypatch.setenv("PLATFORM_OPS_STATE_CONN_ID", aws_conn)
    assert run(D1, vars={"fail_models": ["customers"]}).state == "failed"
    fixed = run(D1)
    s = fixed.summary("dbt")
    assert s["mode"] == "retry"
    assert s["state_location"].startswith("s3://dbt-state/platform-ops/dbt_scenarios/dbt/2026-11-01T000000Z/")
    assert models(s["executed"]) == {"model.shop.customers"}


def test_dbt_deps_runs_only_when_the_package_declarations_change(env: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    failure_project(project)
    pkg = tmp_path / "helpers"
    (pkg / "macros").mkdir(parents=True)
    (pkg / "dbt_project.yml").write_text("name: helpers\nversion: '1.0'\nconfig-version: 2\n")
    (pkg / "macros" / "cents.sql").write_text("{% macro cents(col) %}({{ col }} / 100.0){% endmacro %}\n")
    (project / "packages.yml").write_text("packages:\n  - local: ../helpers\n")
    stamp = project / "dbt_packages" / ".platform_ops_deps.sha256"

    assert run(D1, project_dir=str(project)).state == "success"
    assert (project / "dbt_packages" / "helpers").exists()
    first = stamp.stat().st_mtime_ns

    assert run(D2, project_dir=str(project)).state == "success"
    assert stamp.stat().st_mtime_ns == first, "unchanged packages.yml: dbt deps must not run again"

    (project / "packages.yml").write_text("# pinned\npackages:\n  - local: ../helpers\n")
    assert run(datetime(2026, 11, 3, tzinfo=UTC), project_dir=str(project)).state == "success"
    assert stamp.stat().st_mtime_ns != first


# -- the stored document never decides what dbt executes --------------------------------------------


def tamper(date: datetime, edit) -> None:
    """Rewrite the stored document the way someone with write access to the state store could."""
    doc = stored(date)
    assert doc is not None
    edit(doc)
    RunStateStore().put(doc, "dbt_scenarios", "dbt", date, STATE_NAME, try_number=99)


def duckdb_tables(env: Path) -> set[str]:
    import duckdb

    with duckdb.connect(str(env / "warehouse.duckdb"), read_only=True) as con:
        return {
            name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()
        }


PWN = {
    "which": "run-operation",
    "macro": "run_query",
    "args": {"sql": "create table main.pwned as select 1 as x"},
    "target": "local",
    "select": ["tag:daily"],
}


def test_a_tampered_command_in_stored_run_results_never_runs(
    env: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert run(D1, vars={"fail_models": ["stg_orders"]}).state == "failed"

    tamper(D1, lambda doc: doc["run_results"].__setitem__("args", dict(PWN)))
    insisted = run(D1, scope="failed")
    assert insisted.state == "failed", "scope=failed refuses stored args that differ from the request"
    assert ("dbt", "summary") not in insisted.xcom
    assert "pwned" not in duckdb_tables(env)
    out = capfd.readouterr()
    assert "run_results.args.which is 'run-operation'" in out.out + out.err

    repaired = run(D1)  # auto: the requested build runs in full, the stored macro never does
    assert repaired.state == "success"
    s = repaired.summary("dbt")
    assert (s["mode"], s["reason"]) == ("run", "stored run_results do not match the request: full run")
    assert " build " in s["command"]
    assert "pwned" not in duckdb_tables(env)


def test_stored_dbt_args_beyond_the_request_never_reach_dbt_retry(env: Path) -> None:
    """dbt retry takes every flag from run_results.json's args: the file it gets is the request's."""
    assert run(D1, vars={"fail_models": ["stg_orders"]}).state == "failed"
    # --empty builds every model with zero rows; it matches no field of the request
    tamper(D1, lambda doc: doc["run_results"]["args"].update(empty=True))
    fixed = run(D1)
    assert fixed.state == "success"
    assert fixed.summary("dbt")["mode"] == "retry"
    assert models(fixed.summary("dbt")["executed"]) == STG_ORDERS_AND_DESCENDANTS
    import duckdb

    with duckdb.connect(str(env / "warehouse.duckdb"), read_only=True) as con:
        (rows,) = con.execute("select count(*) from main.orders").fetchone()
    assert rows > 0, "the retry ran with a flag taken from the stored document"


def test_stored_failures_outside_the_requested_selection_are_not_run(env: Path) -> None:
    assert run(D2).state == "success"  # the warehouse holds every model the selection reads
    first = run(D1, select="stg_orders+", vars={"fail_models": ["stg_orders"]})
    assert first.state == "failed"
    assert "model.shop.stg_payments" not in first.summary("dbt")["executed"]

    def add_unselected_failure(doc: dict) -> None:
        failed = dict(doc["run_results"]["results"][0], unique_id="model.shop.stg_payments", status="error")
        doc["run_results"]["results"].append(failed)

    tamper(D1, add_unselected_failure)
    again = run(D1, select="stg_orders+")
    assert again.state == "success"
    s = again.summary("dbt")
    assert s["mode"] == "run", s["reason"]
    assert "model.shop.stg_payments" not in s["executed"], "only the requested selection may run"
    assert models(s["executed"]) == STG_ORDERS_AND_DESCENDANTS


# -- failures of models that were deleted or renamed ---------------------------------------------------


def test_failed_model_renamed_since_runs_in_full_in_auto_and_fails_with_the_fix_in_failed(
    env: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    failure_project(project)
    conf = {"project_dir": str(project)}
    assert run(D1, **conf, vars={"fail_models": ["order_status_counts"]}).state == "failed"

    hourly = project / "models" / "marts" / "hourly"
    (hourly / "order_status_counts.sql").rename(hourly / "status_counts.sql")
    schema = project / "models" / "marts" / "schema.yml"
    schema.write_text(schema.read_text().replace("name: order_status_counts", "name: status_counts"))

    insisted = run(D1, **conf, scope="failed")
    assert insisted.state == "failed"
    assert ("dbt", "summary") not in insisted.xcom
    out = capfd.readouterr()
    assert "no longer exist in the project" in out.out + out.err
    assert "scope=full" in out.out + out.err

    recovered = run(D1, **conf)
    assert recovered.state == "success"
    s = recovered.summary("dbt")
    assert s["mode"] == "run"
    assert "no longer in the project" in s["reason"]
    assert "model.shop.status_counts" in s["executed"]


# -- full_refresh changes the decision ---------------------------------------------------------------


def test_full_refresh_runs_in_full_on_green_and_failed_dates(env: Path) -> None:
    assert run(D1).state == "success"
    green = run(D1, full_refresh=True)
    assert green.state == "success"
    assert green.summary("dbt")["mode"] == "run"
    assert green.summary("dbt")["command"].endswith("--full-refresh")

    assert run(D2, vars={"fail_models": ["stg_orders"]}).state == "failed"
    failed = run(D2, full_refresh=True)
    assert failed.state == "success"
    s = failed.summary("dbt")
    assert (s["mode"], s["command"].endswith("--full-refresh")) == ("run", True)
    assert "seed.shop.raw_orders" in s["executed"]


# -- selection params: strings only, never empty, refused without retries ------------------------


@pytest.mark.parametrize(
    "conf",
    [
        {"select": 2026},
        {"select": "2026"},  # rendered natively: an int
        {"select": "   "},
        {"select": "''"},
        {"select": "[]"},
        {"select": {"tag": "daily"}},
        {"exclude": 1.5},
        {"exclude": ""},
    ],
    ids=repr,
)
def test_a_wrong_or_empty_selection_fails_at_once_without_retries_or_dbt(env: Path, conf: dict) -> None:
    result = run_dag(SCENARIOS, "dbt_scenarios_retried", D1, conf)
    assert result.state == "failed"
    assert result.try_numbers["dbt"] == 1, "a config error must not be retried"
    assert stored(D1, dag_id="dbt_scenarios_retried") is None
    assert not (env / "warehouse.duckdb").exists(), "dbt must not have run"


# -- what dbt can see, and what is kept of what it compiled -------------------------------------------


def test_models_cannot_read_worker_secrets_and_no_compiled_sql_is_kept_or_logged(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    secret = "worker-secret-0123456789abcdef"
    monkeypatch.setenv("AIRFLOW_CONN_PROBE_DB", f"postgresql://airflow:{secret}@db:5432/airflow")
    monkeypatch.setenv("AIRFLOW__PROBE__SECRET_KEY", secret)
    project = tmp_path / "project"
    failure_project(project)
    (project / "models" / "env_probe.sql").write_text(
        'select \'{{ env_var("AIRFLOW_CONN_PROBE_DB", "absent") }}\' as conn,\n'
        '       \'{{ env_var("AIRFLOW__PROBE__SECRET_KEY", "absent") }}\' as setting\n'
    )
    result = run(D1, project_dir=str(project), select="env_probe +stg_orders")
    assert result.state == "success"
    with duckdb.connect(str(env / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select conn, setting from main.env_probe").fetchall() == [("absent", "absent")]

    doc = stored(D1)
    assert doc is not None
    assert {"model.shop.env_probe", "model.shop.stg_orders"} <= {
        r["unique_id"] for r in doc["run_results"]["results"]
    }
    assert [r for r in doc["run_results"]["results"] if "compiled_code" in r] == []
    out = capfd.readouterr()
    logged = out.out + out.err
    assert "model.shop.env_probe" in logged, "the task log was not captured"
    after_dbt = logged.split("dbt exited", 1)[1]
    assert "model.shop.stg_orders" in after_dbt, "the results are summarised in the log"
    assert "as conn" not in after_dbt, "compiled SQL of a successful node must not be logged"
    assert secret not in logged


# -- a selection that matches nothing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "named"),
    [
        ({"select": "no_such_model"}, "'no_such_model'"),
        ({"select": "tag:no_such_tag"}, "'tag:no_such_tag'"),
        ({"select": "stg_orders", "exclude": "stg_orders"}, "exclude 'stg_orders'"),
    ],
    ids=["model", "tag", "all-excluded"],
)
def test_a_selection_matching_no_node_fails_at_once_naming_it(
    env: Path, conf: dict, named: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """dbt exits 0 with empty run_results and a warning: not a parse error, and not worth a retry."""
    result = run_dag(SCENARIOS, "dbt_scenarios_retried", D1, conf)
    assert result.state == "failed"
    assert result.try_numbers["dbt"] == 1, "a selection that matches nothing must not be retried"
    assert stored(D1, dag_id="dbt_scenarios_retried") is None
    out = capfd.readouterr()
    logged = out.out + out.err
    assert "selects no enabled node" in logged
    assert named in logged
    assert "parse or compilation error" not in logged


# -- warnings, failures no retry changes, source freshness ---------------------------------------------

FRESHNESS = "dbt_source_freshness"


def load_orders(env: Path) -> None:
    """What the loader does before the build: the raw orders table exists (the seed refills it)."""
    import duckdb

    with duckdb.connect(str(env / "warehouse.duckdb")) as con:
        con.execute(
            "create table main.raw_orders as select * from read_csv(?)",
            [str(REPO / "include/dbt/seeds/raw_orders.csv")],
        )


def callback_calls(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def warnings_file(env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from tests.operators.dags.dbt_scenarios import WARNINGS_FILE_ENV

    path = env / "warnings.jsonl"
    monkeypatch.setenv(WARNINGS_FILE_ENV, str(path))
    return path


def test_warnings_reach_the_summary_and_a_cosmos_style_callback_once_and_a_raising_one_changes_nothing(
    env: Path, warnings_file: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    load_orders(env)
    result = run(
        D1,
        vars={"payments_in_cents": True, "payments_check_severity": "warn", "orders_loaded_hours_ago": 30},
        source_freshness="warn",
        callback_raises=True,
    )
    assert result.state == "success", "a callback that raises must not fail a green build"
    s = result.summary("dbt")
    assert s["failed"] == []
    assert [(w["unique_id"], w["status"]) for w in s["warnings"]] == [
        ("test.shop.assert_payment_amounts_in_dollars", "warn"),
        ("source.shop.raw.orders", "warn"),
    ]
    assert "configured to warn" in s["warnings"][0]["message"]
    assert s["warnings"][1]["message"].startswith("late: last loaded")
    assert s["source_freshness"]["counts"] == {"warn": 1}

    (call,) = callback_calls(warnings_file)
    assert call["test_names"] == ["assert_payment_amounts_in_dollars", "raw.orders"]
    assert call["test_results"] == [w["message"] for w in s["warnings"]]
    assert call["dbt_warnings"] == s["warnings"]
    logged = "".join(capfd.readouterr())
    assert "on_warning_callback raised" in logged
    assert "the warning callback broke" in logged

    # the freshness results are stored next to the date's run_results
    doc = RunStateStore().get_latest("dbt_scenarios", "dbt", D1, FRESHNESS)
    assert doc["policy"] == "warn"
    assert [(r["unique_id"], r["status"]) for r in doc["results"]] == [("source.shop.raw.orders", "warn")]
    assert doc["results"][0]["age_seconds"] == pytest.approx(30 * 3600, abs=120)
    assert s["source_freshness"]["state_location"] == s["state_location"].replace(STATE_NAME, FRESHNESS)


def test_a_stale_source_under_error_fails_before_anything_is_built_and_is_not_retried(
    env: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    load_orders(env)
    stale = run_dag(
        SCENARIOS,
        "dbt_scenarios_retried",
        D1,
        {"source_freshness": "error", "vars": {"orders_loaded_hours_ago": 100}},
    )
    assert stale.state == "failed"
    assert stale.try_numbers["dbt"] == 1, "a stale source must not burn Airflow retries"
    assert stored(D1, dag_id="dbt_scenarios_retried") is None, "no run_results: nothing was built"
    assert duckdb_tables(env) == {"raw_orders"}, "no seed, model or test ran"
    doc = RunStateStore().get_latest("dbt_scenarios_retried", "dbt", D1, FRESHNESS)
    assert [(r["unique_id"], r["status"]) for r in doc["results"]] == [("source.shop.raw.orders", "error")]
    s = stale.summary("dbt")
    assert (s["executed"], s["source_freshness"]["counts"]) == ([], {"error": 1})
    logged = "".join(capfd.readouterr())
    assert "past their error_after, nothing was built" in logged
    assert "source.shop.raw.orders [error]: stale: last loaded" in logged


def test_failed_tests_without_test_retries_fail_once_naming_them_and_a_rerun_still_rebuilds(
    env: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from platform_ops.hooks.dbt import DbtHook

    broken = run_dag(
        SCENARIOS,
        "dbt_scenarios_retried",
        D1,
        {"vars": {"payments_in_cents": True}, "retry_test_failures": False},
    )
    assert broken.state == "failed"
    assert broken.try_numbers["dbt"] == 1, "a failed data test on the same data must not be retried"
    assert [f["unique_id"] for f in broken.summary("dbt")["failed"]] == [
        "test.shop.assert_payment_amounts_in_dollars"
    ]
    logged = "".join(capfd.readouterr())
    assert "Not retried (retry_test_failures=False)" in logged
    assert "1 test(s) (assert_payment_amounts_in_dollars)" in logged

    # the data is fixed: a new run of the date rebuilds the tested model; with the freshness check
    # on, one listing serves the check and the rebuild's selectors
    started: list[str] = []
    real_run = DbtHook.run

    def counting_run(self: DbtHook, argv: list[str], *args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(argv[argv.index("--project-dir") - 1])
        return real_run(self, argv, *args, **kwargs)

    monkeypatch.setattr(DbtHook, "run", counting_run)
    fixed = run_dag(
        SCENARIOS,
        "dbt_scenarios_retried",
        D1,
        {"retry_test_failures": False, "source_freshness": "warn", "vars": {"orders_loaded_hours_ago": 1}},
    )
    assert fixed.state == "success"
    s = fixed.summary("dbt")
    assert s["mode"] == "rebuild"
    assert "model.shop.stg_payments" in s["executed"]
    assert s["source_freshness"]["counts"] == {"pass": 1}
    assert started == ["ls", "freshness", "build"]


@pytest.mark.parametrize(
    "conf",
    [{"source_freshness": "sometimes"}, {"retry_test_failures": "maybe"}, {"generate_docs": "always"}],
    ids=repr,
)
def test_bad_switches_fail_at_once_without_retries_or_dbt(env: Path, conf: dict) -> None:
    result = run_dag(SCENARIOS, "dbt_scenarios_retried", D1, conf)
    assert result.state == "failed"
    assert result.try_numbers["dbt"] == 1
    assert stored(D1, dag_id="dbt_scenarios_retried") is None
    assert not (env / "warehouse.duckdb").exists(), "dbt must not have run"


def test_a_callback_that_is_not_callable_is_refused_naming_the_field() -> None:
    from platform_ops.exceptions import ConfigError
    from platform_ops.operators.dbt import DbtRunOrRetryOperator

    op = DbtRunOrRetryOperator(
        task_id="t", project_dir=str(REPO / "include/dbt"), target="local", on_warning_callback="notify"
    )
    with pytest.raises(ConfigError, match="on_warning_callback: 'notify' is a str, not a callable"):
        op._switches()
