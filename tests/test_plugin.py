"""The plugin registers the operator extra links, and the links point where they should."""

from __future__ import annotations

from platform_ops.operators.dbt import DatabricksWarehouseLink, DbtRunOrRetryOperator, warehouse_url
from platform_ops.operators.model_serving import ModelServingDeployOperator
from platform_ops.plugin import PlatformOpsPlugin
from platform_ops.sensors.model_serving import EndpointPageLink, EndpointReadySensor


def test_plugin_registers_the_links() -> None:
    assert PlatformOpsPlugin.name == "platform_ops"
    assert [type(link) for link in PlatformOpsPlugin.operator_extra_links] == [
        DatabricksWarehouseLink,
        EndpointPageLink,
    ]
    assert any(
        isinstance(link, DatabricksWarehouseLink) for link in DbtRunOrRetryOperator.operator_extra_links
    )
    for operator in (ModelServingDeployOperator, EndpointReadySensor):
        assert any(isinstance(link, EndpointPageLink) for link in operator.operator_extra_links)


def test_warehouse_url_from_the_http_path() -> None:
    assert warehouse_url("https://dbc-1.cloud.databricks.com/", "/sql/1.0/warehouses/abc123") == (
        "https://dbc-1.cloud.databricks.com/sql/warehouses/abc123"
    )
    assert warehouse_url("https://h", "/sql/protocolv1/o/1/0123-cluster") is None
