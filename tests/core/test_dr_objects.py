"""DR migration object rules: what is copied, the body the secondary gets, and how copies compare."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from typing import Any

import pytest
from databricks.sdk.service import compute, iam, jobs, workspace
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_ops.core import dr_objects as dr
from platform_ops.core.dr_objects import Context, Outcome, prepare
from platform_ops.exceptions import ConfigError

WS = "1234567890"


def ctx(**overrides: Any) -> Context:
    base: dict[str, Any] = {
        "source_workspace_id": WS,
        "id_map": {
            "cluster_policies": {"pol-src": "pol-tgt"},
            "instance_pools": {"pool-src": "pool-tgt", "dpool-src": "dpool-tgt"},
            "clusters": {"0101-ui": "0202-ui"},
            "jobs": {"11": "911"},
        },
        "filtered": {"clusters": {"0101-job": "clusters job-run: cluster_source JOB"}},
        "references": {
            "warehouses": {"wh-src": "wh-tgt"},
            "pipelines": {"pl-src": "pl-tgt"},
            "notification_destinations": {"dest-src": "dest-tgt"},
        },
    }
    base.update(overrides)
    return Context(**base)


def params_of(method: Any) -> set[str]:
    return {p for p in inspect.signature(method).parameters if p != "self"}


def fields_of(cls: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


# A `clusters get` response as the API returns it (ClusterDetails): create fields plus server-set ones.
CLUSTER_GET: dict[str, Any] = {
    "cluster_id": "0101-ui",
    "cluster_name": "analytics",
    "cluster_source": "UI",
    "creator_user_name": "ana@example.com",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "Standard_DS3_v2",
    "driver_node_type_id": "Standard_DS3_v2",
    "autoscale": {"min_workers": 1, "max_workers": 4},
    "num_workers": 3,
    "autotermination_minutes": 45,
    "policy_id": "pol-src",
    "data_security_mode": "SINGLE_USER",
    "single_user_name": "ana@example.com",
    "azure_attributes": {"availability": "ON_DEMAND_AZURE", "first_on_demand": 1},
    "init_scripts": [{"workspace": {"destination": "/Shared/init/setup.sh"}}],
    "spark_conf": {"spark.sql.shuffle.partitions": "64"},
    "custom_tags": {"team": "analytics"},
    "state": "RUNNING",
    "state_message": "",
    "start_time": 1700000000000,
    "terminated_time": 0,
    "last_state_loss_time": 0,
    "driver": {"node_id": "n1", "private_ip": "10.0.0.4"},
    "executors": [{"node_id": "n2"}],
    "spark_context_id": 4471,
    "jdbc_port": 10000,
    "cluster_cores": 16.0,
    "cluster_memory_mb": 57344,
    "default_tags": {"Vendor": "Databricks", "ClusterId": "0101-ui", "Creator": "ana@example.com"},
    "spec": {"cluster_name": "analytics"},
    "termination_reason": None,
}


def job(job_id: int, tasks: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "creator_user_name": "ana@example.com",
        "created_time": 1700000000000,
        "settings": {"name": f"job-{job_id}", "format": "MULTI_TASK", "tasks": tasks, **settings},
    }


def nb_task(key: str, **extra: Any) -> dict[str, Any]:
    return {"task_key": key, "notebook_task": {"notebook_path": f"/Shared/{key}"}, **extra}


# --- object types, identity, markers ------------------------------------------------------------


def test_object_types_in_dependency_order_and_out_of_scope_reasons() -> None:
    order = dr.OBJECT_TYPES
    assert order.index("cluster_policies") < order.index("clusters") < order.index("jobs")
    assert order.index("instance_pools") < order.index("clusters") < order.index("cluster_libraries")
    assert order[0] == "instance_pools"  # a policy may fix a pool id; a pool refers to nothing
    assert order[-1] == "permissions"
    assert set(dr.OUT_OF_SCOPE) == {
        "mounts",
        "repos",
        "mlflow",
        "unity_catalog",
        "identities",
        "git_credentials",
    }
    assert all(len(reason) > 30 for reason in dr.OUT_OF_SCOPE.values())


@pytest.mark.parametrize(
    ("object_type", "obj", "expected"),
    [
        ("cluster_policies", {"policy_id": "p1", "name": "x"}, "p1"),
        ("instance_pools", {"instance_pool_id": "i1"}, "i1"),
        ("secret_scopes", {"name": "kv"}, "kv"),
        ("global_init_scripts", {"script_id": "s1"}, "s1"),
        ("workspace_objects", {"path": "/Users/a/nb", "object_type": "NOTEBOOK"}, "/Users/a/nb"),
        ("clusters", {"cluster_id": "c1"}, "c1"),
        ("cluster_libraries", {"cluster_id": "c1", "libraries": []}, "c1"),
        ("jobs", {"job_id": 42, "settings": {}}, "42"),
        ("permissions", {"object_type": "jobs", "object_id": "42"}, "jobs/42"),
    ],
)
def test_source_id_per_type(object_type: str, obj: dict[str, Any], expected: str) -> None:
    assert dr.source_id(object_type, obj) == expected


def test_source_id_names_the_type_and_missing_field() -> None:
    with pytest.raises(ConfigError) as err:
        dr.source_id("clusters", {"cluster_name": "x"})
    assert err.value.field == "clusters.cluster_id"
    with pytest.raises(ConfigError) as err:
        dr.source_id("notebooks", {"path": "/x"})
    assert err.value.field == "object_type"
    assert "cluster_policies" in err.value.fix


def test_object_names() -> None:
    assert dr.object_name("clusters", CLUSTER_GET) == "analytics"
    assert dr.object_name("jobs", job(3, [])) == "job-3"
    assert dr.object_name("instance_pools", {"instance_pool_id": "i", "instance_pool_name": "pool"}) == "pool"
    assert dr.object_name("workspace_objects", {"path": "/Shared/a"}) == "/Shared/a"


def test_marker_value_and_marker_read_back_for_every_marked_type() -> None:
    value = dr.marker_value(WS, "c1")
    assert value == f"{WS}:c1"
    for object_type, body in [
        ("clusters", {"cluster_name": "x", "custom_tags": {"a": "b"}}),
        ("instance_pools", {"instance_pool_name": "x"}),
        ("jobs", {"name": "x", "tags": {"a": "b"}}),
        ("cluster_policies", {"name": "x", "description": "line 1\nline 2"}),
        ("global_init_scripts", {"name": "x", "script": "#!/bin/bash\necho hi\n"}),
    ]:
        assert dr.marker_of(object_type, body) is None
        marked = dr.set_marker(object_type, body, value)
        assert dr.marker_of(object_type, marked) == value, object_type
        # a re-mark replaces the marker instead of stacking a second one
        again = dr.set_marker(object_type, marked, "9:9")
        assert dr.marker_of(object_type, again) == "9:9"
        assert dr.canonical(object_type, again) == dr.canonical(object_type, body)
    assert dr.marker_of("jobs", {"job_id": 1, "settings": {"tags": {dr.MARKER_KEY: value}}}) == value
    policy = dr.set_marker("cluster_policies", {"description": "line 1"}, value)
    assert policy["description"] == f"line 1\n[dr_source {value}]"
    script = dr.set_marker("global_init_scripts", {"script": "echo hi"}, value)
    assert script["script"] == f"echo hi\n# dr_source {value}\n"


def test_a_marker_must_be_the_last_line_to_count() -> None:
    assert dr.marker_of("cluster_policies", {"description": "[dr_source 1:p]\nmore text"}) is None
    assert dr.marker_of("global_init_scripts", {"script": "# dr_source 1:s\necho after"}) is None


def test_types_identified_by_name_have_no_marker() -> None:
    assert sorted(dr.IDENTITY_BY_NAME) == ["secret_scopes", "workspace_objects"]
    assert dr.marker_of("secret_scopes", {"name": "kv"}) is None
    p = prepare("secret_scopes", {"name": "kv", "keys": []}, ctx())
    assert p.marker is None
    p = prepare("clusters", CLUSTER_GET, ctx())
    assert p.marker == f"{WS}:0101-ui"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"source_workspace_id": " "}, "source_workspace_id"),
        ({"roots": ("Users",)}, "roots"),
        ({"roots": ()}, "roots"),
        ({"export_limit_bytes": 0}, "export_limit_bytes"),
    ],
)
def test_a_bad_context_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        ctx(**overrides)
    assert err.value.field == field


def test_a_reference_to_an_object_the_target_holds_twice_blocks_naming_both_copies() -> None:
    doubled = {"clusters": {"0101-ui": ("0202-ui", "0303-ui")}}
    j = job(11, [nb_task("a", existing_cluster_id="0101-ui")])
    p = prepare("jobs", j, ctx(duplicates=doubled))  # the id map still holds one of them
    assert p.outcome is Outcome.BLOCKED
    assert "existing_cluster_id 0101-ui: the target holds 2 clusters objects" in p.reason
    assert "0202-ui, 0303-ui" in p.reason
    libs = prepare("cluster_libraries", {"cluster_id": "0101-ui", "libraries": []}, ctx(duplicates=doubled))
    assert libs.outcome is Outcome.BLOCKED
    assert "0202-ui, 0303-ui" in libs.reason
    acl = {"object_type": "clusters", "object_id": "0101-ui", "access_control_list": []}
    perms = prepare("permissions", acl, ctx(duplicates=doubled))
    assert perms.outcome is Outcome.BLOCKED
    assert "0202-ui, 0303-ui" in perms.reason
    assert prepare("jobs", j, ctx()).outcome is Outcome.MIGRATE


@pytest.mark.parametrize(
    ("object_type", "item", "label"),
    [
        ("cluster_libraries", {"libraries": []}, "cluster_libraries {id}: cluster_id {id}"),
        ("permissions", {"object_type": "clusters"}, "permissions clusters/{id}: object_id {id}"),
    ],
)
def test_an_object_attached_to_a_cluster_waits_for_it_with_the_same_reasons(
    object_type: str, item: dict[str, Any], label: str
) -> None:
    key = "cluster_id" if object_type == "cluster_libraries" else "object_id"
    hint = "clusters migrate first" if object_type == "cluster_libraries" else "migrate clusters first"

    def reason(cluster_id: str, context: Context) -> tuple[Outcome, str]:
        p = prepare(object_type, {**item, key: cluster_id}, context)
        return p.outcome, p.reason

    doubled = {"clusters": {"0101-ui": ("0202-ui", "0303-ui")}}
    assert reason("0101-job", ctx()) == (
        Outcome.FILTERED,
        label.format(id="0101-job") + " is not migrated (clusters job-run: cluster_source JOB)",
    )
    assert reason("0101-ui", ctx(duplicates=doubled)) == (
        Outcome.BLOCKED,
        label.format(id="0101-ui") + ": the target holds 2 clusters objects carrying its marker "
        "(0202-ui, 0303-ui): delete all but one there",
    )
    assert reason("0101-new", ctx()) == (
        Outcome.BLOCKED,
        label.format(id="0101-new") + f" is not in the target yet ({hint})",
    )
    assert reason("0101-ui", ctx())[0] is Outcome.MIGRATE


def test_prepare_refuses_an_unknown_type() -> None:
    with pytest.raises(ConfigError) as err:
        prepare("mounts", {}, ctx())
    assert err.value.field == "object_type"


# --- clusters -----------------------------------------------------------------------------------


def test_cluster_create_allow_list_is_the_sdk_create_request() -> None:
    create = params_of(compute.ClustersAPI.create)
    assert create >= dr.CLUSTER_CREATE_FIELDS
    # and it misses nothing a cluster's configuration can hold (clone_from is a create-time copy switch)
    assert create - dr.CLUSTER_CREATE_FIELDS == {"clone_from"}
    # every field only a `get` answers (state, ids, driver, default tags, cluster_source...) is outside it
    server_only = fields_of(compute.ClusterDetails) - create
    assert {"state", "cluster_id", "driver", "executors", "spark_context_id", "jdbc_port"} <= server_only
    assert {"start_time", "terminated_time", "default_tags", "cluster_source"} <= server_only
    assert not dr.CLUSTER_CREATE_FIELDS & server_only


def test_a_cluster_get_response_is_never_posted_as_is() -> None:
    p = prepare("clusters", CLUSTER_GET, ctx())
    assert p.outcome is Outcome.MIGRATE
    assert p.spec is not None
    assert set(p.spec) <= params_of(compute.ClustersAPI.create)
    for server_field in (
        "state",
        "cluster_id",
        "driver",
        "executors",
        "default_tags",
        "cluster_source",
        "spec",
    ):
        assert server_field not in p.spec


def test_a_cluster_keeps_its_configuration_with_target_ids_and_the_marker() -> None:
    p = prepare("clusters", CLUSTER_GET, ctx())
    spec = p.spec
    assert spec is not None
    assert spec["policy_id"] == "pol-tgt"
    assert spec["autoscale"] == {"min_workers": 1, "max_workers": 4}
    assert "num_workers" not in spec  # the current worker count beside autoscale is not a setting
    assert spec["autotermination_minutes"] == 45
    assert spec["data_security_mode"] == "SINGLE_USER"
    assert spec["single_user_name"] == "ana@example.com"
    assert spec["init_scripts"] == CLUSTER_GET["init_scripts"]
    assert spec["azure_attributes"] == CLUSTER_GET["azure_attributes"]
    assert spec["custom_tags"] == {"team": "analytics", "dr_source": f"{WS}:0101-ui"}
    assert CLUSTER_GET["custom_tags"] == {"team": "analytics"}  # the source is not modified
    assert dr.spec_principals("clusters", spec) == {"ana@example.com"}


def test_a_fixed_size_cluster_keeps_num_workers() -> None:
    src = {**CLUSTER_GET, "autoscale": None, "num_workers": 0}
    spec = prepare("clusters", src, ctx()).spec
    assert spec is not None
    assert spec["num_workers"] == 0
    assert "autoscale" not in spec


def test_a_pool_cluster_gets_target_pools_and_no_node_types() -> None:
    src = {**CLUSTER_GET, "instance_pool_id": "pool-src", "driver_instance_pool_id": "dpool-src"}
    spec = prepare("clusters", src, ctx()).spec
    assert spec is not None
    assert spec["instance_pool_id"] == "pool-tgt"
    assert spec["driver_instance_pool_id"] == "dpool-tgt"
    assert "node_type_id" not in spec
    assert "driver_node_type_id" not in spec


@pytest.mark.parametrize("origin", ["UI", "API"])
def test_ui_and_api_clusters_migrate(origin: str) -> None:
    assert prepare("clusters", {**CLUSTER_GET, "cluster_source": origin}, ctx()).outcome is Outcome.MIGRATE


@pytest.mark.parametrize("origin", ["JOB", "PIPELINE", "PIPELINE_MAINTENANCE", "MODELS", "SQL", None])
def test_other_cluster_sources_are_filtered_naming_the_source(origin: str | None) -> None:
    p = prepare("clusters", {**CLUSTER_GET, "cluster_source": origin}, ctx())
    assert p.outcome is Outcome.FILTERED
    assert p.spec is None
    assert f"cluster_source {origin}" in p.reason
    assert "analytics" in p.reason


def test_every_sdk_cluster_source_is_decided() -> None:
    sources = {s.value for s in compute.ClusterSource}
    assert set(dr.MIGRATED_CLUSTER_SOURCES) <= sources
    migrated = {s for s in sources if prepare("clusters", {**CLUSTER_GET, "cluster_source": s}, ctx()).spec}
    assert migrated == {"UI", "API"}


@pytest.mark.parametrize(
    ("field", "value", "map_type"),
    [
        ("policy_id", "pol-gone", "cluster_policies"),
        ("instance_pool_id", "pool-gone", "instance_pools"),
        ("driver_instance_pool_id", "pool-gone", "instance_pools"),
    ],
)
def test_a_cluster_with_an_unmapped_reference_is_blocked_naming_it(
    field: str, value: str, map_type: str
) -> None:
    p = prepare("clusters", {**CLUSTER_GET, field: value}, ctx())
    assert p.outcome is Outcome.BLOCKED
    assert p.spec is None
    assert f"cluster.{field} {value}" in p.reason
    assert map_type in p.reason
    assert "clusters analytics" in p.reason


def test_a_cluster_on_a_filtered_policy_says_why_the_policy_is_missing() -> None:
    c = ctx(filtered={"cluster_policies": {"pers": "cluster_policies Personal Compute: is_default"}})
    p = prepare("clusters", {**CLUSTER_GET, "policy_id": "pers"}, c)
    assert p.outcome is Outcome.BLOCKED
    assert "is_default" in p.reason


# --- policies, pools, scripts, scopes -----------------------------------------------------------

POLICY = {
    "policy_id": "pol-src",
    "name": "small clusters",
    "definition": '{"autotermination_minutes": {"type": "fixed", "value": 30}}',
    "description": "Small clusters for analysts",
    "max_clusters_per_user": 2,
    "created_at_timestamp": 1700000000000,
    "creator_user_name": "admin@example.com",
    "is_default": False,
}


def test_policy_create_fields_are_the_sdk_create_request() -> None:
    assert params_of(compute.ClusterPoliciesAPI.create) == dr.POLICY_CREATE_FIELDS
    assert params_of(compute.InstancePoolsAPI.create) == dr.POOL_CREATE_FIELDS
    assert params_of(compute.GlobalInitScriptsAPI.create) == dr.GLOBAL_INIT_SCRIPT_FIELDS


def test_a_custom_policy_migrates_with_the_marker_in_its_description() -> None:
    p = prepare("cluster_policies", POLICY, ctx())
    assert p.outcome is Outcome.MIGRATE
    assert p.spec is not None
    assert set(p.spec) <= dr.POLICY_CREATE_FIELDS
    assert p.spec["description"].startswith("Small clusters for analysts\n")
    assert dr.marker_of("cluster_policies", p.spec) == f"{WS}:pol-src"
    assert dr.canonical("cluster_policies", p.spec) == dr.canonical("cluster_policies", POLICY)


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"is_default": True}, "is_default"), ({"policy_family_id": "personal-vm"}, "policy_family_id")],
)
def test_built_in_policies_are_filtered_naming_the_field(extra: dict[str, Any], field: str) -> None:
    p = prepare("cluster_policies", {**POLICY, **extra}, ctx())
    assert p.outcome is Outcome.FILTERED
    assert field in p.reason
    assert "small clusters" in p.reason


def test_a_policy_family_with_overrides_is_the_workspace_s_own_and_migrates() -> None:
    src = {
        **POLICY,
        "policy_family_id": "job-cluster",
        "policy_family_definition_overrides": '{"spark_version": {"type": "fixed", "value": "15.4.x"}}',
    }
    p = prepare("cluster_policies", src, ctx())
    assert p.outcome is Outcome.MIGRATE
    assert p.spec is not None
    assert "definition" not in p.spec  # the family supplies it; create refuses both
    assert p.spec["policy_family_id"] == "job-cluster"


def test_a_policy_fixing_a_pool_gets_the_target_pool_or_is_blocked() -> None:
    src = {**POLICY, "definition": '{"instance_pool_id": {"type": "fixed", "value": "pool-src"}}'}
    p = prepare("cluster_policies", src, ctx())
    assert p.spec is not None
    assert '"pool-tgt"' in p.spec["definition"]
    assert dr.canonical("cluster_policies", p.spec) == dr.canonical("cluster_policies", src)
    p = prepare("cluster_policies", src, ctx(id_map={}))
    assert p.outcome is Outcome.BLOCKED
    assert "definition.instance_pool_id.value pool-src" in p.reason


POOL = {
    "instance_pool_id": "pool-src",
    "instance_pool_name": "warm pool",
    "node_type_id": "Standard_DS3_v2",
    "min_idle_instances": 3,
    "max_capacity": 20,
    "idle_instance_autotermination_minutes": 15,
    "preloaded_spark_versions": ["15.4.x-scala2.12"],
    "custom_tags": {"team": "etl"},
    "default_tags": {"Vendor": "Databricks"},
    "state": "ACTIVE",
    "stats": {"idle_count": 3},
    "status": {},
}


def test_a_pool_starts_with_no_idle_instances_unless_asked() -> None:
    p = prepare("instance_pools", POOL, ctx())
    assert p.spec is not None
    assert p.spec["min_idle_instances"] == 0
    assert set(p.spec) <= dr.POOL_CREATE_FIELDS
    assert p.spec["custom_tags"] == {"team": "etl", "dr_source": f"{WS}:pool-src"}
    kept = prepare("instance_pools", POOL, ctx(keep_idle_instances=True)).spec
    assert kept is not None
    assert kept["min_idle_instances"] == 3
    assert dr.canonical("instance_pools", p.spec) == dr.canonical("instance_pools", POOL)


def test_a_global_init_script_carries_its_marker_as_a_last_line() -> None:
    src = {
        "script_id": "S1",
        "name": "proxy",
        "script": "#!/bin/bash\nexport HTTPS_PROXY=x\n",
        "enabled": True,
        "position": 0,
        "created_by": "admin@example.com",
        "created_at": 1,
    }
    p = prepare("global_init_scripts", src, ctx())
    assert p.spec is not None
    assert set(p.spec) == {"name", "script", "enabled", "position"}
    assert p.spec["script"].endswith(f"\n# dr_source {WS}:S1\n")
    assert p.spec["script"].startswith(src["script"])
    assert dr.canonical("global_init_scripts", p.spec) == dr.canonical("global_init_scripts", src)
    changed = {**src, "script": "#!/bin/bash\nexport HTTPS_PROXY=y\n"}
    assert dr.content_hash("global_init_scripts", changed) != dr.content_hash("global_init_scripts", p.spec)


def test_a_global_init_script_must_be_given_as_text() -> None:
    with pytest.raises(ConfigError) as err:
        prepare("global_init_scripts", {"script_id": "S1", "name": "proxy"}, ctx())
    assert err.value.field == "global_init_scripts.script"
    assert "proxy" in err.value.problem


def test_secret_scope_keys_without_a_configured_value_need_one() -> None:
    src = {"name": "etl", "keys": ["db-password", "api-token", "storage-key"]}
    c = ctx(secret_values={"etl": frozenset({"api-token"})})
    p = prepare("secret_scopes", src, c)
    assert p.outcome is Outcome.MIGRATE
    assert p.spec == {"scope": "etl", "keys": ["api-token"]}
    assert p.reason == "secret_scopes etl: needs value: db-password, storage-key"
    none = prepare("secret_scopes", src, ctx())
    assert none.outcome is Outcome.NEEDS_VALUE
    assert none.spec is None
    assert "api-token, db-password, storage-key" in none.reason
    empty = prepare("secret_scopes", {"name": "new", "keys": []}, ctx())
    assert empty.outcome is Outcome.MIGRATE
    assert empty.spec == {"scope": "new", "keys": []}
    assert empty.reason == ""


def test_a_key_vault_scope_is_filtered_naming_the_backend() -> None:
    p = prepare("secret_scopes", {"name": "kv", "keys": [], "backend_type": "AZURE_KEYVAULT"}, ctx())
    assert p.outcome is Outcome.FILTERED
    assert "backend_type AZURE_KEYVAULT" in p.reason


# --- workspace objects --------------------------------------------------------------------------


def test_workspace_entries_use_the_sdk_object_info_fields() -> None:
    info = fields_of(workspace.ObjectInfo)
    assert {"path", "object_type", "language", "size", "object_id"} <= info
    assert {"NOTEBOOK", "FILE", "DIRECTORY", "REPO"} <= {t.value for t in workspace.ObjectType}


@pytest.mark.parametrize(
    ("entry", "spec"),
    [
        (
            {"path": "/Users/a@x.com/etl", "object_type": "NOTEBOOK", "language": "PYTHON", "object_id": 7},
            {"path": "/Users/a@x.com/etl", "object_type": "NOTEBOOK", "language": "PYTHON"},
        ),
        (
            {"path": "/Shared/conf.yml", "object_type": "FILE", "size": 120, "object_id": 8},
            {"path": "/Shared/conf.yml", "object_type": "FILE"},
        ),
        (
            {"path": "/Shared/lib", "object_type": "DIRECTORY", "object_id": 9},
            {"path": "/Shared/lib", "object_type": "DIRECTORY"},
        ),
        ({"path": "/Shared", "object_type": "DIRECTORY"}, {"path": "/Shared", "object_type": "DIRECTORY"}),
    ],
)
def test_notebooks_files_and_directories_migrate(entry: dict[str, Any], spec: dict[str, Any]) -> None:
    p = prepare("workspace_objects", entry, ctx())
    assert p.outcome is Outcome.MIGRATE
    assert p.spec == spec


@pytest.mark.parametrize(
    "entry",
    [
        {"path": "/Repos/a@x.com/project/nb", "object_type": "NOTEBOOK"},
        {"path": "/Repos", "object_type": "DIRECTORY"},
        {"path": "/Users/a@x.com/project", "object_type": "REPO"},
    ],
)
def test_repos_are_out_of_scope(entry: dict[str, Any]) -> None:
    p = prepare("workspace_objects", entry, ctx(roots=("/",)))
    assert p.outcome is Outcome.OUT_OF_SCOPE
    assert entry["path"] in p.reason
    assert dr.OUT_OF_SCOPE["repos"] in p.reason


def test_objects_outside_the_roots_are_filtered() -> None:
    entry = {"path": "/Sharedstuff/nb", "object_type": "NOTEBOOK"}  # a prefix, not a parent
    p = prepare("workspace_objects", entry, ctx())
    assert p.outcome is Outcome.FILTERED
    assert "/Sharedstuff/nb" in p.reason
    assert "/Users, /Shared" in p.reason
    assert prepare("workspace_objects", entry, ctx(roots=("/Sharedstuff/",))).outcome is Outcome.MIGRATE
    assert prepare("workspace_objects", entry, ctx(roots=("/",))).outcome is Outcome.MIGRATE


def test_an_object_over_the_export_limit_is_blocked_with_path_and_size() -> None:
    entry = {"path": "/Shared/big.csv", "object_type": "FILE", "size": 2048}
    p = prepare("workspace_objects", entry, ctx(export_limit_bytes=1024))
    assert p.outcome is Outcome.BLOCKED
    assert "/Shared/big.csv" in p.reason
    assert "2048" in p.reason
    assert "1024" in p.reason
    assert prepare("workspace_objects", entry, ctx(export_limit_bytes=2048)).outcome is Outcome.MIGRATE


def test_other_workspace_object_types_are_filtered_naming_the_type() -> None:
    p = prepare("workspace_objects", {"path": "/Shared/board.lvdash.json", "object_type": "DASHBOARD"}, ctx())
    assert p.outcome is Outcome.FILTERED
    assert "object_type DASHBOARD" in p.reason


# --- cluster libraries --------------------------------------------------------------------------


def test_cluster_libraries_follow_their_cluster() -> None:
    assert fields_of(compute.LibraryFullStatus) >= {"library", "is_library_for_all_clusters", "status"}
    statuses = [
        {"library": {"pypi": {"package": "requests==2.32.3"}}, "status": "INSTALLED"},
        {"library": {"jar": "/Volumes/main/libs/x.jar"}, "status": "INSTALLED"},
        {"library": {"pypi": {"package": "old"}}, "is_library_for_all_clusters": True, "status": "INSTALLED"},
    ]
    p = prepare("cluster_libraries", {"cluster_id": "0101-ui", "libraries": statuses}, ctx())
    assert p.outcome is Outcome.MIGRATE
    assert p.spec == {
        "cluster_id": "0202-ui",
        "libraries": [{"pypi": {"package": "requests==2.32.3"}}, {"jar": "/Volumes/main/libs/x.jar"}],
    }
    assert dr.canonical("cluster_libraries", p.spec) == dr.canonical(
        "cluster_libraries", {"cluster_id": "0101-ui", "libraries": statuses}
    )
    filtered = prepare("cluster_libraries", {"cluster_id": "0101-job", "libraries": statuses}, ctx())
    assert filtered.outcome is Outcome.FILTERED
    assert "cluster_source JOB" in filtered.reason
    blocked = prepare("cluster_libraries", {"cluster_id": "0101-new", "libraries": statuses}, ctx())
    assert blocked.outcome is Outcome.BLOCKED
    assert "cluster_id 0101-new" in blocked.reason


# --- jobs ---------------------------------------------------------------------------------------


def test_job_reference_fields_exist_in_the_sdk() -> None:
    task = fields_of(jobs.Task)
    assert {"existing_cluster_id", "new_cluster", "run_job_task", "sql_task", "pipeline_task"} <= task
    assert {"webhook_notifications", "for_each_task", "notebook_task", "dbt_task"} <= task
    assert "job_id" in fields_of(jobs.RunJobTask)
    assert "warehouse_id" in fields_of(jobs.SqlTask)
    assert "pipeline_id" in fields_of(jobs.PipelineTask)
    assert "id" in fields_of(jobs.Webhook)
    assert "destination_id" in fields_of(jobs.SqlTaskSubscription)
    assert {
        "schedule",
        "continuous",
        "trigger",
        "triggers",
        "tags",
        "deployment",
        "job_clusters",
    } <= fields_of(jobs.JobSettings)
    assert {"pause_status", "file_arrival", "periodic", "table_update"} <= fields_of(jobs.TriggerSettings)
    assert "pause_status" in fields_of(jobs.CronSchedule) & fields_of(jobs.Continuous)
    assert "BUNDLE" in {k.value for k in jobs.JobDeploymentKind}
    assert {"job_cluster_key", "new_cluster"} <= fields_of(jobs.JobCluster)


def test_a_job_gets_target_ids_everywhere_a_paused_schedule_and_its_marker() -> None:
    src = job(
        20,
        [
            nb_task("a", existing_cluster_id="0101-ui"),
            nb_task("b", job_cluster_key="shared", depends_on=[{"task_key": "a"}]),
            {"task_key": "c", "run_job_task": {"job_id": 11}},
            {"task_key": "d", "sql_task": {"warehouse_id": "wh-src", "query": {"query_id": "q1"}}},
            {"task_key": "e", "pipeline_task": {"pipeline_id": "pl-src"}},
            {
                "task_key": "f",
                "new_cluster": {"spark_version": "15.4", "instance_pool_id": "pool-src", "num_workers": 1},
                "spark_python_task": {"python_file": "/Shared/x.py"},
                "webhook_notifications": {"on_failure": [{"id": "dest-src"}]},
            },
        ],
        job_clusters=[
            {"job_cluster_key": "shared", "new_cluster": {"policy_id": "pol-src", "num_workers": 2}}
        ],
        schedule={"quartz_cron_expression": "0 0 3 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
        webhook_notifications={"on_success": [{"id": "dest-src"}]},
        tags={"team": "etl"},
    )
    refs = {**ctx().references, "queries": {"q1": "q9"}}
    p = prepare("jobs", src, ctx(references=refs))
    assert p.outcome is Outcome.MIGRATE, p.reason
    spec = p.spec
    assert spec is not None
    tasks = {t["task_key"]: t for t in spec["tasks"]}
    assert tasks["a"]["existing_cluster_id"] == "0202-ui"
    assert tasks["c"]["run_job_task"]["job_id"] == 911
    assert tasks["d"]["sql_task"]["warehouse_id"] == "wh-tgt"
    assert tasks["d"]["sql_task"]["query"]["query_id"] == "q9"
    assert tasks["e"]["pipeline_task"]["pipeline_id"] == "pl-tgt"
    assert tasks["f"]["new_cluster"]["instance_pool_id"] == "pool-tgt"
    assert tasks["f"]["webhook_notifications"]["on_failure"] == [{"id": "dest-tgt"}]
    assert spec["job_clusters"][0]["new_cluster"]["policy_id"] == "pol-tgt"
    assert spec["webhook_notifications"]["on_success"] == [{"id": "dest-tgt"}]
    assert spec["schedule"]["pause_status"] == "PAUSED"
    assert spec["tags"] == {"team": "etl", "dr_source": f"{WS}:20"}
    assert "format" not in spec
    assert p.pause_status == "UNPAUSED"
    # the source object is untouched
    assert src["settings"]["tasks"][0]["existing_cluster_id"] == "0101-ui"
    assert src["settings"]["schedule"]["pause_status"] == "UNPAUSED"
    assert dr.content_hash("jobs", src) == dr.content_hash("jobs", {"job_id": 555, "settings": spec})


def test_the_legacy_job_level_existing_cluster_id_is_remapped() -> None:
    src = {"job_id": 3, "settings": {"name": "old", "existing_cluster_id": "0101-ui", "notebook_task": {}}}
    spec = prepare("jobs", src, ctx()).spec
    assert spec is not None
    assert spec["existing_cluster_id"] == "0202-ui"


def test_a_task_on_a_filtered_cluster_blocks_the_job_naming_task_and_cluster() -> None:
    src = job(
        21, [nb_task("ok", existing_cluster_id="0101-ui"), nb_task("load", existing_cluster_id="0101-job")]
    )
    p = prepare("jobs", src, ctx())
    assert p.outcome is Outcome.BLOCKED
    assert p.spec is None
    assert "task 'load'.existing_cluster_id 0101-job" in p.reason
    assert "cluster_source JOB" in p.reason
    assert "job-21" in p.reason
    assert "'ok'" not in p.reason
    skipped = prepare("jobs", src, ctx(skip_blocked_jobs=True))
    assert skipped.outcome is Outcome.SKIPPED
    assert skipped.reason == p.reason


def test_a_task_on_an_unknown_cluster_blocks_the_job() -> None:
    p = prepare("jobs", job(22, [nb_task("t", existing_cluster_id="0909-gone")]), ctx())
    assert p.outcome is Outcome.BLOCKED
    assert "task 't'.existing_cluster_id 0909-gone" in p.reason
    assert "not in the target" in p.reason


@pytest.mark.parametrize(
    ("task", "named"),
    [
        ({"task_key": "q", "sql_task": {"warehouse_id": "wh-x"}}, "task 'q'.sql_task.warehouse_id wh-x"),
        (
            {"task_key": "n", "notebook_task": {"notebook_path": "/a", "warehouse_id": "wh-x"}},
            "notebook_task.warehouse_id wh-x",
        ),
        (
            {"task_key": "p", "pipeline_task": {"pipeline_id": "pl-x"}},
            "task 'p'.pipeline_task.pipeline_id pl-x",
        ),
        ({"task_key": "r", "run_job_task": {"job_id": 77}}, "task 'r'.run_job_task.job_id 77"),
        (
            {"task_key": "w", "notebook_task": {}, "webhook_notifications": {"on_start": [{"id": "dest-x"}]}},
            "task 'w'.webhook_notifications.on_start[0].id dest-x",
        ),
        (
            {
                "task_key": "s",
                "sql_task": {
                    "warehouse_id": "wh-src",
                    "alert": {"alert_id": "al", "subscriptions": [{"destination_id": "dest-x"}]},
                },
            },
            "task 's'.sql_task.alert.subscriptions[0].destination_id dest-x",
        ),
        (
            {
                "task_key": "at",
                "alert_task": {"alert_id": "al", "subscribers": [{"destination_id": "dest-x"}]},
            },
            "task 'at'.alert_task.subscribers[0].destination_id dest-x",
        ),
        (
            {
                "task_key": "dt",
                "dashboard_task": {
                    "dashboard_id": "db-x",
                    "subscription": {
                        "subscribers": [{"user_name": "a@x.com"}, {"destination_id": "dest-src"}]
                    },
                },
            },
            "task 'dt'.dashboard_task.dashboard_id db-x",
        ),
        (
            {"task_key": "dbt", "dbt_task": {"commands": ["dbt run"], "warehouse_id": "wh-x"}},
            "dbt_task.warehouse_id wh-x",
        ),
        (
            {"task_key": "j", "new_cluster": {"policy_id": "pol-x"}, "notebook_task": {}},
            "task 'j'.new_cluster.policy_id pol-x",
        ),
        (
            {
                "task_key": "loop",
                "for_each_task": {"inputs": "[1]", "task": {"task_key": "in", "existing_cluster_id": "c-x"}},
            },
            "task 'loop'.for_each_task.task.existing_cluster_id c-x",
        ),
    ],
)
def test_every_unresolved_reference_blocks_the_job_naming_it(task: dict[str, Any], named: str) -> None:
    refs = {**ctx().references, "alerts": {"al": "al2"}}
    p = prepare("jobs", job(23, [task]), ctx(references=refs))
    assert p.outcome is Outcome.BLOCKED
    assert named in p.reason


def test_sql_subscriptions_and_dashboards_get_target_ids() -> None:
    refs = {**ctx().references, "dashboards": {"db-1": "db-9"}, "alerts": {"al-1": "al-9"}}
    tasks = [
        {
            "task_key": "dt",
            "dashboard_task": {
                "dashboard_id": "db-1",
                "warehouse_id": "wh-src",
                "subscription": {"subscribers": [{"user_name": "a@x.com"}, {"destination_id": "dest-src"}]},
            },
        },
        {
            "task_key": "at",
            "alert_task": {"alert_id": "al-1", "subscribers": [{"destination_id": "dest-src"}]},
        },
    ]
    p = prepare("jobs", job(29, tasks), ctx(references=refs))
    assert p.spec is not None, p.reason
    dash, alert = p.spec["tasks"]
    assert dash["dashboard_task"]["dashboard_id"] == "db-9"
    assert dash["dashboard_task"]["warehouse_id"] == "wh-tgt"
    assert dash["dashboard_task"]["subscription"]["subscribers"] == [
        {"user_name": "a@x.com"},
        {"destination_id": "dest-tgt"},
    ]
    assert alert["alert_task"] == {"alert_id": "al-9", "subscribers": [{"destination_id": "dest-tgt"}]}


def test_job_cluster_pool_and_policy_must_be_in_the_target() -> None:
    src = job(
        24,
        [nb_task("a", job_cluster_key="jc")],
        job_clusters=[
            {"job_cluster_key": "jc", "new_cluster": {"instance_pool_id": "pool-x", "num_workers": 1}}
        ],
    )
    p = prepare("jobs", src, ctx())
    assert p.outcome is Outcome.BLOCKED
    assert "job_clusters[jc].new_cluster.instance_pool_id pool-x" in p.reason


def test_a_job_with_no_room_for_the_marker_tag_is_blocked() -> None:
    full = {f"t{i}": "v" for i in range(dr.JOB_TAG_LIMIT)}
    p = prepare("jobs", job(28, [nb_task("a")], tags=full), ctx())
    assert p.outcome is Outcome.BLOCKED
    assert "tags has 25 tags" in p.reason
    assert "job-28" in p.reason
    # a source re-marked earlier (its own dr_source tag) still fits
    fits = {**{f"t{i}": "v" for i in range(dr.JOB_TAG_LIMIT - 1)}, dr.MARKER_KEY: "old"}
    p = prepare("jobs", job(28, [nb_task("a")], tags=fits), ctx())
    assert p.spec is not None
    assert len(p.spec["tags"]) == dr.JOB_TAG_LIMIT
    assert p.spec["tags"][dr.MARKER_KEY] == f"{WS}:28"


def test_a_bundle_managed_job_is_filtered() -> None:
    deployment = {"kind": "BUNDLE", "metadata_file_path": "/Users/a/.bundle/x/metadata.json"}
    p = prepare("jobs", job(25, [nb_task("a")], deployment=deployment), ctx())
    assert p.outcome is Outcome.FILTERED
    assert "deployment.kind BUNDLE" in p.reason
    assert "bundle" in p.reason
    assert prepare("jobs", job(25, [nb_task("a")]), ctx()).outcome is Outcome.MIGRATE


@pytest.mark.parametrize(
    ("block", "value"),
    [
        ("schedule", {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"}),
        ("continuous", {}),
        ("continuous", {"pause_status": "UNPAUSED"}),
        ("trigger", {"file_arrival": {"url": "abfss://in@acct.dfs.core.windows.net/landing/"}}),
        ("trigger", {"periodic": {"interval": 4, "unit": "HOURS"}, "pause_status": "UNPAUSED"}),
        ("trigger", {"table_update": {"table_names": ["main.raw.events"]}}),
    ],
)
def test_every_kind_of_schedule_is_paused_in_the_target_and_the_source_status_kept(
    block: str, value: dict[str, Any]
) -> None:
    src = job(26, [nb_task("a")], **{block: value})
    p = prepare("jobs", src, ctx())
    assert p.spec is not None
    assert p.spec[block]["pause_status"] == "PAUSED"
    assert p.pause_status == "UNPAUSED"
    paused_src = job(26, [nb_task("a")], **{block: {**value, "pause_status": "PAUSED"}})
    assert prepare("jobs", paused_src, ctx()).pause_status == "PAUSED"


def test_a_job_without_schedule_has_no_pause_status() -> None:
    p = prepare("jobs", job(27, [nb_task("a")]), ctx())
    assert p.pause_status is None
    assert p.spec is not None
    assert not {"schedule", "continuous", "trigger"} & set(p.spec)


def test_with_pause_and_source_pause() -> None:
    settings = {
        "schedule": {"quartz_cron_expression": "x", "pause_status": "UNPAUSED"},
        "triggers": [{"periodic": {"interval": 1, "unit": "DAYS"}}, {"file_arrival": {"url": "s3://b/"}}],
    }
    paused = dr.with_pause(settings, "PAUSED")
    assert paused["schedule"]["pause_status"] == "PAUSED"
    assert [t["pause_status"] for t in paused["triggers"]] == ["PAUSED", "PAUSED"]
    assert dr.source_pause(paused) == "PAUSED"
    assert dr.source_pause(settings) == "UNPAUSED"
    assert "pause_status" not in settings["triggers"][0]  # a copy
    assert dr.source_pause({"name": "x"}) is None
    assert dr.source_pause({"settings": {"continuous": {}}}) == "UNPAUSED"
    assert dr.with_pause({"name": "x"}, "UNPAUSED") == {"name": "x"}
    with pytest.raises(ConfigError) as err:
        dr.with_pause(settings, "OFF")
    assert err.value.field == "pause_status"


def test_job_order_puts_run_job_targets_first_and_cycles_last() -> None:
    parent = job(1, [{"task_key": "run", "run_job_task": {"job_id": 2}}])
    child = job(2, [{"task_key": "run", "run_job_task": {"job_id": 3}}])
    leaf = job(3, [nb_task("a")])
    loop_a = job(4, [{"task_key": "run", "run_job_task": {"job_id": 5}}])
    loop_b = job(5, [{"task_key": "run", "run_job_task": {"job_id": 4}}])
    on_loop = job(6, [{"task_key": "run", "run_job_task": {"job_id": 4}}])
    itself = job(7, [{"task_key": "run", "run_job_task": {"job_id": 7}}])
    outside = job(8, [{"task_key": "run", "run_job_task": {"job_id": 999}}])
    ordered = [
        j["job_id"] for j in dr.job_order([on_loop, loop_a, parent, child, itself, leaf, loop_b, outside])
    ]
    assert ordered.index(3) < ordered.index(2) < ordered.index(1)
    assert set(ordered[:4]) == {1, 2, 3, 8}
    assert set(ordered[4:]) == {4, 5, 6, 7}
    assert sorted(ordered) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert dr.job_cycles([on_loop, loop_a, parent, child, itself, leaf, loop_b]) == [["4", "5"], ["7"]]
    assert dr.job_cycles([parent, child, leaf]) == []


def test_jobs_in_a_cycle_are_blocked_by_prepare() -> None:
    loop_a = job(4, [{"task_key": "run", "run_job_task": {"job_id": 5}}])
    p = prepare("jobs", loop_a, ctx())
    assert p.outcome is Outcome.BLOCKED
    assert "task 'run'.run_job_task.job_id 5" in p.reason


def test_run_job_targets_include_for_each_tasks() -> None:
    src = job(
        9, [{"task_key": "l", "for_each_task": {"task": {"task_key": "i", "run_job_task": {"job_id": 12}}}}]
    )
    assert dr.run_job_targets(src) == ["12"]
    target = job(12, [nb_task("a")])
    assert dr.job_dependencies([src, target, job(13, [nb_task("b")])]) == {"9": ["12"], "12": [], "13": []}
    assert dr.job_dependencies([src]) == {"9": []}  # a job outside the list is no dependency


# --- permissions --------------------------------------------------------------------------------


def test_acl_fields_are_the_sdk_s() -> None:
    assert {"user_name", "group_name", "service_principal_name", "all_permissions"} <= fields_of(
        iam.AccessControlResponse
    )
    assert {"inherited", "inherited_from_object", "permission_level"} <= fields_of(iam.Permission)
    assert fields_of(iam.AccessControlRequest) == {
        "user_name",
        "group_name",
        "service_principal_name",
        "permission_level",
    }


JOB_PERMISSIONS = {
    "object_id": "/jobs/20",
    "object_type": "job",
    "access_control_list": [
        {
            "user_name": "ana@example.com",
            "display_name": "Ana",
            "all_permissions": [{"permission_level": "IS_OWNER", "inherited": False}],
        },
        {
            "group_name": "admins",
            "all_permissions": [
                {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}
            ],
        },
        {
            "group_name": "analysts",
            "all_permissions": [
                {"permission_level": "CAN_VIEW", "inherited": False},
                {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]},
            ],
        },
        {
            "service_principal_name": "6f1c-app-id",
            "all_permissions": [{"permission_level": "CAN_MANAGE_RUN", "inherited": False}],
        },
    ],
}


def test_acl_entries_keep_only_direct_grants_in_request_form() -> None:
    entries = dr.acl_entries(JOB_PERMISSIONS)
    assert entries == [
        {"group_name": "analysts", "permission_level": "CAN_VIEW"},
        {"service_principal_name": "6f1c-app-id", "permission_level": "CAN_MANAGE_RUN"},
        {"user_name": "ana@example.com", "permission_level": "IS_OWNER"},
    ]
    assert all(set(e) <= fields_of(iam.AccessControlRequest) for e in entries)
    assert dr.principals(entries) == {"analysts", "6f1c-app-id", "ana@example.com"}
    assert dr.acl_entries({"access_control_list": entries}) == entries  # request form passes through


def test_a_secret_scope_acl_list_gives_the_items_secrets_acls_put_takes() -> None:
    listed = {
        "items": [
            {"principal": "users", "permission": "MANAGE"},
            {"principal": "secret-readers", "permission": "READ"},
            {"principal": "secret-readers", "permission": "READ"},
            {"principal": "", "permission": "READ"},
        ]
    }
    entries = dr.acl_entries(listed)
    assert entries == [
        {"principal": "secret-readers", "permission": "READ"},
        {"principal": "users", "permission": "MANAGE"},
    ]
    assert all(set(e) <= fields_of(workspace.AclItem) for e in entries)
    assert dr.principals(entries) == {"secret-readers", "users"}
    assert dr.acl_entries({}) == []  # a scope without ACL items
    assert {"admins", "users"} <= dr.BUILTIN_GROUPS


def test_a_job_needs_exactly_one_owner_who_is_not_a_group() -> None:
    owner = {"user_name": "ana@example.com", "permission_level": "IS_OWNER"}
    viewer = {"group_name": "g", "permission_level": "CAN_VIEW"}
    assert dr.owner_problem("jobs", [owner, viewer]) is None
    none = dr.owner_problem("jobs", [viewer])
    assert none is not None
    assert "IS_OWNER" in none
    assert "found 0" in none
    two = dr.owner_problem("jobs", [owner, {"service_principal_name": "sp", "permission_level": "IS_OWNER"}])
    assert two is not None
    assert "found 2" in two
    assert "ana@example.com" in two
    assert "sp" in two
    group = dr.owner_problem("jobs", [{"group_name": "g", "permission_level": "IS_OWNER"}])
    assert group is not None
    assert "g is a group" in group
    assert dr.owner_problem("clusters", [viewer]) is None


def test_permissions_are_set_on_the_target_object() -> None:
    src = {**JOB_PERMISSIONS, "object_type": "jobs", "object_id": "11"}
    p = prepare("permissions", src, ctx())
    assert p.outcome is Outcome.MIGRATE
    assert p.source_id == "jobs/11"
    assert p.spec == {"object_type": "jobs", "object_id": "911", "access_control_list": dr.acl_entries(src)}
    assert dr.canonical("permissions", p.spec) == dr.canonical("permissions", src)
    # the target's own permissions response after the PUT: other object type spelling and id, an inherited
    # admins entry, display names
    response = {
        "object_id": "/jobs/911",
        "object_type": "job",
        "access_control_list": [
            {
                "group_name": "admins",
                "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": True}],
            },
            *(
                {k: v for k, v in e.items() if k != "permission_level"}
                | {"display_name": "x", "all_permissions": [{"permission_level": e["permission_level"]}]}
                for e in reversed(p.spec["access_control_list"])
            ),
        ],
    }
    assert dr.content_hash("permissions", response) == dr.content_hash("permissions", src)
    response["access_control_list"].pop()
    assert dr.content_hash("permissions", response) != dr.content_hash("permissions", src)


def test_permissions_of_an_object_not_migrated_are_not_set() -> None:
    filtered = prepare("permissions", {"object_type": "clusters", "object_id": "0101-job"}, ctx())
    assert filtered.outcome is Outcome.FILTERED
    assert "cluster_source JOB" in filtered.reason
    blocked = prepare("permissions", {"object_type": "notebooks", "object_id": "/Users/a/nb"}, ctx())
    assert blocked.outcome is Outcome.BLOCKED
    assert "/Users/a/nb" in blocked.reason
    wmap = {"workspace_objects": {"/Users/a/nb": "4411"}}
    ok = prepare("permissions", {"object_type": "notebooks", "object_id": "/Users/a/nb"}, ctx(id_map=wmap))
    assert ok.spec == {"object_type": "notebooks", "object_id": "4411", "access_control_list": []}


def test_job_permissions_without_a_single_owner_are_blocked() -> None:
    acl = [{"group_name": "g", "all_permissions": [{"permission_level": "CAN_VIEW", "inherited": False}]}]
    p = prepare("permissions", {"object_type": "jobs", "object_id": "11", "access_control_list": acl}, ctx())
    assert p.outcome is Outcome.BLOCKED
    assert "permissions jobs/11" in p.reason
    assert "IS_OWNER" in p.reason


def test_permissions_of_a_type_without_acls_are_refused() -> None:
    with pytest.raises(ConfigError) as err:
        prepare("permissions", {"object_type": "global_init_scripts", "object_id": "s"}, ctx())
    assert err.value.field == "permissions.object_type"


# --- canonical form and content hash ------------------------------------------------------------


def target_copy_of_cluster(spec: dict[str, Any]) -> dict[str, Any]:
    """What the target's `clusters get` answers for a cluster created from ``spec``."""
    return {
        **spec,
        "cluster_id": "0202-ui",
        "cluster_source": "API",
        "state": "TERMINATED",
        "creator_user_name": "dr-sp",
        "default_tags": {"Vendor": "Databricks", "ClusterId": "0202-ui"},
        "start_time": 1800000000000,
        "num_workers": 0,
        "spark_env_vars": None,
    }


