"""Model-serving deployment and readiness through Airflow, against the local Databricks sandbox.

The official databricks-sdk (operator, poke-mode sensor) and the Databricks provider's async
client (trigger) talk to sandbox/databricks, whose endpoints go through the real lifecycle.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from platform_ops.triggers.model_serving import EndpointReadyTrigger
from tests.airflow_runner import run_dag

pytestmark = pytest.mark.integration

DAGS = Path(__file__).parent / "dags"
MODEL = "main.ml.churn"


@pytest.fixture
def sandbox(databricks_sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    databricks_sandbox.reset()
    databricks_sandbox.configure(deploy_seconds=0.5)
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", databricks_sandbox.connection())
    client = databricks_sandbox.client()
    client.registered_models.create(catalog_name="main", schema_name="ml", name="churn")
    databricks_sandbox.add_model_version(MODEL)
    return databricks_sandbox


def config(tmp_path: Path, name: str = "churn-model", **entity) -> str:
    path = tmp_path / f"{name}.yaml"
    doc = {
        "endpoint_name": name,
        "served_entities": [
            {"entity_name": MODEL, "entity_version": "latest", "workload_size": "Small", **entity}
        ],
    }
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def deploy(tmp_path: Path, **conf):
    path = conf.pop("config_path", None) or config(tmp_path)
    return run_dag(
        DAGS, "serving_deploy", _now(), {"config_path": path, "endpoint_name": "churn-model", **conf}
    )


_CLOCK = [0]


def _now():
    """A new logical date per run (manual runs of one DAG must not collide)."""
    import pendulum

    _CLOCK[0] += 1
    return pendulum.datetime(2026, 11, 1, tz="UTC").add(minutes=_CLOCK[0])


def served(sandbox, name: str = "churn-model") -> list[str]:
    endpoint = sandbox.client().serving_endpoints.get(name)
    return [e.entity_version for e in endpoint.config.served_entities]


def test_create_update_rollback_nothing_then_guarded_delete(sandbox, tmp_path: Path) -> None:
    first = deploy(tmp_path)
    assert first.state == "success", first.states
    assert first.xcom[("deploy", "return_value")]["action"] == "create"
    assert first.xcom[("wait_ready", "return_value")]["status"] == "ready"
    assert served(sandbox) == ["1"]

    sandbox.add_model_version(MODEL)
    second = deploy(tmp_path)
    assert second.xcom[("deploy", "return_value")]["action"] == "update"
    assert second.state == "success"
    assert served(sandbox) == ["2"], "latest is resolved at run time"

    back = deploy(tmp_path, rollback_version=1)
    assert back.xcom[("deploy", "return_value")]["action"] == "rollback"
    assert back.state == "success"
    assert served(sandbox) == ["1"]

    same = deploy(tmp_path, rollback_version=1)
    assert same.xcom[("deploy", "return_value")]["action"] == "nothing"

    path = tmp_path / "delete.yaml"
    path.write_text(
        yaml.safe_dump({**yaml.safe_load(Path(config(tmp_path)).read_text()), "force_delete": True})
    )
    refused = deploy(tmp_path, config_path=str(path))
    assert refused.state == "failed"
    assert served(sandbox) == ["1"], "no deletion without confirm_delete"

    deleted = deploy(tmp_path, config_path=str(path), confirm_delete=True)
    assert deleted.state == "success"
    assert deleted.states["wait_ready"] == "skipped"
    assert [e.name for e in sandbox.client().serving_endpoints.list()] == []
    assert sandbox.client().registered_models.get(MODEL).full_name == MODEL, "the model is kept"


def test_bad_configs_fail_before_any_call(sandbox, tmp_path: Path) -> None:
    before = sandbox.stats()["requests"]
    for bad in (config(tmp_path, workload_size="Huge"), config(tmp_path, name="bad name!")):
        assert deploy(tmp_path, config_path=bad).state == "failed"
    assert sandbox.stats()["requests"] == before, "nothing reached the workspace"
    missing = config(tmp_path, entity_version=9)
    assert deploy(tmp_path, config_path=missing).state == "failed"
    assert [e.name for e in sandbox.client().serving_endpoints.list()] == []


@pytest.mark.parametrize("dag_id", ["serving_deploy", "serving_deploy_blocking"])
def test_an_update_refused_with_409_waits_for_the_running_update(
    sandbox, tmp_path: Path, capfd, caplog, dag_id: str
) -> None:
    """Deferrable, the wait for the running update is a trigger's (no worker slot held);
    blocking, the operator retries the update until it is accepted. Both then apply the plan."""
    assert deploy(tmp_path).state == "success"
    sandbox.add_model_version(MODEL)
    sandbox.add_model_version(MODEL)
    # long enough to still run when the DAG's first task starts on a busy machine (at 2 s, a slow
    # dag.test start-up sometimes found the other update finished and never saw the 409)
    sandbox.configure(deploy_seconds=6.0)
    from databricks.sdk.service.serving import ServedEntityInput

    entity = ServedEntityInput(
        entity_name=MODEL, entity_version="2", workload_size="Small", scale_to_zero_enabled=True
    )
    sandbox.client().serving_endpoints.update_config(
        "churn-model", served_entities=[entity]
    )  # someone else's
    capfd.readouterr()
    caplog.clear()
    result = run_dag(DAGS, dag_id, _now(), {"config_path": config(tmp_path), "endpoint_name": "churn-model"})
    assert result.state == "success", result.states
    assert result.xcom[("deploy", "return_value")]["action"] == "update"
    assert served(sandbox) == ["3"]
    out = "".join(capfd.readouterr()) + caplog.text
    assert "Another update of churn-model is in progress (409)" in out
    deferred = "deferring until it ends" in out and "EndpointUpdateFinishedTrigger" in out
    assert deferred == (dag_id == "serving_deploy"), "deferrable, the triggerer waits on the update"


def test_the_update_wait_ends_when_the_update_does_and_at_its_deadline(sandbox) -> None:
    from platform_ops.triggers.model_serving import EndpointUpdateFinishedTrigger

    sandbox.configure(deploy_seconds=600)
    create_endpoint(sandbox, "busy")
    trigger = EndpointUpdateFinishedTrigger("busy", "databricks_default", 0.1, deadline=time.time() + 1)
    rebuilt = EndpointUpdateFinishedTrigger(**trigger.serialize()[1])
    payload = asyncio.run(_first_event(rebuilt))
    assert payload["outcome"] == "timed_out", payload
    assert "IN_PROGRESS" in payload["message"]
    sandbox.configure(deploy_seconds=0.3)
    create_endpoint(sandbox, "quick")
    quick = EndpointUpdateFinishedTrigger("quick", "databricks_default", 0.1, deadline=time.time() + 30)
    payload = asyncio.run(_first_event(quick))
    assert payload["outcome"] == "finished", payload
    assert json.loads(payload["state"])["config_update"] == "NOT_UPDATING"


def test_the_hook_translates_workspace_errors(sandbox, tmp_path: Path) -> None:
    """Operators see the package's errors, never the SDK's: 409 is a retryable conflict, 403 a
    permanent denial (the task fails without spending its retries)."""
    from platform_ops.core.model_serving import parse_config, plan
    from platform_ops.exceptions import AccessDeniedError, ResourceConflictError
    from platform_ops.hooks.model_serving import ModelServingHook

    sandbox.configure(deploy_seconds=600)
    create_endpoint(sandbox, "churn-model")
    sandbox.add_model_version(MODEL)
    hook = ModelServingHook()
    decided = plan(
        parse_config(yaml.safe_load(Path(config(tmp_path)).read_text())),
        hook.get_endpoint("churn-model"),
        {MODEL: hook.registered_versions(MODEL)},
    )
    with pytest.raises(ResourceConflictError) as conflict:
        hook.update_config(decided)
    assert conflict.value.retryable
    sandbox.configure(fail_next=[403])
    with pytest.raises(AccessDeniedError):
        hook.get_endpoint("churn-model")
    assert hook.get_endpoint("nope") is None


def test_the_sdk_authenticates_as_the_provider_does(sandbox, monkeypatch) -> None:
    """One authentication path: the connection is read by the Databricks provider's rules, so
    its extra ``host`` and ``token`` (with a login set) win, as they do for the provider's client."""
    from platform_ops.hooks.model_serving import ModelServingHook

    conn = json.loads(sandbox.connection())
    extra = {"host": conn["host"], "token": conn.pop("password")}
    conn.update(host="not-this-host.invalid", login="someone", extra=json.dumps(extra))
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_EXTRA", json.dumps(conn))
    hook = ModelServingHook("databricks_extra")
    assert hook.host == sandbox.url.rstrip("/")
    assert hook.registered_versions(MODEL) == [1]


