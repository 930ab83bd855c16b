"""The Airflow plugin of platform_ops: registers the operator extra links so the UI can show them."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from platform_ops.links.dbt import DatabricksWarehouseLink
from platform_ops.links.model_serving import EndpointPageLink


class PlatformOpsPlugin(AirflowPlugin):
    """Registers the extra links of the package's operators and sensors with the webserver."""

    name = "platform_ops"
    operator_extra_links = [DatabricksWarehouseLink(), EndpointPageLink()]  # noqa: RUF012 - AirflowPlugin's own