def test_a_cluster_and_its_target_copy_hash_equal_but_content_changes_do_not() -> None:
    p = prepare("clusters", CLUSTER_GET, ctx())
    assert p.spec is not None
    copy_ = target_copy_of_cluster(p.spec)
    assert dr.canonical("clusters", copy_) == dr.canonical("clusters", CLUSTER_GET)
    assert dr.content_hash("clusters", copy_) == dr.content_hash("clusters", CLUSTER_GET)
    for field_name, value in [
        ("spark_version", "14.3.x-scala2.12"),
        ("autotermination_minutes", 120),
        ("autoscale", {"min_workers": 1, "max_workers": 8}),
        ("data_security_mode", "USER_ISOLATION"),
        ("custom_tags", {"team": "other", "dr_source": "x"}),
    ]:
        assert dr.content_hash("clusters", {**copy_, field_name: value}) != dr.content_hash(
            "clusters", CLUSTER_GET
        )


def test_canonical_keeps_the_shape_of_references() -> None:
    on_cluster = job(1, [nb_task("a", existing_cluster_id="0101-ui")])
    on_job_cluster = job(1, [nb_task("a", job_cluster_key="jc")])
    assert dr.content_hash("jobs", on_cluster) != dr.content_hash("jobs", on_job_cluster)
    assert dr.canonical("jobs", on_cluster)["tasks"][0]["existing_cluster_id"] == "<ref>"


