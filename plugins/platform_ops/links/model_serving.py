"""The serving endpoint's page in the Databricks workspace, as an operator extra link."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink


class EndpointPageLink(BaseOperatorLink):
    """Operator extra link: the serving endpoint's page in the Databricks workspace."""

    name = "Serving endpoint"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """Return the page the operator recorded in ``endpoint_page``, or "" before it ran."""
        return getattr(operator, "endpoint_page", None) or ""
