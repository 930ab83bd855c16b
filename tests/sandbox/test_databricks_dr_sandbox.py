"""The sandbox pair for disaster-recovery tests, through the official databricks-sdk and raw HTTP.

Two servers for the session (the ``databricks_sandbox_pair`` fixture): each test starts from sandboxes
with default knobs and cleared counters; minilake's own objects are left to each test to name apart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest
from databricks.sdk.service import compute

pytestmark = pytest.mark.integration


@pytest.fixture
def pair(reset_sandbox_pair):
    return reset_sandbox_pair


@pytest.fixture
def primary(pair):
    return pair[0]


def test_the_pair_reports_distinct_workspace_ids(pair):
    primary, secondary = pair
    ids = [s.client().get_workspace_id() for s in pair]
    assert ids == [int(primary.workspace_id), int(secondary.workspace_id)]
    assert ids[0] != ids[1]
    # without host metadata the SDK reads the id from the SCIM /Me answer's header
    for sandbox in pair:
        me = sandbox.client().api_client.do(
            "GET", "/api/2.0/preview/scim/v2/Me", response_headers=["X-Databricks-Org-Id"]
        )
        assert me["X-Databricks-Org-Id"] == sandbox.workspace_id


def raw(sandbox, method: str, path: str, body=None):
    """(status, JSON body, headers) of one request, errors included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the local sandbox
        sandbox.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {sandbox.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw_body = response.read()
            return response.status, json.loads(raw_body) if raw_body else None, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), exc.headers


def policy_names(w) -> list[str]:
    return sorted(p.name for p in w.cluster_policies.list())


