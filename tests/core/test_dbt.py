"""The run/retry decision, command lines and run_results bookkeeping, branch by branch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_ops.core.dbt import (
    Command,
    DbtRequest,
    NoStateToRetry,
    Project,
    Scope,
    Step,
    build_argv,
    check_against_project,
    decide,
    deps_argv,
    deps_fingerprint,
    failed_nodes,
    failure_message,
    load_state,
    ls_argv,
    merge_run_results,
    new_state_doc,
    node_index,
    nothing_selected_error,
    parse_enum,
    parse_ls_log,
    retry_run_results,
    retry_session_spec,
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


def dbt_args(request: DbtRequest) -> dict:
    """The part of the ``args`` dbt writes to run_results.json that identifies the request."""
    args = {
        "which": request.command.value,
        "select": list(request.select),
        "exclude": list(request.exclude),
        "target": request.target,
        "threads": 4,
        "vars": request.vars,
    }
    return {**args, "full_refresh": True} if request.full_refresh else args


def doc_for(
    rr: dict, request: DbtRequest | None = None, nodes: dict | None = None, args: dict | None = None
) -> dict:
    """The document stored for ``request``: dbt's args are the request's unless ``args`` is given."""
    request = request or req()
    return new_state_doc(request, {**rr, "args": args or dbt_args(request)}, nodes or {}, [])


# -- decide(): every branch ----------------------------------------------------------------------


def test_no_state_runs_in_full() -> None:
    d = decide(None, req(), Scope.AUTO, force=False)
    assert d.step is Step.RUN
    assert "no run_results stored" in d.reason
    assert d.warning is None


def test_failures_for_the_same_request_are_retried() -> None:
    d = decide(doc_for(FAILED), req(), Scope.AUTO, force=False)
    assert d.step is Step.RETRY
    assert d.nodes == ("model.shop.b", "model.shop.c", "test.shop.t_c")


@pytest.mark.parametrize("status", ["error", "fail", "runtime error", "skipped", "partial success"])
def test_every_retryable_status_triggers_a_retry(status: str) -> None:
    rr = run_results(result("model.shop.a", "success"), result("model.shop.b", status))
    assert decide(doc_for(rr), req(), Scope.AUTO, force=False).step is Step.RETRY


def test_green_state_is_nothing_to_do() -> None:
    d = decide(doc_for(GREEN), req(), Scope.AUTO, force=False)
    assert d.step is Step.SKIP
    assert "all green" in d.reason


def test_green_state_with_force_runs_in_full() -> None:
    assert decide(doc_for(GREEN), req(), Scope.AUTO, force=True).step is Step.RUN


@pytest.mark.parametrize(
    "other",
    [{"target": "dev"}, {"select": "tag:hourly"}, {"exclude": "stg_orders"}, {"command": "run"}],
    ids=["target", "select", "exclude", "command"],
)
def test_state_for_another_request_runs_in_full_with_warning(other: dict) -> None:
    stored = doc_for(FAILED, req(command="build"))
    d = decide(stored, req(**{"command": "build", **other}), Scope.AUTO, force=False)
    assert d.step is Step.RUN
    assert d.warning is not None
    assert "stored results are for" in d.warning


def test_selection_order_does_not_matter() -> None:
    stored = doc_for(FAILED, req(select="tag:daily tag:hourly"))
    assert decide(stored, req(select=["tag:hourly", "tag:daily"]), Scope.AUTO, False).step is Step.RETRY


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
    d = decide(corrupt, req(), Scope.AUTO, force=False)
    assert d.step is Step.RUN
    assert d.warning is not None
    assert "stored state ignored" in d.warning


def test_scope_full_ignores_state() -> None:
    assert decide(doc_for(FAILED), req(), Scope.FULL, force=False).step is Step.RUN


def test_the_scope_choice_names_what_runs() -> None:
    assert [s.value for s in Scope] == ["auto", "failed", "full"]
    assert parse_enum("scope", " Failed ", Scope) is Scope.FAILED
    with pytest.raises(ConfigError, match=r"^scope: 'retry' is not one of auto \| failed \| full"):
        parse_enum("scope", "retry", Scope)


@pytest.mark.parametrize("doc", [None, "other target"])
def test_refusals_name_the_operator_argument_not_a_dag_param(doc: str | None) -> None:
    stored, request = (None, req()) if doc is None else (doc_for(FAILED), req(target="dev"))
    with pytest.raises(NoStateToRetry) as err:
        decide(stored, request, Scope.FAILED, force=False)
    assert str(err.value).startswith("scope: 'failed' re-runs stored failures, but ")
    assert "Fix: " in str(err.value)
    assert "scope=auto" in str(err.value)
    assert "dbt_retry" not in str(err.value)


def test_scope_failed_retries_failures() -> None:
    assert decide(doc_for(FAILED), req(), Scope.FAILED, force=False).step is Step.RETRY


def test_scope_failed_without_state_fails_with_the_fix() -> None:
    with pytest.raises(NoStateToRetry, match="scope=auto"):
        decide(None, req(), Scope.FAILED, force=False)


def test_scope_failed_with_state_for_another_target_fails() -> None:
    with pytest.raises(NoStateToRetry, match="same target"):
        decide(doc_for(FAILED), req(target="dev"), Scope.FAILED, force=False)


def test_scope_failed_with_green_state_is_nothing_to_do() -> None:
    assert decide(doc_for(GREEN), req(), Scope.FAILED, force=False).step is Step.SKIP


def test_build_with_failed_test_rebuilds_the_tested_model() -> None:
    """decide() asks for a rebuild; the nodes and selectors come from the current project."""
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
    d = decide(doc_for(rr, request, nodes), request, Scope.AUTO, force=False)
    assert d.step is Step.REBUILD
    d = check_against_project(d, request, Scope.AUTO, project_of(SHOP_MANIFEST))
    assert d.step is Step.REBUILD
    assert d.nodes == ("test.shop.amounts", "model.shop.mart", "model.shop.stg", "model.shop.other")
    assert d.selectors == (
        "fqn:shop.amounts",
        "fqn:shop.marts.mart",
        "fqn:shop.staging.stg",
        "fqn:shop.marts.other",
    )


def test_run_command_with_failed_test_uses_dbt_retry() -> None:
    rr = run_results(result("model.shop.stg", "success"), result("test.shop.amounts", "fail"))
    assert decide(doc_for(rr), req(), Scope.AUTO, force=False).step is Step.RETRY


def _node(fqn: list[str], resource_type: str, parents: list[str] = ()) -> dict:
    return {"fqn": fqn, "resource_type": resource_type, "depends_on": {"nodes": list(parents)}}


#: the current project, as dbt's manifest.json describes it
SHOP_MANIFEST = {
    "nodes": {
        "seed.shop.raw": _node(["shop", "raw"], "seed"),
        "model.shop.stg": _node(["shop", "staging", "stg"], "model", ["seed.shop.raw"]),
        "model.shop.mart": _node(["shop", "marts", "mart"], "model", ["model.shop.stg"]),
        "test.shop.amounts": _node(["shop", "amounts"], "test", ["model.shop.stg", "model.shop.other"]),
        "model.shop.other": _node(["shop", "marts", "other"], "model"),
        "model.shop.a": _node(["shop", "a"], "model"),
        "model.shop.b": _node(["shop", "b"], "model", ["model.shop.a"]),
        "model.shop.c": _node(["shop", "c"], "model", ["model.shop.b"]),
        "test.shop.t_c": _node(["shop", "t_c"], "test", ["model.shop.c"]),
        "model.shop.unselected": _node(["shop", "unselected"], "model"),
    },
    "sources": {"source.shop.raw.orders": {"fqn": ["shop", "raw", "orders"]}},
}


def project_of(manifest: dict, selected: set[str] | None = None) -> Project:
    """The project with the request selecting every node but model.shop.unselected (by default)."""
    everything = {**manifest["nodes"], **manifest.get("sources", {})}
    return Project(manifest, frozenset(selected or set(everything) - {"model.shop.unselected"}))


# -- the stored document never decides what dbt executes (tampered documents) ---------------------


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("which", {"which": "run-operation", "macro": "run_query", "args": {"sql": "drop table x"}}),
        ("macro", {"which": "build", "select": ["tag:daily"], "target": "local", "macro": "run_query"}),
        ("target", {"which": "build", "select": ["tag:daily"], "target": "prod"}),
        ("select", {"which": "build", "select": ["tag:daily", "+secrets"], "target": "local"}),
        ("exclude", {"which": "build", "select": ["tag:daily"], "exclude": ["x"], "target": "local"}),
        (
            "full_refresh",
            {"which": "build", "select": ["tag:daily"], "target": "local", "full_refresh": True},
        ),
        ("selector", {"which": "build", "select": ["tag:daily"], "target": "local", "selector": "all"}),
    ],
)
def test_stored_args_that_differ_from_the_request_are_refused_naming_the_field(
    field: str, args: dict
) -> None:
    request = req(command="build")
    doc = doc_for(FAILED, request, args=args)
    d = decide(doc, request, Scope.AUTO, force=False)
    assert d.step is Step.RUN, "auto: the requested command runs in full, nothing stored is executed"
    assert f"run_results.args.{field}" in (d.warning or "")
    with pytest.raises(NoStateToRetry, match=rf"run_results\.args\.{field}"):
        decide(doc, request, Scope.FAILED, force=False)


def test_stored_args_matching_the_request_still_retry() -> None:
    request = req(command="build")
    args = {"which": "build", "select": ["tag:daily"], "exclude": [], "target": "local", "threads": 4}
    doc = doc_for(FAILED, request, args=args)
    assert decide(doc, request, Scope.AUTO, force=False).step is Step.RETRY


def test_the_run_results_given_to_dbt_retry_are_rebuilt_from_the_request() -> None:
    """dbt retry takes its command, selection and target from run_results.json's args, so the
    file written for it must come from the request, whatever the stored document says."""
    request = req(command="build", select="tag:daily", exclude="stg_x", vars={"a": 1})
    evil = {"which": "run-operation", "macro": "run_query", "args": {"sql": "x"}, "target": "prod"}
    rr = run_results(
        result("model.shop.a", "success"),
        {**result("model.shop.b", "error"), "compiled_code": "select 'secret'", "batch_results": {"x": 1}},
        result("model.shop.c", "skipped"),
        args=evil,
    )
    rr["metadata"]["invocation_started_at"] = "2026-11-21T00:00:00Z"
    state, _ = load_state(doc_for(rr, request, args=evil))
    out = retry_run_results(state, request, ("model.shop.b", "model.shop.c"))
    assert out["args"] == {
        "which": "build",
        "select": ["tag:daily"],
        "exclude": ["stg_x"],
        "target": "local",
    }
    assert [(r["unique_id"], r["status"]) for r in out["results"]] == [
        ("model.shop.b", "error"),
        ("model.shop.c", "skipped"),
    ]
    assert all(r["compiled_code"] is None and "batch_results" not in r for r in out["results"])
    assert out["metadata"]["invocation_started_at"] == "2026-11-21T00:00:00Z"
    assert "macro" not in json.dumps(out)
    # full_refresh is passed the only way dbt retry accepts it: in args
    fr = req(command="build", full_refresh=True)
    assert retry_run_results(state, fr, ("model.shop.b",))["args"]["full_refresh"] is True


def test_stored_selectors_and_parents_are_never_used() -> None:
    """A rebuild's selectors and the models it rebuilds come from the current manifest."""
    rr = run_results(result("model.shop.stg", "success"), result("test.shop.amounts", "fail"))
    evil = {
        "test.shop.amounts": {"selector": "--project-dir=/tmp/evil", "parents": ["model.shop.unselected"]},
    }
    request = req(command="build")
    d = decide(doc_for(rr, request, evil), request, Scope.AUTO, force=False)
    d = check_against_project(d, request, Scope.AUTO, project_of(SHOP_MANIFEST))
    assert d.step is Step.REBUILD
    assert d.nodes == ("test.shop.amounts", "model.shop.stg", "model.shop.other")
    assert d.selectors == ("fqn:shop.amounts", "fqn:shop.staging.stg", "fqn:shop.marts.other")


