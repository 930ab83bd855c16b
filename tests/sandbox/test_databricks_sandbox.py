"""The local Databricks workspace API (sandbox/databricks) through the official databricks-sdk.

One server for the session (the ``databricks_sandbox`` fixture); each test starts from an empty
sandbox with ``deploy_seconds=0.3`` so that deployments settle quickly.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from databricks.sdk.errors import (
    InvalidParameterValue,
    NotFound,
    NotImplemented,
    OperationFailed,
    ResourceAlreadyExists,
    ResourceConflict,
)
from databricks.sdk.service.serving import (
    EndpointCoreConfigInput,
    EndpointStateConfigUpdate,
    EndpointStateReady,
    Route,
    ServedEntityInput,
    ServedModelStateDeployment,
    ServingEndpointDetailed,
    TrafficConfig,
)

pytestmark = pytest.mark.integration

MODEL = "main.ml.churn"
IN_PROGRESS = EndpointStateConfigUpdate.IN_PROGRESS
NOT_UPDATING = EndpointStateConfigUpdate.NOT_UPDATING
UPDATE_FAILED = EndpointStateConfigUpdate.UPDATE_FAILED
READY, NOT_READY = EndpointStateReady.READY, EndpointStateReady.NOT_READY
Deployment = ServedModelStateDeployment


@pytest.fixture
def sandbox(databricks_sandbox):
    databricks_sandbox.reset()
    databricks_sandbox.configure(deploy_seconds=0.3)
    yield databricks_sandbox
    databricks_sandbox.reset()


@pytest.fixture
def w(sandbox):
    return sandbox.client()


def make_model(w, sandbox, versions: int = 2, full_name: str = MODEL) -> None:
    catalog, schema, name = full_name.split(".")
    w.registered_models.create(catalog_name=catalog, schema_name=schema, name=name)
    for _ in range(versions):
        sandbox.add_model_version(full_name)


def entity(version, size: str = "Small", **kwargs) -> ServedEntityInput:
    return ServedEntityInput(
        entity_name=MODEL,
        entity_version=str(version),
        workload_size=size,
        scale_to_zero_enabled=True,
        **kwargs,
    )


def create(w, name: str, *entities: ServedEntityInput, **kwargs) -> ServingEndpointDetailed:
    config = EndpointCoreConfigInput(name=name, served_entities=list(entities), **kwargs)
    return w.serving_endpoints.create(name=name, config=config).response


def settled(w, name: str, timeout: float = 10) -> ServingEndpointDetailed:
    """Poll the endpoint until its config update is no longer IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        endpoint = w.serving_endpoints.get(name)
        if endpoint.state.config_update != IN_PROGRESS:
            return endpoint
        assert time.monotonic() < deadline, f"{name} still updating after {timeout} s"
        time.sleep(0.1)


def raw_get(sandbox, path: str) -> tuple[int, dict, dict]:
    """(status, JSON body, lower-cased headers) of a plain GET, errors included."""
    url = sandbox.url + path  # always our own http://127.0.0.1 server
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {sandbox.token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), exc.headers
    return status, json.loads(raw), {k.lower(): v for k, v in headers.items()}


def test_registered_models_and_versions(w, sandbox):
    """What the product and its tests use: create, get, delete a model; list its versions."""
    info = w.registered_models.create(catalog_name="main", schema_name="ml", name="churn", comment="v0")
    assert (info.full_name, info.created_by, info.comment) == (MODEL, "minilake-user", "v0")
    with pytest.raises(ResourceAlreadyExists):
        w.registered_models.create(catalog_name="main", schema_name="ml", name="churn")
    assert w.registered_models.get(MODEL).full_name == MODEL

    assert sandbox.add_model_version(MODEL)["version"] == 1
    assert sandbox.add_model_version(MODEL, comment="second")["version"] == 2
    versions = list(w.model_versions.list(MODEL))
    assert [v.version for v in versions] == [1, 2]
    assert {v.status.value for v in versions} == {"READY"}
    assert [(v.model_name, v.catalog_name, v.schema_name) for v in versions] == [("churn", "main", "ml")] * 2

    w.registered_models.delete(MODEL)
    with pytest.raises(NotFound):
        w.registered_models.get(MODEL)
    with pytest.raises(NotFound):
        list(w.model_versions.list(MODEL))
    with pytest.raises(NotImplemented):  # routes the product never calls are not served
        w.registered_models.set_alias(MODEL, "champion", 1)


