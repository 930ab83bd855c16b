"""The plugin registers the operator extra links, and the links point where they should."""

from __future__ import annotations

from platform_ops.core.dbt_report import report_path
from platform_ops.links.dbt import DatabricksWarehouseLink, DbtDocsLink, DbtRunReportLink
from platform_ops.links.model_serving import EndpointPageLink
from platform_ops.operators.dbt import DbtRunOrRetryOperator, warehouse_url
from platform_ops.operators.model_serving import ModelServingDeployOperator
from platform_ops.plugin import DBT_REPORT_VIEW, PlatformOpsPlugin
from platform_ops.sensors.model_serving import EndpointReadySensor


def test_plugin_registers_the_links() -> None:
    assert PlatformOpsPlugin.name == "platform_ops"
    assert [type(link) for link in PlatformOpsPlugin.operator_extra_links] == [
        DatabricksWarehouseLink,
        EndpointPageLink,
        DbtRunReportLink,
        DbtDocsLink,
    ]
    assert any(
        isinstance(link, DatabricksWarehouseLink) for link in DbtRunOrRetryOperator.operator_extra_links
    )
    for operator in (ModelServingDeployOperator, EndpointReadySensor):
        assert any(isinstance(link, EndpointPageLink) for link in operator.operator_extra_links)


def test_plugin_mounts_the_dbt_report_and_adds_a_task_instance_tab() -> None:
    from platform_ops.web.dbt_report import app

    assert PlatformOpsPlugin.fastapi_apps == [
        {"app": app, "url_prefix": "/platform-ops", "name": "dbt run report"}
    ]
    assert PlatformOpsPlugin.external_views == [DBT_REPORT_VIEW]
    assert DBT_REPORT_VIEW["destination"] == "task_instance"
    assert DBT_REPORT_VIEW["name"] == "dbt run report"
    # relative to the UI's base URL (a leading slash would break behind a proxy prefix); the UI fills
    # the placeholders with the URL-encoded ids, which is what the link builds for a run
    href = DBT_REPORT_VIEW["href"]
    assert not href.startswith("/")
    filled = href.replace("{DAG_ID}", "d").replace("{TASK_ID}", "t").replace("{RUN_ID}", "r")
    assert filled == report_path("d", "t", run_id="r")


def test_the_dbt_report_link_is_relative_and_encodes_the_run_id() -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey

    key = TaskInstanceKey("dbt_transform", "group.dbt", "manual__2026-11-01T00:00:00+00:00", 2, -1)
    link = DbtRunReportLink().get_link(DbtRunOrRetryOperator, ti_key=key)
    assert link == (
        "platform-ops/dbt-report/dbt_transform/group.dbt?run_id=manual__2026-11-01T00%3A00%3A00%2B00%3A00"
    )


def test_the_dbt_docs_link_is_relative_and_encodes_the_run_id() -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey

    key = TaskInstanceKey("dbt_transform", "group.dbt", "manual__2026-11-01T00:00:00+00:00", 2, -1)
    assert any(isinstance(link, DbtDocsLink) for link in DbtRunOrRetryOperator.operator_extra_links)
    link = DbtDocsLink().get_link(DbtRunOrRetryOperator, ti_key=key)
    assert link == (
        "platform-ops/dbt-docs/dbt_transform/group.dbt?run_id=manual__2026-11-01T00%3A00%3A00%2B00%3A00"
    )


def test_warehouse_url_from_the_http_path() -> None:
    assert warehouse_url("https://dbc-1.cloud.databricks.com/", "/sql/1.0/warehouses/abc123") == (
        "https://dbc-1.cloud.databricks.com/sql/warehouses/abc123"
    )
    assert warehouse_url("https://h", "/sql/protocolv1/o/1/0123-cluster") is None


_LOAD_PLUGINS = r"""
import json, sys
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
plugins = plugins_manager.get_plugin_info()
shadowed = {}
for name in ("dbt", "cdc", "state", "config", "params", "exceptions", "model_serving", "retry_session"):
    mod = sys.modules.get(name)
    shadowed[name] = getattr(mod, "__file__", None) if mod is not None else None
print("@@" + json.dumps({"plugins": [p["name"] for p in plugins], "shadowed": shadowed}))
"""


def test_the_plugins_folder_loads_only_the_entry_point() -> None:
    """Airflow executes every .py file under plugins/ as a top-level module named after the file:
    without plugins/.airflowignore, hooks/dbt.py would be sys.modules["dbt"] (shadowing dbt in the
    worker) and every module of the package would run twice under a second name."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    plugins = Path(__file__).resolve().parents[1] / "plugins"
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins), "PYTHONPATH": str(plugins)}
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD_PLUGINS], env=env, capture_output=True, text=True, check=False
    )
    line = [x for x in proc.stdout.splitlines() if x.startswith("@@")]
    assert line, proc.stdout + proc.stderr
    loaded = json.loads(line[-1][2:])
    assert "platform_ops" in loaded["plugins"]
    outside = {name: path for name, path in loaded["shadowed"].items() if path and str(plugins) in path}
    assert outside == {}, f"plugins/ modules loaded under top-level names: {outside}"