def wait_for(sandbox, name: str, version: str, **knobs):
    sandbox.configure(**knobs)
    from databricks.sdk.service.serving import EndpointCoreConfigInput, ServedEntityInput

    entity = ServedEntityInput(
        entity_name=MODEL, entity_version=version, workload_size="Small", scale_to_zero_enabled=True
    )
    sandbox.client().serving_endpoints.create(
        name=name, config=EndpointCoreConfigInput(name=name, served_entities=[entity])
    )
    return run_dag(DAGS, "serving_wait", _now(), {"endpoint_name": name})


def test_update_failed_fails_both_sensors_with_the_build_logs(sandbox, capfd) -> None:
    result = wait_for(sandbox, "broken", "99", deploy_seconds=0.3)
    assert result.states == {"poke": "failed", "deferred": "failed"}
    out = capfd.readouterr()
    assert "build logs of" in out.out + out.err
    assert "99" in out.out + out.err


def test_both_sensors_time_out_on_an_endpoint_that_never_gets_ready(sandbox) -> None:
    started = time.monotonic()
    result = wait_for(sandbox, "slow", "1", deploy_seconds=600)
    assert result.states == {"poke": "failed", "deferred": "failed"}
    assert time.monotonic() - started < 60, "the waits ended at their timeout, not when the endpoint did"


