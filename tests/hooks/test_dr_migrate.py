"""DrWorkspaceHook against the Databricks sandbox pair: every call through the host's limiter,
throttles retried by the hook, creates never duplicated, lists complete, secrets never logged."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from databricks.sdk.errors import (
    InternalError,
    InvalidParameterValue,
    InvalidState,
    NotFound,
    RequestLimitExceeded,
    TemporarilyUnavailable,
    TooManyRequests,
)

from platform_ops.core.adaptive_limiter import AdaptiveLimiter
from platform_ops.exceptions import (
    ExportTooLargeError,
    InvalidRequestError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks.dr_migrate import AMBIGUOUS, FINAL, REFUSED, DrWorkspaceHook, failure_kind
from tests.fake_time import FakeTime

pytestmark = pytest.mark.integration


@pytest.fixture
def pair(reset_sandbox_pair: Any) -> Any:
    return reset_sandbox_pair


@pytest.fixture
def primary(pair: Any) -> Any:
    return pair[0]


@pytest.fixture
def conns(pair: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv("AIRFLOW_CONN_DR_PRIMARY", pair[0].connection())
    monkeypatch.setenv("AIRFLOW_CONN_DR_SECONDARY", pair[1].connection())
    return "dr_primary", "dr_secondary"


def new_hook(conn_id: str, fake: FakeTime | None = None, recover_after: int = 20) -> DrWorkspaceHook:
    """A hook with its own limiter, so one test's throttles do not slow the next."""
    if fake is None:
        return DrWorkspaceHook(
            conn_id, limiter=AdaptiveLimiter(max_concurrency=4, recover_after=recover_after)
        )
    limiter = AdaptiveLimiter(
        max_concurrency=4, recover_after=recover_after, clock=fake.clock, sleep=fake.sleep
    )
    return DrWorkspaceHook(conn_id, limiter=limiter)


@pytest.fixture
def hook(conns: tuple[str, str]) -> DrWorkspaceHook:
    return new_hook(conns[0])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def jobs_tagged(hook: DrWorkspaceHook, marker: str) -> list[dict[str, Any]]:
    return [
        j for j in hook.list_objects("jobs") if (j["settings"].get("tags") or {}).get("dr_source") == marker
    ]


# -- identity and the limiter ---------------------------------------------------------------------------
def test_each_hook_reports_its_own_workspace(pair: Any, conns: tuple[str, str]) -> None:
    ids = [new_hook(c).workspace_id for c in conns]
    assert ids == [pair[0].workspace_id, pair[1].workspace_id]
    assert ids[0] != ids[1]


def test_hooks_of_one_host_share_one_limiter(conns: tuple[str, str]) -> None:
    first, again, other = DrWorkspaceHook(conns[0]), DrWorkspaceHook(conns[0]), DrWorkspaceHook(conns[1])
    assert first.limiter is again.limiter
    assert first.limiter is not other.limiter


class Paused(Exception):
    """Raised by the limiter's sleep: the call waited for the limiter."""


def _raise_paused(seconds: float) -> None:
    raise Paused(seconds)


