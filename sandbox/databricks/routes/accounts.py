"""The Databricks account API for AWS (``/api/2.0/accounts/{account_id}/...``), as databricks-sdk's
AccountClient (``databricks.sdk.service.provisioning``) calls it:

* ``credentials``, ``storage-configurations``, ``vpc-endpoints``, ``networks``,
  ``private-access-settings``, ``workspaces``: ``POST`` create, ``GET`` list (a bare JSON array, as
  the real API answers), ``GET /{id}`` get, ``DELETE /{id}`` delete; ``PATCH /workspaces/{id}``
  updates a workspace's configuration ids and tags.
* ``GET /oidc[/accounts/{account_id}]/.well-known/oauth-authorization-server`` and ``POST .../v1/token``:
  enough OAuth for the SDK's ``oauth-m2m`` authentication (any client id and secret get a token;
  counted as ``"POST oauth-token"``, apart from ``by_method``).

* ``GET /_sandbox/workspaces/{deployment_name}/api/2.0/preview/scim/v2/Me`` (and the host metadata
  under the same prefix): the new workspace's own host, for a client built on
  ``<sandbox url>/_sandbox/workspaces/{deployment_name}`` (see ``launcher.workspace_host_template``).
  A RUNNING workspace answers with minilake's SCIM user; one that is not RUNNING answers 400
  INVALID_STATE, an unknown deployment 404; the first ``workspace_unready_reads`` reads after
  RUNNING answer "does not have any associated worker environments" (a fresh workspace's
  transient error, which databricks-sdk retries by itself).

Names are not unique (as in the real API: a create sent twice makes two objects); a workspace's
``deployment_name`` is. Subnets and security groups cannot be shared by two networks, a network
serves one workspace, and a network used by a workspace cannot be deleted (400 INVALID_STATE); nor can
the credentials, storage configuration, private access settings or VPC endpoint registrations a
workspace uses (through its network for the endpoints). Deleting an object that does not exist
answers 404.

Deleting a workspace is accepted at once but, as in the real API, it does not go at once: for the
next ``workspace_delete_requests`` account API requests (of any kind: the sandbox's clock) it still
answers, CANCELLING "Workspace is being deleted." (the SDK has no deleting status), and keeps its
network in use; then it answers 404 and its network is UNATTACHED. Deleting it again while it goes is
accepted.

Lifecycles. A workspace is NOT_PROVISIONED until its first read, then PROVISIONING until
``provision_seconds`` have passed (or, when ``provision_reads`` is set, until its Nth read), then
ends in ``workspace_outcome``: RUNNING, FAILED (its network then carries ``error_messages``,
``warning_messages`` and ``vpc_status`` BROKEN), BANNED or CANCELLING (it stays there). A VPC endpoint
registration is ``pendingAcceptance`` for ``endpoint_reads`` reads, then ``endpoint_outcome``
(``available`` or ``rejected``). An outcome is fixed when the object is created.

Knobs (``POST /_sandbox/accounts/config``, or :meth:`AccountStore.configure`; not a Databricks API):

* ``provision_seconds`` (float, default 1.0), ``provision_reads`` (int or null);
* ``workspace_outcome`` (RUNNING, FAILED, BANNED or CANCELLING), ``workspace_status_message``
  (string or null: a default per outcome), ``network_errors`` / ``network_warnings`` (lists of
  ``{"error_type"|"warning_type": ..., "error_message"|"warning_message": ...}`` set on the network
  of a FAILED workspace; defaults name a subnet and a security group);
* ``endpoint_reads`` (int, default 1), ``endpoint_outcome`` (``available`` or ``rejected``);
* ``credentials_validation_failures`` / ``workspace_validation_failures`` (int): the next N
  credentials / workspace creates fail with 400 MALFORMED_REQUEST "Failed credential(s) validation
  checks" (what a freshly created IAM role gives until it propagates);
* ``workspace_unready_reads`` (int, default 0): see the workspace host above;
* ``workspace_delete_requests`` (int, default 1): how many requests a deleted workspace still answers;
* ``commit_then_503`` (list of kinds, e.g. ``["workspaces"]``): the next create of each kind is
  committed and then answered 503 TEMPORARILY_UNAVAILABLE (the client cannot know it worked);
* ``fail_create_503`` (list of kinds): the next create of each kind is answered 503 without being
  committed (the same answer, the other outcome).

``GET /_sandbox/accounts/stats`` counts account API requests per method (``by_method``) and every
request per ``METHOD kind`` (``by_route``: ``"POST workspaces"``, ``"GET workspace-host"``, ...);
``GET /_sandbox/accounts/config`` shows the knobs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from sandbox.databricks.fault import ApiError, Faults, invalid, not_found, read_json

KINDS = (
    "credentials",
    "storage-configurations",
    "vpc-endpoints",
    "networks",
    "private-access-settings",
    "workspaces",
)
OUTCOMES = ("RUNNING", "FAILED", "BANNED", "CANCELLING")
ENDPOINT_OUTCOMES = ("available", "rejected")
VALIDATION_MESSAGE = (
    "Failed credential(s) validation checks: the cross-account role {role} could not be assumed "
    "with external id {account}; check its trust policy and wait for a new role to propagate"
)
DEFAULT_STATUS_MESSAGES = {
    "RUNNING": "Workspace is running.",
    "FAILED": "Workspace failed to launch: the network configuration failed validation. "
    "See the network's error messages.",
    "BANNED": "Workspace has been banned: contact Databricks support.",
    "CANCELLING": "Workspace is being cancelled.",
}
# Id fields per kind, and which field carries the object's name.
ID_FIELDS = {
    "credentials": ("credentials_id", "credentials_name"),
    "storage-configurations": ("storage_configuration_id", "storage_configuration_name"),
    "vpc-endpoints": ("vpc_endpoint_id", "vpc_endpoint_name"),
    "networks": ("network_id", "network_name"),
    "private-access-settings": ("private_access_settings_id", "private_access_settings_name"),
    "workspaces": ("workspace_id", "workspace_name"),
}
DISPLAY = {
    "credentials": "Credential configuration",
    "storage-configurations": "Storage configuration",
    "vpc-endpoints": "VPC endpoint configuration",
    "networks": "Network configuration",
    "private-access-settings": "Private access settings",
    "workspaces": "Workspace",
}


def _unavailable() -> ApiError:
    return ApiError(
        503,
        "TEMPORARILY_UNAVAILABLE",
        "The service is temporarily unavailable. Please try again later.",
        headers={"Retry-After": "1"},
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class AccountKnobs:
    """The tunable behaviour of the account API; see the module docstring."""

    provision_seconds: float = 1.0
    provision_reads: int | None = None
    workspace_outcome: str = "RUNNING"
    workspace_status_message: str | None = None
    network_errors: list[dict[str, str]] | None = None
    network_warnings: list[dict[str, str]] | None = None
    endpoint_reads: int = 1
    endpoint_outcome: str = "available"
    credentials_validation_failures: int = 0
    workspace_validation_failures: int = 0
    commit_then_503: list[str] = field(default_factory=list)
    fail_create_503: list[str] = field(default_factory=list)
    workspace_unready_reads: int = 0
    workspace_delete_requests: int = 1


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _messages(name: str, value: Any, keys: tuple[str, str]) -> list[dict[str, str]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, dict) and set(v) == set(keys) for v in value):
        raise invalid(f"{name} must be a list of objects with exactly {list(keys)}, got {value!r}")
    return [dict(v) for v in value]


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise invalid(f"{name} must be one of {list(allowed)}, got {value!r}")
    return str(value)


_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "provision_seconds": lambda n, v: _seconds(n, v),
    "provision_reads": lambda n, v: None if v is None else _count(n, v, 1),
    "workspace_outcome": lambda n, v: _choice(n, v, OUTCOMES),
    "workspace_status_message": lambda n, v: None if v is None else str(v),
    "network_errors": lambda n, v: _messages(n, v, ("error_type", "error_message")),
    "network_warnings": lambda n, v: _messages(n, v, ("warning_type", "warning_message")),
    "endpoint_reads": lambda n, v: _count(n, v, 0),
    "endpoint_outcome": lambda n, v: _choice(n, v, ENDPOINT_OUTCOMES),
    "credentials_validation_failures": lambda n, v: _count(n, v, 0),
    "workspace_validation_failures": lambda n, v: _count(n, v, 0),
    "commit_then_503": lambda n, v: _kinds(n, v),
    "fail_create_503": lambda n, v: _kinds(n, v),
    "workspace_unready_reads": lambda n, v: _count(n, v, 0),
    "workspace_delete_requests": lambda n, v: _count(n, v, 0),
}


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise invalid(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def _kinds(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or any(v not in KINDS for v in value):
        raise invalid(f"{name} must be a list of {list(KINDS)}, got {value!r}")
    return list(value)


def _default_network_errors(network: dict[str, Any]) -> list[dict[str, str]]:
    subnet = (network.get("subnet_ids") or ["subnet-unknown"])[0]
    return [
        {
            "error_type": "subnet",
            "error_message": f"Subnet {subnet} has no route to a NAT gateway or the required VPC endpoints: "
            "cluster nodes cannot reach the control plane.",
        }
    ]


def _default_network_warnings(network: dict[str, Any]) -> list[dict[str, str]]:
    group = (network.get("security_group_ids") or ["sg-unknown"])[0]
    return [
        {
            "warning_type": "securityGroup",
            "warning_message": f"Security group {group} does not allow egress on TCP 3306 "
            "(legacy Hive metastore).",
        }
    ]


@dataclass
class _Pending:
    """The lifecycle of one workspace or VPC endpoint registration."""

    created: float
    outcome: str
    reads: int = 0


class AccountStore:
    """Every account object by kind and id, the lifecycles, the knobs and the request counts (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.knobs = AccountKnobs()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self.pending: dict[str, _Pending] = {}
        self.counts: Counter[str] = Counter()
        self.host_reads: Counter[str] = Counter()
        self.deleting: dict[str, int] = {}  # workspace id -> requests it still answers
        self._next_workspace_id = 1_000_000_000_000_001

    # -- control ---------------------------------------------------------------------------------
    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change some knobs (all validated before any applies); returns every knob's value."""
        unknown = [name for name in changes if name not in _VALIDATORS]
        if unknown:
            raise invalid(f"Unknown knob(s) {unknown}; known: {[f.name for f in fields(AccountKnobs)]}")
        checked = {name: _VALIDATORS[name](name, value) for name, value in changes.items()}
        with self._lock:
            for name, value in checked.items():
                setattr(self.knobs, name, value)
            return asdict(self.knobs)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self.knobs)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_method: Counter[str] = Counter()
            for key, n in self.counts.items():
                if key.split(" ", 1)[1] in KINDS:  # account API calls only
                    by_method[key.split(" ", 1)[0]] += n
            return {"by_method": dict(by_method), "by_route": dict(self.counts)}

    def reset(self) -> None:
        with self._lock:
            self.knobs = AccountKnobs()
            self.objects = {kind: {} for kind in KINDS}
            self.pending = {}
            self.counts = Counter()
            self.host_reads = Counter()
            self.deleting = {}

    def count(self, method: str, kind: str) -> None:
        with self._lock:
            self.counts[f"{method} {kind}"] += 1
            if kind in KINDS:  # one more request: deleted workspaces get closer to gone
                self._remove_deleted()
                for key in self.deleting:
                    self.deleting[key] -= 1

    # -- helpers ---------------------------------------------------------------------------------
    def _find(self, kind: str, object_id: str) -> dict[str, Any]:
        obj = self.objects[kind].get(str(object_id))
        if obj is None:
            raise not_found(f"{DISPLAY[kind]} {object_id} does not exist.")
        return obj

    def _commit(self, kind: str, account_id: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; answer 503 after storing it when the knob says so."""
        id_field = ID_FIELDS[kind][0]
        obj.update(account_id=account_id, creation_time=_now_ms())
        self.objects[kind][str(obj[id_field])] = obj
        if kind in self.knobs.commit_then_503:
            self.knobs.commit_then_503.remove(kind)
            raise _unavailable()
        return dict(obj)

    def _validation_failure(self, knob: str, role: str, account_id: str) -> None:
        if getattr(self.knobs, knob) > 0:
            setattr(self.knobs, knob, getattr(self.knobs, knob) - 1)
            raise ApiError(400, "MALFORMED_REQUEST", VALIDATION_MESSAGE.format(role=role, account=account_id))

    @staticmethod
    def _required(body: dict[str, Any], *names: str) -> None:
        for name in names:
            if body.get(name) in (None, "", [], {}):
                raise invalid(f"{name} is required")

    # -- creates ---------------------------------------------------------------------------------
    def create(self, kind: str, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        creators: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
            "credentials": self._create_credentials,
            "storage-configurations": self._create_storage,
            "vpc-endpoints": self._create_vpc_endpoint,
            "networks": self._create_network,
            "private-access-settings": self._create_private_access,
            "workspaces": self._create_workspace,
        }
        with self._lock:
            if kind in self.knobs.fail_create_503:
                self.knobs.fail_create_503.remove(kind)
                raise _unavailable()
            return creators[kind](account_id, body)

    def _create_credentials(self, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._required(body, "credentials_name", "aws_credentials")
        role = ((body["aws_credentials"] or {}).get("sts_role") or {}).get("role_arn")
        if not role:
            raise invalid("aws_credentials.sts_role.role_arn is required")
        self._validation_failure("credentials_validation_failures", role, account_id)
        obj = {
            "credentials_id": str(uuid.uuid4()),
            "credentials_name": body["credentials_name"],
            "aws_credentials": {"sts_role": {"role_arn": role, "external_id": account_id}},
        }
        return self._commit("credentials", account_id, obj)

    def _create_storage(self, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._required(body, "storage_configuration_name", "root_bucket_info")
        bucket = (body["root_bucket_info"] or {}).get("bucket_name")
        if not bucket:
            raise invalid("root_bucket_info.bucket_name is required")
        obj: dict[str, Any] = {
            "storage_configuration_id": str(uuid.uuid4()),
            "storage_configuration_name": body["storage_configuration_name"],
            "root_bucket_info": {"bucket_name": bucket},
        }
        if body.get("role_arn"):
            obj["role_arn"] = body["role_arn"]
        return self._commit("storage-configurations", account_id, obj)

    def _create_vpc_endpoint(self, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._required(body, "vpc_endpoint_name", "aws_vpc_endpoint_id", "region")
        obj = {
            "vpc_endpoint_id": str(uuid.uuid4()),
            "vpc_endpoint_name": body["vpc_endpoint_name"],
            "aws_vpc_endpoint_id": body["aws_vpc_endpoint_id"],
            "region": body["region"],
            "aws_account_id": "123456789012",
            "aws_endpoint_service_id": f"com.amazonaws.vpce.{body['region']}.vpce-svc-sandbox",
            "use_case": "GENERAL_ACCESS",
            "state": "pendingAcceptance",
        }
        self.pending[obj["vpc_endpoint_id"]] = _Pending(time.monotonic(), self.knobs.endpoint_outcome)
        self._settle_endpoint(obj)
        return self._commit("vpc-endpoints", account_id, obj)

    def _network_conflicts(self, body: dict[str, Any]) -> None:
        for other in self.objects["networks"].values():
            for key, what in (("subnet_ids", "Subnet"), ("security_group_ids", "Security group")):
                shared = sorted(set(body.get(key) or ()) & set(other.get(key) or ()))
                if shared:
                    raise invalid(
                        f"{what} {shared[0]} is already used by network configuration "
                        f"{other['network_id']} ({other['network_name']}); a subnet or security "
                        "group cannot be used by two network configurations."
                    )

    def _create_network(self, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._required(body, "network_name", "vpc_id", "subnet_ids", "security_group_ids")
        if len(body["subnet_ids"]) < 2:
            raise invalid("subnet_ids must name at least two subnets")
        if not 1 <= len(body["security_group_ids"]) <= 5:
            raise invalid("security_group_ids must name one to five security groups")
        endpoints = body.get("vpc_endpoints") or {}
        for key in ("rest_api", "dataplane_relay"):
            for endpoint_id in endpoints.get(key) or ():
                if endpoint_id not in self.objects["vpc-endpoints"]:
                    raise invalid(
                        f"vpc_endpoints.{key}: VPC endpoint configuration {endpoint_id} does not exist"
                    )
        self._network_conflicts(body)
        obj: dict[str, Any] = {
            "network_id": str(uuid.uuid4()),
            "network_name": body["network_name"],
            "vpc_id": body["vpc_id"],
            "subnet_ids": list(body["subnet_ids"]),
            "security_group_ids": list(body["security_group_ids"]),
            "vpc_status": "UNATTACHED",
        }
        if endpoints:
            obj["vpc_endpoints"] = {k: list(v) for k, v in endpoints.items() if v}
        return self._commit("networks", account_id, obj)

    def _create_private_access(self, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._required(body, "private_access_settings_name", "region")
        level = body.get("private_access_level") or "ACCOUNT"
        if level not in ("ACCOUNT", "ENDPOINT"):
            raise invalid(f"private_access_level must be ACCOUNT or ENDPOINT, got {level!r}")
        obj: dict[str, Any] = {
            "private_access_settings_id": str(uuid.uuid4()),
            "private_access_settings_name": body["private_access_settings_name"],
            "region": body["region"],
            "public_access_enabled": bool(body.get("public_access_enabled", False)),
            "private_access_level": level,
        }
        if body.get("allowed_vpc_endpoint_ids"):
            obj["allowed_vpc_endpoint_ids"] = list(body["allowed_vpc_endpoint_ids"])
        return self._commit("private-access-settings", account_id, obj)

    def _check_references(self, body: dict[str, Any], workspace_id: int | None = None) -> None:
        refs = (
            ("credentials_id", "credentials"),
            ("storage_configuration_id", "storage-configurations"),
            ("network_id", "networks"),
            ("private_access_settings_id", "private-access-settings"),
        )
        for key, kind in refs:
            if body.get(key) and body[key] not in self.objects[kind]:
                raise invalid(f"{key}: {DISPLAY[kind]} {body[key]} does not exist")
        network = self.objects["networks"].get(body.get("network_id") or "")
        if network and network.get("workspace_id") not in (None, workspace_id):
            raise invalid(
                f"network_id: network configuration {network['network_id']} is already used by "
                f"workspace {network['workspace_id']}; a network configuration serves one workspace"
            )

    def _create_workspace(self, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._required(body, "workspace_name", "aws_region", "credentials_id", "storage_configuration_id")
        deployment = body.get("deployment_name") or body["workspace_name"]
        for other in self.objects["workspaces"].values():
            if other["deployment_name"] == deployment:
                raise invalid(f"deployment_name: the deployment name {deployment!r} is already in use")
        self._check_references(body)
        role = self.objects["credentials"][body["credentials_id"]]["aws_credentials"]["sts_role"]["role_arn"]
        self._validation_failure("workspace_validation_failures", role, account_id)
        workspace_id = self._next_workspace_id
        self._next_workspace_id += 1
        obj: dict[str, Any] = {
            "workspace_id": workspace_id,
            "workspace_name": body["workspace_name"],
            "deployment_name": deployment,
            "aws_region": body["aws_region"],
            "cloud": "aws",
            "pricing_tier": body.get("pricing_tier") or "PREMIUM",
            "workspace_status": "NOT_PROVISIONED",
            "workspace_status_message": "Workspace resources are being set up.",
        }
        for key in (
            "credentials_id",
            "storage_configuration_id",
            "network_id",
            "private_access_settings_id",
            "custom_tags",
            "managed_services_customer_managed_key_id",
            "storage_customer_managed_key_id",
        ):
            if body.get(key):
                obj[key] = body[key]
        if obj.get("network_id"):
            self.objects["networks"][obj["network_id"]]["workspace_id"] = workspace_id
        self.pending[str(workspace_id)] = _Pending(time.monotonic(), self.knobs.workspace_outcome)
        return self._commit("workspaces", account_id, obj)

    # -- lifecycles ------------------------------------------------------------------------------
    def _settle_endpoint(self, obj: dict[str, Any]) -> None:
        pending = self.pending.get(obj["vpc_endpoint_id"])
        if pending is None or obj["state"] != "pendingAcceptance":
            return
        if pending.reads >= self.knobs.endpoint_reads:
            obj["state"] = pending.outcome
            del self.pending[obj["vpc_endpoint_id"]]

    def _settle_workspace(self, obj: dict[str, Any]) -> None:
        pending = self.pending.get(str(obj["workspace_id"]))
        if pending is None:
            return
        if pending.reads == 0:
            return
        obj["workspace_status"] = "PROVISIONING"
        obj["workspace_status_message"] = "Workspace is being provisioned."
        reads, seconds = self.knobs.provision_reads, self.knobs.provision_seconds
        done = pending.reads >= reads if reads is not None else time.monotonic() - pending.created >= seconds
        if not done:
            return
        del self.pending[str(obj["workspace_id"])]
        obj["workspace_status"] = pending.outcome
        obj["workspace_status_message"] = (
            self.knobs.workspace_status_message or DEFAULT_STATUS_MESSAGES[pending.outcome]
        )
        network = self.objects["networks"].get(obj.get("network_id") or "")
        if network is None:
            return
        if pending.outcome == "FAILED":
            network["error_messages"] = self.knobs.network_errors or _default_network_errors(network)
            network["warning_messages"] = self.knobs.network_warnings or _default_network_warnings(network)
            network["vpc_status"] = "BROKEN"
        else:
            network["vpc_status"] = "VALID"

    def _read(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        key = str(obj[ID_FIELDS[kind][0]])
        if kind == "workspaces" and key in self.deleting:
            return dict(obj)
        if key in self.pending:
            self.pending[key].reads += 1
        if kind == "vpc-endpoints":
            self._settle_endpoint(obj)
        elif kind == "workspaces":
            self._settle_workspace(obj)
        return dict(obj)

    # -- reads, updates, deletes -----------------------------------------------------------------
    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        with self._lock:
            return self._read(kind, self._find(kind, object_id))

    def list(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._read(kind, obj) for obj in list(self.objects[kind].values())]

    def _remove_deleted(self) -> None:
        """Remove the deleted workspaces that answered their last request, freeing their networks."""
        for key in [k for k, reads in self.deleting.items() if reads <= 0]:
            del self.deleting[key]
            obj = self.objects["workspaces"].pop(key)
            network = self.objects["networks"].get(obj.get("network_id") or "")
            if network is not None:
                network.pop("workspace_id", None)
                network["vpc_status"] = "UNATTACHED"

    def _user(self, kind: str, obj: dict[str, Any]) -> Any:
        """The workspace that uses ``obj`` (so that it cannot be deleted), None when none does."""
        if kind == "networks":
            return obj.get("workspace_id")
        if kind == "workspaces":
            return None
        object_id = str(obj[ID_FIELDS[kind][0]])
        for workspace in self.objects["workspaces"].values():
            if kind == "vpc-endpoints":
                endpoints = self.objects["networks"].get(workspace.get("network_id") or "", {})
                used = (endpoints.get("vpc_endpoints") or {}).values()
                if any(object_id in ids for ids in used):
                    return workspace["workspace_id"]
            elif workspace.get(ID_FIELDS[kind][0]) == object_id:
                return workspace["workspace_id"]
        return None

    def delete(self, kind: str, object_id: str) -> dict[str, Any]:
        with self._lock:
            obj = self._find(kind, object_id)
            user = self._user(kind, obj)
            if user is not None:
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    f"{DISPLAY[kind]} {object_id} is used by workspace {user}: delete the workspace first.",
                )
            if kind == "workspaces":
                return self._delete_workspace(obj)
            self.pending.pop(str(object_id), None)
            del self.objects[kind][str(object_id)]
            return dict(obj)

    def _delete_workspace(self, obj: dict[str, Any]) -> dict[str, Any]:
        key = str(obj["workspace_id"])
        if key not in self.deleting:
            self.pending.pop(key, None)
            obj["workspace_status"] = "CANCELLING"
            obj["workspace_status_message"] = "Workspace is being deleted."
            self.deleting[key] = self.knobs.workspace_delete_requests
        self._remove_deleted()
        return dict(obj)

    def workspace_host(self, deployment_name: str, api_call: bool = True) -> dict[str, Any]:
        """The workspace behind a deployment's host, if it can answer; raises as the host would.

        Only API calls (not the host metadata) count towards ``workspace_unready_reads``.
        """
        with self._lock:
            found = [
                w for w in self.objects["workspaces"].values() if w["deployment_name"] == deployment_name
            ]
            if not found:
                raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No workspace is deployed at {deployment_name!r}.")
            workspace = found[0]
            status = workspace["workspace_status"]
            if status != "RUNNING":
                raise ApiError(
                    400, "INVALID_STATE", f"Workspace {workspace['workspace_id']} is {status}, not RUNNING."
                )
            if not api_call:
                return dict(workspace)
            self.host_reads[deployment_name] += 1
            if self.host_reads[deployment_name] <= self.knobs.workspace_unready_reads:
                raise ApiError(
                    400,
                    "BAD_REQUEST",
                    f"Workspace {workspace['workspace_id']} does not have any associated worker environments",
                )
            return dict(workspace)

    def update_workspace(self, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            obj = self._find("workspaces", workspace_id)
            self._check_references(body, obj["workspace_id"])
            for key in (
                "credentials_id",
                "storage_configuration_id",
                "network_id",
                "private_access_settings_id",
                "custom_tags",
            ):
                if key in body and body[key] is not None:
                    obj[key] = body[key]
            return dict(obj)


def router(store: AccountStore, faults: Faults) -> APIRouter:
    """The account routes over ``store`` (``faults`` applied to each request), the OAuth token
    routes the SDK's ``oauth-m2m`` needs, and the ``/_sandbox/accounts`` knobs and stats."""
    api = APIRouter()
    base = "/api/2.0/accounts/{account_id}"
    for kind in KINDS:
        # Counted before faults are injected: a request answered 503 was still sent.
        _add_kind_routes(api, store, base, kind, [Depends(_counter(store, kind)), Depends(faults.inject)])

    @api.patch(
        f"{base}/workspaces/{{workspace_id}}",
        dependencies=[Depends(_counter(store, "workspaces")), Depends(faults.inject)],
    )
    async def update_workspace(account_id: str, workspace_id: str, request: Request) -> dict:
        return store.update_workspace(workspace_id, await read_json(request))

    @api.get("/oidc/.well-known/oauth-authorization-server")
    @api.get("/oidc/accounts/{account_id}/.well-known/oauth-authorization-server")
    async def oauth_metadata(request: Request, account_id: str | None = None) -> dict:
        issuer = (
            str(request.base_url).rstrip("/") + "/oidc" + (f"/accounts/{account_id}" if account_id else "")
        )
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/v1/authorize",
            "token_endpoint": f"{issuer}/v1/token",
        }

    @api.post("/oidc/v1/token")
    @api.post("/oidc/accounts/{account_id}/v1/token")
    async def oauth_token(request: Request) -> dict:
        form = (await request.body()).decode()
        if "grant_type=client_credentials" not in form:
            raise ApiError(400, "invalid_request", "grant_type must be client_credentials")
        store.count("POST", "oauth-token")
        return {"access_token": f"sandbox-{uuid.uuid4().hex}", "token_type": "Bearer", "expires_in": 3600}

    host = "/_sandbox/workspaces/{deployment_name}"

    @api.get(f"{host}/.well-known/databricks-config")
    async def workspace_host_metadata(deployment_name: str, request: Request) -> dict:
        workspace = store.workspace_host(deployment_name, api_call=False)
        root = str(request.base_url).rstrip("/")
        return {"oidc_endpoint": f"{root}/oidc", "workspace_id": str(workspace["workspace_id"])}

    @api.get(f"{host}/api/2.0/preview/scim/v2/Me")
    async def workspace_me(deployment_name: str, response: Response) -> Any:
        store.count("GET", "workspace-host")
        store.workspace_host(deployment_name)
        from minilake.services.identity import get_current_user  # the sandbox runs in minilake's venv

        return await get_current_user(response)

    @api.get("/_sandbox/accounts/config")
    async def get_config() -> dict:
        return store.snapshot()

    @api.post("/_sandbox/accounts/config")
    async def set_config(request: Request) -> dict:
        return store.configure(**await read_json(request))

    @api.get("/_sandbox/accounts/stats")
    async def stats() -> dict:
        return store.stats()

    return api


def _counter(store: AccountStore, kind: str) -> Callable[[Request], None]:
    def count(request: Request) -> None:
        store.count(request.method, kind)

    return count


def _add_kind_routes(api: APIRouter, store: AccountStore, base: str, kind: str, inject: list[Any]) -> None:
    """Create, list, get and delete for one kind of account object."""

    async def create(account_id: str, request: Request) -> dict:
        return store.create(kind, account_id, await read_json(request))

    async def list_all(account_id: str) -> list:
        return store.list(kind)

    async def get(account_id: str, object_id: str) -> dict:
        return store.get(kind, object_id)

    async def delete(account_id: str, object_id: str) -> dict:
        return store.delete(kind, object_id)

    name = kind.replace("-", "_")
    api.add_api_route(f"{base}/{kind}", create, methods=["POST"], dependencies=inject, name=f"create_{name}")
    api.add_api_route(f"{base}/{kind}", list_all, methods=["GET"], dependencies=inject, name=f"list_{name}")
    path = f"{base}/{kind}/{{object_id}}"
    api.add_api_route(path, get, methods=["GET"], dependencies=inject, name=f"get_{name}")
    api.add_api_route(path, delete, methods=["DELETE"], dependencies=inject, name=f"delete_{name}")
