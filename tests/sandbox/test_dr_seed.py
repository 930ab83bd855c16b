"""The disaster-recovery seed (sandbox/dr_seed.py): its manifest says what the primary workspace holds.

One fresh sandbox for the module (nothing else writes to it), seeded once at small sizes; every test
reads it back through databricks-sdk and compares with the manifest.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from databricks.sdk.service.jobs import CronSchedule, PauseStatus
from databricks.sdk.service.workspace import ExportFormat, ObjectType

from sandbox.dr_seed import (
    GROUP,
    SCOPE,
    SECRET_KEYS,
    SERVICE_PRINCIPAL,
    SERVICE_PRINCIPAL_APP_ID,
    USERS,
    Manifest,
    ensure_principals,
    seed,
    target_report,
    walk,
)

pytestmark = pytest.mark.integration

SIZES = {"notebooks": 11, "files": 4, "clusters": 8, "jobs": 12, "blocked_jobs": 1, "bundle_jobs": 1}
ROOTS = ("/Users", "/Shared")


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from sandbox.databricks.launcher import DatabricksSandbox

    sandbox = DatabricksSandbox(tmp_path_factory.mktemp("dr-seed"), workspace_id="4400000000000001").start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def before(primary: Any) -> set[str]:
    """Workspace paths that exist before the seed (the sandbox's own user home)."""
    w = primary.client()
    return {o.path for root in ROOTS for o in walk(w, root)}


@pytest.fixture(scope="module")
def manifest(primary: Any, before: set[str]) -> Manifest:
    return seed(primary.client(), sandbox=primary, **SIZES)


@pytest.fixture(scope="module")
def w(primary: Any, manifest: Manifest) -> Any:
    return primary.client()


def listed(w: Any, root: str) -> dict[str, str]:
    return {o.path: o.object_type.value for o in walk(w, root)}


def test_manifest_names_the_workspace_and_its_sizes(w: Any, manifest: Manifest) -> None:
    assert manifest.workspace_id == str(w.get_workspace_id()) == "4400000000000001"
    counts = manifest.counts()
    assert counts["workspace_objects.NOTEBOOK"] == SIZES["notebooks"]
    assert counts["workspace_objects.FILE"] == SIZES["files"]
    assert counts["clusters"] == SIZES["clusters"]
    assert counts["jobs"] == SIZES["jobs"]
    assert manifest.not_seeded == {}


def test_workspace_objects_under_every_root_match_the_manifest(
    w: Any, manifest: Manifest, before: set[str]
) -> None:
    in_scope = {p: k for root in ROOTS for p, k in listed(w, root).items() if p not in before}
    assert in_scope == manifest.workspace_kinds
    users_homes = {p.split("/")[2] for p in in_scope if p.startswith("/Users/")}
    assert users_homes == set(USERS)
    assert any(p.startswith("/Shared/") and k == "NOTEBOOK" for p, k in in_scope.items())
    assert {k for k in in_scope.values()} == {"NOTEBOOK", "FILE", "DIRECTORY"}


def test_repos_are_seeded_and_reported_out_of_scope(w: Any, manifest: Manifest) -> None:
    repos = {p for p, k in listed(w, "/Repos").items() if k == ObjectType.NOTEBOOK.value}
    assert repos
    assert repos == set(manifest.out_of_scope["repos"])
    assert all("Git folder" in reason for reason in manifest.out_of_scope["repos"].values())
    assert not any(p.startswith("/Repos") for p in manifest.created["workspace_objects"])


def test_notebooks_are_python_source_and_one_carries_the_canary(w: Any, manifest: Manifest) -> None:
    notebooks = [p for p, k in manifest.workspace_kinds.items() if k == "NOTEBOOK"]
    texts = [
        base64.b64decode(w.workspace.export(p, format=ExportFormat.SOURCE).content or "").decode()
        for p in notebooks
    ]
    assert all(t.startswith("# Databricks notebook source") for t in texts)
    assert sum(manifest.canaries["notebook"] in t for t in texts) == 1


def test_clusters_of_every_source_and_the_filtered_ones_named(w: Any, manifest: Manifest) -> None:
    sources = {c.cluster_id: c.cluster_source.value for c in w.clusters.list() if c.cluster_source}
    assert sources == manifest.cluster_sources
    assert set(sources.values()) == {"UI", "API", "JOB", "PIPELINE"}
    filtered = manifest.filtered["clusters"]
    assert set(filtered) == {c for c, s in sources.items() if s in ("JOB", "PIPELINE")}
    assert all(sources[c] in reason for c, reason in filtered.items())
    specs = {c.cluster_id: c for c in w.clusters.list()}
    assert any(s.policy_id for s in specs.values())
    assert any(s.instance_pool_id for s in specs.values())
    assert any(s.init_scripts for s in specs.values())
    assert any(s.data_security_mode and s.data_security_mode.value == "SINGLE_USER" for s in specs.values())


def test_policies_pool_init_scripts_and_secrets(w: Any, manifest: Manifest) -> None:
    policies = {p.policy_id: p for p in w.cluster_policies.list()}
    assert set(policies) == set(manifest.created["cluster_policies"])
    family = set(manifest.filtered["cluster_policies"])
    assert family == {p for p, v in policies.items() if v.policy_family_id}
    pools = {p.instance_pool_id: p for p in w.instance_pools.list()}
    assert set(pools) == set(manifest.created["instance_pools"])
    assert all((p.min_idle_instances or 0) > 0 for p in pools.values())  # a migration must zero them
    scripts = {s.script_id for s in w.global_init_scripts.list()}
    assert scripts == set(manifest.created["global_init_scripts"])
    assert len(scripts) == 2
    assert manifest.created["secret_scopes"] == [SCOPE]
    assert sorted(s.key for s in w.secrets.list_secrets(scope=SCOPE)) == sorted(SECRET_KEYS)
    assert manifest.needs_value == {SCOPE: list(SECRET_KEYS)}


def test_cluster_libraries(w: Any, manifest: Manifest) -> None:
    with_libraries = manifest.created["cluster_libraries"]
    assert len(with_libraries) >= 3
    for cluster_id in with_libraries:
        statuses = list(w.libraries.cluster_status(cluster_id))
        assert statuses, cluster_id
    assert set(manifest.filtered["cluster_libraries"]) == {
        c for c in with_libraries if c in manifest.filtered["clusters"]
    }


def jobs_by_id(w: Any) -> dict[str, dict[str, Any]]:
    return {str(j.job_id): w.jobs.get(j.job_id).settings.as_dict() for j in w.jobs.list()}


def test_jobs_shapes_and_source_pause_statuses(w: Any, manifest: Manifest) -> None:
    jobs = jobs_by_id(w)
    assert set(jobs) == set(manifest.created["jobs"])
    for job_id, settings in jobs.items():
        triggers = [settings[k] for k in ("schedule", "continuous", "trigger") if k in settings]
        status = triggers[0].get("pause_status", "UNPAUSED") if triggers else None
        assert manifest.pause_status[job_id] == status, settings["name"]
    assert {s for s in manifest.pause_status.values()} == {None, "PAUSED", "UNPAUSED"}
    assert any("continuous" in s for s in jobs.values())
    assert any("file_arrival" in s.get("trigger", {}) for s in jobs.values())
    assert any(len(s["tasks"]) > 1 and s.get("job_clusters") for s in jobs.values())
    assert any(len(s["tasks"]) == 1 and "existing_cluster_id" in s["tasks"][0] for s in jobs.values())
    run_job = [t["run_job_task"]["job_id"] for s in jobs.values() for t in s["tasks"] if "run_job_task" in t]
    assert run_job
    assert all(str(j) in jobs for j in run_job)


def test_filtered_and_blocked_jobs_are_named(w: Any, manifest: Manifest) -> None:
    jobs = jobs_by_id(w)
    (bundle,) = manifest.filtered["jobs"]
    assert jobs[bundle]["deployment"]["kind"] == "BUNDLE"
    (blocked,) = manifest.blocked["jobs"]
    cluster = jobs[blocked]["tasks"][0]["existing_cluster_id"]
    assert cluster in manifest.filtered["clusters"]
    assert cluster in manifest.blocked["jobs"][blocked]
    assert bundle not in manifest.eligible("jobs")
    assert blocked not in manifest.eligible("jobs")
    assert len(manifest.eligible("jobs")) == SIZES["jobs"] - 2


def test_acls_name_principals_that_exist(w: Any, manifest: Manifest) -> None:
    types = {key.split("/", 1)[0] for key in manifest.created["permissions"]}
    assert types == {
        "clusters", "jobs", "cluster_policies", "instance_pools", "workspace_objects", "secret_scopes",
    }  # fmt: skip
    request_types = {
        "clusters": "clusters", "jobs": "jobs", "cluster_policies": "cluster-policies",
        "instance_pools": "instance-pools",
    }  # fmt: skip
    for key, entries in manifest.acls.items():
        object_type, source_id = key.split("/", 1)
        if object_type == "secret_scopes":
            items = {(a.principal, a.permission.value) for a in w.secrets.list_acls(source_id)}
            assert {(e["principal"], e["permission"]) for e in entries} <= items, key
            continue
        if object_type == "workspace_objects":
            status = w.workspace.get_status(source_id)
            request = "notebooks" if status.object_type == ObjectType.NOTEBOOK else "directories"
            object_id = str(status.object_id)
        else:
            request, object_id = request_types[object_type], source_id
        acl = w.permissions.get(request, object_id).as_dict()["access_control_list"]
        for entry in entries:
            principal = {k: v for k, v in entry.items() if k != "permission_level"}
            match = [a for a in acl if all(a.get(k) == v for k, v in principal.items())]
            assert match, (key, entry)
            levels = {p["permission_level"] for p in match[0]["all_permissions"] if not p.get("inherited")}
            assert entry["permission_level"] in levels, (key, entry)
    users = {u.user_name for u in w.users.list()}
    assert set(USERS) <= users
    assert GROUP in {g.display_name for g in w.groups.list()}
    # ACLs name service principals by application id: every principal named exists under that name
    existing = users | {g.display_name for g in w.groups.list()}
    existing |= {s.application_id for s in w.service_principals.list()}
    named = {
        v
        for entries in manifest.acls.values()
        for e in entries
        for k, v in e.items()
        if k not in ("permission_level", "permission")
    }
    assert named <= existing
    assert (SERVICE_PRINCIPAL, SERVICE_PRINCIPAL_APP_ID) in {
        (s.display_name, s.application_id) for s in w.service_principals.list()
    }


def test_ensure_principals_is_idempotent(w: Any) -> None:
    ensure_principals(w)
    assert sorted(u.user_name for u in w.users.list() if u.user_name in USERS) == sorted(USERS)
    assert [g.display_name for g in w.groups.list()].count(GROUP) == 1


@pytest.fixture(scope="module")
def secondary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from sandbox.databricks.launcher import DatabricksSandbox

    sandbox = DatabricksSandbox(tmp_path_factory.mktemp("dr-seed-2"), workspace_id="4400000000000002").start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_target_report_counts_copies_per_marker(w: Any, manifest: Manifest, secondary: Any) -> None:
    target = secondary.client()
    empty = target_report(target, manifest)
    assert empty.duplicates == 0
    assert set(empty.missing["jobs"]) == set(manifest.eligible("jobs"))
    assert set(empty.missing["workspace_objects"]) == set(manifest.eligible("workspace_objects"))
    job_id = manifest.eligible("jobs")[0]
    mark = f"{manifest.workspace_id}:{job_id}"
    schedule = CronSchedule(
        quartz_cron_expression="0 0 1 * * ?", timezone_id="UTC", pause_status=PauseStatus.UNPAUSED
    )
    for _ in range(2):  # a copy made twice: what a retried create without a look-up leaves
        target.jobs.create(name="copy", tags={"dr_source": mark}, schedule=schedule)
    cluster_id = manifest.eligible("clusters")[0]
    spec = {"cluster_name": "copy", "spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge"}
    made = secondary.seed_cluster(
        {**spec, "custom_tags": {"dr_source": f"{manifest.workspace_id}:{cluster_id}"}, "state": "RUNNING"}
    )
    report = target_report(target, manifest)
    assert report.duplicates == 1
    assert report.per_marker["jobs"] == {mark: 2}
    assert job_id not in report.missing["jobs"]
    assert report.unpaused_jobs == [job_id]
    assert report.running_clusters == [made["cluster_id"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [("notebooks", -1), ("clusters", 2.5), ("jobs", 3), ("workers", 0), ("oversized_notebooks", 1)],
)
def test_bad_sizes_fail_before_any_call(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field if field != "oversized_notebooks" else "oversized_bytes"):
        seed(object(), **{field: value})  # any call on this client would fail differently