CALLS: dict[str, Callable[[DrWorkspaceHook], object]] = {
    "workspace_id": lambda h: h.workspace_id,
    "list_objects": lambda h: h.list_objects("cluster_policies"),
    "get_job": lambda h: h.get_job("1"),
    "export": lambda h: h.export("/Shared/x"),
    "import_object": lambda h: h.import_object({"path": "/Shared/x", "object_type": "DIRECTORY"}, None, True),
    "create": lambda h: h.create("jobs", {"name": "x"}),
    "create_once": lambda h: h.create_once("jobs", {"name": "x"}, lambda: None),
    "update": lambda h: h.update("jobs", "1", {"name": "x"}),
    "put_secret": lambda h: h.put_secret("s", "k", "v"),
    "install_libraries": lambda h: h.install_libraries("c", [{"pypi": {"package": "x"}}]),
    "get_permissions": lambda h: h.get_permissions("jobs", "1"),
    "set_permissions": lambda h: h.set_permissions("jobs", "1", []),
    "principals": lambda h: h.principals(),
    "terminate_cluster": lambda h: h.terminate_cluster("c"),
    "cluster_state": lambda h: h.cluster_state("c"),
    "set_job_pause": lambda h: h.set_job_pause("1", "PAUSED"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_call_waits_for_the_hosts_limiter(primary: Any, conns: tuple[str, str], name: str) -> None:
    limiter = AdaptiveLimiter(clock=lambda: 0.0, sleep=_raise_paused)
    limiter.throttled(5.0)  # everyone pauses 5 s: the limiter's sleep raises instead
    hook = DrWorkspaceHook(conns[0], limiter=limiter)
    with pytest.raises(Paused):
        CALLS[name](hook)
    assert primary.stats()["requests"] == 0


def test_throttled_answers_are_retried_by_the_hook_through_the_limiter(
    primary: Any, hook: DrWorkspaceHook
) -> None:
    primary.configure(fail_next=[429, 503, 429], retry_after_seconds=0)
    assert isinstance(hook.list_objects("cluster_policies"), list)
    assert hook.limiter.retries == 3
    assert hook.limiter.concurrency < 4
    stats = primary.stats()
    # each request was sent once by the SDK: the hook saw every fault and sent the next attempt
    assert stats["by_route"]["GET /api/2.0/policies/clusters/list"] == 4


def test_retry_after_is_honoured(primary: Any, conns: tuple[str, str]) -> None:
    fake = FakeTime()
    hook = new_hook(conns[0], fake)
    primary.configure(fail_next=[429], retry_after_seconds=3)
    hook.list_objects("instance_pools")
    assert fake.sleeps == [3.0]


def test_a_call_still_throttled_after_its_attempts_is_transient(primary: Any, conns: tuple[str, str]) -> None:
    hook = DrWorkspaceHook(conns[0], limiter=AdaptiveLimiter(), max_attempts=2)
    primary.configure(error_rate_429=1.0, retry_after_seconds=0)
    with pytest.raises(TransientServiceError):
        hook.list_objects("cluster_policies")
    assert primary.stats()["by_route"]["GET /api/2.0/policies/clusters/list"] == 2


def test_other_refusals_are_translated_and_not_retried(primary: Any, hook: DrWorkspaceHook) -> None:
    with pytest.raises(ResourceNotFoundError):
        hook.cluster_state("no-such-cluster")
    assert primary.stats()["by_route"]["GET /api/2.1/clusters/get"] == 1
    assert hook.limiter.retries == 0


def test_threads_of_one_hook_share_its_limit(primary: Any, conns: tuple[str, str]) -> None:
    def wall_time(concurrency: int) -> float:
        hook = DrWorkspaceHook(conns[0], limiter=AdaptiveLimiter(max_concurrency=concurrency))
        hook.list_objects("cluster_policies")  # the client is built before the clock starts
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda _: hook.list_objects("cluster_policies"), range(8)))
        return time.monotonic() - started

    primary.configure(latency_seconds=0.3)
    assert wall_time(2) >= 4 * 0.3  # 8 calls, 2 at a time
    assert wall_time(8) < 4 * 0.3  # the same calls side by side


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TooManyRequests("slow down", error_code="TOO_MANY_REQUESTS"), REFUSED),
        (RequestLimitExceeded("limit", error_code="REQUEST_LIMIT_EXCEEDED"), REFUSED),
        (InvalidState("Cluster creation rate limit exceeded", error_code="INVALID_STATE"), REFUSED),
        (InvalidState("Cluster is not running", error_code="INVALID_STATE"), FINAL),
        (TemporarilyUnavailable("later", error_code="TEMPORARILY_UNAVAILABLE"), AMBIGUOUS),
        (InternalError("oops", error_code="INTERNAL_ERROR"), AMBIGUOUS),
        (requests.ConnectionError("reset by peer"), AMBIGUOUS),
        (requests.ReadTimeout("read timed out"), AMBIGUOUS),
        (NotFound("gone", error_code="RESOURCE_DOES_NOT_EXIST"), FINAL),
        (InvalidParameterValue("bad", error_code="INVALID_PARAMETER_VALUE"), FINAL),
    ],
)
def test_failures_are_refused_ambiguous_or_final(error: Exception, kind: str) -> None:
    # a rate-limit INVALID_STATE has no sandbox knob: the classification is checked on the SDK's errors
    assert failure_kind(error) == kind


