"""The UI in a real browser: Debian's chromium driven by Playwright (no browser download).

Log in; open dbt_transform; the Trigger form shows each param with its description and the target
as a choice; threads=0 is not kept by the form (clamped to the minimum); a valid trigger creates a
run that the run page shows. A screenshot of each step is kept under the test's temp
folder (the paths are printed when the test fails).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_stack import ADMIN, Stack

from tests.stack.helpers import runs, unpause

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/lib/chromium/chromium"
DAG_ID = "dbt_transform"
PARAM_DESCRIPTIONS = {
    "select": "dbt selection, e.g. tag:daily or stg_orders+",
    "target": "profiles.yml target: local (DuckDB) or dev/prod (Databricks)",
    "threads": "dbt threads (1-64)",
    "force": "re-run even if this date's stored results are green",
}


@pytest.fixture
def page(tmp_path: Path) -> Iterator:
    from playwright.sync_api import sync_playwright

    shots: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(30_000)

        def shot(name: str) -> None:
            path = tmp_path / f"{len(shots) + 1:02d}-{name}.png"
            page.screenshot(path=path, full_page=True)
            shots.append(path)

        page.shot = shot  # type: ignore[attr-defined]
        try:
            yield page
        except BaseException:
            raise
        finally:
            print("screenshots:\n" + "\n".join(str(p) for p in shots))
            browser.close()


def test_trigger_form_in_chromium(stack: Stack, page) -> None:
    from playwright.sync_api import expect

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
    for name, description in PARAM_DESCRIPTIONS.items():
        expect(dialog.locator("label", has_text=re.compile(rf"^\s*{name}\b")).first).to_be_visible()
        expect(dialog.get_by_text(description).first).to_be_visible()
    page.shot("trigger-form-params")

    # the target is a choice among the enum's values, not free text
    dialog.get_by_text("local", exact=True).first.click(force=True)  # the select's overlay takes it
    for choice in ("local", "dev", "prod"):
        expect(page.get_by_role("option", name=choice)).to_be_visible()
    page.shot("target-choices")
    page.get_by_role("option", name="local").click()

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
