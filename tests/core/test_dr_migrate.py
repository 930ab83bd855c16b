"""Pure parts of a DR migration: parameters, the checkpoint, the action per object and the reports."""

from __future__ import annotations

from typing import Any

import pytest

from platform_ops.core.dr_migrate import (
    Action,
    Check,
    Checkpoint,
    CheckpointDelta,
    CutoverParams,
    DrParams,
    PlanReport,
    TargetIndex,
    ValidationReport,
    check_distinct_hosts,
    check_distinct_workspaces,
    checkpoint_key,
    classify,
    copy_stamp,
    keep_pauses,
    marker_ids,
    parse_secret_values,
    progress_line,
    unpaused_triggers,
    verdict,
)
from platform_ops.core.dr_objects import MARKER_KEY, OBJECT_TYPES, Outcome, Prepared, marker_value
from platform_ops.exceptions import ConfigError

BASE = {"source_conn_id": "dbx_primary", "target_conn_id": "dbx_secondary"}


def parse(**changes: Any) -> DrParams:
    return DrParams.from_params({**BASE, **changes})


def test_defaults_are_a_dry_run_of_every_type_under_users_and_shared():
    p = parse()
    assert p.dry_run is True
    assert p.object_types == OBJECT_TYPES
    assert p.roots == ("/Users", "/Shared")
    assert p.keep_clusters_running is False
    assert 1 <= p.parallelism <= 64


def test_rendered_templates_parse_and_types_keep_dependency_order():
    p = parse(
        dry_run="false", parallelism="4", object_types="jobs, clusters", roots=["/Shared/team/", "/Users"]
    )
    assert p.dry_run is False
    assert p.parallelism == 4
    assert p.object_types == ("clusters", "jobs")
    assert p.roots == ("/Shared/team", "/Users")


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"target_conn_id": "dbx_primary"}, "target_conn_id", "must differ"),
        ({"source_conn_id": ""}, "source_conn_id", "non-empty"),
        ({"object_types": ["jobs", "dashboards"]}, "object_types", "unknown object type 'dashboards'"),
        ({"object_types": ["mounts"]}, "object_types", "out of scope"),
        ({"object_types": []}, "object_types", "empty"),
        ({"roots": ["Users"]}, "roots", "absolute"),
        ({"roots": ["/Repos/me"]}, "roots", "Git folder"),
        ({"roots": ["/"]}, "roots", "under the workspace root"),
        ({"roots": ["/Shared/../Users"]}, "roots", "under the workspace root"),
        ({"roots": []}, "roots", "non-empty"),
        ({"references": {"clusters": {}}}, "references", "unknown kind 'clusters'"),
        ({"references": {"warehouses": {"a": 1}}}, "references.warehouses", "source id -> target id"),
        ({"references": ["x"]}, "references", "not a mapping"),
        ({"parallelism": 0}, "parallelism", "out of range"),
        ({"parallelism": 65}, "parallelism", "out of range"),
        ({"parallelism": "many"}, "parallelism", "not an integer"),
        ({"dry_run": "maybe"}, "dry_run", "not a boolean"),
        (
            {"secret_values_conn_id": "c", "secret_values_variable": "v"},
            "secret_values_variable",
            "one place",
        ),
        ({"typo_param": 1}, "typo_param", "not a parameter"),
    ],
)
def test_bad_params_name_the_field_and_the_fix(changes, field, words):
    with pytest.raises(ConfigError) as err:
        parse(**changes)
    assert err.value.field == field
    assert words in str(err.value)
    assert "Fix:" in str(err.value)


def test_same_host_or_same_workspace_is_refused_naming_the_target():
    with pytest.raises(ConfigError, match="target_conn_id: reaches the source's host"):
        check_distinct_hosts("https://a.cloud.databricks.com/", "https://A.cloud.databricks.com")
    check_distinct_hosts("https://a.cloud.databricks.com", "https://b.cloud.databricks.com")
    with pytest.raises(ConfigError, match="target_conn_id: reaches the source workspace 42"):
        check_distinct_workspaces("42", "42")
    check_distinct_workspaces("42", "43")


def test_cutover_needs_confirm():
    with pytest.raises(ConfigError, match="confirm: is false"):
        CutoverParams.from_params({**BASE, "confirm": False})
    with pytest.raises(ConfigError, match="target_conn_id"):
        CutoverParams.from_params({"source_conn_id": "a", "target_conn_id": "a", "confirm": True})
    p = CutoverParams.from_params({**BASE, "confirm": "true", "pause_source": True})
    assert (p.confirm, p.pause_source) == (True, True)