@pytest.mark.parametrize(
    "uid", ["model.shop.unselected", "source.shop.raw.orders", "operation.shop.shop-on-run-start-0"]
)
def test_stored_failures_outside_the_requested_selection_are_not_retried(uid: str) -> None:
    rr = run_results(result("model.shop.a", "success"), result(uid, "error"))
    request = req(command="build")
    d = decide(doc_for(rr, request), request, Scope.AUTO, force=False)
    checked = check_against_project(d, request, Scope.AUTO, project_of(SHOP_MANIFEST))
    assert checked.step is Step.RUN
    assert uid in (checked.warning or "")
    assert "not selected" in (checked.warning or "")
    with pytest.raises(NoStateToRetry, match=r"run_results\.results"):
        check_against_project(d, request, Scope.FAILED, project_of(SHOP_MANIFEST))


def test_a_run_command_retries_models_only() -> None:
    rr = run_results(result("model.shop.a", "success"), result("test.shop.t_c", "fail"))
    request = req(command="run")
    d = decide(doc_for(rr, request), request, Scope.AUTO, force=False)
    assert d.step is Step.RETRY
    assert check_against_project(d, request, Scope.AUTO, project_of(SHOP_MANIFEST)).step is Step.RUN


def test_failures_in_the_selection_are_retried_as_stored() -> None:
    request = req(command="build")
    d = decide(doc_for(FAILED, request), request, Scope.AUTO, force=False)
    assert check_against_project(d, request, Scope.AUTO, project_of(SHOP_MANIFEST)) == d