def test_model_versions_list_pages(w, sandbox):
    make_model(w, sandbox, versions=5)
    # the SDK follows next_page_token until it is absent
    assert [v.version for v in w.model_versions.list(MODEL, max_results=2)] == [1, 2, 3, 4, 5]


def test_endpoint_create_update_delete(w, sandbox):
    make_model(w, sandbox)

    created = create(w, "churn", entity(1))
    assert (created.state.ready, created.state.config_update) == (NOT_READY, IN_PROGRESS)
    assert created.config is None
    pending = created.pending_config.served_entities[0]
    assert (pending.entity_name, pending.entity_version) == (MODEL, "1")
    assert pending.state.deployment == Deployment.DEPLOYMENT_CREATING

    ready = settled(w, "churn")
    assert (ready.state.ready, ready.state.config_update) == (READY, NOT_UPDATING)
    assert ready.pending_config is None
    assert ready.id
    assert ready.creator == "minilake-user"
    assert ready.creation_timestamp <= ready.last_updated_timestamp
    served = ready.config.served_entities[0]
    assert (served.name, served.entity_version, served.workload_size) == ("churn-1", "1", "Small")
    assert served.scale_to_zero_enabled is True
    assert served.state.deployment == Deployment.DEPLOYMENT_READY
    assert ready.config.traffic_config.routes[0].traffic_percentage == 100

    sandbox.configure(deploy_reads=2)  # the update settles on its 2nd read, however slow the machine
    updating = w.serving_endpoints.update_config("churn", served_entities=[entity(2, "Medium")]).response
    assert (updating.state.ready, updating.state.config_update) == (READY, IN_PROGRESS)
    assert updating.config.served_entities[0].entity_version == "1"  # the old config keeps serving
    assert updating.pending_config.served_entities[0].entity_version == "2"
    with pytest.raises(ResourceConflict):
        w.serving_endpoints.update_config("churn", served_entities=[entity(1)])

    updated = settled(w, "churn")
    assert (updated.state.ready, updated.state.config_update) == (READY, NOT_UPDATING)
    served = updated.config.served_entities[0]
    assert (served.name, served.entity_version, served.workload_size) == ("churn-2", "2", "Medium")
    assert updated.config.config_version == 2

    logs = w.serving_endpoints.build_logs("churn", "churn-2").logs
    assert f"{MODEL} version 2" in logs
    assert "is ready" in logs
    [summary] = w.serving_endpoints.list()
    assert summary.name == "churn"
    assert summary.config.served_entities[0].entity_version == "2"

    w.serving_endpoints.delete("churn")
    with pytest.raises(NotFound):
        w.serving_endpoints.get("churn")
    assert list(w.serving_endpoints.list()) == []


def test_sdk_waiter_reaches_ready(w, sandbox):
    make_model(w, sandbox, versions=1)
    config = EndpointCoreConfigInput(name="waited", served_entities=[entity(1)])
    endpoint = w.serving_endpoints.create_and_wait(
        name="waited", config=config, timeout=timedelta(seconds=30)
    )
    assert (endpoint.state.ready, endpoint.state.config_update) == (READY, NOT_UPDATING)


def test_update_to_missing_version_fails_and_old_config_keeps_serving(w, sandbox):
    make_model(w, sandbox, versions=1)
    create(w, "churn", entity(1))
    settled(w, "churn")

    w.serving_endpoints.update_config("churn", served_entities=[entity(99)])
    failed = settled(w, "churn")
    assert (failed.state.ready, failed.state.config_update) == (READY, UPDATE_FAILED)
    assert failed.config.served_entities[0].entity_version == "1"
    bad = failed.pending_config.served_entities[0]
    assert bad.state.deployment == Deployment.DEPLOYMENT_FAILED
    assert "99" in bad.state.deployment_state_message
    logs = w.serving_endpoints.build_logs("churn", "churn-99").logs
    assert "99" in logs
    assert "does not exist" in logs

    # a failed update does not block the next one
    w.serving_endpoints.update_config("churn", served_entities=[entity(1, "Large")])
    fixed = settled(w, "churn")
    assert fixed.state.config_update == NOT_UPDATING
    assert fixed.pending_config is None
    assert fixed.config.served_entities[0].workload_size == "Large"