def test_secret_values_errors_never_quote_a_value():
    assert parse_secret_values('{"s": {"k": "v"}}', "secret_values_variable") == {"s": {"k": "v"}}
    with pytest.raises(ConfigError) as err:
        parse_secret_values({"s": {"k": 12345678}}, "secret_values_variable")
    assert "12345678" not in str(err.value)
    assert "'k'" in str(err.value)
    with pytest.raises(ConfigError, match="does not hold JSON"):
        parse_secret_values("{not json: canary-value", "secret_values_variable")


# -- checkpoint ----------------------------------------------------------------------------------
def test_checkpoint_round_trips_and_merges_deltas_from_concurrent_tasks():
    assert checkpoint_key("111", "222") == "111__222"
    empty = Checkpoint.from_dict(None, "111", "222")
    first = CheckpointDelta(ids=[("clusters", "c1", "t1")], hashes=[("clusters", "c1", "h1")])
    first.clusters.append(("run-a", "t1"))
    first.failures.append(("jobs", "j9", "boom"))
    second = CheckpointDelta(
        ids=[("jobs", "j1", "tj1")], pauses=[("j1", "UNPAUSED")], cleared=[("jobs", "j9")]
    )
    merged = empty.merged(first).merged(second)
    doc = merged.to_dict()
    assert doc["id_map"] == {"clusters": {"c1": "t1"}, "jobs": {"j1": "tj1"}}
    assert doc["pause"] == {"j1": "UNPAUSED"}
    assert doc["clusters_created"] == {"run-a": ["t1"]}
    assert doc["failures"] == {}
    assert Checkpoint.from_dict(doc, "111", "222") == merged
    # the same cluster recorded twice is listed once; a forgotten id leaves the map
    again = merged.merged(CheckpointDelta(clusters=[("run-a", "t1")], forgotten=[("clusters", "c1")]))
    assert again.clusters_created == {"run-a": ["t1"]}
    assert "clusters" not in again.id_map
    assert "clusters" not in again.hashes
    assert len(first) == 4


def test_a_migration_never_overwrites_the_source_status_of_a_job_the_cutover_paused():
    migrated = Checkpoint("1", "2").merged(CheckpointDelta(pauses=[("7", "UNPAUSED"), ("8", "PAUSED")]))
    cut = migrated.merged(CheckpointDelta(cutover_paused=["7"], cutover_unpaused=["7"]))
    later = cut.merged(CheckpointDelta(pauses=[("7", "PAUSED"), ("8", "UNPAUSED"), ("9", "PAUSED")]))
    assert later.pause == {"7": "UNPAUSED", "8": "UNPAUSED", "9": "PAUSED"}
    assert later.cutover_paused == {"7"}
    assert Checkpoint.from_dict(later.to_dict(), "1", "2") == later
    # a job the cutover recorded before any migration recorded it gets its status from the migration
    fresh = Checkpoint("1", "2").merged(CheckpointDelta(cutover_paused=["5"], pauses=[("5", "UNPAUSED")]))
    assert fresh.pause == {"5": "UNPAUSED"}


def test_keep_pauses_takes_the_current_pause_status_of_each_trigger_block():
    spec = {"name": "j", "schedule": {"quartz_cron_expression": "x", "pause_status": "PAUSED"}, "tags": {}}
    current = {"schedule": {"quartz_cron_expression": "y", "pause_status": "UNPAUSED"}, "trigger": {}}
    kept = keep_pauses(spec, current)
    assert kept == {
        "name": "j",
        "schedule": {"quartz_cron_expression": "x", "pause_status": "UNPAUSED"},
        "tags": {},
    }
    assert spec["schedule"]["pause_status"] == "PAUSED"  # the spec itself is left as it was
    assert keep_pauses(spec, {"schedule": {"quartz_cron_expression": "y"}})["schedule"]["pause_status"] == (
        "UNPAUSED"
    )
    assert keep_pauses(spec, {}) == spec


