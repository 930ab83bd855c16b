"""The UI in a real browser: Debian's chromium driven by Playwright (no browser download).

Log in; open dbt_transform; the Trigger form shows each param with its description and the target
as a choice; threads=0 is not kept by the form (clamped to the minimum); a valid trigger creates a
run that the run page shows. Then the extra links, on each task's Details tab where the UI lists
them: the serving tasks' "Serving endpoint" opens the endpoint's page in the workspace, and the
dbt task's "Databricks SQL warehouse" is not offered for the local (DuckDB) target, which runs on
no warehouse (a dev/prod run links the warehouse of its connection: tests/operators/test_dbt.py).
The dbt task's "dbt run report" link opens the plugin's page for the run: its nodes and timeline
for the logged-in user, 401 for a request without the UI's login. A run with generate_docs stores
the dbt docs site, and its "dbt docs" link opens it: dbt's own page, rendered under the plugin's
Content-Security-Policy with nothing refused and nothing fetched from another origin.

A screenshot of each step is kept under the test's temp folder; when the test fails, a last one
is taken and the paths are listed in the failure report (tests/stack/conftest.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from airflow_stack import ADMIN, Stack

from tests.stack.helpers import runs, unpause, wait_run

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("stack")]

CHROMIUM = "/usr/lib/chromium/chromium"
DAG_ID = "dbt_transform"
SERVING_DAG_ID = "model_serving_deploy_churn"
# the params whose label (the Param's title) and description the form must show
FORM_PARAMS = (
    "select",
    "target",
    "threads",
    "force",
    "source_freshness",
    "retry_test_failures",
    "generate_docs",
)
WAREHOUSE_LINK = "Databricks SQL warehouse"
ENDPOINT_LINK = "Serving endpoint"
REPORT_LINK = "dbt run report"
DOCS_LINK = "dbt docs"


@pytest.fixture
def page(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator:
    """A chromium page with ``page.shot(name)``: a full-page screenshot numbered in step order."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # a loaded 2-core machine renders a page in seconds, not ms
    shots: list[Path] = []
    request.node.screenshots = shots  # listed in the failure report by conftest.py
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(60_000)

        def shot(name: str) -> None:
            path = tmp_path / f"{len(shots) + 1:02d}-{name}.png"
            page.screenshot(path=path, full_page=True)
            shots.append(path)

        page.shot = shot  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            browser.close()


def _details(page, stack: Stack, dag_id: str, run_id: str, task_id: str):  # type: ignore[no-untyped-def]
    """Open a task instance's Details tab, where the UI lists the task's extra links."""
    from playwright.sync_api import expect

    page.goto(f"{stack.base}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/details")
    expect(page.get_by_text("Extra Links", exact=True)).to_be_visible()
    return page