def test_new_endpoint_with_missing_version_never_gets_ready(w, sandbox):
    make_model(w, sandbox, versions=1)
    routes = TrafficConfig(
        routes=[Route(traffic_percentage=50, served_entity_name="a"), Route(50, served_entity_name="b")]
    )
    config = EndpointCoreConfigInput(
        name="ghost", served_entities=[entity(1, name="a"), entity(99, name="b")], traffic_config=routes
    )
    with pytest.raises(OperationFailed, match="UPDATE_FAILED"):
        w.serving_endpoints.create(name="ghost", config=config).result(timeout=timedelta(seconds=30))

    endpoint = w.serving_endpoints.get("ghost")
    assert (endpoint.state.ready, endpoint.state.config_update) == (NOT_READY, UPDATE_FAILED)
    assert endpoint.config is None
    states = {e.name: e.state.deployment for e in endpoint.pending_config.served_entities}
    assert states == {"a": Deployment.DEPLOYMENT_ABORTED, "b": Deployment.DEPLOYMENT_FAILED}
    assert "does not exist" in w.serving_endpoints.build_logs("ghost", "b").logs


def test_invalid_requests_are_refused_with_typed_errors(w, sandbox):
    make_model(w, sandbox, versions=1)
    with pytest.raises(InvalidParameterValue, match="workload_size"):
        create(w, "churn", entity(1, "Huge"))
    with pytest.raises(InvalidParameterValue, match="endpoint name"):
        create(w, "bad name!", entity(1))
    with pytest.raises(InvalidParameterValue, match="endpoint name"):
        create(w, "churn\n", entity(1))  # a trailing newline is not part of a valid name
    with pytest.raises(InvalidParameterValue, match="Invalid served entity name"):
        create(w, "churn", entity(1, name="churn-1\n"))
    with pytest.raises(InvalidParameterValue, match="full name"):
        w.registered_models.create(catalog_name="main", schema_name="ml", name="other\n")
    with pytest.raises(InvalidParameterValue, match="add up to 90"):
        create(
            w,
            "churn",
            entity(1),
            traffic_config=TrafficConfig(routes=[Route(90, served_entity_name="churn-1")]),
        )
    with pytest.raises(NotFound):
        w.serving_endpoints.get("nope")
    with pytest.raises(NotFound):
        w.serving_endpoints.update_config("nope", served_entities=[entity(1)])
    with pytest.raises(NotFound):
        w.serving_endpoints.delete("nope")

    create(w, "churn", entity(1))
    with pytest.raises(ResourceAlreadyExists):
        create(w, "churn", entity(1))
    settled(w, "churn")
    with pytest.raises(InvalidParameterValue):
        w.serving_endpoints.update_config("churn", served_entities=[entity(1, "Tiny")])
    assert w.serving_endpoints.get("churn").state.config_update == NOT_UPDATING  # nothing started
    with pytest.raises(NotFound):
        w.serving_endpoints.build_logs("churn", "no-such-entity")


def test_deploy_reads_settles_on_the_nth_read(w, sandbox):
    make_model(w, sandbox, versions=1)
    sandbox.configure(deploy_seconds=3600, deploy_reads=3)
    create(w, "churn", entity(1))
    states = [w.serving_endpoints.get("churn").state.config_update for _ in range(3)]
    assert states == [IN_PROGRESS, IN_PROGRESS, NOT_UPDATING]