def test_copy_stamps_round_trip_and_leave_with_a_forgotten_path():
    assert copy_stamp({"modified_at": 1700}, {"modified_at": 1800}) == "1700:1800"
    # a side that does not say when it changed is never trusted: the pair is exported
    assert copy_stamp({"modified_at": 1700}, {}) is None
    assert copy_stamp({}, {"modified_at": 1800}) is None
    assert copy_stamp({"modified_at": 1700}, None) is None
    assert copy_stamp({"modified_at": True}, {"modified_at": 1800}) is None
    nb = "/Shared/etl/load"
    stamped = Checkpoint("1", "2").merged(
        CheckpointDelta(hashes=[("workspace_objects", nb, "h")], stamps=[(nb, "1700:1800")])
    )
    assert Checkpoint.from_dict(stamped.to_dict(), "1", "2") == stamped
    assert stamped.merged(CheckpointDelta(stamps=[(nb, "1700:1900")])).stamps == {nb: "1700:1900"}
    gone = stamped.merged(CheckpointDelta(forgotten=[("workspace_objects", nb)]))
    assert gone.stamps == {}
    assert "workspace_objects" not in gone.hashes
    # a document written before stamps existed reads with none
    older = {k: v for k, v in stamped.to_dict().items() if k != "stamps"}
    assert Checkpoint.from_dict(older, "1", "2").stamps == {}


def test_a_checkpoint_of_another_pair_or_a_corrupt_one_reads_as_empty():
    doc = Checkpoint("1", "2", id_map={"jobs": {"a": "b"}}).to_dict()
    assert Checkpoint.from_dict(doc, "1", "3").id_map == {}
    assert Checkpoint.from_dict(["junk"], "1", "2").id_map == {}


# -- decisions -----------------------------------------------------------------------------------
WS = "1001"


def prepared(outcome: Outcome = Outcome.MIGRATE, name: str = "etl", sid: str = "c1", **kw: Any) -> Prepared:
    marker = marker_value(WS, sid)
    spec = {"cluster_name": name, "custom_tags": {MARKER_KEY: marker}} if outcome is Outcome.MIGRATE else None
    return Prepared("clusters", sid, name, marker, outcome, spec, **kw)


def cluster(cid: str, name: str, marker: str | None = None) -> dict[str, Any]:
    tags = {MARKER_KEY: marker} if marker else {}
    return {"cluster_id": cid, "cluster_name": name, "custom_tags": tags}


def test_classification_by_marker_then_by_name():
    index = TargetIndex.of(
        "clusters",
        [cluster("t1", "etl", marker_value(WS, "c1")), cluster("t2", "adhoc")],
    )
    found = classify(prepared(), index, identical=False)
    assert (found.action, found.target_id) == (Action.UPDATE, "t1")
    assert classify(prepared(), index, identical=True).action is Action.IDENTICAL
    # same name as an unmarked target cluster: a conflict, never adopted
    clash = classify(prepared(name="adhoc", sid="c2"), index)
    assert clash.action is Action.CONFLICT
    assert "adhoc" in clash.reason
    assert classify(prepared(name="new", sid="c3"), index).action is Action.CREATE
    # a marker of another source workspace is not ours
    other = TargetIndex.of("clusters", [cluster("t9", "etl", marker_value("999", "c1"))])
    assert classify(prepared(), other).action is Action.CREATE
    blocked = classify(prepared(Outcome.BLOCKED, reason="policy p1 not migrated"), index)
    assert (blocked.action, blocked.reason) == (Action.BLOCKED, "policy p1 not migrated")


def test_two_target_objects_with_one_marker_are_a_duplicate_naming_both_and_never_picked():
    index = TargetIndex.of(
        "clusters",
        [
            cluster("t1", "etl", marker_value(WS, "c1")),
            cluster("t7", "etl-copy", marker_value(WS, "c1")),
            cluster("t2", "other", marker_value(WS, "c2")),
        ],
    )
    for identical in (True, False, None):
        decision = classify(prepared(), index, identical=identical)
        assert decision.action is Action.DUPLICATE  # neither updated nor left identical
        assert decision.target_id is None
        assert decision.copies == ("t1", "t7")
        assert "t1, t7" in decision.reason
    assert classify(prepared(name="other", sid="c2"), index, identical=True).action is Action.IDENTICAL
    # a source object that would not be migrated is still reported: it maps to two target objects
    blocked = classify(prepared(Outcome.BLOCKED, reason="policy p1 missing"), index)
    assert blocked.action is Action.DUPLICATE
    assert "policy p1 missing" in blocked.reason
    assert classify(prepared(), index).to_dict()["copies"] == ["t1", "t7"]


