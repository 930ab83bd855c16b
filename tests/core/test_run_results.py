"""What of dbt's run_results is stored and logged: no compiled SQL, a compact table."""

from __future__ import annotations

from platform_ops.core.run_results import results_table, without_compiled_code

RR = {
    "metadata": {"dbt_version": "1.12.5"},
    "args": {"which": "build"},
    "results": [
        {
            "unique_id": "model.shop.stg_orders",
            "status": "success",
            "execution_time": 0.125,
            "message": "OK",
            "compiled_code": "select 'secret' as s",
        },
        {
            "unique_id": "model.shop.orders",
            "status": "error",
            "execution_time": 0.5,
            "message": "Runtime Error in model orders\n  Conversion Error: Could not convert string",
            "compiled_code": "select cast('x' as integer)",
        },
        {"unique_id": "model.shop.customers", "status": "skipped", "execution_time": 0},
    ],
}


def test_compiled_code_is_dropped_from_every_node_and_nothing_else() -> None:
    clean = without_compiled_code(RR)
    assert all("compiled_code" not in r for r in clean["results"])
    assert [r["unique_id"] for r in clean["results"]] == [r["unique_id"] for r in RR["results"]]
    assert clean["results"][1]["message"] == RR["results"][1]["message"], "dbt's message of a failure stays"
    assert (clean["metadata"], clean["args"]) == (RR["metadata"], RR["args"])
    assert "compiled_code" in RR["results"][0], "the input is not modified"


def test_the_table_shows_executed_nodes_with_the_first_line_of_failures_and_all_counts() -> None:
    table = results_table(RR, ["model.shop.orders", "model.shop.customers"])
    lines = table.splitlines()
    assert lines[0].split() == ["status", "seconds", "node"]
    assert lines[1].split()[:3] == ["error", "0.50", "model.shop.orders"]
    assert lines[1].endswith("| Runtime Error in model orders")
    assert lines[2].split() == ["skipped", "0.00", "model.shop.customers"]
    assert "stg_orders" not in "\n".join(lines[1:-1]), "only nodes this invocation ran get a row"
    assert lines[-1] == "3 node(s) for this date: error 1, skipped 1, success 1"
    assert "select" not in table


def test_a_large_run_is_cut_after_max_rows() -> None:
    many = {"results": [{"unique_id": f"model.p.m{i}", "status": "success"} for i in range(10)]}
    lines = results_table(many, None, max_rows=3).splitlines()
    assert len(lines) == 1 + 3 + 2
    assert lines[-2] == "... and 7 more node(s)"