def test_faults_reach_minilakes_routes_with_retry_after(primary):
    primary.configure(error_rate_429=1.0, retry_after_seconds=2)
    status, body, headers = raw(primary, "GET", "/api/2.0/policies/clusters/list")
    assert (status, body["error_code"], headers["Retry-After"]) == (429, "TOO_MANY_REQUESTS", "2")
    assert raw(primary, "GET", "/_sandbox/health")[0] == 200  # control routes are never faulted
    assert raw(primary, "GET", "/.well-known/databricks-config")[0] == 200  # nor the host metadata
    primary.configure(error_rate_429=0, error_rate_503=1.0)
    status, body, _ = raw(primary, "POST", "/api/2.0/policies/clusters/create", {"name": "never-made"})
    assert (status, body["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")
    primary.configure(error_rate_503=0)
    assert "never-made" not in policy_names(primary.client())  # a faulted request is not executed

    # the SDK retries what fail_next injects, on minilake's routes as on ours
    primary.configure(fail_next=[503, 429], retry_after_seconds=0)
    before = primary.stats()
    assert isinstance(policy_names(primary.client()), list)
    stats = primary.stats()
    assert stats["injected_503"] - before["injected_503"] == 1
    assert stats["injected_429"] - before["injected_429"] == 1
    route = "GET /api/2.0/policies/clusters/list"
    assert stats["by_route"][route] - before["by_route"][route] == 3  # two faults, then the answer

    primary.configure(latency_seconds=0.3)
    started = time.monotonic()
    raw(primary, "GET", "/api/2.0/policies/clusters/list")
    assert time.monotonic() - started >= 0.3


def test_commit_then_503_executes_the_write_and_answers_503(primary):
    w = primary.client()
    name = f"committed-{uuid.uuid4().hex[:8]}"
    primary.configure(commit_then_503=1)
    status, body, headers = raw(primary, "POST", "/api/2.0/policies/clusters/create", {"name": name})
    assert (status, body["error_code"], headers["Retry-After"]) == (503, "TEMPORARILY_UNAVAILABLE", "1")
    assert name in policy_names(w)  # the create was committed all the same
    # the knob is used up: the next write is answered normally (here: the name is taken)
    status, body, _ = raw(primary, "POST", "/api/2.0/policies/clusters/create", {"name": name})
    assert (status, body["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    stats = primary.stats()
    assert stats["committed_503"] == 1
    assert stats["by_route"]["POST /api/2.0/policies/clusters/create"] == 2
    assert stats["writes"] == 2

    # the SDK retries a 503 on a POST: a blind retry duplicates
    primary.configure(commit_then_503=1, retry_after_seconds=0)
    job = w.jobs.create(name=f"dup-{name}")
    assert [j.settings.name for j in w.jobs.list()].count(f"dup-{name}") == 2
    assert job.job_id is not None
    assert primary.stats()["by_route"]["POST /api/2.2/jobs/create"] == 2


def test_stats_count_requests_per_method_and_route_template(primary):
    w = primary.client()
    before = primary.stats()
    assert before["by_method"] == {}  # reset clears the counters
    assert before["requests"] == 0
    list(w.clusters.list())
    raw(primary, "GET", "/api/2.0/permissions/jobs/1")
    raw(primary, "GET", "/api/2.0/permissions/jobs/2")
    stats = primary.stats()
    assert stats["by_method"]["GET"] == stats["requests"] >= 3
    assert stats["by_route"]["GET /api/2.0/permissions/{object_type}/{object_id}"] == 2
    assert stats["writes"] == 0


SPARK = "15.4.x-scala2.12"


def test_clusters_keep_what_minilake_drops_and_seeded_clusters_keep_their_source(primary):
    w = primary.client()
    init = [{"workspace": {"destination": "/Shared/init.sh"}}]
    status, body, _ = raw(
        primary,
        "POST",
        "/api/2.1/clusters/create",
        {
            "cluster_name": "kept",
            "spark_version": SPARK,
            "num_workers": 1,
            "init_scripts": init,
            "data_security_mode": "SINGLE_USER",
            "single_user_name": "someone@example.com",
            "aws_attributes": {"availability": "SPOT"},
        },
    )
    assert status == 200
    created = w.clusters.get(body["cluster_id"])
    assert created.cluster_source.value == "API"
    assert created.init_scripts[0].workspace.destination == "/Shared/init.sh"
    assert created.data_security_mode.value == "SINGLE_USER"
    assert created.aws_attributes.availability.value == "SPOT"

    job_cluster = primary.seed_cluster(
        {"cluster_name": "job-run", "spark_version": SPARK, "cluster_source": "JOB"}
    )
    pipeline = primary.seed_cluster(
        {"cluster_name": "dlt", "spark_version": SPARK, "cluster_source": "PIPELINE", "state": "RUNNING"}
    )
    sources = {c.cluster_id: c.cluster_source.value for c in w.clusters.list()}
    assert sources[job_cluster["cluster_id"]] == "JOB"
    assert sources[pipeline["cluster_id"]] == "PIPELINE"
    assert w.clusters.get(pipeline["cluster_id"]).state.value == "RUNNING"
    assert w.clusters.get(job_cluster["cluster_id"]).state.value == "TERMINATED"
    with pytest.raises(RuntimeError, match="cluster_source"):
        primary.seed_cluster({"spark_version": SPARK, "cluster_source": "NOPE"})
    with pytest.raises(RuntimeError, match="Instance pool no-pool does not exist"):
        primary.seed_cluster({"spark_version": SPARK, "instance_pool_id": "no-pool"})

    from databricks.sdk.errors import InvalidParameterValue

    with pytest.raises(InvalidParameterValue, match="driver_instance_pool_id"):
        w.clusters.create(spark_version=SPARK, cluster_name="x", driver_instance_pool_id="no-pool")


def test_cluster_list_is_paged_and_the_sdk_follows_the_pages(primary):
    w = primary.client()
    made = {
        primary.seed_cluster({"cluster_name": f"p{i}", "spark_version": SPARK})["cluster_id"]
        for i in range(7)
    }
    first = w.api_client.do("GET", "/api/2.1/clusters/list", query={"page_size": 3})
    assert len(first["clusters"]) == 3
    assert first["next_page_token"]
    everything = {c.cluster_id for c in w.clusters.list(page_size=3)}
    assert made <= everything
    pages = primary.stats()["by_route"]["GET /api/2.1/clusters/list"]
    assert pages >= 1 + len(everything) // 3  # the first call plus one per page
    status, body, _ = raw(primary, "GET", "/api/2.1/clusters/list?page_token=bogus")
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert len(w.api_client.do("GET", "/api/2.1/clusters/list", query={"page_size": 500})["clusters"]) <= 100
    only_jobs = list(
        w.clusters.list(filter_by=compute.ListClustersFilterBy(cluster_sources=[compute.ClusterSource.JOB]))
    )
    assert all(c.cluster_source == compute.ClusterSource.JOB for c in only_jobs)


def test_deleting_while_paging_ends_the_list_instead_of_failing(primary):
    """A token whose offset is past the end after deletions answers an empty last page, as a cursor
    would: a cleanup that deletes what it lists must not get a 400."""
    primary.wipe()  # clusters of earlier tests would make more than one page below
    w = primary.client()
    for i in range(5):
        primary.seed_cluster({"cluster_name": f"gone{i}", "spark_version": SPARK})
    first = w.api_client.do("GET", "/api/2.1/clusters/list", query={"page_size": 3})
    for cluster in w.clusters.list():
        w.clusters.permanent_delete(cluster.cluster_id)
    rest = w.api_client.do(
        "GET", "/api/2.1/clusters/list", query={"page_size": 3, "page_token": first["next_page_token"]}
    )
    assert rest.get("clusters", []) == []
    assert "next_page_token" not in rest


def test_libraries_api(primary):
    w = primary.client()
    running = primary.seed_cluster({"cluster_name": "libs", "spark_version": SPARK, "state": "RUNNING"})[
        "cluster_id"
    ]
    stopped = primary.seed_cluster({"cluster_name": "libs-off", "spark_version": SPARK})["cluster_id"]
    pypi = compute.Library(pypi=compute.PythonPyPiLibrary(package="requests==2.32.3"))
    jar = compute.Library(jar="/Volumes/main/libs/a.jar")
    w.libraries.install(running, [pypi, jar])
    w.libraries.install(running, [pypi])  # already there: nothing changes
    w.libraries.install(stopped, [pypi])
    statuses = list(w.libraries.cluster_status(running))
    assert [(s.library.as_dict(), s.status.value) for s in statuses] == [
        (pypi.as_dict(), "INSTALLED"),
        (jar.as_dict(), "INSTALLED"),
    ]
    assert [s.status.value for s in w.libraries.cluster_status(stopped)] == ["PENDING"]
    every = {s.cluster_id: len(s.library_statuses) for s in w.libraries.all_cluster_statuses()}
    assert (every[running], every[stopped]) == (2, 1)

    w.libraries.uninstall(running, [jar])
    assert [s.status.value for s in w.libraries.cluster_status(running)] == [
        "INSTALLED",
        "UNINSTALL_ON_RESTART",
    ]
    w.libraries.uninstall(stopped, [pypi])
    assert list(w.libraries.cluster_status(stopped)) == []

    from databricks.sdk.errors import InvalidParameterValue

    with pytest.raises(InvalidParameterValue, match="Cluster no-such-cluster does not exist"):
        w.libraries.install("no-such-cluster", [pypi])
    status, body, _ = raw(
        primary, "POST", "/api/2.0/libraries/install", {"cluster_id": running, "libraries": [{}]}
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def job_count(primary) -> int:
    return len(list(primary.client().jobs.list()))


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"tasks": [{"task_key": "t", "existing_cluster_id": "gone-1"}]}, "tasks[t].existing_cluster_id"),
        ({"existing_cluster_id": "gone-2"}, "existing_cluster_id: Cluster gone-2"),
        (
            {
                "job_clusters": [
                    {"job_cluster_key": "jc", "new_cluster": {"spark_version": SPARK, "policy_id": "p-x"}}
                ]
            },
            "job_clusters[jc].new_cluster.policy_id",
        ),
        (
            {
                "tasks": [
                    {"task_key": "t", "new_cluster": {"spark_version": SPARK, "instance_pool_id": "pool-x"}}
                ]
            },
            "tasks[t].new_cluster.instance_pool_id",
        ),
        (
            {
                "job_clusters": [
                    {"job_cluster_key": "jc", "new_cluster": {"driver_instance_pool_id": "pool-y"}}
                ]
            },
            "driver_instance_pool_id: Instance pool pool-y",
        ),
        (
            {"tasks": [{"task_key": "t", "run_job_task": {"job_id": 987654}}]},
            "run_job_task.job_id: Job 987654",
        ),
    ],
)
def test_job_references_are_checked_on_create_reset_and_update(primary, settings, named):
    from databricks.sdk.errors import InvalidParameterValue

    w = primary.client()
    before = job_count(primary)
    status, body, _ = raw(primary, "POST", "/api/2.2/jobs/create", {"name": "refused", **settings})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert named in body["message"]
    assert job_count(primary) == before  # nothing created

    job_id = w.jobs.create(name=f"ok-{uuid.uuid4().hex[:6]}").job_id
    for route, payload in (
        ("reset", {"new_settings": {"name": "x", **settings}}),
        ("update", {"new_settings": settings}),
    ):
        with pytest.raises(InvalidParameterValue, match=re.escape(named)):
            w.api_client.do("POST", f"/api/2.2/jobs/{route}", body={"job_id": job_id, **payload})
    assert w.jobs.get(job_id).settings.name.startswith("ok-")  # unchanged