def test_canonical_job_ignores_task_order_and_server_fields() -> None:
    a = job(1, [nb_task("x"), nb_task("y", depends_on=[{"task_key": "x"}, {"task_key": "w"}])])
    b = job(1, [nb_task("y", depends_on=[{"task_key": "w"}, {"task_key": "x"}]), nb_task("x")])
    b["job_id"] = 2
    b["settings"].pop("format")
    b["run_as_user_name"] = "sp"
    assert dr.content_hash("jobs", a) == dr.content_hash("jobs", b)


def test_canonical_of_workspace_objects_and_scopes() -> None:
    src = {
        "path": "/Shared/nb",
        "object_type": "NOTEBOOK",
        "language": "SQL",
        "object_id": 1,
        "modified_at": 5,
    }
    tgt = {
        "path": "/Shared/nb",
        "object_type": "NOTEBOOK",
        "language": "SQL",
        "object_id": 99,
        "created_at": 7,
    }
    assert dr.content_hash("workspace_objects", src) == dr.content_hash("workspace_objects", tgt)
    assert dr.content_hash("workspace_objects", {**src, "language": "PYTHON"}) != dr.content_hash(
        "workspace_objects", tgt
    )
    assert dr.canonical("secret_scopes", {"name": "s", "keys": ["b", "a"]}) == dr.canonical(
        "secret_scopes", {"scope": "s", "keys": ["a", "b"]}
    )


