"""The dbt run report as one self-contained HTML page: tables, a date picker, an inline SVG timeline.

No script, no external stylesheet or font (nothing is fetched when the page is viewed; it is
served with a Content-Security-Policy that allows neither). Every value from the state document
or the request (node names, dbt's messages, thread ids, dates) is HTML-escaped where it is
written: model names and messages are user-controlled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from platform_ops.core.dbt_report import Invocation, NodeRow, Report, filter_rows
from platform_ops.core.dbt_timeline import LABEL_WIDTH, LANE_HEIGHT, Timeline, timelines
from platform_ops.core.state_keys import parse_date_key, unescape_run_id

#: the page's Content-Security-Policy: inline styles only; no script, frame, font, image or fetch
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'self'; base-uri 'none'"
)
STATUS_COLOURS = {
    "success": "#2e7d32",
    "pass": "#2e7d32",
    "no-op": "#78909c",
    "warn": "#ef8f00",
    "skipped": "#9e9e9e",
    "partial success": "#ef8f00",
    "error": "#c62828",
    "fail": "#c62828",
    "runtime error": "#c62828",
}
FAILED_COLOUR = "#c62828"
NONE_SHOWN = "-"
OTHER_COLOUR = "#5c6bc0"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;margin:16px;
color:#1a1a1a}
h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:20px 0 6px}
.muted{color:#666}.note{background:#fff4e5;border:1px solid #f0c36d;padding:8px;margin:8px 0}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e0e0e0;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f5f5f5}td.num{text-align:right;white-space:nowrap}
.badge{display:inline-block;padding:1px 6px;border-radius:8px;color:#fff;font-size:12px;white-space:nowrap}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:12px}
form{margin:8px 0}fieldset{display:inline-block;border:1px solid #ddd;margin-right:8px}
ol.history{margin:0;padding-left:18px;font-size:12px}svg text{font-size:11px;font-family:inherit}
""".strip()


@dataclass(frozen=True)
class Page:
    """What one report page shows."""

    dag_id: str
    task_id: str
    date: str | None  # the date key shown, None when the state holds no date for the task
    dates: Sequence[str] = ()  # the date keys the state holds, newest first
    report: Report = field(default_factory=Report)
    statuses: frozenset[str] = frozenset()  # the status filter; empty: all
    notes: Sequence[str] = ()  # what the reader should know (a run with no stored results ...)


def e(value: object) -> str:
    """HTML-escape ``value`` (quotes too: the result may go into an attribute)."""
    return escape(str(value), quote=True)


def date_label(key: str) -> str:
    """``2026-11-01 00:00:00 UTC`` for a date key; ``run <run id>`` for a run without a logical date."""
    if key.startswith("run_id="):
        try:
            return f"run {unescape_run_id(key[len('run_id=') :])}"
        except (UnicodeDecodeError, ValueError):
            return key
    try:
        parsed = parse_date_key(key)
    except ValueError:
        return key
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC") if parsed else key


def _colour(status: str) -> str:
    return STATUS_COLOURS.get(status, OTHER_COLOUR)


def _badge(status: str) -> str:
    return f'<span class="badge" style="background:{_colour(status)}">{e(status)}</span>'


