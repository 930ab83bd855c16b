"""The source-freshness gate: which sources are checked, the command, and what dbt's output means."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_ops.core.dbt import DbtRequest
from platform_ops.core.source_freshness import (
    FreshnessPolicy,
    counts,
    freshness_argv,
    freshness_results,
    freshness_state_doc,
    has_freshness_policy,
    parse_policy,
    reported,
    source_selector,
    stale_error,
    unchecked_error,
    upstream_sources,
)
from platform_ops.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[2]
POLICY = {"warn_after": {"count": 1, "period": "day"}, "error_after": {"count": 3, "period": "day"}}
NONE = {"warn_after": {"count": None, "period": None}, "error_after": {"count": None, "period": None}}


def source(table: str, freshness: dict, source_name: str = "raw") -> dict:
    return {
        "unique_id": f"source.shop.{source_name}.{table}",
        "package_name": "shop",
        "source_name": source_name,
        "name": table,
        "freshness": freshness,
    }


def node(uid: str, *parents: str) -> dict:
    return {"unique_id": uid, "depends_on": {"nodes": list(parents)}}


# raw.orders -> stg_orders -> orders <- stg_payments <- raw.payments (no policy); raw.customers unused
MANIFEST = {
    "sources": {
        s["unique_id"]: s
        for s in (source("orders", POLICY), source("payments", NONE), source("customers", POLICY))
    },
    "nodes": {
        n["unique_id"]: n
        for n in (
            node("seed.shop.raw_orders"),
            node("model.shop.stg_orders", "source.shop.raw.orders", "seed.shop.raw_orders"),
            node("model.shop.stg_payments", "source.shop.raw.payments"),
            node("model.shop.orders", "model.shop.stg_orders", "model.shop.stg_payments"),
            node("test.shop.not_null_orders_order_id.abc", "model.shop.orders"),
            node("model.shop.island"),
        )
    },
}


def test_sources_upstream_of_the_selection_with_a_policy_are_checked_through_any_depth() -> None:
    assert upstream_sources(MANIFEST, {"model.shop.orders"}) == ["source.shop.raw.orders"]
    assert upstream_sources(MANIFEST, {"test.shop.not_null_orders_order_id.abc"}) == [
        "source.shop.raw.orders"
    ]


def test_a_source_without_policy_or_not_upstream_is_not_checked() -> None:
    assert upstream_sources(MANIFEST, {"model.shop.stg_payments"}) == []  # raw.payments has no policy
    assert upstream_sources(MANIFEST, {"model.shop.island"}) == []
    assert upstream_sources(MANIFEST, set()) == []
    # a selected source counts (select source:raw.customers+)
    assert upstream_sources(MANIFEST, {"source.shop.raw.customers"}) == ["source.shop.raw.customers"]


@pytest.mark.parametrize(
    ("freshness", "expected"),
    [
        (POLICY, True),
        ({"warn_after": {"count": 12, "period": "hour"}}, True),
        ({"error_after": {"count": 3, "period": "day"}, "warn_after": {}}, True),
        (NONE, False),
        ({}, False),
        (None, False),
    ],
)
def test_a_policy_is_a_warn_after_or_error_after_with_count_and_period(freshness, expected) -> None:
    assert has_freshness_policy({"freshness": freshness}) is expected


def test_the_policy_may_sit_in_the_config_only() -> None:
    assert has_freshness_policy({"freshness": None, "config": {"freshness": POLICY}})


def test_the_command_checks_the_named_sources_with_the_request_s_target_vars_and_threads() -> None:
    request = DbtRequest.from_params(
        project_dir=str(REPO / "include" / "dbt"), target="local", vars={"b": 1, "a": 2}, threads=3
    )
    selector = source_selector(MANIFEST, "source.shop.raw.orders")
    assert selector == "source:shop.raw.orders"
    argv = freshness_argv("dbt", request, [selector], "/w/target", "/w/logs")
    assert argv[:8] == [
        "dbt",
        "--no-use-colors",
        "--log-format-file",
        "json",
        "--log-level-file",
        "info",
        "source",
        "freshness",
    ]
    assert argv[argv.index("--target") + 1] == "local"
    assert argv[argv.index("--vars") + 1] == '{"a": 2, "b": 1}'
    assert argv[argv.index("--threads") + 1] == "3"
    assert argv[argv.index("--target-path") + 1] == "/w/target"
    assert argv[argv.index("--log-path") + 1] == "/w/logs"
    assert argv[-2:] == ["--select", "source:shop.raw.orders"]
    with pytest.raises(ValueError, match="at least one source"):
        freshness_argv("dbt", request, [], "/w/target", "/w/logs")


@pytest.mark.parametrize("value", ["off", "WARN", " error ", None])
def test_the_policy_values(value) -> None:
    assert parse_policy(value) is FreshnessPolicy((value or "off").strip().lower())


@pytest.mark.parametrize("value", ["fail", "true", "", 1])
def test_an_unknown_policy_names_the_field_and_the_values(value) -> None:
    with pytest.raises(ConfigError, match=r"source_freshness: .* is not one of off \| warn \| error"):
        parse_policy(value)


# -- what dbt wrote --------------------------------------------------------------------------------


def sources_result(uid: str, status: str, age: float) -> dict:
    """A result of sources.json as dbt-core 1.12 writes it."""
    return {
        "unique_id": uid,
        "max_loaded_at": "2026-12-05T20:39:48+00:00",
        "snapshotted_at": "2026-12-07T02:39:48+00:00",
        "max_loaded_at_time_ago_in_s": age,
        "status": status,
        "criteria": {**POLICY, "filter": None},
        "adapter_response": {},
        "timing": [],
        "thread_id": "Thread-1",
        "execution_time": 0.02,
    }


def sources_json(*results: dict) -> dict:
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json",
            "env": {"DBT_ENV_CUSTOM_ENV_TEAM": "shop"},
        },
        "results": list(results),
        "elapsed_time": 0.4,
    }


def log_line(name: str, level: str, data: dict) -> str:
    return json.dumps({"info": {"name": name, "level": level, "msg": ""}, "data": data})


# dbt-core 1.12's JSON log of a source whose table does not exist (sources.json lists no result for it)
RUNTIME_ERROR_LOG = [
    log_line(
        "LogFreshnessResult",
        "error",
        {"status": "runtime error", "node_info": {"unique_id": "source.shop.raw.orders"}},
    ),
    log_line(
        "RunResultError",
        "error",
        {
            "msg": "Runtime Error in source orders (models/staging/sources.yml)\n"
            "  Catalog Error: Table with name raw_orders does not exist!",
            "node_info": {"unique_id": "source.shop.raw.orders"},
        },
    ),
    "not json",
    log_line("FreshnessCheckComplete", "info", {}),
]


def test_each_checked_source_gets_dbts_verdict_with_its_age_and_policy() -> None:
    found = freshness_results(
        sources_json(
            sources_result("source.shop.raw.orders", "warn", 108000.0),
            sources_result("source.shop.raw.customers", "pass", 7200.0),
        ),
        [],
        ["source.shop.raw.orders", "source.shop.raw.customers"],
    )
    assert [(r["unique_id"], r["status"]) for r in found] == [
        ("source.shop.raw.orders", "warn"),
        ("source.shop.raw.customers", "pass"),
    ]
    late = found[0]
    assert late["age_seconds"] == 108000.0
    assert (late["warn_after"], late["error_after"]) == ("1 day(s)", "3 day(s)")
    assert late["message"] == (
        "late: last loaded 2026-12-05T20:39:48+00:00 (1.2 days ago); "
        "warn after 1 day(s), error after 3 day(s)"
    )
    assert found[1]["message"].startswith("fresh: ")
    assert counts(found) == {"pass": 1, "warn": 1}


def test_a_source_dbt_left_out_of_sources_json_is_a_runtime_error_with_the_logged_message() -> None:
    """dbt-core 1.12 writes no result for a source whose query failed (observed: a missing table)."""
    found = freshness_results(sources_json(), RUNTIME_ERROR_LOG, ["source.shop.raw.orders"])
    assert len(found) == 1
    assert found[0]["status"] == "runtime error"
    assert found[0]["message"].startswith("could not check: Runtime Error in source orders")
    assert "raw_orders does not exist" in found[0]["message"]


def test_a_checked_source_with_no_trace_at_all_is_never_taken_as_fresh() -> None:
    found = freshness_results(sources_json(), [], ["source.shop.raw.orders"])
    assert found[0]["status"] == "runtime error"
    assert found[0]["message"] == "could not check: dbt reported no freshness result"
    # a result of a source that was not asked for does not count either
    other = freshness_results(
        sources_json(sources_result("source.shop.raw.customers", "pass", 1.0)), [], ["source.shop.raw.orders"]
    )
    assert [(r["unique_id"], r["status"]) for r in other] == [("source.shop.raw.orders", "runtime error")]


STALE = sources_result("source.shop.raw.orders", "error", 360000.0)
LATE = sources_result("source.shop.raw.customers", "warn", 100000.0)


def test_under_error_a_stale_source_stops_the_build_naming_it_the_age_and_the_fix() -> None:
    found = freshness_results(sources_json(STALE, LATE), [], [STALE["unique_id"], LATE["unique_id"]])
    message = stale_error(found)
    assert message is not None
    assert "1 source(s) past their error_after, nothing was built" in message
    assert "source.shop.raw.orders [error]: stale: last loaded" in message
    assert "(4.2 days ago)" in message
    assert "source.shop.raw.customers" not in message, "a late source is only a warning"
    assert "Fix: load the source(s)" in message
    assert "source_freshness=warn" in message
    assert unchecked_error(found) is None
    # the late source is what error reports as a warning
    assert [w["unique_id"] for w in reported(FreshnessPolicy.ERROR, found)] == ["source.shop.raw.customers"]


def test_under_error_an_unchecked_source_is_its_own_error_and_fresh_sources_none() -> None:
    unchecked = freshness_results(sources_json(), RUNTIME_ERROR_LOG, ["source.shop.raw.orders"])
    assert stale_error(unchecked) is None
    message = unchecked_error(unchecked)
    assert message is not None
    assert "could not be checked, nothing was built" in message
    assert "raw_orders does not exist" in message
    fresh = freshness_results(
        sources_json(sources_result("source.shop.raw.orders", "pass", 60.0)), [], ["source.shop.raw.orders"]
    )
    assert (stale_error(fresh), unchecked_error(fresh), reported(FreshnessPolicy.ERROR, fresh)) == (
        None,
        None,
        [],
    )


def test_under_warn_every_source_that_is_not_fresh_is_reported() -> None:
    found = freshness_results(
        sources_json(STALE, LATE, sources_result("source.shop.raw.x", "pass", 1.0)),
        RUNTIME_ERROR_LOG,
        ["source.shop.raw.orders", "source.shop.raw.customers", "source.shop.raw.x", "source.shop.raw.gone"],
    )
    assert [(w["unique_id"], w["status"]) for w in reported(FreshnessPolicy.WARN, found)] == [
        ("source.shop.raw.orders", "error"),
        ("source.shop.raw.customers", "warn"),
        ("source.shop.raw.gone", "runtime error"),
    ]


def test_the_stored_document_holds_the_results_and_sources_json_without_its_env() -> None:
    request = DbtRequest.from_params(project_dir=str(REPO / "include" / "dbt"), target="local")
    raw = sources_json(STALE)
    results = freshness_results(raw, [], [STALE["unique_id"]])
    doc = freshness_state_doc(request, FreshnessPolicy.ERROR, results, raw, "2026-12-07T02:40:00+00:00")
    assert doc["format"] == 1
    assert doc["policy"] == "error"
    assert doc["request"] == request.identity
    assert doc["results"] == results
    assert doc["sources"]["results"] == raw["results"]
    assert "env" not in doc["sources"]["metadata"]
    assert doc["sources"]["metadata"]["dbt_schema_version"].endswith("/sources/v3.json")
    assert "env" in raw["metadata"], "the input is not modified"
    json.dumps(doc)