json_scalars = st.one_of(st.integers(-5, 5), st.booleans(), st.text("abcxyz", min_size=1, max_size=4))
tag_maps = st.dictionaries(st.text("abcdef", min_size=1, max_size=4), st.text("xyz", max_size=3), max_size=3)


def shuffled(obj: Any, rnd: Any) -> Any:
    if isinstance(obj, dict):
        keys = list(obj)
        rnd.shuffle(keys)
        return {k: shuffled(obj[k], rnd) for k in keys}
    if isinstance(obj, list):
        return [shuffled(v, rnd) for v in obj]
    return obj


def with_nulls(obj: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {**obj, **dict.fromkeys(names)} | {f"empty_{n}": {} for n in names[:1]}


@settings(max_examples=60, deadline=None)
@given(
    tags=tag_maps,
    workers=st.integers(0, 50),
    minutes=st.integers(10, 200),
    extra_nulls=st.lists(
        st.sampled_from(["spark_env_vars", "init_scripts", "policy_id", "ssh_public_keys"]), max_size=3
    ),
    rnd=st.randoms(use_true_random=False),
)
def test_cluster_hash_ignores_key_order_nulls_marker_and_id_remapping(
    tags: dict[str, str], workers: int, minutes: int, extra_nulls: list[str], rnd: Any
) -> None:
    src = {
        **CLUSTER_GET,
        "autoscale": None,
        "num_workers": workers,
        "autotermination_minutes": minutes,
        "custom_tags": tags,
        "instance_pool_id": "pool-src",
    }
    p = prepare("clusters", src, ctx())
    assert p.spec is not None
    target = shuffled(target_copy_of_cluster(p.spec), rnd)
    target["num_workers"] = workers
    target = {**target, **dict.fromkeys(k for k in extra_nulls if k not in target)}
    assert dr.content_hash("clusters", target) == dr.content_hash("clusters", src)
    assert dr.content_hash("clusters", {**target, "autotermination_minutes": minutes + 1}) != dr.content_hash(
        "clusters", src
    )
    assert dr.content_hash("clusters", {**target, "custom_tags": {**tags, "new": "v"}}) != dr.content_hash(
        "clusters", src
    )


@settings(max_examples=60, deadline=None)
@given(
    name=st.text("abcdefgh -", min_size=1, max_size=12),
    cron=st.sampled_from(["0 0 3 * * ?", "0 15 * * * ?", "0 0 0 ? * MON"]),
    status=st.sampled_from(["PAUSED", "UNPAUSED", None]),
    retries=st.integers(0, 5),
    tags=tag_maps,
    cluster=st.sampled_from(["0101-ui", "0101-other"]),
    rnd=st.randoms(use_true_random=False),
)
def test_job_hash_ignores_order_nulls_marker_pause_and_remapped_ids(
    name: str, cron: str, status: str | None, retries: int, tags: dict[str, str], cluster: str, rnd: Any
) -> None:
    schedule = {"quartz_cron_expression": cron, "timezone_id": "UTC", "pause_status": status}
    src = job(
        30,
        [
            nb_task("a", existing_cluster_id=cluster, max_retries=retries),
            {"task_key": "b", "run_job_task": {"job_id": 11}, "depends_on": [{"task_key": "a"}]},
        ],
        name=name,
        schedule=schedule,
        tags=tags,
        description=None,
    )
    id_map = {**ctx().id_map, "clusters": {cluster: "0303-tgt"}}
    p = prepare("jobs", src, ctx(id_map=id_map))
    assert p.spec is not None
    target = shuffled(
        {"job_id": 777, "created_time": 5, "settings": {**p.spec, "timeout_seconds": None}}, rnd
    )
    assert dr.content_hash("jobs", target) == dr.content_hash("jobs", src)
    changed = copy.deepcopy(target)
    changed["settings"]["schedule"]["quartz_cron_expression"] = cron + " 2030"
    assert dr.content_hash("jobs", changed) != dr.content_hash("jobs", src)
    changed = copy.deepcopy(target)
    next(t for t in changed["settings"]["tasks"] if t["task_key"] == "a")["max_retries"] = retries + 1
    assert dr.content_hash("jobs", changed) != dr.content_hash("jobs", src)


@settings(max_examples=40, deadline=None)
@given(
    description=st.text("abc \n", max_size=20),
    definition=st.dictionaries(
        st.sampled_from(["spark_version", "autotermination_minutes", "node_type_id"]),
        st.fixed_dictionaries({"type": st.just("fixed"), "value": json_scalars}),
        max_size=3,
    ),
    rnd=st.randoms(use_true_random=False),
)
def test_policy_hash_ignores_definition_formatting_and_the_marker(
    description: str, definition: dict[str, Any], rnd: Any
) -> None:
    import json

    src = {**POLICY, "description": description, "definition": json.dumps(definition)}
    p = prepare("cluster_policies", src, ctx())
    assert p.spec is not None
    target = {
        **p.spec,
        "policy_id": "pol-tgt",
        "definition": json.dumps(shuffled(definition, rnd), indent=2),
        "created_at_timestamp": 9,
    }
    assert dr.content_hash("cluster_policies", target) == dr.content_hash("cluster_policies", src)
    assert dr.content_hash("cluster_policies", {**target, "max_clusters_per_user": 5}) != dr.content_hash(
        "cluster_policies", src
    )


def test_content_hash_is_sha256_hex_of_canonical_json() -> None:
    import hashlib
    import json

    text = json.dumps(dr.canonical("instance_pools", POOL), sort_keys=True, separators=(",", ":"))
    assert dr.content_hash("instance_pools", POOL) == hashlib.sha256(text.encode()).hexdigest()


@settings(max_examples=60, deadline=None)
@given(
    script=st.text("ab #\n", max_size=30),
    enabled=st.booleans(),
    position=st.integers(0, 5),
)
def test_init_script_hash_ignores_the_marker_line_and_server_fields(
    script: str, enabled: bool, position: int
) -> None:
    src = {"script_id": "S9", "name": "s", "script": script, "enabled": enabled, "position": position}
    p = prepare("global_init_scripts", src, ctx())
    assert p.spec is not None
    assert dr.marker_of("global_init_scripts", p.spec) == f"{WS}:S9"
    target = {**p.spec, "script_id": "T1", "created_at": 5, "updated_by": "sp", "position": 0}
    assert dr.content_hash("global_init_scripts", target) == dr.content_hash("global_init_scripts", src)
    changed = {**target, "script": "echo changed\n" + target["script"]}
    assert dr.content_hash("global_init_scripts", changed) != dr.content_hash("global_init_scripts", src)
    assert dr.content_hash("global_init_scripts", {**target, "enabled": not enabled}) != dr.content_hash(
        "global_init_scripts", src
    )


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ({"workspace": {"destination": "/Shared/init/setup.sh"}}, None),
        ({"workspace": {"destination": "/Workspace/Shared/init/setup.sh"}}, None),
        ({"volumes": {"destination": "/Volumes/main/ops/init/setup.sh"}}, None),
        ({"s3": {"destination": "s3://ops/init/setup.sh", "region": "us-east-1"}}, None),
        ({"file": {"destination": "file:/databricks/setup.sh"}}, None),
        (
            {"dbfs": {"destination": "dbfs:/init/setup.sh"}},
            "cluster.init_scripts[1].dbfs.destination dbfs:/init/setup.sh: DBFS init scripts are not "
            "migrated",
        ),
        (
            {"workspace": {"destination": "/Ops/init/setup.sh"}},
            "cluster.init_scripts[1].workspace.destination /Ops/init/setup.sh: outside the migrated roots "
            "/Users, /Shared (add its folder to roots",
        ),
    ],
)
def test_a_cluster_whose_init_script_the_target_would_miss_is_blocked_naming_it(
    script: dict[str, Any], problem: str | None
) -> None:
    src = {**CLUSTER_GET, "init_scripts": [*CLUSTER_GET["init_scripts"], script]}
    p = prepare("clusters", src, ctx())
    if problem is None:
        assert p.outcome is Outcome.MIGRATE, p.reason
        assert p.spec is not None
        assert p.spec["init_scripts"] == src["init_scripts"]
    else:
        assert p.outcome is Outcome.BLOCKED
        assert problem in p.reason
    # a root that holds it makes the workspace file migratable
    if "workspace" in script:
        assert prepare("clusters", src, ctx(roots=("/Users", "/Shared", "/Ops"))).outcome is Outcome.MIGRATE


