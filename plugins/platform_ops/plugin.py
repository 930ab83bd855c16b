"""The Airflow plugin of platform_ops: operator extra links, and the dbt run report and docs pages."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from platform_ops.links.dbt import DatabricksWarehouseLink, DbtDocsLink, DbtRunReportLink
from platform_ops.links.model_serving import EndpointPageLink
from platform_ops.web import dbt_docs  # noqa: F401 - registers the docs routes on the app
from platform_ops.web.dbt_report import URL_PREFIX
from platform_ops.web.dbt_report import app as dbt_report_app

#: the task instance tab: the UI fills the placeholders and resolves the href against its base URL
DBT_REPORT_VIEW = {
    "name": "dbt run report",
    "href": URL_PREFIX.lstrip("/") + "/dbt-report/{DAG_ID}/{TASK_ID}?run_id={RUN_ID}",
    "destination": "task_instance",
    "url_route": "dbt-run-report",
}


class PlatformOpsPlugin(AirflowPlugin):
    """Registers the extra links of the package's operators and sensors, the dbt run report and docs.

    The report is a FastAPI app the API server mounts under ``/platform-ops`` (it authenticates
    every request with the UI's auth manager) and a "dbt run report" tab on task instances.
    """

    name = "platform_ops"
    operator_extra_links = [  # noqa: RUF012 - AirflowPlugin's own
        DatabricksWarehouseLink(),
        EndpointPageLink(),
        DbtRunReportLink(),
        DbtDocsLink(),
    ]
    fastapi_apps = [{"app": dbt_report_app, "url_prefix": URL_PREFIX, "name": "dbt run report"}]  # noqa: RUF012
    external_views = [DBT_REPORT_VIEW]  # noqa: RUF012