# -- failures of models that no longer exist ------------------------------------------------------


def test_stored_failure_of_a_deleted_model_runs_in_full_with_a_warning() -> None:
    rr = run_results(result("model.shop.a", "success"), result("model.shop.renamed_away", "error"))
    request = req(command="build")
    d = decide(doc_for(rr, request), request, Scope.AUTO, force=False)
    checked = check_against_project(d, request, Scope.AUTO, project_of(SHOP_MANIFEST))
    assert checked.step is Step.RUN
    assert "model.shop.renamed_away" in (checked.warning or "")
    assert "no longer exist" in (checked.warning or "")


def test_stored_failure_of_a_deleted_model_with_scope_failed_says_how_to_get_out() -> None:
    rr = run_results(result("model.shop.a", "success"), result("test.shop.gone", "fail"))
    request = req(command="build")
    d = decide(doc_for(rr, request), request, Scope.FAILED, force=False)
    with pytest.raises(NoStateToRetry, match="scope=full") as err:
        check_against_project(d, request, Scope.FAILED, project_of(SHOP_MANIFEST))
    assert "test.shop.gone" in str(err.value)


def test_deleted_parent_of_a_failed_test_is_not_needed() -> None:
    """Only stored failures count: a failed test's parents come from the current manifest."""
    rr = run_results(result("model.shop.old_parent", "success"), result("test.shop.amounts", "fail"))
    request = req(command="build")
    d = decide(doc_for(rr, request), request, Scope.AUTO, force=False)
    assert check_against_project(d, request, Scope.AUTO, project_of(SHOP_MANIFEST)).step is Step.REBUILD


