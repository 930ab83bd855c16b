"""Operator extra links of DbtRunOrRetryOperator: its Databricks SQL warehouse, run report and docs."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

from platform_ops.core.dbt_docs import docs_path
from platform_ops.core.dbt_report import report_path


class DatabricksWarehouseLink(BaseOperatorLink):
    """The Databricks SQL warehouse a dbt task ran on (dev/prod targets).

    Airflow 3 evaluates links in the worker right after ``execute`` and stores the result in XCom
    under ``xcom_key``, which is what the UI reads; so the URL comes from the executed operator's
    ``warehouse_url`` attribute, and is empty for targets that run on no warehouse.
    """

    name = "Databricks SQL warehouse"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """Return the warehouse page the operator recorded, or an empty string."""
        url = getattr(operator, "warehouse_url", None)
        return url if isinstance(url, str) else ""


class DbtRunReportLink(BaseOperatorLink):
    """The dbt run report of the task instance's logical date (the plugin's page in the Airflow UI).

    The link is relative to the UI's base URL, so it holds behind a proxy prefix; the page finds
    the run's logical date itself.
    """

    name = "dbt run report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The report page of this DAG, task and run."""
        return report_path(ti_key.dag_id, ti_key.task_id, run_id=ti_key.run_id)


class DbtDocsLink(BaseOperatorLink):
    """The dbt docs stored for the task instance's date, else the newest stored (the plugin's pages).

    Relative to the UI's base URL, like the run report; a task that never generated docs gets a
    page saying so.
    """

    name = "dbt docs"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The docs of this DAG, task and run."""
        return docs_path(ti_key.dag_id, ti_key.task_id, run_id=ti_key.run_id)
