"""The timeline geometry: bars from run_results timing, one lane per thread, one group per invocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from platform_ops.core.dbt_report import Attempt, Invocation, NodeRow, build_report
from platform_ops.core.dbt_timeline import (
    LABEL_WIDTH,
    LANE_HEIGHT,
    MIN_BAR_WIDTH,
    WIDTH,
    layout,
    nice_step,
    timelines,
)
from tests.core.test_dbt_report import latest, versions

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def row(uid: str, thread: str, start: float | None, seconds: float, status: str = "success") -> NodeRow:
    begin = T0 + timedelta(seconds=start) if start is not None else None
    end = begin + timedelta(seconds=seconds) if begin is not None else None
    return NodeRow(uid, uid.split(".")[0], status, seconds, thread, "", begin, end)


def test_bars_are_placed_on_the_lane_of_their_thread_and_scaled_to_the_span() -> None:
    rows = [
        row("model.p.a", "Thread-10 (worker)", 0, 4),
        row("model.p.b", "Thread-2 (worker)", 2, 8, status="error"),
        row("model.p.c", "Thread-2 (worker)", 9.999, 0.0001),
        row("model.p.skipped", "Thread-1 (worker)", None, 0, status="skipped"),
    ]
    t = layout("#1 run, try 1", rows)
    assert t.lanes == ("Thread-2 (worker)", "Thread-10 (worker)")  # natural order; untimed nodes add none
    assert t.untimed == ("model.p.skipped",)
    assert t.span_seconds == 10
    scale = (WIDTH - LABEL_WIDTH - 10) / 10
    bars = {b.unique_id: b for b in t.bars}
    assert (bars["model.p.a"].lane, bars["model.p.a"].x, bars["model.p.a"].width) == (
        1,
        LABEL_WIDTH,
        4 * scale,
    )
    assert bars["model.p.b"].lane == 0
    assert bars["model.p.b"].x == LABEL_WIDTH + 2 * scale
    assert bars["model.p.b"].width == 8 * scale
    assert bars["model.p.b"].failed
    assert not bars["model.p.a"].failed
    assert bars["model.p.c"].width == MIN_BAR_WIDTH  # a 0.1 ms node stays visible
    assert t.height == 2 * LANE_HEIGHT + 22
    assert [tick.label for tick in t.ticks] == ["0 s", "2 s", "4 s", "6 s", "8 s", "10 s"]
    assert t.ticks[-1].x == LABEL_WIDTH + 10 * scale


def test_nice_steps() -> None:
    assert [nice_step(s) for s in (0, 0.3, 6, 10, 45, 700)] == [1.0, 0.05, 1.0, 2.0, 10.0, 200.0]


def test_a_group_without_timing_has_no_bars() -> None:
    t = layout("x", [row("model.p.s", "Thread-1", None, 0, status="skipped")])
    assert (t.bars, t.lanes, t.untimed) == ((), (), ("model.p.s",))


def test_one_timeline_per_invocation_that_last_ran_a_node_in_the_order_they_ran() -> None:
    report = build_report(latest(), versions())
    groups = timelines(report.rows)
    assert [g.title for g in groups] == ["#1 run, try 1", "#2 rebuild, try 1", "#3 rebuild, try 1"]
    by_title = {g.title: {b.unique_id for b in g.bars} for g in groups}
    assert "seed.shop.raw_orders" in by_title["#1 run, try 1"]
    assert "model.shop.stg_orders" in by_title["#2 rebuild, try 1"]
    assert "test.shop.assert_payment_amounts_in_dollars" in by_title["#3 rebuild, try 1"]
    assert sum(len(g.bars) for g in groups) == 25  # every node of the real build has timing
    for g in groups:
        for bar in g.bars:
            assert bar.x >= LABEL_WIDTH
            assert bar.x + bar.width <= g.width - 10 + MIN_BAR_WIDTH
            assert bar.y + bar.height <= len(g.lanes) * LANE_HEIGHT


def test_nodes_without_a_recorded_run_form_the_last_group() -> None:
    inv = Invocation(1, "run", None, None, {}, ("model.p.a",), seq=1)
    ran = row("model.p.a", "Thread-1", 0, 1)
    ran = NodeRow(**{**ran.__dict__, "history": (Attempt(inv, 0, "success", 1.0, ""),)})
    groups = timelines([row("model.p.b", "Thread-1", 0, 1), ran])
    assert [g.title for g in groups] == ["#1 run, try 1", "not recorded"]