def test_a_job_cluster_on_a_dbfs_init_script_blocks_the_job_or_skips_it_by_param() -> None:
    settings = {
        "name": "etl",
        "job_clusters": [
            {
                "job_cluster_key": "jc",
                "new_cluster": {
                    "spark_version": "15.4.x-scala2.12",
                    "init_scripts": [{"dbfs": {"destination": "dbfs:/init/a.sh"}}],
                },
            }
        ],
        "tasks": [
            {"task_key": "t", "job_cluster_key": "jc", "notebook_task": {"notebook_path": "/Shared/nb"}},
            {
                "task_key": "own",
                "new_cluster": {"init_scripts": [{"workspace": {"destination": "/Repos/x/init.sh"}}]},
                "notebook_task": {"notebook_path": "/Shared/nb"},
            },
            {
                "task_key": "each",
                "for_each_task": {
                    "inputs": "[1, 2]",
                    "task": {
                        "task_key": "each_inner",
                        "new_cluster": {"init_scripts": [{"dbfs": {"destination": "dbfs:/init/b.sh"}}]},
                        "notebook_task": {"notebook_path": "/Shared/nb"},
                    },
                },
            },
        ],
    }
    job = {"job_id": 12, "settings": settings}
    blocked = prepare("jobs", job, ctx())
    assert blocked.outcome is Outcome.BLOCKED
    assert "job_clusters[jc].new_cluster.init_scripts[0].dbfs.destination dbfs:/init/a.sh" in blocked.reason
    assert "task 'own'.new_cluster.init_scripts[0].workspace.destination /Repos/x/init.sh" in blocked.reason
    inner = "task 'each'.for_each_task.task.new_cluster.init_scripts[0].dbfs.destination dbfs:/init/b.sh"
    assert inner in blocked.reason
    assert prepare("jobs", job, ctx(skip_blocked_jobs=True)).outcome is Outcome.SKIPPED