def test_job_references_that_exist_are_accepted(primary):
    w = primary.client()
    cluster_id = primary.seed_cluster({"cluster_name": "shared", "spark_version": SPARK})["cluster_id"]
    policy_id = w.cluster_policies.create(name=f"pol-{uuid.uuid4().hex[:6]}", definition="{}").policy_id
    target = w.jobs.create(name="target").job_id
    body = {
        "name": "refs",
        "job_clusters": [
            {"job_cluster_key": "jc", "new_cluster": {"spark_version": SPARK, "policy_id": policy_id}}
        ],
        "tasks": [
            {
                "task_key": "a",
                "existing_cluster_id": cluster_id,
                "notebook_task": {"notebook_path": "/Shared/a"},
            },
            {"task_key": "b", "run_job_task": {"job_id": target}},
        ],
    }
    status, created, _ = raw(primary, "POST", "/api/2.2/jobs/create", body)
    assert status == 200
    job = w.jobs.get(created["job_id"])
    assert job.settings.tasks[0].existing_cluster_id == cluster_id
    assert job.settings.tasks[1].run_job_task.job_id == target


def test_jobs_list_is_paged_like_the_jobs_api(primary):
    w = primary.client()
    tag = uuid.uuid4().hex[:6]
    for i in range(23):
        w.jobs.create(name=f"paged-{tag}-{i}")
    first = w.api_client.do("GET", "/api/2.2/jobs/list")
    assert len(first["jobs"]) == 20  # the default limit
    assert first["has_more"] is True
    assert first["next_page_token"]
    assert "tasks" not in first["jobs"][0]["settings"]
    second = w.api_client.do("GET", "/api/2.2/jobs/list", query={"page_token": first["next_page_token"]})
    assert {j["job_id"] for j in second["jobs"]}.isdisjoint(j["job_id"] for j in first["jobs"])
    assert second["prev_page_token"]
    status, body, _ = raw(primary, "GET", "/api/2.2/jobs/list?limit=101")
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    listed = [j.settings.name for j in w.jobs.list(limit=5)]  # the SDK follows every page
    assert sum(n.startswith(f"paged-{tag}-") for n in listed) == 23
    assert [j.settings.name for j in w.jobs.list(name=f"PAGED-{tag}-7")] == [f"paged-{tag}-7"]