# -- full_refresh is never ignored ----------------------------------------------------------------


@pytest.mark.parametrize("stored", [GREEN, FAILED], ids=["green", "failed"])
def test_full_refresh_forces_a_full_run_with_full_refresh(stored: dict) -> None:
    request = req(full_refresh=True)
    d = decide(doc_for(stored, req()), request, Scope.AUTO, force=False)
    assert d.step is Step.RUN
    assert "full_refresh" in (d.warning or "") + d.reason
    assert build_argv("/env/dbt", d, request, "/w/target")[-1] == "--full-refresh"


def test_full_refresh_with_scope_failed_on_results_without_it_is_refused() -> None:
    with pytest.raises(NoStateToRetry, match="full_refresh"):
        decide(doc_for(FAILED, req()), req(full_refresh=True), Scope.FAILED, force=False)


def test_failures_of_a_full_refresh_run_are_retried_with_full_refresh() -> None:
    """An Airflow retry of a full-refresh run re-runs only its failures, still as a full refresh."""
    request = req(full_refresh=True)
    d = decide(doc_for(FAILED, request), request, Scope.AUTO, force=False)
    assert d.step is Step.RETRY
    state, _ = load_state(doc_for(FAILED, request))
    assert retry_run_results(state, request, d.nodes)["args"]["full_refresh"] is True