def test_a_dbfs_init_script_is_relocated_only_when_asked() -> None:
    src = {**CLUSTER_GET, "init_scripts": [{"dbfs": {"destination": "dbfs:/init/a.sh"}}]}
    blocked = prepare("clusters", src, ctx())
    assert blocked.outcome is Outcome.BLOCKED
    assert "relocate_dbfs_init_scripts" in blocked.reason
    moved = prepare("clusters", src, ctx(relocate_dbfs_init_scripts=True, init_scripts_folder="/Shared/dr"))
    assert moved.outcome is Outcome.MIGRATE
    assert moved.spec is not None
    assert moved.spec["init_scripts"] == [{"workspace": {"destination": "/Shared/dr/init/a.sh"}}]
    assert moved.relocations == (("/init/a.sh", "/Shared/dr/init/a.sh"),)
    assert "dbfs:/init/a.sh -> /Shared/dr/init/a.sh" in moved.reason
    assert src["init_scripts"] == [{"dbfs": {"destination": "dbfs:/init/a.sh"}}]  # the source is untouched
    shared = {"spark_version": "15.4.x-scala2.12", "init_scripts": [{"dbfs": {"destination": "/init/a.sh"}}]}
    j = job(11, [nb_task("a", job_cluster_key="jc"), nb_task("b", new_cluster=copy.deepcopy(shared))])
    j["settings"]["job_clusters"] = [{"job_cluster_key": "jc", "new_cluster": copy.deepcopy(shared)}]
    p = prepare("jobs", j, ctx(relocate_dbfs_init_scripts=True))
    assert p.relocations == (("/init/a.sh", "/Shared/dr-init-scripts/init/a.sh"),)  # one file for both
    script = dr.relocated_script("#!/bin/bash\necho a\n", dr.relocation_marker(WS, "dbfs:/init/a.sh"))
    assert script == f"#!/bin/bash\necho a\n# dr_source {WS}:dbfs:/init/a.sh\n"
    assert dr.script_marker(script) == dr.relocation_marker(WS, "/init/a.sh")


