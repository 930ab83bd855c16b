"""CdcBigQueryHook: google-cloud-bigquery for the CDC operator, built from an Airflow connection.

The Google provider's BigQueryHook with the client's endpoint injectable (argument or the
connection's ``extra.api_endpoint``), so the same code runs against BigQuery and against a local
emulator. One short method per call the operator makes; every query job carries labels.

Durable jobs: :meth:`CdcBigQueryHook.run_query` takes the step's deterministic job id and first
looks that job up: a job found (running or done) is waited on and returned instead of a new one
being submitted, so a retry after a worker crash neither pays for a step twice nor loses its
result. A kill of the task cancels the job it waits on (:meth:`CdcBigQueryHook.cancel_query`,
called by the operator's ``on_kill``). The Google provider's ``durable=True`` (task-sdk's
``ResumableJobMixin``) stores one job id per task; this operator runs several jobs per task and
derives their ids instead of storing them.

Errors: google.api_core's exceptions are translated here into :mod:`platform_ops.exceptions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from airflow.providers.google.common.consts import CLIENT_INFO
from airflow.providers.google.common.hooks.base_google import PROVIDE_PROJECT_ID
from google.api_core import exceptions as gexc
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY

from platform_ops.exceptions import (
    ExternalServiceError,
    ResourceConflictError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks.google import api_endpoint, translate_errors

SERVICE = "BigQuery"
# BigQuery answers a throttled or overloaded job with 403/400 and one of these reasons: transient.
_QUOTA_REASONS = {"rateLimitExceeded", "quotaExceeded", "backendError", "jobBackendError"}


def _quota_error(exc: BaseException, operation: str) -> ExternalServiceError | None:
    errors = getattr(exc, "errors", None) or []
    reasons = {str(e.get("reason")) for e in errors if isinstance(e, Mapping)}
    if reasons & _QUOTA_REASONS:
        return TransientServiceError(SERVICE, operation, str(getattr(exc, "message", None) or exc))
    return None


def translated(operation: str) -> AbstractContextManager[None]:
    """Raise the block's Google API errors as the package's (quota reasons are transient)."""
    return translate_errors(SERVICE, operation, special=lambda exc: _quota_error(exc, operation))


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
    """The Google provider's BigQueryHook with an injectable endpoint and durable query jobs.

    Args:
        gcp_conn_id: The Airflow connection to Google Cloud.
        location: Where the jobs run (None: the dataset's location).
        api_endpoint: The BigQuery API endpoint (None: the connection's ``extra.api_endpoint``,
            else Google's).
        **kwargs: More BigQueryHook arguments.
    """

    def __init__(
        self,
        gcp_conn_id: str = "google_cloud_default",
        location: str | None = None,
        api_endpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        """See the class."""
        super().__init__(gcp_conn_id=gcp_conn_id, location=location, use_legacy_sql=False, **kwargs)
        self._api_endpoint = api_endpoint
        #: the job :meth:`run_query` is submitting or waiting on (None between jobs): what a kill cancels
        self.running_job_id: str | None = None

    def get_client(
        self, project_id: str = PROVIDE_PROJECT_ID, location: str | None = None
    ) -> bigquery.Client:
        """A BigQuery client on the hook's endpoint, credentials and location."""
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
        """The hook's client, made on first use."""
        if getattr(self, "_client", None) is None:
            self._client = self.get_client()
        return self._client

    def schema(self, table: str) -> dict[str, str] | None:
        """The table's top-level columns and their types (INTEGER, STRING, ...).

        None when the table does not exist.
        """
        try:
            with translated("get table"):
                return {str(f.name): str(f.field_type) for f in self.client.get_table(table).schema}
        except ResourceNotFoundError:
            return None

    def column_names(self, table: str) -> list[str] | None:
        """The table's top-level column names, or None when it does not exist."""
        schema = self.schema(table)
        return None if schema is None else list(schema)

    def table_exists(self, table: str) -> bool:
        """Whether ``table`` exists."""
        return self.schema(table) is not None

    def run_query(
        self,
        sql: str,
        params: Mapping[str, Any],
        labels: Mapping[str, str],
        dry_run: bool = False,
        job_id: str | None = None,
    ) -> bigquery.QueryJob:
        """Run ``sql`` to completion (or only plan it, with ``dry_run``) and return its job.

        With ``job_id``, the job of that id is reattached to when it exists (waited on if it is
        still running; a failed one raises its error) instead of a second one being submitted.
        """
        config = bigquery.QueryJobConfig(
            query_parameters=query_parameters(params),
            labels=dict(labels),
            dry_run=dry_run,
            use_query_cache=not dry_run,
        )
        self.running_job_id = None if dry_run else job_id
        try:
            with translated("run a query job"):
                job = None if dry_run or job_id is None else self.find_job(job_id)
                if job is None:
                    job = self._submit(sql, config, None if dry_run else job_id)
                if not dry_run:
                    self.running_job_id = job.job_id
                    job.result()
        finally:
            self.running_job_id = None
        return job

    def cancel_query(self, job_id: str) -> str | None:
        """Ask BigQuery to cancel job ``job_id``; the job's state as answered, None when there is none.

        Does not wait for the cancellation (BigQuery completes it on its own; a kill must return
        quickly). Uses a client of its own: it is called from a kill, maybe while the hook's client
        is in the middle of a request.
        """
        client = self.get_client()
        try:
            with translated("cancel a job"):
                job = client.cancel_job(job_id, location=self.location)
        except ResourceNotFoundError:
            self.log.info("Job %s not found: nothing to cancel", job_id)
            return None
        self.log.warning("Asked BigQuery to cancel job %s (state %s)", job_id, job.state)
        return str(job.state)

    def job_exists(self, job_id: str) -> bool:
        """Whether the hook's project has a job ``job_id`` (any kind, any state)."""
        try:
            with translated("get a job"):
                self.client.get_job(job_id, location=self.location)
        except ResourceNotFoundError:
            return False
        return True

    def find_job(self, job_id: str) -> bigquery.QueryJob | None:
        """The query job ``job_id`` of the hook's project, or None when there is none."""
        try:
            with translated("get a job"):
                job = self.client.get_job(job_id, location=self.location)
        except ResourceNotFoundError:
            return None
        if not isinstance(job, bigquery.QueryJob):
            raise ResourceConflictError(SERVICE, "get a job", f"{job_id} is not a query job")
        self.log.info("Reattaching to job %s (state %s): not submitting it again", job_id, job.state)
        return job

    def _submit(self, sql: str, config: bigquery.QueryJobConfig, job_id: str | None) -> bigquery.QueryJob:
        try:
            # A job of a given id cannot be retried under that id: its step's next attempt can.
            job = self.client.query(
                sql, job_config=config, job_id=job_id, job_retry=None if job_id else DEFAULT_JOB_RETRY
            )
        except gexc.Conflict:
            found = self.find_job(str(job_id)) if job_id else None
            if found is None:
                raise
            return found
        self.log.info("Submitted job %s", job.job_id)
        return job

    def create_like(
        self, table: str, like: str, partition_field: str, clustering: Sequence[str]
    ) -> list[str]:
        """Create ``table`` with ``like``'s schema, day-partitioned and clustered (no-op if it exists).

        Returns:
            That schema's column names.
        """
        with translated("create a table"):
            schema = self.client.get_table(like).schema
            new = bigquery.Table(self._ref(table), schema=schema)
            new.time_partitioning = bigquery.TimePartitioning(field=partition_field)
            new.clustering_fields = list(clustering)[:4] or None
            self.client.create_table(new, exists_ok=True)
        return [str(f.name) for f in schema]

    def drop(self, table: str) -> None:
        """Delete ``table``; a table that does not exist is not an error."""
        with translated("delete a table"):
            self.client.delete_table(table, not_found_ok=True)

    def _ref(self, table: str) -> bigquery.TableReference:
        return bigquery.TableReference.from_string(table, default_project=self.client.project)
