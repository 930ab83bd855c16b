"""The sandbox pair for disaster-recovery tests, through the official databricks-sdk and raw HTTP.

Two servers for the session (the ``databricks_sandbox_pair`` fixture): each test starts from sandboxes
with default knobs and cleared counters; minilake's own objects are left to each test to name apart.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def pair(databricks_sandbox_pair):
    for sandbox in databricks_sandbox_pair:
        sandbox.reset()
    yield databricks_sandbox_pair
    for sandbox in databricks_sandbox_pair:
        sandbox.reset()


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