@pytest.mark.parametrize("mode", ["poke", "deferred"])
def test_an_endpoint_deleted_while_waiting_fails_the_wait(sandbox, capfd, caplog, mode: str) -> None:
    """The sensor fails because the endpoint is gone, within seconds, not at its 60 s timeout."""
    sandbox.configure(deploy_seconds=600)
    create_endpoint(sandbox, "doomed")
    before = sandbox.stats()["requests"]

    def delete_once_waiting() -> None:
        # Three reads: the sensor's first poke and then, deferred, the trigger's own polls.
        while sandbox.stats()["requests"] < before + 3:
            time.sleep(0.05)
        sandbox.client().serving_endpoints.delete("doomed")

    threading.Thread(target=delete_once_waiting, daemon=True).start()
    started = time.monotonic()
    result = run_dag(DAGS, f"serving_wait_long_{mode}", _now(), {"endpoint_name": "doomed"})
    assert result.states == {"wait": "failed"}
    assert time.monotonic() - started < 30, "the wait failed on the deletion, not at its timeout"
    out = "".join(capfd.readouterr())
    gone = "AirflowFailException: Serving endpoint doomed does not exist (deleted while waiting?)"
    assert [line for line in out.splitlines() if line.endswith(gone)], (
        "it failed because the endpoint is gone"
    )
    deferred = "running trigger in line" in out + caplog.text
    assert deferred == (mode == "deferred"), "deferred, the trigger is what saw the deletion"


def test_the_trigger_serialises_and_waits_through_the_states(sandbox, capfd) -> None:
    trigger = EndpointReadyTrigger("t-endpoint", "databricks_default", poll_interval=0.1)
    classpath, kwargs = trigger.serialize()
    assert classpath == "platform_ops.triggers.model_serving.EndpointReadyTrigger"
    assert kwargs == {
        "endpoint_name": "t-endpoint",
        "databricks_conn_id": "databricks_default",
        "poll_interval": 0.1,
        "deadline": None,
        "retry_limit": 5,
    }
    rebuilt = EndpointReadyTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)

    sandbox.configure(deploy_seconds=0.8)
    from databricks.sdk.service.serving import EndpointCoreConfigInput, ServedEntityInput

    entity = ServedEntityInput(
        entity_name=MODEL, entity_version="1", workload_size="Small", scale_to_zero_enabled=True
    )
    sandbox.client().serving_endpoints.create(
        name="t-endpoint", config=EndpointCoreConfigInput(name="t-endpoint", served_entities=[entity])
    )

    async def first_event():
        async for event in rebuilt.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["outcome"] == "finished"
    assert set(payload) == {"outcome", "endpoint_name", "message", "state"}
    assert json.loads(payload["state"])["ready"] == "READY", "the event carries the state"
    out = capfd.readouterr()
    logged = [line for line in (out.out + out.err).splitlines() if "Endpoint t-endpoint:" in line]
    assert any("NOT_READY" in m for m in logged), logged
    assert any("DEPLOYMENT_READY" in m for m in logged), logged

    sandbox.client().serving_endpoints.delete("t-endpoint")
    assert asyncio.run(first_event())["outcome"] == "gone"

    sandbox.configure(deploy_seconds=600)
    sandbox.client().serving_endpoints.create(
        name="t-endpoint", config=EndpointCoreConfigInput(name="t-endpoint", served_entities=[entity])
    )
    rebuilt.deadline = time.time() + 0.5
    assert asyncio.run(first_event())["outcome"] == "timed_out"


