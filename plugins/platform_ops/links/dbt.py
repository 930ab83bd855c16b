"""Operator extra link of DbtRunOrRetryOperator: the Databricks SQL warehouse a dbt task ran on."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink


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
