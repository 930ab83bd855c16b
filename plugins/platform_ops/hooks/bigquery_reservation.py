"""BigQueryReservationHook: the official ReservationServiceClient, built from an Airflow connection.

Credentials come from the Google connection (key file, JSON key, ADC, impersonation, or
``is_anonymous``) through the Google provider's base hook. The endpoint and transport are
injectable (argument, or the connection's ``extra.api_endpoint``); an ``http://`` endpoint
selects the REST transport. That is how the tests and the demo reach the local fake in
sandbox/bigquery_reservation (an anonymous connection with ``api_endpoint`` on 127.0.0.1).
Transient errors (429, 500, 503, 504) are retried here, in one place, with exponential backoff;
everything else reaches the caller.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.google.common.consts import CLIENT_INFO
from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud import bigquery_reservation_v1 as bqr
from google.protobuf import field_mask_pb2

from platform_ops.hooks.google import api_endpoint

TRANSIENT = (gexc.TooManyRequests, gexc.InternalServerError, gexc.ServiceUnavailable, gexc.GatewayTimeout)


def default_retry(initial: float = 1.0, maximum: float = 30.0, timeout: float = 300.0) -> Retry:
    return Retry(
        predicate=if_exception_type(*TRANSIENT),
        initial=initial,
        maximum=maximum,
        multiplier=2.0,
        timeout=timeout,
    )


class BigQueryReservationHook(GoogleBaseHook):
    """One short method per Reservation API call."""

    def __init__(
        self,
        gcp_conn_id: str = "google_cloud_default",
        api_endpoint: str | None = None,
        transport: str | None = None,
        retry: Retry | None = None,
        impersonation_chain: str | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain, **kwargs)
        self._api_endpoint = api_endpoint
        self._transport = transport
        self.retry = retry or default_retry()

    @cached_property
    def api_endpoint(self) -> str | None:
        return api_endpoint(self, self._api_endpoint)

    def get_conn(self) -> bqr.ReservationServiceClient:
        return self.client

    @cached_property
    def client(self) -> bqr.ReservationServiceClient:
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
        return self.client.create_capacity_commitment(request=request)

    def get_commitment(self, name: str) -> bqr.CapacityCommitment:
        return self.client.get_capacity_commitment(name=name, retry=self.retry)

    def list_commitments(self, parent: str) -> list[bqr.CapacityCommitment]:
        return list(self.client.list_capacity_commitments(parent=parent, retry=self.retry))

    def delete_commitment(self, name: str) -> None:
        self.client.delete_capacity_commitment(name=name, retry=self.retry)

    # -- reservations -----------------------------------------------------------------------------
    def get_reservation(self, name: str) -> bqr.Reservation:
        return self.client.get_reservation(name=name, retry=self.retry)

    def set_slot_capacity(self, name: str, slots: int) -> bqr.Reservation:
        return self.client.update_reservation(
            reservation=bqr.Reservation(name=name, slot_capacity=slots),
            update_mask=field_mask_pb2.FieldMask(paths=["slot_capacity"]),
            retry=self.retry,
        )

    def set_autoscale_max_slots(self, name: str, slots: int) -> bqr.Reservation:
        return self.client.update_reservation(
            reservation=bqr.Reservation(name=name, autoscale=bqr.Reservation.Autoscale(max_slots=slots)),
            update_mask=field_mask_pb2.FieldMask(paths=["autoscale.max_slots"]),
            retry=self.retry,
        )

    # -- assignments ------------------------------------------------------------------------------
    def list_assignments(self, reservation: str) -> list[bqr.Assignment]:
        return list(self.client.list_assignments(parent=reservation, retry=self.retry))

    def create_assignment(self, reservation: str, assignee: str, job_type: str) -> bqr.Assignment:
        assignment = bqr.Assignment(assignee=assignee, job_type=getattr(bqr.Assignment.JobType, job_type))
        return self.client.create_assignment(parent=reservation, assignment=assignment, retry=self.retry)

    def delete_assignment(self, name: str) -> None:
        self.client.delete_assignment(name=name, retry=self.retry)
