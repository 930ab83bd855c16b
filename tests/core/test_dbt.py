"""The run/retry decision, command lines and run_results bookkeeping, branch by branch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_ops.core.dbt import (
    Action,
    Command,
    DbtRequest,
    Mode,
    NoStateToRetry,
    build_argv,
    decide,
    deps_argv,
    deps_fingerprint,
    failed_nodes,
    failure_message,
    load_state,
    merge_run_results,
    new_state_doc,
    node_index,
    status_counts,
    successful_models,
)
from platform_ops.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[2]
PROJECT = str(REPO / "include" / "dbt")


def req(**kw) -> DbtRequest:
    params = {"project_dir": PROJECT, "target": "local", "select": "tag:daily"}
    params.update(kw)
    return DbtRequest.from_params(**params)


def result(uid: str, status: str, message: str | None = None) -> dict:
    return {"unique_id": uid, "status": status, "message": message, "execution_time": 0.1}


def run_results(*results: dict, args: dict | None = None) -> dict:
    return {
        "metadata": {"invocation_id": "x", "generated_at": "2026-11-21T00:00:00Z"},
        "results": list(results),
        "args": args or {"which": "build", "select": ["tag:daily"], "target": "local"},
        "elapsed_time": 1.0,
    }


GREEN = run_results(result("model.shop.a", "success"), result("test.shop.t_a", "pass"))
FAILED = run_results(
    result("model.shop.a", "success"),
    result("model.shop.b", "error", "boom"),
    result("model.shop.c", "skipped"),
    result("test.shop.t_c", "skipped"),
)


def doc_for(rr: dict, request: DbtRequest | None = None, nodes: dict | None = None) -> dict:
    return new_state_doc(request or req(), rr, nodes or {}, [])


# -- decide(): every branch ----------------------------------------------------------------------


def test_no_state_runs_in_full() -> None:
    d = decide(None, req(), Mode.AUTO, force=False)
    assert d.action is Action.RUN
    assert "no run_results stored" in d.reason
    assert d.warning is None


def test_failures_for_the_same_request_are_retried() -> None:
    d = decide(doc_for(FAILED), req(), Mode.AUTO, force=False)
    assert d.action is Action.RETRY
    assert d.nodes == ("model.shop.b", "model.shop.c", "test.shop.t_c")


@pytest.mark.parametrize("status", ["error", "fail", "runtime error", "skipped", "partial success"])
def test_every_retryable_status_triggers_a_retry(status: str) -> None:
    rr = run_results(result("model.shop.a", "success"), result("model.shop.b", status))
    assert decide(doc_for(rr), req(), Mode.AUTO, force=False).action is Action.RETRY


def test_green_state_is_nothing_to_do() -> None:
    d = decide(doc_for(GREEN), req(), Mode.AUTO, force=False)
    assert d.action is Action.SKIP
    assert "all green" in d.reason


def test_green_state_with_force_runs_in_full() -> None:
    assert decide(doc_for(GREEN), req(), Mode.AUTO, force=True).action is Action.RUN


@pytest.mark.parametrize(
    "other",
    [{"target": "dev"}, {"select": "tag:hourly"}, {"exclude": "stg_orders"}, {"command": "run"}],
    ids=["target", "select", "exclude", "command"],
)
def test_state_for_another_request_runs_in_full_with_warning(other: dict) -> None:
    stored = doc_for(FAILED, req(command="build"))
    d = decide(stored, req(**{"command": "build", **other}), Mode.AUTO, force=False)
    assert d.action is Action.RUN
    assert d.warning is not None
    assert "stored results are for" in d.warning


def test_selection_order_does_not_matter() -> None:
    stored = doc_for(FAILED, req(select="tag:daily tag:hourly"))
    assert decide(stored, req(select=["tag:hourly", "tag:daily"]), Mode.AUTO, False).action is Action.RETRY


@pytest.mark.parametrize(
    "corrupt",
    [
        {"format": 99},
        {"format": 1, "request": {}, "run_results": {"results": []}},
        {"format": 1, "request": {}, "run_results": {"results": [{"status": "error"}]}},
        {"format": 1, "request": "x", "run_results": {"results": [{"unique_id": "a", "status": "error"}]}},
        {"format": 1},
        ["not", "an", "object"],
        "text",
    ],
)
def test_corrupt_state_runs_in_full_with_warning(corrupt: object) -> None:
    d = decide(corrupt, req(), Mode.AUTO, force=False)
    assert d.action is Action.RUN
    assert d.warning is not None
    assert "stored state ignored" in d.warning


def test_mode_run_ignores_state() -> None:
    assert decide(doc_for(FAILED), req(), Mode.RUN, force=False).action is Action.RUN


def test_mode_retry_retries_failures() -> None:
    assert decide(doc_for(FAILED), req(), Mode.RETRY, force=False).action is Action.RETRY


def test_mode_retry_without_state_fails_with_the_fix() -> None:
    with pytest.raises(NoStateToRetry, match="dbt_retry=auto"):
        decide(None, req(), Mode.RETRY, force=False)


def test_mode_retry_with_state_for_another_target_fails() -> None:
    with pytest.raises(NoStateToRetry, match="same target"):
        decide(doc_for(FAILED), req(target="dev"), Mode.RETRY, force=False)


def test_mode_retry_with_green_state_is_nothing_to_do() -> None:
    assert decide(doc_for(GREEN), req(), Mode.RETRY, force=False).action is Action.SKIP


def test_build_with_failed_test_rebuilds_the_tested_model() -> None:
    rr = run_results(
        result("seed.shop.raw", "success"),
        result("model.shop.stg", "success"),
        result("test.shop.amounts", "fail", "Got 12 results"),
        result("model.shop.mart", "skipped"),
    )
    nodes = {
        "test.shop.amounts": {"selector": "fqn:shop.amounts", "parents": ["model.shop.stg"]},
        "model.shop.stg": {"selector": "fqn:shop.staging.stg", "parents": ["seed.shop.raw"]},
        "model.shop.mart": {"selector": "fqn:shop.marts.mart", "parents": ["model.shop.stg"]},
    }
    request = req(command="build")
    d = decide(doc_for(rr, request, nodes), request, Mode.AUTO, force=False)
    assert d.action is Action.REBUILD
    assert d.nodes == ("test.shop.amounts", "model.shop.mart", "model.shop.stg")
    assert d.selectors == ("fqn:shop.amounts", "fqn:shop.marts.mart", "fqn:shop.staging.stg")


def test_build_with_failed_test_but_no_node_map_runs_in_full() -> None:
    rr = run_results(result("model.shop.stg", "success"), result("test.shop.amounts", "fail"))
    request = req(command="build")
    d = decide(doc_for(rr, request, {}), request, Mode.AUTO, force=False)
    assert d.action is Action.RUN
    assert "no selector" in (d.warning or "")


def test_run_command_with_failed_test_uses_dbt_retry() -> None:
    rr = run_results(result("model.shop.stg", "success"), result("test.shop.amounts", "fail"))
    assert decide(doc_for(rr), req(), Mode.AUTO, force=False).action is Action.RETRY


# -- validation: every bad input names its field --------------------------------------------------


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("project_dir", {"project_dir": ""}),
        ("project_dir", {"project_dir": "/nonexistent"}),
        ("profiles_dir", {"profiles_dir": "/tmp"}),
        ("target", {"target": "prod; rm -rf /"}),
        ("target", {"target": ""}),
        ("command", {"command": "seed"}),
        ("select", {"select": ["tag:daily", "--full-refresh"]}),
        ("exclude", {"exclude": [""]}),
        ("threads", {"threads": 0}),
        ("threads", {"threads": 65}),
        ("threads", {"threads": "four"}),
        ("threads", {"threads": True}),
        ("threads", {"threads": 2.5}),
        ("full_refresh", {"full_refresh": "yes"}),
        ("vars", {"vars": "{not json"}),
        ("vars", {"vars": [1, 2]}),
        ("vars", {"vars": {"when": object()}}),
    ],
)
def test_bad_inputs_name_the_field(field: str, kw: dict) -> None:
    with pytest.raises(ConfigError) as err:
        req(**kw)
    assert err.value.field == field
    assert "Fix:" in str(err.value)


def test_rendered_template_values_are_accepted() -> None:
    r = req(threads="8", full_refresh="True", vars='{"a": 1}', command="BUILD")
    assert (r.threads, r.full_refresh, r.vars, r.command) == (8, True, {"a": 1}, Command.BUILD)


# -- command lines -------------------------------------------------------------------------------


def test_full_run_argv_always_has_target_and_full_vars() -> None:
    r = req(select="tag:daily", exclude="stg_x", vars={"b": 2, "a": 1}, threads=4, full_refresh=True)
    argv = build_argv("/env/dbt", decide(None, r, Mode.AUTO, False), r, "/w/target")
    assert argv[:3] == ["/env/dbt", "--no-use-colors", "run"]
    assert argv[argv.index("--target") + 1] == "local"
    assert json.loads(argv[argv.index("--vars") + 1]) == {"a": 1, "b": 2}
    assert argv[argv.index("--select") + 1] == "tag:daily"
    assert argv[argv.index("--exclude") + 1] == "stg_x"
    assert argv[argv.index("--threads") + 1] == "4"
    assert argv[argv.index("--target-path") + 1] == "/w/target"
    assert argv[-1] == "--full-refresh"


def test_retry_argv_passes_state_target_and_empty_vars() -> None:
    r = req()
    d = decide(doc_for(FAILED), r, Mode.AUTO, False)
    argv = build_argv("/env/dbt", d, r, "/w/target", "/w/state")
    assert argv[2] == "retry"
    assert argv[argv.index("--state") + 1] == "/w/state"
    assert argv[argv.index("--target") + 1] == "local"
    assert argv[argv.index("--vars") + 1] == "{}"  # replaces the failed run's vars
    assert "--select" not in argv
    with pytest.raises(ValueError, match="restored run_results"):
        build_argv("/env/dbt", d, r, "/w/target")


def test_skip_has_no_command() -> None:
    r = req()
    with pytest.raises(ValueError, match="runs no dbt command"):
        build_argv("/env/dbt", decide(doc_for(GREEN), r, Mode.AUTO, False), r, "/w")


# -- run_results ---------------------------------------------------------------------------------


def test_merge_replaces_retried_nodes_and_keeps_original_args() -> None:
    retry = run_results(
        result("model.shop.b", "success"),
        result("model.shop.c", "success"),
        result("test.shop.t_c", "pass"),
        args={"which": "retry"},
    )
    retry["metadata"] = {"invocation_id": "y"}
    merged = merge_run_results(FAILED, retry)
    assert [(r["unique_id"], r["status"]) for r in merged["results"]] == [
        ("model.shop.a", "success"),
        ("model.shop.b", "success"),
        ("model.shop.c", "success"),
        ("test.shop.t_c", "pass"),
    ]
    assert merged["args"] == FAILED["args"]
    assert merged["metadata"] == {"invocation_id": "y"}
    assert FAILED["results"][1]["status"] == "error", "merge must not mutate its input"


def test_merge_appends_nodes_new_to_the_picture() -> None:
    merged = merge_run_results(GREEN, run_results(result("model.shop.new", "success")))
    assert [r["unique_id"] for r in merged["results"]][-1] == "model.shop.new"


def test_chained_merges_keep_the_full_picture() -> None:
    first_retry = merge_run_results(FAILED, run_results(result("model.shop.b", "error", "again")))
    second = merge_run_results(first_retry, run_results(result("model.shop.b", "success")))
    assert len(second["results"]) == 4
    assert status_counts(second) == {"skipped": 2, "success": 2}


def test_summaries() -> None:
    assert status_counts(FAILED) == {"error": 1, "skipped": 2, "success": 1}
    assert failed_nodes(FAILED) == [{"unique_id": "model.shop.b", "status": "error", "message": "boom"}]
    assert "model.shop.b [error]: boom" in failure_message(FAILED)
    assert successful_models(FAILED) == ["model.shop.a"]
    assert successful_models(GREEN, ran=[]) == []


def test_node_index_from_manifest() -> None:
    manifest = {
        "nodes": {
            "model.shop.stg": {
                "fqn": ["shop", "staging", "stg"],
                "resource_type": "model",
                "depends_on": {"nodes": ["seed.shop.raw"], "macros": []},
            },
            "test.shop.t": {
                "fqn": ["shop", "staging", "t"],
                "resource_type": "test",
                "depends_on": {"nodes": ["model.shop.stg", "macro.x"]},
            },
        }
    }
    idx = node_index(manifest, ["model.shop.stg", "test.shop.t", "model.shop.gone"])
    assert idx == {
        "model.shop.stg": {
            "selector": "fqn:shop.staging.stg",
            "resource_type": "model",
            "parents": ["seed.shop.raw"],
        },
        "test.shop.t": {
            "selector": "fqn:shop.staging.t",
            "resource_type": "test",
            "parents": ["model.shop.stg"],
        },
    }


def test_load_state_round_trip() -> None:
    state, why = load_state(doc_for(FAILED))
    assert why is None
    assert state is not None
    assert state.retry_nodes() == ["model.shop.b", "model.shop.c", "test.shop.t_c"]
    assert load_state(None) == (None, None)


# -- dbt deps ------------------------------------------------------------------------------------


def test_deps_fingerprint(tmp_path: Path) -> None:
    assert deps_fingerprint(tmp_path) is None
    (tmp_path / "package-lock.yml").write_text("packages: []\n")
    assert deps_fingerprint(tmp_path) is None, "a lock alone declares no packages"
    (tmp_path / "packages.yml").write_text("packages:\n  - local: ../pkg\n")
    first = deps_fingerprint(tmp_path)
    assert first is not None
    assert deps_fingerprint(tmp_path) == first
    (tmp_path / "package-lock.yml").write_text("packages: [changed]\n")
    assert deps_fingerprint(tmp_path) != first


def test_deps_argv_names_the_project_and_target() -> None:
    r = req(profiles_dir=PROJECT)
    assert deps_argv("/env/dbt", r) == [
        "/env/dbt",
        "--no-use-colors",
        "deps",
        "--project-dir",
        PROJECT,
        "--profiles-dir",
        PROJECT,
        "--target",
        "local",
    ]