def test_marker_ids_leave_a_duplicated_source_id_out_and_list_its_copies():
    jobs = [
        {"job_id": 901, "settings": {"name": "a", "tags": {MARKER_KEY: marker_value(WS, "11")}}},
        {"job_id": 905, "settings": {"name": "a", "tags": {MARKER_KEY: marker_value(WS, "11")}}},
        {"job_id": 903, "settings": {"name": "b", "tags": {MARKER_KEY: marker_value(WS, "12")}}},
        {"job_id": 904, "settings": {"name": "c", "tags": {MARKER_KEY: marker_value("999", "13")}}},
        {"job_id": 906, "settings": {"name": "d"}},
    ]
    ids, copies = marker_ids(WS, "jobs", jobs)
    assert ids == {"12": "903"}
    assert copies == {"11": ("901", "905")}
    scopes, none = marker_ids(WS, "secret_scopes", [{"name": "app", "keys": []}])
    assert (scopes, none) == ({"app": "app"}, {})


def test_workspace_paths_and_scope_names_are_their_own_identity():
    index = TargetIndex.of("secret_scopes", [{"name": "app", "keys": ["k"]}])
    p = Prepared("secret_scopes", "app", "app", None, Outcome.MIGRATE, {"scope": "app", "keys": ["k"]})
    assert classify(p, index, identical=True).action is Action.IDENTICAL
    q = Prepared("secret_scopes", "other", "other", None, Outcome.MIGRATE, {"scope": "other", "keys": []})
    assert classify(q, index).action is Action.CREATE


def test_plan_report_counts_and_lists_reasons():
    index = TargetIndex.of("clusters", [cluster("t1", "etl", marker_value(WS, "c1"))])
    decisions = [
        classify(prepared(), index, identical=True),
        classify(prepared(name="n2", sid="c2"), index),
        classify(
            prepared(Outcome.FILTERED, name="job-cluster", sid="c3", reason="cluster_source JOB"), index
        ),
    ]
    report = PlanReport(tuple(decisions))
    assert report.counts() == {"clusters": {"create": 1, "filtered": 1, "identical": 1}}
    assert report.writes == 1
    text = "\n".join(report.lines())
    assert "clusters filtered: job-cluster (c3): cluster_source JOB" in text
    assert "out of scope, not migrated: mounts" in text


def test_validation_passes_only_identical_or_skipped_with_reason():
    index = TargetIndex.of("clusters", [cluster("t1", "etl", marker_value(WS, "c1"))])
    ok = ValidationReport(
        (
            verdict(prepared(), index, identical=True),
            verdict(prepared(Outcome.FILTERED, sid="c3", reason="cluster_source JOB"), index, None),
            verdict(prepared(Outcome.SKIPPED, sid="c4", reason="skipped by skip_blocked_jobs"), index, None),
        )
    )
    assert ok.ok, ok.lines()
    bad = ValidationReport(
        (
            verdict(prepared(), index, identical=False),
            verdict(prepared(name="n2", sid="c2"), index, None),
            verdict(prepared(Outcome.BLOCKED, sid="c5", reason="policy p1 missing"), index, None),
        )
    )
    assert not bad.ok
    assert [v.check for v in bad.failures] == [Check.DIFFERS, Check.MISSING, Check.BLOCKED]
    assert bad.counts() == {"clusters": {"blocked": 1, "differs": 1, "missing": 1}}
    assert bad.lines()[-1] == "validation FAILED: 3 object(s)"
    assert bad.to_dict()["ok"] is False
    assert bad.duplicates() == {}


