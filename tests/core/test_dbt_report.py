"""The dbt run report's rows and history, from the documents a real dbt build stored.

tests/core/data/dbt_report holds the RunStateStore folder that three real runs of one logical date
left (DbtRunOrRetryOperator, dbt build of the shipped project on DuckDB, each run a new DAG run of
the date, so each is try 1): run 1 with stg_orders forced to fail and payments in cents (an error,
a failed data test, 13 skipped), run 2 with only the cents (rebuild: the test fails again), run 3
fixed (rebuild: all green). Versions: try-0001.json, try-0001.1.json, try-0001.2.json.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from platform_ops.core.dbt_report import (
    Version,
    build_report,
    filter_rows,
    parse_status_filter,
    report_path,
)
from platform_ops.core.state_keys import parse_version_name
from platform_ops.exceptions import ConfigError

FOLDER = (
    Path(__file__).parent / "data" / "dbt_report" / "state" / "dbt_scenarios" / "dbt" / "2026-11-01T000000Z"
)
TEST = "test.shop.assert_payment_amounts_in_dollars"


def latest() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FOLDER / "dbt_run_results.json").read_text())
    return doc


def versions() -> list[Version]:
    out = []
    for path in sorted((FOLDER / "dbt_run_results.versions").iterdir()):
        parsed = parse_version_name(path.name)
        assert parsed is not None
        out.append(Version(parsed[0], parsed[1], json.loads(path.read_text())))
    return sorted(out, key=lambda v: (v.try_number, v.copy))


def test_one_row_per_stored_node_with_its_latest_result() -> None:
    doc = latest()
    report = build_report(doc, versions())
    assert report.problem is None
    assert [r.unique_id for r in report.rows] == [r["unique_id"] for r in doc["run_results"]["results"]]
    assert report.counts == {"success": 9, "pass": 16}
    row = next(r for r in report.rows if r.unique_id == "model.shop.stg_orders")
    assert (row.name, row.resource_type, row.status) == ("stg_orders", "model", "success")
    assert row.thread_id.startswith("Thread-")
    assert row.started_at is not None
    assert row.completed_at is not None
    assert row.started_at <= row.completed_at
    assert row.problem == ""  # dbt's "OK" of a green node is not shown as a problem


def test_history_merges_every_version_of_the_date_in_order() -> None:
    report = build_report(latest(), versions())
    assert [i.label for i in report.invocations] == [
        "#1 run, try 1",
        "#2 rebuild, try 1",
        "#3 rebuild, try 1",
    ]
    rows = {r.unique_id: r for r in report.rows}
    test = rows[TEST]
    assert [(a.invocation.seq, a.status) for a in test.history] == [(1, "fail"), (2, "fail"), (3, "pass")]
    assert [a.copy for a in test.history] == [0, 1, 2]
    assert test.last_run is not None
    assert test.last_run.invocation.mode == "rebuild"
    assert "configured to fail if != 0" in test.history[0].message
    model = rows["model.shop.stg_orders"]
    assert [(a.invocation.seq, a.status) for a in model.history] == [(1, "error"), (2, "success")]
    assert "forced failure of stg_orders" in model.history[0].message
    seed = rows["seed.shop.raw_orders"]  # ran once, by the full run
    assert [a.invocation.seq for a in seed.history] == [1]


def test_a_failed_picture_shows_dbts_messages() -> None:
    first = versions()[0].doc
    report = build_report(first, [])  # no versions folder: the latest document is its own history
    rows = {r.unique_id: r for r in report.rows}
    assert rows["model.shop.stg_orders"].failed
    assert "forced failure of stg_orders" in rows["model.shop.stg_orders"].problem
    assert rows[TEST].status == "fail"
    assert rows[TEST].problem
    assert rows["model.shop.orders"].status == "skipped"
    assert [a.invocation.label for a in rows["model.shop.orders"].history] == ["#1 run, try 1"]


def test_a_later_document_without_versions_knows_only_its_own_last_invocation() -> None:
    report = build_report(latest(), [])
    rows = {r.unique_id: r for r in report.rows}
    assert [a.status for a in rows[TEST].history] == ["pass"]
    assert rows["seed.shop.raw_orders"].history == ()  # its run is not in this document


def test_unusable_documents_are_reported_not_raised() -> None:
    assert build_report(None).problem == "no dbt run results are stored"
    assert build_report({"format": 99}).problem == "unknown state format 99"
    broken = copy.deepcopy(latest())
    broken["run_results"]["results"][0].pop("status")
    assert build_report(broken).problem == "a result lacks unique_id or status"
    # a corrupt version (None: unreadable) or an odd invocation is left out of the history only
    odd = copy.deepcopy(versions()[1].doc)
    odd["invocations"][-1] = "not an invocation"
    report = build_report(latest(), [versions()[0], Version(1, 1, odd), Version(1, 2, None)])
    assert [i.seq for i in report.invocations] == [1]
    assert len(report.rows) == 25


def test_status_filter() -> None:
    report = build_report(versions()[0].doc, [])
    assert report.statuses == ["success", "pass", "error", "fail", "skipped"]
    chosen = parse_status_filter(["error", " FAIL "])
    assert chosen == {"error", "fail"}
    assert {r.status for r in filter_rows(report.rows, chosen)} == {"error", "fail"}
    assert len(filter_rows(report.rows, parse_status_filter(["all", ""]))) == 25
    assert parse_status_filter(["reused"], present=["reused"]) == {"reused"}  # a status dbt adds later
    with pytest.raises(ConfigError) as err:
        parse_status_filter(["failed"])
    assert err.value.field == "status"
    assert "pass one of success, pass, warn, error, fail" in str(err.value)


def test_report_path_is_relative_and_encoded() -> None:
    assert report_path("d", "g.t") == "platform-ops/dbt-report/d/g.t"
    assert report_path("d", "t", run_id="scheduled__2026-11-01T00:00:00+00:00") == (
        "platform-ops/dbt-report/d/t?run_id=scheduled__2026-11-01T00%3A00%3A00%2B00%3A00"
    )
    assert (
        report_path("d", "t", date="2026-11-01T000000Z")
        == "platform-ops/dbt-report/d/t?date=2026-11-01T000000Z"
    )
    with pytest.raises(ConfigError) as err:
        report_path("../x", "t")
    assert err.value.field == "dag_id"