def test_jobs_get_pages_tasks_over_100_and_the_sdk_joins_them(primary):
    w = primary.client()
    tasks = [
        {"task_key": f"t{i:03}", "notebook_task": {"notebook_path": f"/Shared/n{i}"}} for i in range(150)
    ]
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "wide", "tasks": tasks})["job_id"]
    page = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id})
    assert len(page["settings"]["tasks"]) == 100
    rest = w.api_client.do(
        "GET", "/api/2.2/jobs/get", query={"job_id": job_id, "page_token": page["next_page_token"]}
    )
    assert len(rest["settings"]["tasks"]) == 50
    assert "next_page_token" not in rest
    assert [t.task_key for t in w.jobs.get(job_id).settings.tasks] == [t["task_key"] for t in tasks]

    listed = w.api_client.do(
        "GET", "/api/2.2/jobs/list", query={"expand_tasks": "true", "limit": 100, "name": "wide"}
    )
    (job,) = [j for j in listed["jobs"] if j["job_id"] == job_id]
    assert (len(job["settings"]["tasks"]), job["has_more"]) == (100, True)
    (full,) = [j for j in w.jobs.list(expand_tasks=True, name="wide") if j.job_id == job_id]
    assert len(full.settings.tasks) == 150


def test_export_size_limit_and_shared_root(primary):
    from databricks.sdk.errors import DatabricksError
    from databricks.sdk.service.workspace import ImportFormat, Language

    w = primary.client()
    assert w.workspace.get_status("/Shared").object_type.value == "DIRECTORY"
    path = f"/Shared/big-{uuid.uuid4().hex[:6]}"
    content = ("# Databricks notebook source\n" + "x = 1\n" * 400).encode()
    w.workspace.import_(
        path, content=base64.b64encode(content).decode(), format=ImportFormat.SOURCE, language=Language.PYTHON
    )
    assert base64.b64decode(w.workspace.export(path).content) == content
    primary.configure(export_limit_bytes=1024)
    with pytest.raises(DatabricksError) as refused:
        w.workspace.export(path)
    assert refused.value.error_code == "MAX_NOTEBOOK_SIZE_EXCEEDED"
    assert f"{len(content)} > 1024" in str(refused.value)
    status, body, _ = raw(primary, "GET", f"/api/2.0/workspace/export?path={path}&format=SOURCE")
    assert (status, body["error_code"]) == (400, "MAX_NOTEBOOK_SIZE_EXCEEDED")
    assert primary.configure()["export_limit_bytes"] == 1024
    primary.configure(export_limit_bytes=10 * 1024 * 1024)
    assert base64.b64decode(w.workspace.export(path).content) == content