def test_a_pool_with_a_docker_basic_auth_image_needs_its_password_by_pool_name() -> None:
    image = {"url": "reg.example.com/rt:1", "basic_auth": {"username": "etl", "password": "read-back?"}}
    pool = {
        "instance_pool_id": "pool-src",
        "instance_pool_name": "dock",
        "node_type_id": "i3.xlarge",
        "preloaded_docker_images": [image],
    }
    needs = prepare("instance_pools", pool, ctx())
    assert needs.outcome is Outcome.NEEDS_VALUE
    assert "instance_pools dock: needs value: preloaded_docker_images[0].basic_auth.password" in needs.reason
    assert dr.DOCKER_PASSWORDS_KEY in needs.reason
    ok = prepare("instance_pools", pool, ctx(docker_passwords={"dock": frozenset({"reg.example.com/rt:1"})}))
    assert ok.outcome is Outcome.MIGRATE
    assert ok.spec is not None
    assert ok.spec["preloaded_docker_images"][0]["basic_auth"] == {"username": "etl"}  # added at write time
    sent = dr.with_docker_passwords(ok.spec, {"reg.example.com/rt:1": "pw"})
    assert sent["preloaded_docker_images"][0]["basic_auth"] == {"username": "etl", "password": "pw"}
    assert dr.content_hash("instance_pools", sent) == dr.content_hash("instance_pools", ok.spec)