# -- creates ------------------------------------------------------------------------------------------
def test_create_once_after_a_committed_503_leaves_one_object(primary: Any, hook: DrWorkspaceHook) -> None:
    marker = unique("ws:job")
    spec = {"name": unique("dr-job"), "tags": {"dr_source": marker}}
    primary.configure(commit_then_503=1, retry_after_seconds=0)

    def lookup() -> str | None:
        found = jobs_tagged(hook, marker)
        return str(found[0]["job_id"]) if found else None

    job_id, created = hook.create_once("jobs", spec, lookup)
    assert created is False  # the committed create was found, not sent again
    assert [str(j["job_id"]) for j in jobs_tagged(hook, marker)] == [job_id]
    assert primary.stats()["by_route"]["POST /api/2.2/jobs/create"] == 1


def test_create_once_sends_again_when_the_lookup_finds_nothing(primary: Any, hook: DrWorkspaceHook) -> None:
    marker = unique("ws:job")
    spec = {"name": unique("dr-job"), "tags": {"dr_source": marker}}
    primary.configure(fail_next=[503], retry_after_seconds=0)  # refused before it ran
    looked: list[bool] = []

    def lookup() -> str | None:
        looked.append(True)
        return None

    job_id, created = hook.create_once("jobs", spec, lookup)
    assert created is True
    assert looked == [True]
    assert [str(j["job_id"]) for j in jobs_tagged(hook, marker)] == [job_id]


def test_create_is_not_sent_again_after_an_ambiguous_failure(primary: Any, hook: DrWorkspaceHook) -> None:
    marker = unique("ws:job")
    primary.configure(commit_then_503=1, retry_after_seconds=0)
    with pytest.raises(TransientServiceError):
        hook.create("jobs", {"name": unique("dr-job"), "tags": {"dr_source": marker}})
    assert len(jobs_tagged(hook, marker)) == 1
    assert primary.stats()["by_route"]["POST /api/2.2/jobs/create"] == 1


def test_a_throttled_create_is_sent_again_without_a_lookup(primary: Any, hook: DrWorkspaceHook) -> None:
    primary.configure(fail_next=[429, 429], retry_after_seconds=0)
    name = unique("dr-policy")
    policy_id = hook.create("cluster_policies", {"name": name, "definition": "{}"})
    assert [p["policy_id"] for p in hook.list_objects("cluster_policies") if p["name"] == name] == [policy_id]
    assert hook.limiter.retries == 2


def test_a_429_storm_creates_each_object_once(primary: Any, conns: tuple[str, str]) -> None:
    hook = new_hook(conns[0], recover_after=5)
    primary.configure(error_rate_429=0.3, error_rate_503=0.1, seed=7, retry_after_seconds=0)
    markers = [unique("ws:storm") for _ in range(8)]
    for marker in markers:

        def lookup(marker: str = marker) -> str | None:
            found = jobs_tagged(hook, marker)
            return str(found[0]["job_id"]) if found else None

        hook.create_once("jobs", {"name": marker, "tags": {"dr_source": marker}}, lookup)
    primary.configure(error_rate_429=0, error_rate_503=0)
    assert [len(jobs_tagged(hook, m)) for m in markers] == [1] * 8
    assert hook.limiter.retries > 0


def test_an_idempotent_write_is_sent_again_after_a_committed_503(primary: Any, hook: DrWorkspaceHook) -> None:
    job_id = hook.create("jobs", {"name": unique("dr-job")})
    primary.configure(commit_then_503=1, retry_after_seconds=0)
    hook.update("jobs", job_id, {"name": "renamed", "max_concurrent_runs": 3})
    settings = hook.get_job(job_id)["settings"]
    assert (settings["name"], settings["max_concurrent_runs"]) == ("renamed", 3)


# -- reads ----------------------------------------------------------------------------------------------
def test_policies_pools_and_clusters_round_trip(hook: DrWorkspaceHook) -> None:
    name = unique("dr")
    policy_id = hook.create(
        "cluster_policies", {"name": name, "definition": '{"a": {"type": "fixed", "value": 1}}'}
    )
    pool_id = hook.create("instance_pools", {"instance_pool_name": name, "node_type_id": "i3.xlarge"})
    cluster_id = hook.create(
        "clusters",
        {"cluster_name": name, "spark_version": "15.4.x-scala2.12", "num_workers": 1, "policy_id": policy_id},
    )
    hook.update("cluster_policies", policy_id, {"name": name, "definition": "{}", "description": "edited"})
    policies = {p["policy_id"]: p for p in hook.list_objects("cluster_policies")}
    assert policies[policy_id]["description"] == "edited"
    assert pool_id in {p["instance_pool_id"] for p in hook.list_objects("instance_pools")}
    clusters = {c["cluster_id"]: c for c in hook.list_objects("clusters")}
    assert clusters[cluster_id]["policy_id"] == policy_id
    hook.terminate_cluster(cluster_id)
    assert hook.cluster_state(cluster_id) in ("TERMINATING", "TERMINATED")