def test_trigger_form_and_extra_links_in_chromium(stack: Stack, page) -> None:
    from playwright.sync_api import expect

    # a serving deployment runs meanwhile: its tasks' endpoint links are checked at the end
    unpause(stack, SERVING_DAG_ID)
    serving_run = stack.api("POST", f"/dags/{SERVING_DAG_ID}/dagRuns", json={"logical_date": None})[
        "dag_run_id"
    ]

    unpause(stack, DAG_ID)
    page.goto(stack.base)
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(stack.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*auth/login).*$"))
    page.shot("logged-in")

    page.goto(f"{stack.base}/dags/{DAG_ID}")
    expect(page.get_by_text(DAG_ID).first).to_be_visible()
    page.shot("dag")

    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    page.shot("trigger-form")
    # what the served DAG declares is what the form shows: each param's title as its label (not
    # the raw name) and its description
    params = stack.api("GET", f"/dags/{DAG_ID}/details")["params"]
    for name in FORM_PARAMS:
        title, description = params[name]["schema"]["title"], params[name]["description"]
        assert title, (name, params[name])
        assert title != name, (name, params[name])
        expect(
            dialog.locator("label", has_text=re.compile(rf"^\s*{re.escape(title)}\b")).first
        ).to_be_visible()
        expect(dialog.get_by_text(description).first).to_be_visible()
    page.shot("trigger-form-params")

    # the target is a choice among the enum's values, shown by their labels, not free text
    shown = params["target"]["schema"]["values_display"]
    assert set(shown) == set(params["target"]["schema"]["enum"]) == {"local", "dev", "prod"}, shown
    dialog.get_by_text(shown["local"], exact=True).first.click(force=True)  # the overlay takes it
    for label in shown.values():
        expect(page.get_by_role("option", name=label)).to_be_visible()
    page.shot("target-choices")
    page.get_by_role("option", name=shown["local"]).click()

    # threads=0 is below the param's minimum: the form does not keep it (it clamps to 1)
    threads = dialog.get_by_role("spinbutton")
    threads.fill("0")
    threads.blur()
    expect(threads).not_to_have_value("0")
    page.shot("threads-0-refused")

    threads.fill("2")
    threads.blur()
    dialog.get_by_role("button", name="Trigger").click()
    new = stack.wait_for(lambda: [r for r in runs(stack, DAG_ID) if r["conf"].get("threads") == 2], 60,
                         "the run triggered from the form")  # fmt: skip
    run_id = new[0]["dag_run_id"]
    page.shot("triggered")
    page.goto(f"{stack.base}/dags/{DAG_ID}/runs/{run_id}")
    expect(page.get_by_text(run_id).first).to_be_visible()
    page.shot("run-in-grid")

    # The serving tasks link the endpoint's page in the workspace (the sensor's survives its
    # deferral: the link is recorded when the task resumes from the triggerer and ends).
    wait_run(stack, SERVING_DAG_ID, serving_run, "success")
    endpoint_page = f"{stack.databricks.url}/ml/endpoints/churn-model"
    for task_id in ("deploy", "wait_ready"):
        links = stack.api(
            "GET", f"/dags/{SERVING_DAG_ID}/dagRuns/{serving_run}/taskInstances/{task_id}/links"
        )
        assert links["extra_links"] == {ENDPOINT_LINK: endpoint_page}, (task_id, links)
        _details(page, stack, SERVING_DAG_ID, serving_run, task_id)
        link = page.get_by_role("link", name=ENDPOINT_LINK, exact=True)
        expect(link).to_have_attribute("href", endpoint_page)
        expect(link).to_have_attribute("target", "_blank")  # another site: a new tab
        page.shot(f"serving-{task_id}-endpoint-link")

    # The run from the form built the local target: DuckDB, no warehouse to link. The link is
    # known to the UI (the Extra Links section is there) but has no address for this try, so the
    # UI offers no button rather than a dead one.
    wait_run(stack, DAG_ID, run_id, "success")
    links = stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/dbt_run/links")
    report_href = links["extra_links"][REPORT_LINK]
    assert links["extra_links"] == {
        WAREHOUSE_LINK: None,
        REPORT_LINK: report_href,
        DOCS_LINK: f"platform-ops/dbt-docs/dbt_transform/dbt_run?run_id={quote(run_id, safe='')}",
    }, links
    assert report_href.startswith("platform-ops/dbt-report/dbt_transform/dbt_run?run_id="), report_href
    _details(page, stack, DAG_ID, run_id, "dbt_run")
    expect(page.get_by_text("dbt_run").first).to_be_visible()
    expect(page.get_by_role("link", name=WAREHOUSE_LINK)).to_have_count(0)
    # two ways in: the extra link (a new tab) and the task instance's "dbt run report" tab (the
    # plugin's external view, shown inside the UI)
    report_links = page.get_by_role("link", name=REPORT_LINK, exact=True)
    expect(report_links).to_have_count(2)
    hrefs = sorted(report_links.nth(i).get_attribute("href") or "" for i in range(2))
    assert hrefs[0] == f"/dags/{DAG_ID}/runs/{run_id}/tasks/dbt_run/plugin/dbt-run-report", hrefs
    assert hrefs[1] == report_href, hrefs
    page.shot("dbt-no-warehouse-link-for-local")

    # The run report, opened as the logged-in user: every node of the date's run_results with
    # its status, and the timeline (one bar per timed node). Logged out, the same address is 401.
    report_url = f"{stack.base}/{report_href}"
    assert httpx.get(report_url, timeout=30).status_code == 401
    page.goto(report_url)
    expect(page.get_by_role("heading", name="dbt run report · dbt_transform / dbt_run")).to_be_visible()
    for model in ("stg_customers", "customers", "orders"):
        expect(page.get_by_text(model, exact=True).first).to_be_visible()
    bars = page.locator("svg rect.bar")
    expect(bars.first).to_be_visible()
    assert bars.count() >= 3, bars.count()
    page.shot("dbt-run-report")

    # dbt docs: a run with generate_docs stores the site with its date; its "dbt docs" link opens it
    docs_run = stack.api(
        "POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"generate_docs": True}}
    )["dag_run_id"]
    wait_run(stack, DAG_ID, docs_run, "success")
    docs_href = stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{docs_run}/taskInstances/dbt_run/links")[
        "extra_links"
    ][DOCS_LINK]
    docs_url = f"{stack.base}/{docs_href}"
    assert httpx.get(docs_url, timeout=30).status_code == 401
    requested: list[str] = []
    refused: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(docs_url)
    page.wait_for_url(re.compile(r"/dbt-docs/dbt_transform/dbt_run/run_id=[^/]+/index\.html"))
    # the overview comes from the stored manifest: shown only once the page fetched it
    expect(page.get_by_text("Welcome to the auto-generated documentation").first).to_be_visible()
    page.shot("dbt-docs")
    assert refused == [], refused
    outside = [u for u in requested if not u.startswith((stack.base, "data:", "blob:"))]
    assert outside == [], outside
    fetched = {urlsplit(u).path.rsplit("/", 1)[-1] for u in requested}  # dbt adds a cache-buster query
    assert {"index.html", "manifest.json", "catalog.json"} <= fetched, sorted(fetched)
