"""CdcBigQueryHook: google-cloud-bigquery for the CDC operator, built from an Airflow connection.

The Google provider's BigQueryHook with the client's endpoint injectable (argument or the
connection's ``extra.api_endpoint``), so the same code runs against BigQuery and against a local
emulator. One short method per call the operator makes; every query job carries labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from airflow.providers.google.common.consts import CLIENT_INFO
from airflow.providers.google.common.hooks.base_google import PROVIDE_PROJECT_ID
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from platform_ops.hooks.google import api_endpoint


def query_parameters(params: Mapping[str, Any]) -> list[bigquery.ScalarQueryParameter]:
    """Named scalar parameters from Python values (datetime -> TIMESTAMP, int -> INT64, str)."""
    out = []
    for name, value in params.items():
        if isinstance(value, datetime):
            kind = "TIMESTAMP"
        elif isinstance(value, bool):
            kind = "BOOL"
        elif isinstance(value, int):
            kind = "INT64"
        elif isinstance(value, str):
            kind = "STRING"
        else:
            raise TypeError(f"query parameter {name}: unsupported type {type(value).__name__}")
        out.append(bigquery.ScalarQueryParameter(name, kind, value))
    return out


class CdcBigQueryHook(BigQueryHook):
    def __init__(
        self,
        gcp_conn_id: str = "google_cloud_default",
        location: str | None = None,
        api_endpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(gcp_conn_id=gcp_conn_id, location=location, use_legacy_sql=False, **kwargs)
        self._api_endpoint = api_endpoint

    def get_client(
        self, project_id: str = PROVIDE_PROJECT_ID, location: str | None = None
    ) -> bigquery.Client:
        return bigquery.Client(
            client_info=CLIENT_INFO,
            project=project_id or self.project_id,
            location=location or self.location,
            credentials=self.get_credentials(),
            client_options=self.get_client_options(
                api_endpoint_override=api_endpoint(self, self._api_endpoint)
            ),
        )

    @property
    def client(self) -> bigquery.Client:
        if getattr(self, "_client", None) is None:
            self._client = self.get_client()
        return self._client

    def schema(self, table: str) -> dict[str, str] | None:
        """The table's top-level columns and their types (INTEGER, STRING, ...), or None when it
        does not exist."""
        try:
            return {f.name: f.field_type for f in self.client.get_table(table).schema}
        except gexc.NotFound:
            return None

    def column_names(self, table: str) -> list[str] | None:
        """The table's top-level column names, or None when it does not exist."""
        schema = self.schema(table)
        return None if schema is None else list(schema)

    def table_exists(self, table: str) -> bool:
        return self.schema(table) is not None

    def run_query(
        self, sql: str, params: Mapping[str, Any], labels: Mapping[str, str], dry_run: bool = False
    ) -> bigquery.QueryJob:
        """Run ``sql`` to completion (or only plan it, with ``dry_run``) and return its job."""
        config = bigquery.QueryJobConfig(
            query_parameters=query_parameters(params),
            labels=dict(labels),
            dry_run=dry_run,
            use_query_cache=not dry_run,
        )
        job = self.client.query(sql, job_config=config)
        if not dry_run:
            job.result()
        return job

    def create_like(
        self, table: str, like: str, partition_field: str, clustering: Sequence[str]
    ) -> list[str]:
        """Create ``table`` with ``like``'s schema, day-partitioned and clustered (no-op if it exists);
        returns that schema's column names."""
        schema = self.client.get_table(like).schema
        new = bigquery.Table(self._ref(table), schema=schema)
        new.time_partitioning = bigquery.TimePartitioning(field=partition_field)
        new.clustering_fields = list(clustering)[:4] or None
        self.client.create_table(new, exists_ok=True)
        return [f.name for f in schema]

    def drop(self, table: str) -> None:
        self.client.delete_table(table, not_found_ok=True)

    def _ref(self, table: str) -> bigquery.TableReference:
        return bigquery.TableReference.from_string(table, default_project=self.client.project)