def test_validation_fails_a_duplicate_naming_every_id_and_counts_duplicates_per_type():
    index = TargetIndex.of(
        "clusters",
        [cluster(t, "etl", marker_value(WS, "c1")) for t in ("t1", "t4", "t9")]
        + [cluster("t2", "n2", marker_value(WS, "c2"))],
    )
    jobs_index = TargetIndex.of(
        "jobs",
        [
            {"job_id": j, "settings": {"name": "nightly", "tags": {MARKER_KEY: marker_value(WS, "11")}}}
            for j in (901, 902)
        ],
    )
    job = Prepared("jobs", "11", "nightly", marker_value(WS, "11"), Outcome.MIGRATE, {"name": "nightly"})
    report = ValidationReport(
        (
            verdict(prepared(), index, identical=True),
            verdict(prepared(name="n2", sid="c2"), index, identical=True),
            verdict(job, jobs_index, identical=True),
        )
    )
    assert not report.ok
    assert [(v.object_type, v.check) for v in report.failures] == [
        ("clusters", Check.DUPLICATE),
        ("jobs", Check.DUPLICATE),
    ]
    assert "t1, t4, t9" in report.failures[0].reason
    assert "901, 902" in report.failures[1].reason
    assert report.duplicates() == {"clusters": 1, "jobs": 1}
    assert report.counts()["clusters"] == {"duplicate": 1, "identical": 1}
    assert report.to_dict()["duplicates"] == {"clusters": 1, "jobs": 1}
    text = "\n".join(report.lines())
    assert "clusters duplicate: etl (c1): 3 target clusters objects carry its marker (t1, t4, t9)" in text


def test_unpaused_triggers_treat_a_missing_status_as_running():
    assert (
        unpaused_triggers({"schedule": {"quartz_cron_expression": "0 0 * * * ?", "pause_status": "PAUSED"}})
        == []
    )
    assert unpaused_triggers({"continuous": {}, "trigger": {"pause_status": "UNPAUSED"}}) == [
        "continuous",
        "trigger",
    ]
    assert unpaused_triggers({"name": "no trigger"}) == []


def test_progress_line():
    assert progress_line("jobs", 50, 120, 3, 4) == "jobs: 50/120 done, 3 retries, concurrency 4"


def scope(keys: list[str], reason: str = "") -> Prepared:
    return Prepared(
        "secret_scopes", "app", "app", None, Outcome.MIGRATE, {"scope": "app", "keys": keys}, reason
    )


def test_a_scope_copied_without_some_values_is_listed_in_the_plan_and_fails_validation():
    index = TargetIndex.of("secret_scopes", [{"name": "app", "keys": ["k1"]}])
    partial = scope(["k1"], "secret_scopes app: needs value: k2")
    plan = PlanReport((classify(partial, index, identical=True),))
    assert "  secret_scopes identical: app (app): secret_scopes app: needs value: k2" in plan.lines()
    checked = verdict(partial, index, identical=True)
    assert checked.check is Check.NEEDS_VALUE
    assert "k2" in checked.reason
    assert verdict(scope(["k1"]), index, identical=True).check is Check.IDENTICAL


def test_docker_passwords_sit_beside_the_scopes_and_errors_never_quote_them():
    from platform_ops.core.dr_migrate import parse_docker_passwords

    doc = {"app": {"k": "v"}, "instance_pools:docker_basic_auth": {"dock": {"reg/rt:1": "pw-1"}}}
    assert parse_secret_values(doc, "secret_values_variable") == {"app": {"k": "v"}}
    assert parse_docker_passwords(doc, "secret_values_variable") == {"dock": {"reg/rt:1": "pw-1"}}
    assert parse_docker_passwords({"app": {"k": "v"}}, "x") == {}
    with pytest.raises(ConfigError) as err:
        parse_docker_passwords({"instance_pools:docker_basic_auth": {"dock": {"reg/rt:1": 7}}}, "v")
    assert err.value.field == "v.instance_pools:docker_basic_auth"
    assert "dock" in str(err.value)


@pytest.mark.parametrize("folder", ["relative/dir", "/", "/Repos/team", "/Shared/../x"])
def test_a_bad_init_scripts_folder_names_the_param(folder):
    with pytest.raises(ConfigError) as err:
        DrParams.from_params({"source_conn_id": "a", "target_conn_id": "b", "init_scripts_folder": folder})
    assert err.value.field == "init_scripts_folder"


def test_relocation_params_default_off():
    params = DrParams.from_params({"source_conn_id": "a", "target_conn_id": "b"})
    assert (params.relocate_dbfs_init_scripts, params.init_scripts_folder) == (
        False,
        "/Shared/dr-init-scripts",
    )
    on = DrParams.from_params(
        {
            "source_conn_id": "a",
            "target_conn_id": "b",
            "relocate_dbfs_init_scripts": "true",
            "init_scripts_folder": "/Shared/ops/init/",
        }
    )
    assert (on.relocate_dbfs_init_scripts, on.init_scripts_folder) == (True, "/Shared/ops/init")