def create_endpoint(sandbox, name: str, version: str = "1") -> None:
    from databricks.sdk.service.serving import EndpointCoreConfigInput, ServedEntityInput

    entity = ServedEntityInput(
        entity_name=MODEL, entity_version=version, workload_size="Small", scale_to_zero_enabled=True
    )
    sandbox.client().serving_endpoints.create(
        name=name, config=EndpointCoreConfigInput(name=name, served_entities=[entity])
    )


async def _first_event(trigger: EndpointReadyTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_the_trigger_rides_out_an_outage_longer_than_its_clients_retries(sandbox, capfd) -> None:
    """Every read answers 503 for longer than the provider client retries one call (two attempts
    here, about a second; five attempts, about 15 s, in the DAGs): the wait goes on, as in poke
    mode, and ends ready once the workspace answers again."""
    sandbox.configure(deploy_seconds=0.3)
    create_endpoint(sandbox, "flaky")
    sandbox.configure(error_rate_503=1.0)
    outage = 4.0

    def recover() -> None:
        time.sleep(outage)
        sandbox.configure(error_rate_503=0.0)

    threading.Thread(target=recover, daemon=True).start()
    trigger = EndpointReadyTrigger(
        "flaky", "databricks_default", poll_interval=0.2, deadline=time.time() + 60, retry_limit=2
    )
    started = time.monotonic()
    payload = asyncio.run(_first_event(trigger))
    assert payload["outcome"] == "finished", payload
    assert time.monotonic() - started >= outage
    assert sandbox.stats()["injected_503"] >= 2 * trigger.retry_limit, "the client gave up more than once"
    logged = "".join(capfd.readouterr())
    assert "Endpoint flaky could not be read (1 in a row)" in logged, "each failed read is logged"
    assert "Endpoint flaky answers again after" in logged


def test_an_outage_until_the_deadline_ends_the_trigger_with_a_timeout(sandbox) -> None:
    sandbox.configure(deploy_seconds=0.3)
    create_endpoint(sandbox, "down")
    sandbox.configure(error_rate_503=1.0)
    trigger = EndpointReadyTrigger(
        "down", "databricks_default", poll_interval=0.2, deadline=time.time() + 3, retry_limit=2
    )
    payload = asyncio.run(_first_event(trigger))
    assert payload["outcome"] == "timed_out", payload
    assert "503" in payload["message"], "the timeout says what kept the endpoint from being read"


def test_the_trigger_fails_at_once_on_an_error_that_is_not_transient(sandbox) -> None:
    sandbox.configure(deploy_seconds=600)
    create_endpoint(sandbox, "locked")
    sandbox.configure(fail_next=[403])  # a revoked token: no retry can help
    trigger = EndpointReadyTrigger(
        "locked", "databricks_default", poll_interval=0.2, deadline=time.time() + 60, retry_limit=2
    )
    started = time.monotonic()
    with pytest.raises(Exception, match="403"):
        asyncio.run(_first_event(trigger))
    assert time.monotonic() - started < 10, "a refused token is not waited on until the deadline"
    assert sandbox.stats()["injected_403"] == 1


def test_the_shipped_dag_deploys_its_config_and_honours_its_params(sandbox, monkeypatch) -> None:
    monkeypatch.setenv("PLATFORM_OPS_SERVING_POLL_SECONDS", "0.2")  # read when the DAG file is parsed
    dags = Path(__file__).resolve().parents[2] / "dags"
    first = run_dag(dags, "model_serving_deploy_churn", _now(), {})
    assert first.state == "success", first.states
    assert first.xcom[("deploy", "return_value")]["action"] == "create"
    assert served(sandbox) == ["1"]
    refused = run_dag(dags, "model_serving_deploy_churn", _now(), {"force_delete": True})
    assert refused.states["deploy"] == "failed"
    assert served(sandbox) == ["1"], "force_delete without confirm_delete changes nothing"


def test_a_config_with_a_training_job_runs_it_before_deploying(sandbox, monkeypatch, tmp_path: Path) -> None:
    import base64

    from databricks.sdk.service import jobs, workspace

    client = sandbox.client()
    client.workspace.mkdirs("/Shared")
    client.workspace.import_(
        path="/Shared/train_churn",
        format=workspace.ImportFormat.SOURCE,
        language=workspace.Language.PYTHON,
        content=base64.b64encode(b"print('training churn')").decode(),
        overwrite=True,
    )
    task = jobs.Task(task_key="train", notebook_task=jobs.NotebookTask(notebook_path="/Shared/train_churn"))
    job = client.jobs.create(name="train-churn", tasks=[task])
    folder = tmp_path / "serving"
    folder.mkdir()
    doc = yaml.safe_load(Path(config(tmp_path, name="trained")).read_text())
    training = {"job_id": job.job_id, "job_parameters": {"epochs": "3"}}
    (folder / "trained.yaml").write_text(yaml.safe_dump({**doc, "training_job": training}))
    monkeypatch.setenv("PLATFORM_OPS_SERVING_CONFIG_DIR", str(folder))  # read when the DAG file is parsed
    monkeypatch.setenv("PLATFORM_OPS_SERVING_POLL_SECONDS", "0.5")
    dags = Path(__file__).resolve().parents[2] / "dags"
    result = run_dag(dags, "model_serving_deploy_trained", _now(), {})
    assert result.states == {"train": "success", "deploy": "success", "wait_ready": "success"}
    runs = list(client.jobs.list_runs(job_id=job.job_id))
    assert len(runs) == 1, "the training job ran once, before the deployment"
    assert served(sandbox, "trained") == ["1"]


def test_a_failed_training_run_is_repaired_not_started_again(
    sandbox, monkeypatch, tmp_path: Path, capfd, caplog
) -> None:
    """The train task defers and repairs its failed run (re-runs its failed task) under the same
    run id: the job has one run, its notebook ran twice, and the deployment goes on."""
    from tests.sandbox.test_databricks_sandbox import failing_once_job

    client = sandbox.client()
    marker = tmp_path / "runs.txt"
    job_id = failing_once_job(client, marker)
    folder = tmp_path / "serving"
    folder.mkdir()
    doc = yaml.safe_load(Path(config(tmp_path, name="retrained")).read_text())
    (folder / "retrained.yaml").write_text(yaml.safe_dump({**doc, "training_job": {"job_id": job_id}}))
    monkeypatch.setenv("PLATFORM_OPS_SERVING_CONFIG_DIR", str(folder))  # read when the DAG file is parsed
    monkeypatch.setenv("PLATFORM_OPS_SERVING_POLL_SECONDS", "0.5")
    dags = Path(__file__).resolve().parents[2] / "dags"
    result = run_dag(dags, "model_serving_deploy_retrained", _now(), {})
    assert result.states == {"train": "success", "deploy": "success", "wait_ready": "success"}
    assert result.try_numbers["train"] == 1, "repaired within the task, not by an Airflow retry"
    assert len(list(client.jobs.list_runs(job_id=job_id))) == 1, (
        "the failed run was repaired, not started again"
    )
    assert marker.read_text().count("ran") == 2
    out = "".join(capfd.readouterr()) + caplog.text
    assert "repairing the run with all failed tasks" in out


def sdk_error_imports(source: str) -> list[str]:
    """The names a module imports from the SDKs' or the provider's error modules."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        modules = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        found += [m for m in modules if m.startswith(SDK_ERROR_MODULES)]
    return found


SDK_ERROR_MODULES = ("databricks.sdk", "google.api_core", "airflow.providers.databricks.exceptions")


def test_operators_sensors_and_triggers_see_only_the_packages_errors() -> None:
    """The hook translates the workspace's errors; what uses it never imports the SDK's."""
    plugins = Path(__file__).resolve().parents[2] / "plugins" / "platform_ops"
    for layer in ("operators", "sensors", "triggers"):
        assert sdk_error_imports((plugins / layer / "model_serving.py").read_text()) == [], layer