def test_clusters_are_listed_to_the_last_page_with_their_source(primary: Any, hook: DrWorkspaceHook) -> None:
    prefix = unique("dr-cl")
    sources = ["UI", "JOB", "PIPELINE", "API"]
    seeded = {
        primary.seed_cluster(
            {
                "cluster_name": f"{prefix}-{i}",
                "spark_version": "15.4.x-scala2.12",
                "cluster_source": sources[i % 4],
            }
        )["cluster_id"]: sources[i % 4]
        for i in range(105)
    }
    listed = {c["cluster_id"]: c.get("cluster_source") for c in hook.list_objects("clusters")}
    assert {i: listed.get(i) for i in seeded} == seeded


def test_cluster_libraries_for_every_cluster(primary: Any, hook: DrWorkspaceHook) -> None:
    spec = {"cluster_name": unique("dr-lib"), "spark_version": "15.4.x-scala2.12", "num_workers": 0}
    with_libraries, without = hook.create("clusters", spec), primary.seed_cluster(spec)["cluster_id"]
    libraries: list[dict[str, Any]] = [
        {"pypi": {"package": "requests==2.32.3"}},
        {"whl": "/Workspace/Shared/dr/x.whl"},
    ]
    assert (
        hook.create("cluster_libraries", {"cluster_id": with_libraries, "libraries": libraries})
        == with_libraries
    )
    hook.install_libraries(with_libraries, libraries)  # installing again changes nothing
    listed = {e["cluster_id"]: e["libraries"] for e in hook.list_objects("cluster_libraries")}
    assert sorted(map(str, listed[with_libraries])) == sorted(map(str, libraries))
    assert listed[without] == []


def test_jobs_are_listed_to_the_last_page_with_every_task(hook: DrWorkspaceHook) -> None:
    prefix = unique("dr-many")
    made = {hook.create("jobs", {"name": f"{prefix}-{i}"}) for i in range(105)}
    tasks = [{"task_key": f"t{i:03d}", "notebook_task": {"notebook_path": "/Shared/n"}} for i in range(130)]
    big = hook.create("jobs", {"name": f"{prefix}-big", "tasks": tasks})
    listed = {str(j["job_id"]): j for j in hook.list_objects("jobs")}
    assert made | {big} <= set(listed)
    assert [t["task_key"] for t in listed[big]["settings"]["tasks"]] == [t["task_key"] for t in tasks]
    assert [t["task_key"] for t in hook.get_job(big)["settings"]["tasks"]] == [t["task_key"] for t in tasks]


def test_secret_scopes_with_their_key_names_and_no_value_in_the_log(
    hook: DrWorkspaceHook, caplog: pytest.LogCaptureFixture
) -> None:
    scope, canary = unique("dr-scope"), unique("canary-secret-value")
    caplog.set_level(logging.DEBUG)
    assert hook.create("secret_scopes", {"scope": scope, "keys": ["a", "b"]}) == scope
    hook.put_secret(scope, "b", canary)
    hook.put_secret(scope, "a", canary)
    with pytest.raises(ResourceNotFoundError) as missing:
        hook.put_secret(unique("no-such-scope"), "k", canary)
    scopes = {s["name"]: s["keys"] for s in hook.list_objects("secret_scopes")}
    assert scopes[scope] == ["a", "b"]
    assert canary not in caplog.text
    assert canary not in str(missing.value)


