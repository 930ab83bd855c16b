"""BigQueryReservationHook: the official ReservationServiceClient, built from an Airflow connection.

Credentials come from the Google connection (key file, JSON key, ADC, impersonation, or
``is_anonymous``) through the Google provider's base hook. The endpoint and transport are
injectable (argument, or the connection's ``extra.api_endpoint``); an ``http://`` endpoint
selects the REST transport. That is how the tests and the demo reach the local fake in
sandbox/bigquery_reservation (an anonymous connection with ``api_endpoint`` on 127.0.0.1).

Transient errors (429, 5xx, connection errors) are retried here, in one place, with exponential
backoff (``google.api_core.retry``). What still fails reaches the caller as the package's service
errors (:mod:`platform_ops.exceptions`): ResourceNotFoundError, ResourceConflictError (also a FLEX
commitment refusing deletion during its minimum term), AccessDeniedError, InvalidRequestError, and
TransientServiceError once the retries are spent.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.google.common.consts import CLIENT_INFO
from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
from google.api_core.retry import Retry, if_exception_type
from google.cloud import bigquery_reservation_v1 as bqr
from google.protobuf import field_mask_pb2

from platform_ops.core.bigquery_reservation import CommitmentState
from platform_ops.exceptions import ExternalServiceError, ResourceConflictError, ResourceNotFoundError
from platform_ops.hooks.google import TRANSIENT, api_endpoint, is_failed_precondition, translate_errors

SERVICE = "BigQuery Reservation API"


def default_retry(initial: float = 1.0, maximum: float = 30.0, timeout: float = 300.0) -> Retry:
    """Exponential backoff on transient errors, for at most ``timeout`` seconds per call."""
    return Retry(
        predicate=if_exception_type(*TRANSIENT),
        initial=initial,
        maximum=maximum,
        multiplier=2.0,
        timeout=timeout,
    )


def _minimum_term(exc: BaseException) -> ExternalServiceError | None:
    if is_failed_precondition(exc):
        return ResourceConflictError(SERVICE, "delete capacity commitment", getattr(exc, "message", str(exc)))
    return None


class BigQueryReservationHook(GoogleBaseHook):
    """One short method per Reservation API call; errors translated into the package's own."""

    def __init__(
        self,
        gcp_conn_id: str = "google_cloud_default",
        api_endpoint: str | None = None,
        transport: str | None = None,
        retry: Retry | None = None,
        impersonation_chain: str | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Build the hook; ``retry`` replaces the default transient-error retry of every call."""
        super().__init__(gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain, **kwargs)
        self._api_endpoint = api_endpoint
        self._transport = transport
        self.retry = retry or default_retry()

    @cached_property
    def api_endpoint(self) -> str | None:
        """The endpoint override (argument or connection extra), None for Google's own."""
        return api_endpoint(self, self._api_endpoint)

    def get_conn(self) -> bqr.ReservationServiceClient:
        """The client (built once per hook)."""
        return self.client

    @cached_property
    def client(self) -> bqr.ReservationServiceClient:
        """The official client; REST transport for an ``http://`` endpoint."""
        endpoint = self.api_endpoint
        transport = self._transport or ("rest" if endpoint and endpoint.startswith("http://") else None)
        if endpoint:
            self.log.info("Reservation API at %s (transport %s)", endpoint, transport or "default")
        return bqr.ReservationServiceClient(
            credentials=self.get_credentials(),
            transport=transport,
            client_options=self.get_client_options(api_endpoint_override=endpoint),
            client_info=CLIENT_INFO,
        )

    # -- capacity commitments ---------------------------------------------------------------------
    def create_flex_commitment(
        self, parent: str, slots: int, commitment_id: str | None = None
    ) -> bqr.CapacityCommitment:
        """Buy FLEX slots. Not retried here: with a commitment_id a retry meets ALREADY_EXISTS instead."""
        commitment = bqr.CapacityCommitment(plan=bqr.CapacityCommitment.CommitmentPlan.FLEX, slot_count=slots)
        request = bqr.CreateCapacityCommitmentRequest(
            parent=parent, capacity_commitment=commitment, capacity_commitment_id=commitment_id or ""
        )
        with translate_errors(SERVICE, "create capacity commitment"):
            return self.client.create_capacity_commitment(request=request)

    def get_commitment(self, name: str) -> bqr.CapacityCommitment:
        """The commitment as the API returns it."""
        with translate_errors(SERVICE, "get capacity commitment"):
            return self.client.get_capacity_commitment(name=name, retry=self.retry)

    def get_commitment_state(self, name: str) -> CommitmentState:
        """The commitment's state; DELETED when it does not exist."""
        try:
            commitment = self.get_commitment(name)
        except ResourceNotFoundError as exc:
            return CommitmentState.deleted(name, exc.message)
        return CommitmentState.from_api(name, commitment.state.name, commitment.failure_status.message)

    def delete_commitment(self, name: str) -> bool:
        """Delete a commitment: True if deleted now, False if it was already gone.

        Raises ResourceConflictError while a FLEX commitment is within its minimum term.
        """
        try:
            with translate_errors(SERVICE, "delete capacity commitment", _minimum_term):
                self.client.delete_capacity_commitment(name=name, retry=self.retry)
        except ResourceNotFoundError:
            return False
        return True

    # -- reservations -----------------------------------------------------------------------------
    def get_reservation(self, name: str) -> bqr.Reservation:
        """The reservation."""
        with translate_errors(SERVICE, "get reservation"):
            return self.client.get_reservation(name=name, retry=self.retry)

    def set_slot_capacity(self, name: str, slots: int) -> bqr.Reservation:
        """Set the reservation's baseline ``slot_capacity``."""
        with translate_errors(SERVICE, "update reservation slot_capacity"):
            return self.client.update_reservation(
                reservation=bqr.Reservation(name=name, slot_capacity=slots),
                update_mask=field_mask_pb2.FieldMask(paths=["slot_capacity"]),
                retry=self.retry,
            )

    def set_autoscale_max_slots(self, name: str, slots: int) -> bqr.Reservation:
        """Set the reservation's ``autoscale.max_slots``."""
        with translate_errors(SERVICE, "update reservation autoscale.max_slots"):
            return self.client.update_reservation(
                reservation=bqr.Reservation(name=name, autoscale=bqr.Reservation.Autoscale(max_slots=slots)),
                update_mask=field_mask_pb2.FieldMask(paths=["autoscale.max_slots"]),
                retry=self.retry,
            )

    # -- assignments ------------------------------------------------------------------------------
    def list_assignments(self, reservation: str) -> list[bqr.Assignment]:
        """The reservation's assignments."""
        with translate_errors(SERVICE, "list assignments"):
            return list(self.client.list_assignments(parent=reservation, retry=self.retry))

    def create_assignment(self, reservation: str, assignee: str, job_type: str) -> bqr.Assignment:
        """Assign ``assignee``'s ``job_type`` jobs to the reservation."""
        assignment = bqr.Assignment(assignee=assignee, job_type=getattr(bqr.Assignment.JobType, job_type))
        with translate_errors(SERVICE, "create assignment"):
            return self.client.create_assignment(parent=reservation, assignment=assignment, retry=self.retry)

    def delete_assignment(self, name: str) -> None:
        """Delete an assignment (its assignee's jobs then run on demand)."""
        with translate_errors(SERVICE, "delete assignment"):
            self.client.delete_assignment(name=name, retry=self.retry)