def test_wipe_leaves_an_empty_workspace(pair):
    primary, secondary = pair
    w = primary.client()
    w.jobs.create(name="to-be-wiped")
    cluster_id = primary.seed_cluster({"cluster_name": "gone", "spark_version": SPARK, "state": "RUNNING"})[
        "cluster_id"
    ]
    w.libraries.install(cluster_id, [compute.Library(jar="/a.jar")])
    w.workspace.mkdirs("/Shared/wiped")
    other = secondary.client().jobs.create(name="stays").job_id
    primary.configure(latency_seconds=0.01)

    primary.wipe()
    assert list(w.jobs.list()) == []
    assert list(w.clusters.list()) == []
    assert list(w.libraries.all_cluster_statuses()) == []
    assert [o.path for o in w.workspace.list("/Shared")] == []
    assert w.workspace.get_status("/Users/minilake-user").object_type.value == "DIRECTORY"
    assert primary.configure()["latency_seconds"] == 0
    assert secondary.client().jobs.get(other).settings.name == "stays"  # the other instance is untouched


def test_vault_backed_scopes_are_kept_listed_as_such_and_refuse_writes(pair):
    from databricks.sdk.errors import BadRequest, InvalidParameterValue
    from databricks.sdk.service.workspace import AzureKeyVaultSecretScopeMetadata, ScopeBackendType

    primary, _ = pair
    w = primary.client()
    vault = AzureKeyVaultSecretScopeMetadata(
        resource_id="/subscriptions/0/resourceGroups/dr/providers/Microsoft.KeyVault/vaults/kv-dr",
        dns_name="https://kv-dr.vault.azure.net/",
    )
    w.secrets.create_scope(
        "in-vault", scope_backend_type=ScopeBackendType.AZURE_KEYVAULT, backend_azure_keyvault=vault
    )
    w.secrets.create_scope("plain")
    listed = {s.name: s for s in w.secrets.list_scopes()}
    assert listed["in-vault"].backend_type is ScopeBackendType.AZURE_KEYVAULT
    assert listed["in-vault"].keyvault_metadata.dns_name == vault.dns_name
    assert listed["plain"].backend_type is ScopeBackendType.DATABRICKS
    assert listed["plain"].keyvault_metadata is None
    with pytest.raises(BadRequest, match="Azure Key Vault"):
        w.secrets.put_secret("in-vault", "k", string_value="v")
    w.secrets.put_secret("plain", "k", string_value="v")
    assert [s.key for s in w.secrets.list_secrets("plain")] == ["k"]
    # the value itself never comes back; its digest tells a test which value is stored
    assert raw(primary, "GET", "/_sandbox/secrets/digest?scope=plain&key=k")[1] == {
        "sha256": hashlib.sha256(b"v").hexdigest()
    }
    assert raw(primary, "GET", "/_sandbox/secrets/digest?scope=plain&key=nope")[0] == 404
    with pytest.raises(InvalidParameterValue, match="dns_name"):
        w.secrets.create_scope(
            "half",
            scope_backend_type=ScopeBackendType.AZURE_KEYVAULT,
            backend_azure_keyvault=AzureKeyVaultSecretScopeMetadata(
                resource_id=vault.resource_id, dns_name=""
            ),
        )
    primary.wipe()
    w.secrets.create_scope("in-vault")  # the name is free again, and the new scope is a plain one
    assert [s.backend_type for s in w.secrets.list_scopes()] == [ScopeBackendType.DATABRICKS]