def test_a_vault_backed_scope_is_listed_with_its_backend_and_no_key_listing(
    primary: Any, hook: DrWorkspaceHook
) -> None:
    vault = {"resource_id": "/subscriptions/0/vaults/kv", "dns_name": "https://kv.vault.azure.net/"}
    name = unique("dr-vault")
    hook.client.api_client.do(
        "POST",
        "/api/2.0/secrets/scopes/create",
        body={"scope": name, "scope_backend_type": "AZURE_KEYVAULT", "backend_azure_keyvault": vault},
    )
    before = primary.stats()["by_route"].get("GET /api/2.0/secrets/list", 0)
    listed = {s["name"]: s for s in hook.list_objects("secret_scopes")}
    assert listed[name] == {
        "name": name,
        "backend_type": "AZURE_KEYVAULT",
        "keyvault_metadata": vault,
        "keys": [],
    }
    plain = [s for s in listed.values() if s["backend_type"] == "DATABRICKS"]
    # the keys of Databricks-backed scopes only (the vault's are in the vault)
    assert primary.stats()["by_route"].get("GET /api/2.0/secrets/list", 0) - before == len(plain)


def test_global_init_scripts_are_text_both_ways(hook: DrWorkspaceHook) -> None:
    name, text = unique("dr-init"), "#!/bin/bash\necho hello\n# dr_source 1:2\n"
    script_id = hook.create("global_init_scripts", {"name": name, "script": text, "enabled": False})
    scripts = {s["script_id"]: s for s in hook.list_objects("global_init_scripts")}
    assert scripts[script_id]["script"] == text
    hook.update("global_init_scripts", script_id, {"name": name, "script": text + "echo more\n"})
    scripts = {s["script_id"]: s for s in hook.list_objects("global_init_scripts")}
    assert scripts[script_id]["script"].endswith("echo more\n")


def test_workspace_objects_under_the_roots_and_their_content(hook: DrWorkspaceHook) -> None:
    root = f"/Shared/{unique('dr-ws')}"
    notebook, file = f"{root}/sub/nb", f"{root}/sub/data.txt"
    hook.import_object({"path": f"{root}/sub", "object_type": "DIRECTORY"}, None, overwrite=False)
    hook.import_object(
        {"path": notebook, "object_type": "NOTEBOOK", "language": "PYTHON"}, b"print(1)\n", False
    )
    hook.import_object({"path": file, "object_type": "FILE"}, b"a,b\n1,2\n", overwrite=False)
    entries = {e["path"]: e for e in hook.list_objects("workspace_objects", roots=(root, "/NoSuchRoot"))}
    assert {p: e["object_type"] for p, e in entries.items()} == {
        f"{root}/sub": "DIRECTORY",
        notebook: "NOTEBOOK",
        file: "FILE",
    }
    assert hook.export(notebook) == b"print(1)\n"
    assert hook.export(file) == b"a,b\n1,2\n"
    hook.import_object(entries[notebook], b"print(2)\n", overwrite=True)
    assert hook.export(notebook) == b"print(2)\n"


