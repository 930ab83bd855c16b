"""The report page's HTML: everything user-controlled is escaped, nothing is fetched, failures are red."""

from __future__ import annotations

import copy
import re

from platform_ops.core.dbt_report import build_report, parse_status_filter
from platform_ops.core.dbt_report_page import FAILED_COLOUR, Page, date_label, render, timeline_svg
from platform_ops.core.dbt_timeline import layout
from tests.core.test_dbt_report import versions

XSS = "<script>alert(1)</script>"
ATTR = '" onmouseover="alert(2)'


def hostile_doc() -> dict:
    doc = copy.deepcopy(versions()[0].doc)
    results = doc["run_results"]["results"]
    results[3]["unique_id"] = f"model.shop.{XSS}{ATTR}"  # stg_orders, the error
    results[3]["message"] = f"Runtime Error {XSS}\n  <img src=x onerror=alert(3)>"
    results[3]["thread_id"] = f"Thread-1 {XSS}"
    results[11]["status"] = f"fail{ATTR}"
    doc["request"]["select"] = [f"tag:{XSS}"]
    doc["invocations"][-1]["executed"].append(f"model.shop.{XSS}{ATTR}")
    return doc


def test_every_user_controlled_value_is_escaped() -> None:
    report = build_report(hostile_doc(), [])
    page = render(Page("dbt_scenarios", "dbt", "run_id=manual=3c=3e", ["run_id=manual=3c=3e"], report))
    assert "<script" not in page
    assert "<img" not in page
    assert 'onmouseover="' not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # name, id, message, thread, svg title
    assert "&quot; onmouseover=&quot;alert(2)" in page
    assert "run manual&lt;&gt;" in page  # a run id holding markup, as the date picker shows it


def test_the_page_fetches_nothing() -> None:
    page = render(
        Page("d", "t", "2026-11-01T000000Z", ["2026-11-01T000000Z"], build_report(versions()[0].doc))
    )
    assert "<script" not in page
    assert re.findall(r'(?:src|href)="', page) == []  # no script, stylesheet, image or font to load
    urls = set(re.findall(r"https?://[^\"' ]*", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # only the SVG namespace


def test_failed_bars_are_red_and_the_filter_keeps_only_the_chosen_statuses() -> None:
    report = build_report(versions()[0].doc)
    svg = timeline_svg(layout("#1 run, try 1", [r for r in report.rows if r.status in ("error", "success")]))
    fills = re.findall(r'<rect class="bar"[^>]*fill="([^"]+)"[^>]*data-status="([^"]+)"', svg)
    assert {status for _, status in fills} == {"error", "success"}
    assert all((fill == FAILED_COLOUR) == (status == "error") for fill, status in fills)
    page = render(Page("d", "t", "k", ["k"], report, parse_status_filter(["error", "fail"])))
    assert re.findall(r'<tr data-status="([^"]+)"', page) == ["error", "fail"]
    assert "Nodes <span class=muted>(2 of 25)</span>" in page
    assert '<input type="checkbox" name="status" value="error" checked>' in page


def test_date_labels() -> None:
    assert date_label("2026-11-01T000000Z") == "2026-11-01 00:00:00 UTC"
    assert date_label("run_id=manual__x=3a1") == "run manual__x:1"
    assert date_label("not-a-key") == "not-a-key"