def test_results_stored_before_full_refresh_was_recorded_count_as_without_it() -> None:
    doc = doc_for(FAILED)
    del doc["request"]["full_refresh"]
    assert decide(doc, req(), Scope.AUTO, force=False).step is Step.RETRY
    assert decide(doc, req(full_refresh=True), Scope.AUTO, force=False).step is Step.RUN


# -- dbt ls: the request's selection in the current project ----------------------------------------


def test_ls_argv_lists_the_requested_selection_quietly() -> None:
    r = req(select="tag:daily", exclude="stg_x", vars={"a": 1})
    argv = ls_argv("/env/dbt", r, "/w/target", "/w/logs")
    assert argv[0] == "/env/dbt"
    ls = argv.index("ls")
    assert argv[argv.index("--log-level") + 1] == "none"
    assert argv.index("--log-level") < ls
    assert argv[argv.index("--target") + 1] == "local"
    assert argv[argv.index("--select") + 1] == "tag:daily"
    assert argv[argv.index("--exclude") + 1] == "stg_x"
    assert json.loads(argv[argv.index("--vars") + 1]) == {"a": 1}
    assert argv[argv.index("--target-path") + 1] == "/w/target"
    assert argv[argv.index("--log-path") + 1] == "/w/logs"


def test_a_retry_session_lists_the_request_then_runs_the_retry_argv() -> None:
    r = req(command="build", select="tag:daily", exclude="stg_x", vars={"a": 1}, threads=4)
    d = decide(doc_for(FAILED, r), r, Scope.AUTO, False)
    spec = retry_session_spec(d, r, "/w/target", "/w/state", "/w/session.json")
    assert spec["retry"] == build_argv("dbt", d, r, "/w/target", "/w/state")[1:]
    assert spec["required"] == ["model.shop.b", "model.shop.c", "test.shop.t_c"]
    assert set(spec["runnable"]) == {"model", "seed", "snapshot", "test", "unit_test", "function"}
    assert spec["out"] == "/w/session.json"
    ls = spec["ls"]
    assert ls.index("--log-level") < ls.index("ls")
    assert ls[ls.index("--log-level") + 1] == "none"
    # one target folder: the retry parses from the partial-parse file the listing writes
    assert ls[ls.index("--target-path") + 1] == "/w/target"
    assert ls[ls.index("--select") + 1] == "tag:daily"
    assert ls[ls.index("--exclude") + 1] == "stg_x"
    assert json.loads(ls[ls.index("--vars") + 1]) == {"a": 1}
    assert ls[ls.index("--target") + 1] == "local"
    run_only = retry_session_spec(d, req(), "/w/target", "/w/state", "/w/out")
    assert run_only["runnable"] == ["model"]
    with pytest.raises(ValueError, match="not run"):
        retry_session_spec(decide(None, r, Scope.AUTO, False), r, "/w/target", "/w/state", "/w/out")


def test_parse_ls_log_reads_the_listed_nodes_and_the_errors() -> None:
    def event(name: str, msg: str, level: str = "info") -> str:
        return json.dumps({"info": {"name": name, "level": level, "msg": msg}, "data": {"msg": msg}})

    lines = [
        event("MainReportVersion", "Running with dbt=1.12.5"),
        event("PrintEvent", json.dumps({"unique_id": "model.shop.a"})),
        event("PrintEvent", "a print() from a macro"),
        event("PrintEvent", json.dumps({"unique_id": "test.shop.t"})),
        "not json",
        event("MainEncounteredError", "Compilation Error: boom", level="error"),
    ]
    selected, errors = parse_ls_log(lines)
    assert selected == frozenset({"model.shop.a", "test.shop.t"})
    assert errors == ["Compilation Error: boom"]


