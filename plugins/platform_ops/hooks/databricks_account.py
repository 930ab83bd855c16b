"""DatabricksAccountHook: find or create a workspace's account objects through databricks-sdk's AccountClient.

The client is built from an Airflow Databricks connection, read as the Databricks provider reads it:
host (with schema and port) is the account console host, ``extra.account_id`` the account (an
explicit ``account_id`` argument wins), and the credentials a token (password without login, or
``extra.token``) or an OAuth M2M service principal (``extra.service_principal_oauth``, login = client
id, password = secret). The secret and the token are handed to the SDK and never logged.

Every object is found by name first (:func:`platform_ops.core.workspace_objects.choose`: adopt an
identical one, drift error otherwise, the run state's id when names collide). Only an object found by
that first look-up is *adopted* (it existed before this run's first create attempt, and a cleanup never
deletes it), unless its id is one an earlier try of the same run created (``created_earlier``): that
one is still this run's. A create that fails in a way that leaves its outcome unknown (timeout, 5xx,
reset, or the SDK's own retry of a committed POST answered "already in use") is followed by a new
look-up before anything is sent again; an object it finds did not exist before the create, so it is
*created* by this run. The SDK's transport resends a POST answered 503 even when the first one was
committed, so a create can also leave copies: after each create the name is looked up once more, and an
identical copy that was not there before this run's create is deleted (the copy that is kept is the
one the create answered with, or after a failure the oldest).
"Failed credential(s) validation checks" (a new IAM role still propagating) is retried with backoff and
a cap on credentials and workspace creates, only when the caller says the IAM preflight passed: a
wrong trust policy gives the same error. Ids are handed to ``on_id`` as soon as they exist. SDK errors
leave this module as :mod:`platform_ops.exceptions` errors.

:meth:`DatabricksAccountHook.cleanup` deletes objects in the order given: a workspace is deleted and
then read until it answers 404 (deletion is not immediate); a delete refused because the object is
still in use (INVALID_STATE, e.g. a network whose workspace is still going) is retried until the
deadline; every object's outcome is reported, none raised.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import requests
from airflow.sdk import BaseHook
from databricks.sdk import AccountClient
from databricks.sdk.config import Config
from databricks.sdk.errors.base import DatabricksError
from databricks.sdk.service.provisioning import (
    CreateCredentialAwsCredentials,
    CreateCredentialStsRole,
    NetworkVpcEndpoints,
    PricingTier,
    PrivateAccessLevel,
    RootBucketInfo,
)

from platform_ops.core.waiting import Unsettled, doubling_delay, poll
from platform_ops.core.workspace_deploy import CleanupOutcome, Deletion
from platform_ops.core.workspace_objects import (
    CREDENTIALS,
    NAME_FIELD,
    NETWORK,
    PRIVATE_ACCESS,
    STORAGE,
    VPC_ENDPOINT,
    WORKSPACE,
    ObjectSpec,
    WorkspaceDeployment,
    choose,
    differences,
    object_id,
)
from platform_ops.exceptions import (
    ConfigError,
    ExternalServiceError,
    InvalidRequestError,
    ResourceConflictError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks import databricks_client

SERVICE = "Databricks account API"
VALIDATION_FAILURE = re.compile(r"Failed credential(?:\(s\)|s)? validation checks", re.IGNORECASE)
OnId = Callable[[str, str, str], None]


def translate(exc: BaseException, operation: str) -> ExternalServiceError:
    """The :mod:`platform_ops.exceptions` error for an SDK or transport exception of the account API."""
    return databricks_client.translate(exc, operation, SERVICE)


def is_in_use(exc: BaseException) -> bool:
    """Whether Databricks refused a delete because the object is still used (INVALID_STATE)."""
    return isinstance(exc, DatabricksError) and exc.error_code == "INVALID_STATE"


def is_validation_failure(exc: BaseException) -> bool:
    """Whether Databricks refused the credentials (what a still-propagating IAM role causes too)."""
    return bool(VALIDATION_FAILURE.search(str(exc)))


@dataclass(frozen=True)
class RetryPolicy:
    """How creates are retried: credential validation with backoff, ambiguous failures after a look-up."""

    validation_attempts: int = 8
    validation_first_delay: float = 5.0
    validation_max_delay: float = 60.0
    ambiguous_attempts: int = 3
    endpoint_timeout: float = 600.0
    endpoint_poll: float = 5.0

    def validation_delay(self, attempt: int) -> float:
        """Seconds to wait before validation retry number ``attempt`` (1-based), doubling up to the cap."""
        return doubling_delay(self.validation_first_delay, self.validation_max_delay, attempt)


@dataclass(frozen=True)
class AccountObject:
    """One object found or created: no secrets, only what the run state and the task log need."""

    kind: str
    name: str
    object_id: str
    created: bool
    details: Mapping[str, Any] = field(default_factory=dict)


class DatabricksAccountHook(BaseHook):
    """databricks-sdk's AccountClient from an Airflow Databricks connection; find-or-create per object."""

    conn_name_attr = "databricks_conn_id"
    default_conn_name = "databricks_default"
    conn_type = "databricks"
    hook_name = "Databricks account"

    def __init__(
        self,
        databricks_conn_id: str = default_conn_name,
        account_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
        sdk_retry_timeout_seconds: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the settings; nothing is read or called until the client is needed.

        Args:
            databricks_conn_id: the Airflow Databricks connection of the account console.
            account_id: the Databricks account (default: the connection's ``extra.account_id``).
            retry_policy: how creates are retried (validation backoff, ambiguous failures, endpoints).
            sdk_retry_timeout_seconds: how long the SDK itself keeps retrying one call (its default: 300 s).
            **kwargs: passed to BaseHook.
        """
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id
        self._account_id = account_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._sdk_retry_timeout = sdk_retry_timeout_seconds

    # -- client ----------------------------------------------------------------------------------
    @cached_property
    def client_kwargs(self) -> dict[str, Any]:
        """AccountClient arguments from the connection (they hold the secret: never log them).

        Raises:
            ConfigError: no account id, no credentials, or Azure credentials (not for the account API).
        """
        conn = self.get_connection(self.databricks_conn_id)
        extra = conn.extra_dejson
        if "azure_tenant_id" in extra:
            raise ConfigError(
                "extra.azure_tenant_id",
                "the account API hook authenticates with a token or an OAuth M2M service principal",
                "set a token as password, or login/password with extra.service_principal_oauth",
            )
        account_id = self._account_id or extra.get("account_id")
        if not account_id:
            raise ConfigError(
                "account_id",
                f"the Databricks connection {self.databricks_conn_id!r} names no account",
                "set extra.account_id on the connection, or pass account_id",
            )
        url = account_host(conn.host, conn.port, conn.schema, extra)
        kwargs = {
            "host": url,
            "account_id": str(account_id),
            **_credentials(conn.login, conn.password, extra),
        }
        if self._sdk_retry_timeout is not None:
            kwargs["retry_timeout_seconds"] = self._sdk_retry_timeout
        return kwargs

    @property
    def account_id(self) -> str:
        """The account the client works on."""
        return str(self.client_kwargs["account_id"])

    @cached_property
    def client(self) -> AccountClient:
        """The SDK's AccountClient (authenticated lazily, on the first call)."""
        return AccountClient(config=Config(**self.client_kwargs))

    def get_conn(self) -> AccountClient:
        """The AccountClient."""
        return self.client

    # -- reads -----------------------------------------------------------------------------------
    def list_objects(self, kind: str) -> list[dict[str, Any]]:
        """Every object of ``kind`` in the account, as the API returns them (dicts).

        Raises:
            ExternalServiceError: translated from the SDK.
        """
        listers: dict[str, Callable[[], Iterator[Any]]] = {
            CREDENTIALS: self.client.credentials.list,
            STORAGE: self.client.storage.list,
            VPC_ENDPOINT: self.client.vpc_endpoints.list,
            NETWORK: self.client.networks.list,
            PRIVATE_ACCESS: self.client.private_access.list,
            WORKSPACE: self.client.workspaces.list,
        }
        with _translated(f"list {kind}"):
            return [obj.as_dict() for obj in listers[kind]()]

    def named(self, spec: ObjectSpec) -> list[dict[str, Any]]:
        """The objects of the spec's kind carrying its name."""
        return [o for o in self.list_objects(spec.kind) if o.get(NAME_FIELD[spec.kind]) == spec.name]

    def get_vpc_endpoint(self, vpc_endpoint_id: str) -> dict[str, Any]:
        """One VPC endpoint registration."""
        with _translated("get vpc_endpoint"):
            return self.client.vpc_endpoints.get(vpc_endpoint_id).as_dict()

    def get_workspace(self, workspace_id: int | str) -> dict[str, Any]:
        """One workspace, with ``workspace_status`` and ``workspace_status_message``."""
        with _translated("get workspace"):
            return self.client.workspaces.get(int(workspace_id)).as_dict()

    def get_network(self, network_id: str) -> dict[str, Any]:
        """One network, with ``error_messages``, ``warning_messages`` and ``vpc_status``."""
        with _translated("get network"):
            return self.client.networks.get(network_id).as_dict()

    # -- delete ----------------------------------------------------------------------------------
    def delete_object(self, kind: str, object_id: str) -> None:
        """Send one delete.

        Raises:
            ResourceConflictError: the object is still in use (retryable).
            ResourceNotFoundError: it does not exist.
            ExternalServiceError: any other refusal (translated).
        """
        deleters: dict[str, Callable[[str], Any]] = {
            CREDENTIALS: self.client.credentials.delete,
            STORAGE: self.client.storage.delete,
            VPC_ENDPOINT: self.client.vpc_endpoints.delete,
            NETWORK: self.client.networks.delete,
            PRIVATE_ACCESS: self.client.private_access.delete,
            WORKSPACE: lambda i: self.client.workspaces.delete(int(i)),
        }
        try:
            with _translated(f"delete {kind}"):
                try:
                    deleters[kind](object_id)
                except DatabricksError as exc:
                    if is_in_use(exc):
                        raise ResourceConflictError(SERVICE, f"delete {kind}", str(exc)) from exc
                    raise
        except ExternalServiceError as exc:
            self.log.info("Deleting %s %s: %s", kind, object_id, exc.message)
            raise

    def wait_workspace_gone(self, workspace_id: str, deadline: float, poll_interval: float) -> None:
        """Read a deleted workspace until it answers 404.

        Raises:
            TransientServiceError: it still answers at ``deadline``.
        """

        def status() -> str | None:  # None: gone
            try:
                return str(self.get_workspace(workspace_id).get("workspace_status") or "unknown")
            except ResourceNotFoundError:
                return None

        def waiting(state: str | None, error: BaseException | None, delay: float) -> None:
            now = f"unknown ({error})" if error is not None else state
            self.log.info(
                "Workspace %s is being deleted (%s): reading again in %.1f s", workspace_id, now, delay
            )

        try:
            poll(
                status,
                deadline=deadline,
                interval=poll_interval,
                settled=lambda state: state is None,
                transient=lambda exc: isinstance(exc, TransientServiceError),
                on_wait=waiting,
            )
        except Unsettled as still:
            now = f"unknown ({still.error})" if still.error is not None else still.result
            raise TransientServiceError(
                SERVICE, "delete workspace", f"workspace {workspace_id} still {now} at the deadline"
            ) from None
        self.log.info("Workspace %s is gone", workspace_id)

    def remove(self, deletion: Deletion, deadline: float, poll_interval: float) -> CleanupOutcome:
        """Delete one object, retrying "in use" and transient refusals until ``deadline``; never raises."""

        def outcome(result: str, error: str = "") -> CleanupOutcome:
            return CleanupOutcome(deletion.kind, deletion.name, deletion.object_id, result, error)

        def delete() -> bool:  # False: it was already gone
            try:
                self.delete_object(deletion.kind, deletion.object_id)
            except ResourceNotFoundError:
                return False
            return True

        def refused(_: bool | None, exc: BaseException | None, delay: float) -> None:
            self.log.warning(
                "Deleting %s %r (%s) was refused, %s: retrying in %.1f s",
                deletion.kind,
                deletion.name,
                deletion.object_id,
                "it is still in use" if isinstance(exc, ResourceConflictError) else str(exc),
                delay,
            )

        try:
            deleted = poll(
                delete,
                deadline=deadline,
                interval=poll_interval,
                transient=lambda exc: isinstance(exc, ExternalServiceError) and exc.retryable,
                on_wait=refused,
            )
            if not deleted:
                return outcome("already gone")
            if deletion.kind == WORKSPACE:
                self.wait_workspace_gone(deletion.object_id, deadline, poll_interval)
        except ExternalServiceError as exc:
            return outcome("failed", exc.message)
        except Unsettled as still:
            error = still.error
            return outcome("failed", error.message if isinstance(error, ExternalServiceError) else str(error))
        self.log.info("Deleted %s %r (%s)", deletion.kind, deletion.name, deletion.object_id)
        return outcome("deleted")

    def cleanup(
        self, deletions: list[Deletion], deadline: float, poll_interval: float
    ) -> list[CleanupOutcome]:
        """Delete each object in order (see :meth:`remove`); one that fails does not stop the others."""
        return [self.remove(d, deadline, poll_interval) for d in deletions]

    # -- find or create --------------------------------------------------------------------------
    def ensure(
        self,
        spec: ObjectSpec,
        create: Callable[[], Any],
        recorded_id: str | None = None,
        on_id: OnId | None = None,
        retry_validation: bool = False,
        created_earlier: Collection[tuple[str, str]] = (),
        on_created: OnId | None = None,
    ) -> AccountObject:
        """Adopt the object named like ``spec`` or create it with ``create`` (an SDK call).

        Args:
            spec: the desired object.
            create: sends the create request; returns the SDK's object (or a Wait with ``response``).
            recorded_id: the id the run state recorded for this object, if any.
            on_id: called with (kind, name, id) as soon as the id is known.
            retry_validation: retry "Failed credential(s) validation checks" with backoff (only
                after the IAM preflight passed).
            created_earlier: (kind, id) of the objects an earlier try of this run created: found
                again, such an object is this run's (``created``), not adopted.
            on_created: called with (kind, name, id) as soon as an object is known to be this run's.

        Raises:
            DriftError: an object with the name exists with another configuration.
            AmbiguousObjectError: several share the name and none is the recorded one.
            ExternalServiceError: the create failed (translated), after the retries allowed.
        """
        named = self.named(spec)
        ours = {i for kind, i in created_earlier if kind == spec.kind}
        found = self._choose(spec, named, recorded_id, ours)
        if found is not None:
            self._record(found, on_id, on_created)
            return found
        before = {object_id(spec.kind, o) for o in named}  # what existed before this run's create
        validation_tries = ambiguous_tries = 0
        while True:
            try:
                created = self._create(spec, create)
            except Exception as exc:
                if retry_validation and is_validation_failure(exc):
                    validation_tries += 1
                    self._wait_for_propagation(spec, exc, validation_tries)
                    continue
                ambiguous_tries += 1
                found = self._after_failure(spec, exc, before, ambiguous_tries)
                if found is not None:
                    self._record(found, on_id, on_created)
                    return found
                continue
            self._record(created, on_id, on_created)
            try:
                named = self.named(spec)
            except ExternalServiceError as exc:  # the object exists and is recorded: only copies go unseen
                self.log.warning("%s %r: could not look for copies (%s)", spec.kind, spec.name, exc.message)
            else:
                self._remove_copies(spec, created, named, before)
            return created

    def _create(self, spec: ObjectSpec, create: Callable[[], Any]) -> AccountObject:
        self.log.info("Creating %s %r", spec.kind, spec.name)
        result = create()
        obj = getattr(result, "response", result).as_dict()
        return AccountObject(spec.kind, spec.name, object_id(spec.kind, obj), True, obj)

    def _choose(
        self,
        spec: ObjectSpec,
        named: Sequence[Mapping[str, Any]],
        recorded_id: str | None,
        created_earlier: Collection[str],
    ) -> AccountObject | None:
        """The existing object to use (None: create one); drift and ambiguity raise.

        It is adopted, unless an earlier try of this run created it (``created_earlier``).
        """
        choice = choose(spec, named, recorded_id)
        if choice.action != "adopt":
            return None
        obj = next(o for o in named if object_id(spec.kind, o) == choice.object_id)
        ours = choice.object_id in created_earlier
        found = AccountObject(spec.kind, spec.name, object_id(spec.kind, obj), ours, dict(obj))
        if ours:
            self.log.info(
                "Found %s %r (%s): an earlier try of this run created it",
                spec.kind,
                spec.name,
                found.object_id,
            )
        else:
            self.log.info(
                "Adopting %s %r (%s): its configuration matches", spec.kind, spec.name, found.object_id
            )
        return found

    @staticmethod
    def _record(obj: AccountObject, on_id: OnId | None, on_created: OnId | None) -> None:
        # this run's claim first: lost between the two, the object would be adopted on the next try
        if obj.created and on_created is not None:
            on_created(obj.kind, obj.name, obj.object_id)
        if on_id is not None:
            on_id(obj.kind, obj.name, obj.object_id)

    def _wait_for_propagation(self, spec: ObjectSpec, exc: Exception, attempt: int) -> None:
        policy = self.retry_policy
        if attempt >= policy.validation_attempts:
            raise InvalidRequestError(
                SERVICE,
                f"create {spec.kind}",
                f"{exc} (still refused after {attempt} attempts: check the role's trust policy and "
                "permissions, then run again)",
            ) from exc
        delay = policy.validation_delay(attempt)
        self.log.warning(
            "Databricks refused the credentials for %s %r (attempt %d of %d); a new IAM role can take "
            "minutes to propagate: retrying in %.1f s",
            spec.kind,
            spec.name,
            attempt,
            policy.validation_attempts,
            delay,
        )
        time.sleep(delay)

    def _after_failure(
        self, spec: ObjectSpec, exc: Exception, before: Collection[str], attempt: int
    ) -> AccountObject | None:
        """Look the name up again after a failed create: the request may have been committed.

        An object found now that was not there before the create (``before``) is this run's: the
        oldest identical one is kept as created, other identical copies are deleted. Returns it, or
        None to send the create again; raises the translated error when it cannot help.

        Raises:
            DriftError: an object with the name appeared with another configuration.
        """
        error = translate(exc, f"create {spec.kind}")
        named = self.named(spec)
        new = [o for o in named if object_id(spec.kind, o) not in before]
        ours = sorted((o for o in new if not differences(spec, o)), key=lambda o: o.get("creation_time") or 0)
        if ours:
            kept = AccountObject(spec.kind, spec.name, object_id(spec.kind, ours[0]), True, dict(ours[0]))
            self.log.warning(
                "Creating %s %r failed (%s) but the create was committed: %s is this run's",
                spec.kind,
                spec.name,
                error.message,
                kept.object_id,
            )
            self._remove_copies(spec, kept, named, before)
            return kept
        if new:  # someone else's object took the name meanwhile: the same refusal as at the look-up
            choose(spec, new)
        if not error.retryable or attempt >= self.retry_policy.ambiguous_attempts:
            raise error from exc
        self.log.warning(
            "Creating %s %r failed (%s); it does not exist: sending it again", spec.kind, spec.name, error
        )
        return None

    def _remove_copies(
        self,
        spec: ObjectSpec,
        kept: AccountObject,
        named: Sequence[Mapping[str, Any]],
        before: Collection[str],
    ) -> None:
        """Delete the identical copies of ``kept`` this run's create left (resent POSTs).

        A copy is an object with the name that did not exist before the create and matches the spec;
        a copy that cannot be deleted is logged and left (nothing references it).
        """
        copies = [
            object_id(spec.kind, o)
            for o in named
            if object_id(spec.kind, o) not in before
            and object_id(spec.kind, o) != kept.object_id
            and not differences(spec, o)
        ]
        for copy in copies:
            try:
                self.delete_object(spec.kind, copy)
            except ResourceNotFoundError:
                continue
            except ExternalServiceError as exc:
                self.log.error(
                    "%s %r: could not delete %s, a copy a resent create left (%s): delete it yourself",
                    spec.kind,
                    spec.name,
                    copy,
                    exc.message,
                )
                continue
            self.log.warning(
                "%s %r: deleted %s, a copy a resent create left (this run keeps %s)",
                spec.kind,
                spec.name,
                copy,
                kept.object_id,
            )

    # -- the objects of one workspace ------------------------------------------------------------
    def ensure_credentials(
        self,
        deployment: WorkspaceDeployment,
        recorded: Mapping[str, str],
        on_id: OnId | None,
        iam_checked: bool,
        *,
        created_earlier: Collection[tuple[str, str]] = (),
        on_created: OnId | None = None,
    ) -> AccountObject:
        """The credential configuration (validation failures retried only when ``iam_checked``)."""
        spec = deployment.credentials
        role = str(spec.fields["aws_credentials.sts_role.role_arn"])
        return self.ensure(
            spec,
            lambda: self.client.credentials.create(
                credentials_name=spec.name,
                aws_credentials=CreateCredentialAwsCredentials(
                    sts_role=CreateCredentialStsRole(role_arn=role)
                ),
            ),
            recorded.get(record_key(spec)),
            on_id,
            retry_validation=iam_checked,
            created_earlier=created_earlier,
            on_created=on_created,
        )

    def ensure_storage(
        self,
        deployment: WorkspaceDeployment,
        recorded: Mapping[str, str],
        on_id: OnId | None,
        *,
        created_earlier: Collection[tuple[str, str]] = (),
        on_created: OnId | None = None,
    ) -> AccountObject:
        """The storage configuration of the root bucket."""
        spec = deployment.storage
        return self.ensure(
            spec,
            lambda: self.client.storage.create(
                storage_configuration_name=spec.name,
                root_bucket_info=RootBucketInfo(bucket_name=spec.fields["root_bucket_info.bucket_name"]),
                role_arn=spec.fields["role_arn"],
            ),
            recorded.get(record_key(spec)),
            on_id,
            created_earlier=created_earlier,
            on_created=on_created,
        )

    def ensure_vpc_endpoint(
        self,
        spec: ObjectSpec,
        recorded: Mapping[str, str],
        on_id: OnId | None,
        *,
        created_earlier: Collection[tuple[str, str]] = (),
        on_created: OnId | None = None,
    ) -> AccountObject:
        """A VPC endpoint registration, waited until ``available``.

        Raises:
            InvalidRequestError: Databricks rejected the endpoint.
            TransientServiceError: still pending after ``RetryPolicy.endpoint_timeout``.
        """
        registered = self.ensure(
            spec,
            lambda: self.client.vpc_endpoints.create(
                vpc_endpoint_name=spec.name,
                aws_vpc_endpoint_id=spec.fields["aws_vpc_endpoint_id"],
                region=spec.fields["region"],
            ),
            recorded.get(record_key(spec)),
            on_id,
            created_earlier=created_earlier,
            on_created=on_created,
        )
        self.wait_endpoint_available(registered.object_id, spec.name)
        return registered

    def wait_endpoint_available(self, vpc_endpoint_id: str, name: str) -> dict[str, Any]:
        """Poll a VPC endpoint registration until ``available``; fail on ``rejected``.

        Raises:
            InvalidRequestError: Databricks rejected the endpoint.
            TransientServiceError: still pending after ``RetryPolicy.endpoint_timeout``.
        """

        def read() -> dict[str, Any]:
            endpoint = self.get_vpc_endpoint(vpc_endpoint_id)
            if str(endpoint.get("state") or "").lower() == "rejected":
                raise InvalidRequestError(
                    SERVICE,
                    "register vpc_endpoint",
                    f"VPC endpoint {name!r} ({vpc_endpoint_id}, AWS "
                    f"{endpoint.get('aws_vpc_endpoint_id')}) was rejected: check that it connects to the "
                    "region's Databricks endpoint service and that the account is allowed to use PrivateLink",
                )
            return endpoint

        def waiting(endpoint: dict[str, Any] | None, error: BaseException | None, delay: float) -> None:
            now = f"unreadable ({error})" if error is not None else (endpoint or {}).get("state")
            self.log.info("VPC endpoint %r is %s: reading again in %.1f s", name, now, delay)

        try:
            return poll(
                read,
                deadline=time.monotonic() + self.retry_policy.endpoint_timeout,
                interval=self.retry_policy.endpoint_poll,
                settled=lambda endpoint: str(endpoint.get("state") or "").lower() == "available",
                transient=lambda exc: isinstance(exc, TransientServiceError),
                on_wait=waiting,
                clock=time.monotonic,
            )
        except Unsettled as still:
            now = (
                f"unreadable ({still.error})" if still.error is not None else repr(still.result.get("state"))
            )
            raise TransientServiceError(
                SERVICE,
                "register vpc_endpoint",
                f"VPC endpoint {name!r} is still {now} after {self.retry_policy.endpoint_timeout:.0f} s",
            ) from None

    def ensure_network(
        self,
        deployment: WorkspaceDeployment,
        endpoint_ids: Mapping[str, str],
        recorded: Mapping[str, str],
        on_id: OnId | None,
        *,
        created_earlier: Collection[tuple[str, str]] = (),
        on_created: OnId | None = None,
    ) -> AccountObject:
        """The network configuration with both security groups and its VPC endpoints."""
        spec = deployment.network_spec(endpoint_ids)
        rest, relay = spec.fields["vpc_endpoints.rest_api"], spec.fields["vpc_endpoints.dataplane_relay"]
        endpoints = NetworkVpcEndpoints(rest_api=rest, dataplane_relay=relay) if rest or relay else None
        return self.ensure(
            spec,
            lambda: self.client.networks.create(
                network_name=spec.name,
                vpc_id=spec.fields["vpc_id"],
                subnet_ids=list(deployment.network.subnet_ids),
                security_group_ids=list(deployment.network.security_group_ids),
                vpc_endpoints=endpoints,
            ),
            recorded.get(record_key(spec)),
            on_id,
            created_earlier=created_earlier,
            on_created=on_created,
        )

    def ensure_private_access(
        self,
        spec: ObjectSpec,
        recorded: Mapping[str, str],
        on_id: OnId | None,
        *,
        created_earlier: Collection[tuple[str, str]] = (),
        on_created: OnId | None = None,
    ) -> AccountObject:
        """The private access settings."""
        fields = spec.fields
        return self.ensure(
            spec,
            lambda: self.client.private_access.create(
                private_access_settings_name=spec.name,
                region=fields["region"],
                public_access_enabled=fields["public_access_enabled"],
                private_access_level=PrivateAccessLevel(fields["private_access_level"]),
                allowed_vpc_endpoint_ids=fields["allowed_vpc_endpoint_ids"] or None,
            ),
            recorded.get(record_key(spec)),
            on_id,
            created_earlier=created_earlier,
            on_created=on_created,
        )

    def ensure_workspace(
        self,
        deployment: WorkspaceDeployment,
        ids: Mapping[str, str | None],
        recorded: Mapping[str, str],
        on_id: OnId | None,
        iam_checked: bool,
        *,
        created_earlier: Collection[tuple[str, str]] = (),
        on_created: OnId | None = None,
    ) -> AccountObject:
        """The workspace (not waited for: the caller waits for RUNNING without holding a worker)."""
        spec = deployment.workspace_spec(ids)
        fields = spec.fields
        tier = PricingTier(deployment.pricing_tier) if deployment.pricing_tier else None
        return self.ensure(
            spec,
            lambda: self.client.workspaces.create(
                workspace_name=spec.name,
                deployment_name=fields["deployment_name"],
                aws_region=fields["aws_region"],
                credentials_id=fields["credentials_id"],
                storage_configuration_id=fields["storage_configuration_id"],
                network_id=fields["network_id"],
                private_access_settings_id=fields["private_access_settings_id"],
                pricing_tier=tier,
            ),
            recorded.get(record_key(spec)),
            on_id,
            retry_validation=iam_checked,
            created_earlier=created_earlier,
            on_created=on_created,
        )

    def ensure_all(
        self,
        deployment: WorkspaceDeployment,
        recorded: Mapping[str, str] | None = None,
        on_id: OnId | None = None,
        iam_checked: bool = False,
        created_earlier: Collection[tuple[str, str]] = (),
        on_created: OnId | None = None,
    ) -> list[AccountObject]:
        """Find or create every object of ``deployment`` in dependency order; the workspace is last.

        Args:
            deployment: the validated desired objects.
            recorded: ids from the run state, by :func:`record_key`.
            on_id: called with (kind, name, id) as soon as each id is known.
            iam_checked: the IAM preflight passed, so credential validation failures are propagation.
            created_earlier: (kind, id) of the objects earlier tries of this run created (this run's
                provisioning document): found again, they are still this run's, not adopted.
            on_created: called with (kind, name, id) as soon as an object is known to be this run's.

        Raises:
            ConfigError: the deployment's account is not the connection's (before any call).
        """
        if deployment.account_id != self.account_id:
            raise ConfigError(
                "account_id",
                f"the deployment names account {deployment.account_id!r} but the connection "
                f"{self.databricks_conn_id!r} works on {self.account_id!r}",
                "use the connection of that account, or correct account_id",
            )
        recorded = recorded or {}
        mine: dict[str, Any] = {"created_earlier": tuple(created_earlier), "on_created": on_created}
        done = [
            self.ensure_credentials(deployment, recorded, on_id, iam_checked, **mine),
            self.ensure_storage(deployment, recorded, on_id, **mine),
        ]
        endpoints = [
            self.ensure_vpc_endpoint(spec, recorded, on_id, **mine) for spec in deployment.endpoint_specs()
        ]
        endpoint_ids = {e.name: e.object_id for e in endpoints}
        done += [*endpoints, self.ensure_network(deployment, endpoint_ids, recorded, on_id, **mine)]
        pas_spec = deployment.private_access_spec(endpoint_ids)
        if pas_spec is not None:
            done.append(self.ensure_private_access(pas_spec, recorded, on_id, **mine))
        ids: dict[str, str | None] = {o.kind: o.object_id for o in done if o.kind != VPC_ENDPOINT}
        done.append(self.ensure_workspace(deployment, ids, recorded, on_id, iam_checked, **mine))
        return done


def account_host(host: str | None, port: int | None, schema: str | None, extra: Mapping[str, Any]) -> str:
    """The account console URL from the connection (``extra.host`` wins, as in the provider)."""
    host = extra.get("host") or host
    if not host:
        raise ConfigError(
            "host", "the Databricks connection has no host", "set the account console URL as host"
        )
    url = str(host) if "://" in str(host) else f"{schema or 'https'}://{host}"
    if port and url.count(":") < 2:
        url = f"{url.rstrip('/')}:{port}"
    return url.rstrip("/")


def _credentials(login: str | None, password: str | None, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The one authentication path: OAuth M2M (service principal) or a token, as the provider reads them."""
    if extra.get("service_principal_oauth"):
        if not (login and password):
            raise ConfigError(
                "login",
                "extra.service_principal_oauth is set but the client id or secret is missing",
                "set login to the service principal's client id and password to its OAuth secret",
            )
        return {"client_id": login, "client_secret": password, "auth_type": "oauth-m2m"}
    token = extra.get("token") or (password if not login else None)
    if not token:
        raise ConfigError(
            "password",
            "the Databricks connection has no credentials for the account API",
            "set a token as password (no login), or login/password with extra.service_principal_oauth",
        )
    return {"token": token, "auth_type": "pat"}


def record_key(spec: ObjectSpec) -> str:
    """The run-state key of one object's id: ``<kind>:<name>``."""
    return f"{spec.kind}:{spec.name}"


@contextmanager
def _translated(operation: str) -> Iterator[None]:
    try:
        yield
    except ExternalServiceError:
        raise
    except ConfigError:
        raise
    except (DatabricksError, requests.RequestException, TimeoutError, ValueError) as exc:
        raise translate(exc, operation) from exc
