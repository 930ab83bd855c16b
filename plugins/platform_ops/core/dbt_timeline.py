"""The geometry of the dbt run report's timeline: one bar per node, one lane per dbt thread.

A node's bar spans its run_results ``timing`` (first phase start to last phase end). Nodes are
grouped by the invocation that last ran them (the date's picture mixes a full run and the retries
that followed, hours apart), each group with its own time axis; within a group, one lane per
``thread_id``. Pure arithmetic: the page turns the numbers into SVG.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from platform_ops.core.dbt_report import NodeRow

#: SVG layout in user units (pixels at 100 %)
WIDTH = 960
LABEL_WIDTH = 150
LANE_HEIGHT = 22
BAR_HEIGHT = 14
AXIS_HEIGHT = 22
MIN_BAR_WIDTH = 2.0
NO_THREAD = "(no thread)"
_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Bar:
    """One node's bar: position, size, and what it shows."""

    unique_id: str
    name: str
    status: str
    failed: bool
    lane: int
    x: float
    y: float
    width: float
    height: float
    seconds: float


@dataclass(frozen=True)
class Tick:
    """One axis tick: its x and its label (seconds since the group's start)."""

    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    """One group's timeline: the lanes (thread names), the bars, the axis, the SVG size."""

    title: str
    lanes: tuple[str, ...]
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    width: int
    height: int
    span_seconds: float
    untimed: tuple[str, ...] = ()  # nodes of the group without timing (skipped ones have none)


def _natural(text: str) -> list[object]:
    """Sort key putting Thread-2 before Thread-10."""
    return [int(p) if p.isdigit() else p for p in _NUMBER.split(text)]


def nice_step(span: float, target_ticks: int = 6) -> float:
    """A round tick spacing (1, 2 or 5 times a power of ten) giving about ``target_ticks`` ticks."""
    if span <= 0:
        return 1.0
    raw = span / max(target_ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _label(seconds: float, step: float) -> str:
    if step >= 1:
        return f"{seconds:.0f} s"
    decimals = max(0, -math.floor(math.log10(step)))
    return f"{seconds:.{decimals}f} s"


def layout(title: str, rows: Sequence[NodeRow], width: int = WIDTH) -> Timeline:
    """The timeline of ``rows``: lanes by thread, x scaled to the group's first start and last end."""
    timed = [(r, r.started_at, r.completed_at) for r in rows]
    spans = [(r, start, end) for r, start, end in timed if start is not None and end is not None]
    timed_ids = {r.unique_id for r, _, _ in spans}
    untimed = tuple(r.unique_id for r in rows if r.unique_id not in timed_ids)
    lanes = tuple(sorted({r.thread_id or NO_THREAD for r, _, _ in spans}, key=_natural))
    if not spans:
        return Timeline(title, (), (), (), width, AXIS_HEIGHT, 0.0, untimed)
    t0: datetime = min(start for _, start, _ in spans)
    t1: datetime = max(end for _, _, end in spans)
    span = max((t1 - t0).total_seconds(), 0.001)
    scale = (width - LABEL_WIDTH - 10) / span
    pad = (LANE_HEIGHT - BAR_HEIGHT) / 2
    bars = []
    for r, start, end in sorted(spans, key=lambda s: (s[1], s[0].unique_id)):
        seconds = (end - start).total_seconds()
        lane = lanes.index(r.thread_id or NO_THREAD)
        bars.append(
            Bar(
                unique_id=r.unique_id,
                name=r.name,
                status=r.status,
                failed=r.failed,
                lane=lane,
                x=round(LABEL_WIDTH + (start - t0).total_seconds() * scale, 2),
                y=round(lane * LANE_HEIGHT + pad, 2),
                width=round(max(seconds * scale, MIN_BAR_WIDTH), 2),
                height=BAR_HEIGHT,
                seconds=round(seconds, 3),
            )
        )
    step = nice_step(span)
    ticks = tuple(
        Tick(round(LABEL_WIDTH + i * step * scale, 2), _label(i * step, step))
        for i in range(int(span / step + 1e-9) + 1)
    )
    height = len(lanes) * LANE_HEIGHT + AXIS_HEIGHT
    return Timeline(title, lanes, tuple(bars), ticks, width, height, round(span, 3), untimed)


def timelines(rows: Iterable[NodeRow], width: int = WIDTH) -> list[Timeline]:
    """One timeline per invocation that last ran some of ``rows``, in the order they ran.

    Nodes whose last run the stored versions do not show form a last group of their own.
    """
    groups: dict[str, list[NodeRow]] = {}
    order: dict[str, int] = {}
    for row in rows:
        last = row.last_run
        if last is None:
            title, key = "not recorded", 1 << 30
        else:
            title = last.invocation.label
            key = last.invocation.seq
        groups.setdefault(title, []).append(row)
        order.setdefault(title, key)
    return [layout(title, groups[title], width) for title in sorted(groups, key=lambda t: order[t])]