# -- validation: every bad input names its field --------------------------------------------------


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("project_dir", {"project_dir": ""}),
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


@pytest.mark.parametrize(
    "select",
    [
        "",
        "   ",
        "None",
        "none",
        "null",
        "[]",
        "''",
        '""',
        "{}",
        [],
        ["  "],
        ["tag:daily", "None"],
        2026,
        1.5,
        True,
        {"a": 1},
        [2026],
    ],
)
def test_empty_blank_or_mistyped_selection_is_refused(select: object) -> None:
    for field in ("select", "exclude"):
        with pytest.raises(ConfigError) as err:
            req(**{field: select})
        assert err.value.field == field


def test_selection_stays_the_string_it_was_given() -> None:
    assert req(select="2026").select == ("2026",)
    assert req(select=" tag:daily  stg_orders+ ").select == ("tag:daily", "stg_orders+")
    assert req(select=None, exclude=None).select == ()


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("target", {"target": "local\n"}),
        ("profiles_dir", {"profiles_dir": 5}),
        ("project_dir", {"project_dir": 5}),
    ],
)
def test_more_bad_inputs_name_the_field(field: str, kw: dict) -> None:
    with pytest.raises(ConfigError) as err:
        req(**kw)
    assert err.value.field == field


def test_rendered_template_values_are_accepted() -> None:
    r = req(threads="8", full_refresh="True", vars='{"a": 1}', command="BUILD")
    assert (r.threads, r.full_refresh, r.vars, r.command) == (8, True, {"a": 1}, Command.BUILD)


# -- command lines -------------------------------------------------------------------------------


def test_full_run_argv_always_has_target_and_full_vars() -> None:
    r = req(select="tag:daily", exclude="stg_x", vars={"b": 2, "a": 1}, threads=4, full_refresh=True)
    argv = build_argv("/env/dbt", decide(None, r, Scope.AUTO, False), r, "/w/target")
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
    d = decide(doc_for(FAILED), r, Scope.AUTO, False)
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
        build_argv("/env/dbt", decide(doc_for(GREEN), r, Scope.AUTO, False), r, "/w")


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


def test_deps_fingerprint_of_the_declaration_files_read() -> None:
    """Pure: the hook reads the files (by name) and hands their contents over."""
    lock = {"package-lock.yml": b"packages: []\n"}
    assert deps_fingerprint({}) is None
    assert deps_fingerprint(lock) is None, "a lock alone declares no packages"
    declared = {**lock, "packages.yml": b"packages:\n  - local: ../pkg\n"}
    first = deps_fingerprint(declared)
    assert first is not None
    assert deps_fingerprint(dict(reversed(declared.items()))) == first, "the order read does not matter"
    assert deps_fingerprint({**declared, "package-lock.yml": b"packages: [changed]\n"}) != first
    assert deps_fingerprint({**declared, "notes.txt": b"x"}) == first, "only the declaration files count"


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


def test_a_selection_matching_nothing_is_a_config_error_naming_it_and_dbts_warning() -> None:
    request = DbtRequest.from_params(
        project_dir="p", target="local", command="build", select="tag:gone stg_orders", exclude="stg_orders"
    )
    output = [
        "23:25:48  Found 6 models, 16 data tests, 3 seeds, 511 macros",
        "23:25:48  [WARNING]: The selection criterion 'tag:gone' does not match any enabled nodes",
        "23:25:48  [WARNING]: Nothing to do. Try checking your model configs and model specification args",
    ]
    error = nothing_selected_error(request, output)
    assert isinstance(error, ConfigError)
    assert error.field == "select/exclude"
    assert "select 'tag:gone stg_orders' with exclude 'stg_orders'" in error.problem
    assert "The selection criterion 'tag:gone' does not match any enabled nodes" in error.problem
    assert "dbt build" in error.problem
    assert nothing_selected_error(DbtRequest(project_dir="p", target="local"), []).field == "select"
