"""An invocation's warnings, the context a warning callback gets, and failures no retry changes."""

from __future__ import annotations

import pytest

from platform_ops.core.run_outcome import (
    check_callback,
    deterministic_test_failures,
    node_name,
    not_retried_note,
    warned_nodes,
    warning_context,
)
from platform_ops.exceptions import ConfigError


def rr(*results: tuple[str, str, str | None]) -> dict:
    return {"results": [{"unique_id": u, "status": s, "message": m} for u, s, m in results]}


def test_warned_nodes_are_the_nodes_that_ended_warn_with_dbts_message() -> None:
    said = "\n Got 203 results, configured to warn if != 0 "
    results = rr(
        ("model.shop.orders", "success", "OK"),
        ("test.shop.assert_payment_amounts_in_dollars", "warn", said),
        ("test.shop.unique_orders_order_id.abc", "pass", None),
        ("test.shop.not_null_orders_order_id.def", "fail", "Got 1 result"),
        ("test.shop.accepted_values_x.123", "warn", None),
    )
    assert warned_nodes(results) == [
        {
            "unique_id": "test.shop.assert_payment_amounts_in_dollars",
            "status": "warn",
            "message": "Got 203 results, configured to warn if != 0",
        },
        {"unique_id": "test.shop.accepted_values_x.123", "status": "warn", "message": ""},
    ]
    assert warned_nodes(None) == []
    assert warned_nodes({"results": ["junk", {"status": "warn"}]}) == []


@pytest.mark.parametrize(
    ("uid", "name"),
    [
        ("test.shop.unique_stg_orders_order_id.e3b0c44298", "unique_stg_orders_order_id"),
        ("test.shop.assert_payment_amounts_in_dollars", "assert_payment_amounts_in_dollars"),
        ("source.shop.raw.orders", "raw.orders"),
        ("unit_test.shop.orders.test_amounts", "test_amounts"),
        ("model.shop.orders", "orders"),
        ("odd", "odd"),
    ],
)
def test_node_names_are_what_dbt_prints(uid: str, name: str) -> None:
    assert node_name(uid) == name


def test_the_callback_context_has_cosmos_keys_at_the_same_index_and_the_full_records() -> None:
    context = {"ti": object(), "logical_date": "2026-11-01"}
    warnings = [
        {"unique_id": "test.shop.assert_payment_amounts_in_dollars", "status": "warn", "message": "Got 203"},
        {"unique_id": "source.shop.raw.orders", "status": "warn", "message": "late: last loaded ..."},
    ]
    out = warning_context(context, warnings)
    assert out["ti"] is context["ti"]
    assert out["logical_date"] == "2026-11-01"
    assert out["test_names"] == ["assert_payment_amounts_in_dollars", "raw.orders"]
    assert out["test_results"] == ["Got 203", "late: last loaded ..."]
    assert out["dbt_warnings"] == warnings
    assert "test_names" not in context, "the task's own context is not modified"


def test_only_failed_tests_that_ran_are_deterministic() -> None:
    only_tests = rr(
        ("model.shop.stg_payments", "success", "OK"),
        ("test.shop.assert_payment_amounts_in_dollars", "fail", "Got 203 results"),
        ("unit_test.shop.orders.test_amounts", "fail", "actual differs"),
        ("model.shop.orders", "skipped", None),  # below the failed test: skipped again on a retry
        ("test.shop.unique_x.1", "warn", "Got 1"),
    )
    assert deterministic_test_failures(only_tests) == [
        "test.shop.assert_payment_amounts_in_dollars",
        "unit_test.shop.orders.test_amounts",
    ]


@pytest.mark.parametrize(
    "results",
    [
        # a model errored too: a retry may fix it
        rr(("test.shop.t", "fail", "Got 1"), ("model.shop.orders", "error", "connection reset")),
        # a test whose SQL could not run is not a finding about the data
        rr(("test.shop.t", "error", "Database Error: timeout")),
        rr(("test.shop.t", "fail", "Got 1"), ("seed.shop.raw_orders", "runtime error", "disk full")),
        # nothing failed
        rr(("model.shop.orders", "success", "OK"), ("test.shop.t", "warn", "Got 1")),
        {"results": []},
    ],
    ids=["model-error", "test-error", "seed-error", "green", "empty"],
)
def test_anything_else_is_left_to_airflows_retries(results: dict) -> None:
    assert deterministic_test_failures(results) == []


def test_the_note_names_the_tests_and_how_to_rebuild() -> None:
    note = not_retried_note(["test.shop.assert_payment_amounts_in_dollars", "test.shop.unique_x.1a2b"])
    assert "retry_test_failures=False" in note
    assert "2 test(s) (assert_payment_amounts_in_dollars, unique_x)" in note
    assert "clear the task or re-run the date" in note


@pytest.mark.parametrize("bad", ["notify_slack", 3, ["f"]])
def test_a_callback_that_is_not_callable_names_the_field_and_the_fix(bad) -> None:
    with pytest.raises(ConfigError, match=r"on_warning_callback: .* not a callable\. Fix: pass a function"):
        check_callback(bad)


def test_none_and_callables_are_accepted() -> None:
    check_callback(None)
    check_callback(print)
    check_callback(lambda context: None)