def test_the_folders_of_one_level_are_listed_at_once(
    hook: DrWorkspaceHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wide tree is walked level by level with the folders of a level listed concurrently (one
    folder at a time made a 400-notebook tree cost seconds per listing), and nothing is lost."""
    root = f"/Shared/{unique('dr-wide')}"
    for i in range(6):
        hook.import_object({"path": f"{root}/d{i}/inner", "object_type": "DIRECTORY"}, None, overwrite=False)
        hook.import_object(
            {"path": f"{root}/d{i}/inner/nb", "object_type": "NOTEBOOK", "language": "PYTHON"}, b"1\n", False
        )
    in_flight, peak, lock = [0], [0], threading.Lock()
    list_folder = hook._workspace_list

    def counted(path: str) -> list[dict[str, Any]]:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            time.sleep(0.05)  # long enough for the level's other folders to start
            return list_folder(path)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(hook, "_workspace_list", counted)
    paths = [e["path"] for e in hook.list_objects("workspace_objects", roots=(root,))]
    assert sorted(paths) == sorted(
        [f"{root}/d{i}{tail}" for i in range(6) for tail in ("", "/inner", "/inner/nb")]
    )
    assert len(paths) == len(set(paths))
    assert peak[0] > 1


def test_a_read_only_hook_lists_each_type_once_and_hands_out_copies(
    primary: Any, conns: tuple[str, str]
) -> None:
    """A task that only reads a workspace lists each type once (the preflight and the validation
    used to walk the source tree two and three times); each caller gets its own copy to change."""
    writer = new_hook(conns[0])
    root = f"/Shared/{unique('dr-memo')}"
    writer.import_object({"path": f"{root}/a", "object_type": "DIRECTORY"}, None, overwrite=False)
    reader = DrWorkspaceHook(conns[0], limiter=AdaptiveLimiter(max_concurrency=4), memoize_listings=True)

    def listings() -> int:
        return int(primary.stats()["by_route"].get("GET /api/2.0/workspace/list", 0))

    before = listings()
    first = reader.list_objects("workspace_objects", roots=(root,))
    walked = listings() - before
    assert walked == 2  # the root and its one folder
    first[0]["path"] = "changed by a caller"
    first.clear()
    writer.import_object({"path": f"{root}/b", "object_type": "DIRECTORY"}, None, overwrite=False)
    again = reader.list_objects("workspace_objects", roots=(root,))
    assert listings() - before == walked  # answered from the first listing
    assert [e["path"] for e in again] == [f"{root}/a"]
    # another root is another listing; a hook that writes lists every time
    assert [e["path"] for e in reader.list_objects("workspace_objects", roots=(f"{root}/a",))] == []
    assert {e["path"] for e in writer.list_objects("workspace_objects", roots=(root,))} == {
        f"{root}/a",
        f"{root}/b",
    }


def test_an_import_without_overwrite_is_not_replayed(primary: Any, hook: DrWorkspaceHook) -> None:
    path = f"/Shared/{unique('dr-once')}"
    primary.configure(commit_then_503=1, retry_after_seconds=0)
    with pytest.raises(TransientServiceError):  # not the conflict a replay would meet
        hook.import_object({"path": path, "object_type": "NOTEBOOK", "language": "PYTHON"}, b"x = 1\n", False)
    assert hook.export(path) == b"x = 1\n"
    primary.configure(commit_then_503=1)
    hook.import_object({"path": path, "object_type": "NOTEBOOK", "language": "PYTHON"}, b"x = 2\n", True)
    assert hook.export(path) == b"x = 2\n"


def test_an_export_over_the_limit_names_path_and_size(primary: Any, hook: DrWorkspaceHook) -> None:
    path = f"/Shared/{unique('dr-big')}"
    hook.import_object({"path": path, "object_type": "NOTEBOOK", "language": "PYTHON"}, b"x" * 500, False)
    primary.configure(export_limit_bytes=100)
    with pytest.raises(ExportTooLargeError) as raised:
        hook.export(path)
    assert (raised.value.path, raised.value.size) == (path, 500)
    assert isinstance(raised.value, InvalidRequestError)


def test_permissions_and_principals(hook: DrWorkspaceHook) -> None:
    job_id = hook.create("jobs", {"name": unique("dr-acl")})
    users = hook.principals()
    assert users
    user = sorted(users)[0]
    hook.set_permissions("jobs", job_id, [{"user_name": user, "permission_level": "CAN_MANAGE"}])
    acl = hook.get_permissions("jobs", job_id)["access_control_list"]
    assert any(e.get("user_name") == user for e in acl)
    with pytest.raises(ValueError, match="object_type"):
        hook.get_permissions("mounts", "x")


def test_set_job_pause_changes_only_the_pause_status(hook: DrWorkspaceHook) -> None:
    settings = {
        "name": unique("dr-sched"),
        "schedule": {
            "quartz_cron_expression": "0 0 * * * ?",
            "timezone_id": "UTC",
            "pause_status": "UNPAUSED",
        },
        "max_concurrent_runs": 2,
    }
    job_id = hook.create("jobs", settings)
    hook.set_job_pause(job_id, "PAUSED")
    after = hook.get_job(job_id)["settings"]
    assert after["schedule"] == {**settings["schedule"], "pause_status": "PAUSED"}  # type: ignore[dict-item]
    assert (after["name"], after["max_concurrent_runs"]) == (settings["name"], 2)


def test_unknown_object_types_are_refused_before_any_call(primary: Any, hook: DrWorkspaceHook) -> None:
    with pytest.raises(ValueError, match="object_type"):
        hook.list_objects("mounts")
    with pytest.raises(ValueError, match="object_type"):
        hook.create("workspace_objects", {"path": "/Shared/x", "object_type": "NOTEBOOK"})
    assert primary.stats()["requests"] == 0