def _seconds(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else NONE_SHOWN


def _picker(page: Page) -> str:
    options = "".join(
        f'<option value="{e(key)}"{" selected" if key == page.date else ""}>{e(date_label(key))}</option>'
        for key in page.dates
    )
    present = page.report.statuses
    boxes = "".join(
        f'<label><input type="checkbox" name="status" value="{e(s)}"'
        f"{' checked' if s in page.statuses else ''}> {e(s)} ({page.report.counts.get(s, 0)})</label> "
        for s in present
    )
    return (
        '<form method="get">'
        f'<label>Logical date <select name="date">{options}</select></label> '
        f"<fieldset><legend>Status (none ticked: all)</legend>{boxes}</fieldset>"
        '<button type="submit">Show</button></form>'
    )


def _invocation_row(inv: Invocation) -> str:
    tried = inv.try_number if inv.try_number is not None else NONE_SHOWN
    counts = " ".join(f"{e(k)} {e(v)}" for k, v in sorted(inv.counts.items()))
    return (
        f"<tr><td>{e(inv.seq)}</td><td>{e(inv.mode)}</td><td>{e(tried)}</td>"
        f"<td>{e(inv.started_at or NONE_SHOWN)}</td><td>{e(inv.finished_at or NONE_SHOWN)}</td>"
        f"<td class=num>{e(len(inv.executed))}</td><td>{counts}</td></tr>"
    )


def _invocations(report: Report) -> str:
    if not report.invocations:
        return ""
    rows = "".join(_invocation_row(inv) for inv in report.invocations)
    return (
        "<h2>Invocations</h2><table><tr><th>#</th><th>step</th><th>try</th><th>started</th>"
        f"<th>finished</th><th>nodes run</th><th>their statuses</th></tr>{rows}</table>"
    )


def timeline_svg(timeline: Timeline) -> str:
    """One timeline as inline SVG: a lane per thread, a bar per node (failed ones red), the axis."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{timeline.width}" '
        f'height="{timeline.height}" viewBox="0 0 {timeline.width} {timeline.height}" '
        f'aria-label="{e(timeline.title)}">'
    ]
    for i, lane in enumerate(timeline.lanes):
        y = i * LANE_HEIGHT
        shade = "#fafafa" if i % 2 else "#f0f0f0"
        parts.append(f'<rect x="0" y="{y}" width="{timeline.width}" height="{LANE_HEIGHT}" fill="{shade}"/>')
        parts.append(f'<text x="4" y="{y + LANE_HEIGHT - 7}">{e(lane)}</text>')
    for bar in timeline.bars:
        colour = FAILED_COLOUR if bar.failed else _colour(bar.status)
        parts.append(
            f'<rect class="bar" x="{bar.x}" y="{bar.y}" width="{bar.width}" height="{bar.height}" '
            f'fill="{colour}" data-status="{e(bar.status)}" data-node="{e(bar.unique_id)}">'
            f"<title>{e(bar.name)}: {e(bar.status)}, {bar.seconds:.2f} s</title></rect>"
        )
    axis_y = len(timeline.lanes) * LANE_HEIGHT
    parts.append(
        f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{timeline.width - 10}" y2="{axis_y}" stroke="#999"/>'
    )
    for tick in timeline.ticks:
        parts.append(
            f'<line x1="{tick.x}" y1="{axis_y}" x2="{tick.x}" y2="{axis_y + 4}" stroke="#999"/>'
            f'<text x="{tick.x}" y="{axis_y + 16}" text-anchor="middle">{e(tick.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _timelines(rows: Sequence[NodeRow]) -> str:
    out = ["<h2>Timeline</h2>"]
    for timeline in timelines(rows):
        out.append(f"<h3>{e(timeline.title)} <span class=muted>({timeline.span_seconds:.1f} s)</span></h3>")
        if timeline.bars:
            out.append(timeline_svg(timeline))
        if timeline.untimed:
            out.append(f'<p class="muted">Not timed (did not run): {e(", ".join(timeline.untimed))}</p>')
    return "".join(out)


def _history(row: NodeRow) -> str:
    if not row.history:
        return '<span class="muted">not recorded</span>'
    items = "".join(
        f"<li>{e(a.invocation.label)}: {_badge(a.status)} {e(_seconds(a.execution_time))} s"
        + (f"<pre>{e(a.message)}</pre>" if a.message and a.status not in ("success", "pass") else "")
        + "</li>"
        for a in row.history
    )
    return f'<ol class="history">{items}</ol>'


def _node_row(r: NodeRow) -> str:
    last = e(r.last_run.invocation.label) if r.last_run else '<span class="muted">not recorded</span>'
    problem = f"<pre>{e(r.problem)}</pre>" if r.problem else ""
    return (
        f'<tr data-status="{e(r.status)}">'
        f'<td><b>{e(r.name)}</b><br><span class="muted">{e(r.unique_id)}</span></td>'
        f"<td>{e(r.resource_type)}</td><td>{_badge(r.status)}</td>"
        f"<td class=num>{e(_seconds(r.execution_time))}</td><td>{e(r.thread_id or NONE_SHOWN)}</td>"
        f"<td>{last}</td><td>{problem}</td><td>{_history(r)}</td></tr>"
    )


def _nodes(rows: Sequence[NodeRow], total: int) -> str:
    body = "".join(_node_row(r) for r in rows)
    return (
        f"<h2>Nodes <span class=muted>({len(rows)} of {total})</span></h2>"
        "<table><tr><th>node</th><th>type</th><th>status</th><th>seconds</th><th>thread</th>"
        f"<th>last run by</th><th>failure or warning</th><th>history across tries</th></tr>{body}</table>"
    )


def render(page: Page) -> str:
    """The whole HTML document of ``page``."""
    report = page.report
    shown = filter_rows(report.rows, page.statuses)
    title = f"dbt run report · {page.dag_id} / {page.task_id}"
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="muted">{e(date_label(page.date)) if page.date else "no logical date stored"}</p>',
    ]
    out += [f'<p class="note">{e(note)}</p>' for note in page.notes]
    if page.dates:
        out.append(_picker(page))
    if report.problem and page.date:
        out.append(f'<p class="note">The stored results cannot be shown: {e(report.problem)}</p>')
    if report.rows:
        counts = ", ".join(f"{e(s)} {report.counts[s]}" for s in report.statuses)
        req = report.request
        out.append(
            f"<p>{len(report.rows)} node(s): {counts}. Request: dbt {e(req.get('command', '?'))} "
            f"--target {e(req.get('target', '?'))}"
            + (f" --select {e(' '.join(map(str, req.get('select') or [])))}" if req.get("select") else "")
            + (f" --exclude {e(' '.join(map(str, req.get('exclude') or [])))}" if req.get("exclude") else "")
            + (" --full-refresh" if req.get("full_refresh") else "")
            + "</p>"
        )
        out.append(_invocations(report))
        out.append(_timelines(shown))
        out.append(_nodes(shown, len(report.rows)))
    out.append("</body></html>")
    return "".join(out)