def test_fault_knobs(w, sandbox):
    status, body, headers = raw_get(sandbox, "/api/2.0/serving-endpoints")
    assert (status, body) == (200, {"endpoints": []})

    sandbox.configure(error_rate_429=1.0)
    status, body, headers = raw_get(sandbox, "/api/2.0/serving-endpoints")
    assert (status, body["error_code"], headers["retry-after"]) == (429, "TOO_MANY_REQUESTS", "1")
    assert raw_get(sandbox, "/_sandbox/health")[0] == 200  # control routes are never faulted
    status, body, headers = raw_get(sandbox, "/api/2.1/clusters/list")  # minilake's routes too
    assert (status, body["error_code"], headers["retry-after"]) == (429, "TOO_MANY_REQUESTS", "1")

    sandbox.configure(error_rate_429=0, error_rate_503=1.0)
    status, body, _ = raw_get(sandbox, f"/api/2.1/unity-catalog/models/{MODEL}/versions")
    assert (status, body["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")

    # seeded: the same seed replays the same faults
    sandbox.configure(error_rate_503=0.5, seed=7)
    first = [raw_get(sandbox, "/api/2.0/serving-endpoints")[0] for _ in range(12)]
    sandbox.configure(seed=7)
    assert [raw_get(sandbox, "/api/2.0/serving-endpoints")[0] for _ in range(12)] == first
    assert set(first) == {200, 503}

    # the SDK retries 429 and 503 by itself
    sandbox.configure(error_rate_503=0, fail_next=[503])
    before = sandbox.stats()["injected_503"]
    assert list(w.serving_endpoints.list()) == []
    assert sandbox.stats()["injected_503"] == before + 1

    # 403 is not retried: the SDK raises it at once
    from databricks.sdk.errors import PermissionDenied

    sandbox.configure(fail_next=[403])
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        list(w.serving_endpoints.list())
    assert sandbox.stats()["injected_403"] == 1
    assert list(w.serving_endpoints.list()) == []
    with pytest.raises(RuntimeError, match="fail_next"):
        sandbox.configure(fail_next=[404])

    sandbox.configure(latency_seconds=0.3)
    started = time.monotonic()
    raw_get(sandbox, "/api/2.0/serving-endpoints")
    assert time.monotonic() - started >= 0.3

    with pytest.raises(RuntimeError, match="Unknown knob"):
        sandbox.configure(no_such_knob=1)
    with pytest.raises(RuntimeError, match="error_rate_429"):
        sandbox.configure(error_rate_429=2)


def test_minilake_routes_still_work(w, sandbox):
    assert w.current_user.me().user_name == "minilake-user"
    assert isinstance(list(w.clusters.list()), list)
    assert "/Users" in [o.path for o in w.workspace.list("/")]
    with pytest.raises(NotImplemented):
        w.api_client.do("GET", "/api/2.0/no-such-api")


def test_connection_is_an_airflow_databricks_connection(databricks_sandbox, monkeypatch):
    conn = json.loads(databricks_sandbox.connection())
    assert conn["conn_type"] == "databricks"
    assert f"{conn['schema']}://{conn['host']}:{conn['port']}" == databricks_sandbox.url
    monkeypatch.setenv("AIRFLOW_CONN_DBX_SANDBOX", databricks_sandbox.connection())
    from platform_ops.hooks.model_serving import ModelServingHook

    hook = ModelServingHook("dbx_sandbox")
    assert hook.host == databricks_sandbox.url
    assert hook.client.current_user.me().user_name


def failing_once_job(w, marker) -> int:
    """A one-task job whose notebook fails on its first run and succeeds on the next ones; every
    run appends a line to ``marker``."""
    import base64

    from databricks.sdk.service import jobs, workspace

    code = (
        f"import pathlib\np = pathlib.Path({str(marker)!r})\nfirst = not p.exists()\n"
        "with p.open('a') as f:\n    f.write('ran\\n')\n"
        "if first:\n    raise SystemExit('first attempt fails')\n"
    )
    w.workspace.mkdirs("/Shared")
    w.workspace.import_(
        path="/Shared/flaky",
        format=workspace.ImportFormat.SOURCE,
        language=workspace.Language.PYTHON,
        content=base64.b64encode(code.encode()).decode(),
        overwrite=True,
    )
    task = jobs.Task(task_key="flaky", notebook_task=jobs.NotebookTask(notebook_path="/Shared/flaky"))
    return w.jobs.create(name="flaky", tasks=[task]).job_id


def test_a_failed_run_is_repaired_under_its_own_run_id(w, sandbox, tmp_path):
    from databricks.sdk.errors import BadRequest
    from databricks.sdk.service.jobs import RunResultState

    marker = tmp_path / "runs.txt"
    job_id = failing_once_job(w, marker)
    run = w.jobs.run_now(job_id=job_id).result(timeout=timedelta(seconds=60))
    assert run.state.result_state is RunResultState.FAILED
    with pytest.raises(NotFound):
        w.jobs.repair_run(run_id=run.run_id + 1000, rerun_all_failed_tasks=True)
    repaired = w.jobs.repair_run(run_id=run.run_id, rerun_all_failed_tasks=True).result(
        timeout=timedelta(seconds=60)
    )
    assert repaired.run_id == run.run_id
    assert repaired.state.result_state is RunResultState.SUCCESS
    assert [r.run_id for r in w.jobs.list_runs(job_id=job_id)] == [run.run_id], "no new run"
    assert marker.read_text().count("ran") == 2
    with pytest.raises(BadRequest, match="not a finished failed run"):
        w.jobs.repair_run(run_id=run.run_id, rerun_all_failed_tasks=True)
