"""Desired Databricks account objects for one AWS workspace, and how an existing object is judged.

Pure: no Airflow, no SDK, no I/O. A :class:`WorkspaceDeployment` is parsed from plain parameters
(:func:`deployment_from_params`) and validated before any call: every bad value raises
:class:`~platform_ops.exceptions.ConfigError` naming the parameter and the fix.

Objects are found by name. The account API does not keep names unique, so :func:`choose` decides:

* no object with the name: create it;
* one: adopt it when its configuration matches the desired one field by field, else
  :class:`DriftError` naming the fields (an object is never adopted silently with a different
  configuration, and never replaced);
* several: the one whose id the run state recorded, else :class:`AmbiguousObjectError` listing every id.

References between objects (a network's VPC endpoints, a workspace's credentials, ...) are ids
that exist only once the referenced object does; the deployment builds each spec with the ids
found so far (:meth:`WorkspaceDeployment.network_spec`, :meth:`WorkspaceDeployment.workspace_spec`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from platform_ops.exceptions import ConfigError

CREDENTIALS = "credentials"
STORAGE = "storage_configuration"
VPC_ENDPOINT = "vpc_endpoint"
NETWORK = "network"
PRIVATE_ACCESS = "private_access_settings"
WORKSPACE = "workspace"
# The order objects are created in (and removed in reverse).
KINDS = (CREDENTIALS, STORAGE, VPC_ENDPOINT, NETWORK, PRIVATE_ACCESS, WORKSPACE)
# The API's id and name fields per kind.
ID_FIELD = {
    CREDENTIALS: "credentials_id",
    STORAGE: "storage_configuration_id",
    VPC_ENDPOINT: "vpc_endpoint_id",
    NETWORK: "network_id",
    PRIVATE_ACCESS: "private_access_settings_id",
    WORKSPACE: "workspace_id",
}
NAME_FIELD = {
    CREDENTIALS: "credentials_name",
    STORAGE: "storage_configuration_name",
    VPC_ENDPOINT: "vpc_endpoint_name",
    NETWORK: "network_name",
    PRIVATE_ACCESS: "private_access_settings_name",
    WORKSPACE: "workspace_name",
}
DEFAULT_DNS_ZONE = "cloud.databricks.com"
ENDPOINT_USES = ("rest_api", "dataplane_relay")
ACCESS_LEVELS = ("ACCOUNT", "ENDPOINT")
_DEPLOYMENT = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")


class DriftError(ConfigError):
    """An object with the desired name exists with another configuration."""

    def __init__(
        self, kind: str, name: str, object_id: str, differences: Mapping[str, tuple[Any, Any]]
    ) -> None:
        """Record which fields differ (``field -> (desired, actual)``) on which object."""
        self.kind = kind
        self.object_id = object_id
        self.differences = dict(differences)
        listed = "; ".join(
            f"{f}: desired {d!r}, found {a!r}" for f, (d, a) in sorted(self.differences.items())
        )
        super().__init__(
            kind,
            f"{kind} {name!r} ({object_id}) exists with a different configuration ({listed})",
            f"align the parameters with the existing object, or rename it / delete {object_id} yourself "
            "(it is never adopted with a different configuration nor replaced)",
        )


class AmbiguousObjectError(ConfigError):
    """Several objects share the desired name and the run state recorded none of them."""

    def __init__(self, kind: str, name: str, object_ids: Sequence[str]) -> None:
        """Record every id found under the name."""
        self.kind = kind
        self.object_ids = list(object_ids)
        super().__init__(
            kind,
            f"{len(object_ids)} {kind} objects are named {name!r} ({', '.join(object_ids)}) and the run "
            "state records none of them",
            "delete the duplicates you do not want, or give this deployment another name",
        )


# -- desired objects ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectSpec:
    """A desired account object: its kind, its name and the fields that must match to adopt one."""

    kind: str
    name: str
    fields: Mapping[str, Any] = field(default_factory=dict)


def credentials_spec(name: str, role_arn: str) -> ObjectSpec:
    """The credential configuration holding the cross-account role."""
    return ObjectSpec(CREDENTIALS, name, {"aws_credentials.sts_role.role_arn": role_arn})


def storage_spec(name: str, bucket_name: str, role_arn: str | None = None) -> ObjectSpec:
    """The storage configuration of the root bucket (``role_arn``: the optional catalog role)."""
    return ObjectSpec(STORAGE, name, {"root_bucket_info.bucket_name": bucket_name, "role_arn": role_arn})


@dataclass(frozen=True)
class EndpointRegistration:
    """A VPC endpoint to register, and what the network uses it for (``rest_api``, ``dataplane_relay``)."""

    name: str
    aws_vpc_endpoint_id: str
    region: str
    use: str

    def spec(self) -> ObjectSpec:
        """The VPC endpoint configuration to find or create."""
        return ObjectSpec(
            VPC_ENDPOINT, self.name, {"aws_vpc_endpoint_id": self.aws_vpc_endpoint_id, "region": self.region}
        )


@dataclass(frozen=True)
class NetworkSettings:
    """The customer-managed VPC: cluster subnets, the cluster groups and the endpoint group."""

    name: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    cluster_security_group_ids: tuple[str, ...]
    endpoint_security_group_id: str | None = None

    @property
    def security_group_ids(self) -> tuple[str, ...]:
        """Both kinds of group: the endpoint group admits only its members, so the network names it too."""
        extra = (self.endpoint_security_group_id,) if self.endpoint_security_group_id else ()
        return tuple(dict.fromkeys(self.cluster_security_group_ids + extra))


@dataclass(frozen=True)
class PrivateAccess:
    """The private access settings (PrivateLink front end)."""

    name: str
    public_access_enabled: bool = True
    private_access_level: str = "ACCOUNT"
    allowed_endpoint_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkspaceDeployment:
    """Everything one workspace needs, by name; ids are filled in as objects are found or created."""

    account_id: str
    region: str
    workspace_name: str
    deployment_name: str
    credentials: ObjectSpec
    storage: ObjectSpec
    network: NetworkSettings
    endpoints: tuple[EndpointRegistration, ...] = ()
    private_access: PrivateAccess | None = None
    pricing_tier: str | None = None
    workspace_host: str | None = None

    @property
    def private_link(self) -> bool:
        """Whether the deployment uses AWS PrivateLink (endpoints or private access settings)."""
        return bool(self.endpoints) or self.private_access is not None

    def endpoint_specs(self) -> list[ObjectSpec]:
        """The VPC endpoint registrations, in declaration order."""
        return [e.spec() for e in self.endpoints]

    def network_spec(self, endpoint_ids: Mapping[str, str]) -> ObjectSpec:
        """The network configuration, its endpoints given by the registrations' ids (name -> id)."""
        fields: dict[str, Any] = {
            "vpc_id": self.network.vpc_id,
            "subnet_ids": sorted(self.network.subnet_ids),
            "security_group_ids": sorted(self.network.security_group_ids),
        }
        for use in ENDPOINT_USES:
            fields[f"vpc_endpoints.{use}"] = sorted(
                endpoint_ids[e.name] for e in self.endpoints if e.use == use
            )
        return ObjectSpec(NETWORK, self.network.name, fields)

    def private_access_spec(self, endpoint_ids: Mapping[str, str]) -> ObjectSpec | None:
        """The private access settings, None without PrivateLink."""
        pas = self.private_access
        if pas is None:
            return None
        allowed = sorted(endpoint_ids[n] for n in pas.allowed_endpoint_names)
        return ObjectSpec(
            PRIVATE_ACCESS,
            pas.name,
            {
                "region": self.region,
                "public_access_enabled": pas.public_access_enabled,
                "private_access_level": pas.private_access_level,
                "allowed_vpc_endpoint_ids": allowed,
            },
        )

    def workspace_spec(self, ids: Mapping[str, str | None]) -> ObjectSpec:
        """The workspace, referencing the objects by id (kind -> id)."""
        return ObjectSpec(
            WORKSPACE,
            self.workspace_name,
            {
                "deployment_name": self.deployment_name,
                "aws_region": self.region,
                "credentials_id": ids.get(CREDENTIALS),
                "storage_configuration_id": ids.get(STORAGE),
                "network_id": ids.get(NETWORK),
                "private_access_settings_id": ids.get(PRIVATE_ACCESS),
            },
        )

    def host(self) -> str:
        """The new workspace's URL: built from the deployment name unless ``workspace_host`` overrides it."""
        return workspace_host(self.deployment_name, self.workspace_host)


def workspace_host(
    deployment_name: str, override: str | None = None, dns_zone: str = DEFAULT_DNS_ZONE
) -> str:
    """``https://<deployment>.<zone>``; an override is used as is (``{deployment_name}`` is filled in).

    The account API's Workspace carries no URL: the host follows from the deployment name.
    """
    if override:
        return override.replace("{deployment_name}", deployment_name).rstrip("/")
    return f"https://{deployment_name}.{dns_zone}"


# -- comparing and choosing -----------------------------------------------------------------------
def _lookup(obj: Mapping[str, Any], dotted: str) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _normal(value: Any) -> Any:
    """Compare lists as sets, enums by value, and treat empty lists, False defaults and None alike."""
    if isinstance(value, list | tuple):
        return sorted(str(v) for v in value) or None
    if value == "":
        return None
    return value


def differences(spec: ObjectSpec, existing: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields of ``existing`` (the API's object as a dict) that differ: field -> (desired, actual)."""
    found: dict[str, tuple[Any, Any]] = {}
    for name, desired in spec.fields.items():
        actual = _lookup(existing, name)
        if _normal(desired) != _normal(actual):
            found[name] = (desired, actual)
    return found


@dataclass(frozen=True)
class Choice:
    """What to do for one desired object: ``create``, or ``adopt`` the object ``object_id``."""

    action: str
    object_id: str | None = None


def object_id(kind: str, obj: Mapping[str, Any]) -> str:
    """The object's id as a string (workspace ids are integers in the API)."""
    return str(obj[ID_FIELD[kind]])


def choose(
    spec: ObjectSpec, candidates: Sequence[Mapping[str, Any]], recorded_id: str | None = None
) -> Choice:
    """Create, or adopt one of ``candidates`` (the objects listed with the spec's name).

    Raises:
        DriftError: the object to adopt has another configuration.
        AmbiguousObjectError: several share the name and ``recorded_id`` names none of them.
    """
    named = [c for c in candidates if c.get(NAME_FIELD[spec.kind]) == spec.name]
    if not named:
        return Choice("create")
    if len(named) > 1:
        named = [c for c in named if recorded_id is not None and object_id(spec.kind, c) == recorded_id]
        if not named:
            ids = [object_id(spec.kind, c) for c in candidates if c.get(NAME_FIELD[spec.kind]) == spec.name]
            raise AmbiguousObjectError(spec.kind, spec.name, ids)
    chosen = named[0]
    drift = differences(spec, chosen)
    if drift:
        raise DriftError(spec.kind, spec.name, object_id(spec.kind, chosen), drift)
    return Choice("adopt", object_id(spec.kind, chosen))


# -- parameters -----------------------------------------------------------------------------------
def _text(params: Mapping[str, Any], key: str, where: str, fix: str, default: str | None = None) -> str:
    value = params.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}{key}", f"is missing or empty ({value!r})", fix)
    return value.strip()


def _ids(
    params: Mapping[str, Any], key: str, where: str, prefix: str, bounds: tuple[int, int]
) -> tuple[str, ...]:
    value = params.get(key) or []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(
            f"{where}{key}", f"must be a list of ids, got {value!r}", f"give a list of {prefix}... ids"
        )
    ids = tuple(str(v).strip() for v in value)
    lo, hi = bounds
    if not lo <= len(set(ids)) <= hi or any(not v.startswith(prefix) for v in ids):
        raise ConfigError(
            f"{where}{key}",
            f"must name {lo} to {hi} distinct {prefix}... ids, got {list(ids)!r}",
            f"list between {lo} and {hi} {prefix}... ids",
        )
    return ids


def _role_arn(params: Mapping[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ROLE_ARN.fullmatch(value):
        raise ConfigError(
            f"{where}{key}",
            f"{value!r} is not an IAM role ARN",
            "give arn:aws:iam::<12-digit account>:role/<name>",
        )
    return value


def _network(params: Any, deployment: str) -> NetworkSettings:
    if not isinstance(params, Mapping):
        raise ConfigError("network", "is missing", "give vpc_id, subnet_ids and cluster_security_group_ids")
    endpoint_group = params.get("endpoint_security_group_id")
    if endpoint_group is not None and not (
        isinstance(endpoint_group, str) and endpoint_group.startswith("sg-")
    ):
        raise ConfigError(
            "network.endpoint_security_group_id",
            f"{endpoint_group!r} is not a sg-... id",
            "give the id of the endpoint group",
        )
    return NetworkSettings(
        name=_text(params, "name", "network.", "name the network configuration", f"{deployment}-network"),
        vpc_id=_text(params, "vpc_id", "network.", "give the id (vpc-...) of the customer-managed VPC"),
        subnet_ids=_ids(params, "subnet_ids", "network.", "subnet-", (2, 16)),
        cluster_security_group_ids=_ids(params, "cluster_security_group_ids", "network.", "sg-", (1, 5)),
        endpoint_security_group_id=endpoint_group,
    )


def _endpoints(params: Mapping[str, Any], region: str, deployment: str) -> tuple[EndpointRegistration, ...]:
    registrations = []
    for use in ENDPOINT_USES:
        entry = params.get(f"{use}_endpoint")
        if entry is None:
            continue
        where = f"private_link.{use}_endpoint."
        if not isinstance(entry, Mapping):
            raise ConfigError(
                where.rstrip("."), f"must be an object, got {entry!r}", "give aws_vpc_endpoint_id"
            )
        vpce = _text(
            entry, "aws_vpc_endpoint_id", where, "give the AWS id (vpce-...) of the interface endpoint"
        )
        entry_region = _text(entry, "region", where, "give the endpoint's region", region)
        if entry_region != region:
            raise ConfigError(
                f"{where}region",
                f"the endpoint is in {entry_region} but the workspace in {region}",
                "register endpoints of the workspace's region (PrivateLink does not cross regions)",
            )
        name = _text(entry, "name", where, "name the registration", f"{deployment}-{use.replace('_', '-')}")
        registrations.append(EndpointRegistration(name, vpce, region, use))
    return tuple(registrations)


def _private_access(
    params: Mapping[str, Any], deployment: str, endpoints: Sequence[EndpointRegistration]
) -> PrivateAccess:
    where = "private_link.private_access_settings."
    level = params.get("private_access_level", "ACCOUNT")
    if level not in ACCESS_LEVELS:
        raise ConfigError(
            f"{where}private_access_level", f"{level!r} is not a level", f"use one of {list(ACCESS_LEVELS)}"
        )
    public = params.get("public_access_enabled", True)
    if not isinstance(public, bool):
        raise ConfigError(
            f"{where}public_access_enabled", f"must be true or false, got {public!r}", "give a boolean"
        )
    uses = {e.use for e in endpoints}
    if not public and uses != set(ENDPOINT_USES):
        raise ConfigError(
            f"{where}public_access_enabled",
            "false needs both back-end PrivateLink endpoints (rest_api and dataplane_relay)",
            "register both endpoints, or set public_access_enabled to true",
        )
    allowed = tuple(e.name for e in endpoints) if level == "ENDPOINT" else ()
    return PrivateAccess(
        name=_text(params, "name", where, "name the private access settings", f"{deployment}-private-access"),
        public_access_enabled=public,
        private_access_level=level,
        allowed_endpoint_names=allowed,
    )


def _private_link(
    params: Mapping[str, Any], region: str, deployment: str, network: NetworkSettings
) -> tuple[tuple[EndpointRegistration, ...], PrivateAccess | None]:
    link = params.get("private_link")
    if link is None:
        return (), None
    if not isinstance(link, Mapping):
        raise ConfigError(
            "private_link",
            f"must be an object, got {link!r}",
            "give rest_api_endpoint and dataplane_relay_endpoint",
        )
    endpoints = _endpoints(link, region, deployment)
    if not endpoints:
        raise ConfigError(
            "private_link",
            "PrivateLink is requested but no VPC endpoint is given",
            "give private_link.rest_api_endpoint and private_link.dataplane_relay_endpoint "
            "(aws_vpc_endpoint_id of the workspace and relay interface endpoints), or drop private_link",
        )
    if network.endpoint_security_group_id is None:
        raise ConfigError(
            "network.endpoint_security_group_id",
            "PrivateLink endpoints are given but not the endpoint security group",
            "give the id of the group attached to the endpoints: the network registers it "
            "next to the cluster group",
        )
    pas = link.get("private_access_settings") or {}
    return endpoints, _private_access(pas, deployment, endpoints)


def deployment_from_params(params: Mapping[str, Any]) -> WorkspaceDeployment:
    """Parse and validate one workspace's parameters (a task's arguments or a YAML file).

    Raises:
        ConfigError: naming the first bad parameter and its fix.
    """
    account_id = params.get("account_id")
    if not isinstance(account_id, str) or not account_id.strip():
        raise ConfigError(
            "account_id",
            "no Databricks account id is given",
            "set account_id (the account console shows it), or extra.account_id on the Databricks connection",
        )
    region = _text(params, "region", "", "give the AWS region of the workspace, e.g. us-east-1")
    if not _REGION.fullmatch(region):
        raise ConfigError("region", f"{region!r} is not an AWS region", "give a region such as us-east-1")
    deployment = _text(
        params, "deployment_name", "", "give the deployment name (the workspace URL's first label)"
    )
    if not _DEPLOYMENT.fullmatch(deployment):
        raise ConfigError(
            "deployment_name",
            f"{deployment!r} is not a valid deployment name",
            "use 1 to 63 lowercase letters, digits and inner dashes",
        )
    network = _network(params.get("network"), deployment)
    endpoints, private_access = _private_link(params, region, deployment, network)
    credentials = params.get("credentials") or {}
    storage = params.get("storage") or {}
    return WorkspaceDeployment(
        account_id=account_id.strip(),
        region=region,
        workspace_name=_text(params, "workspace_name", "", "name the workspace", deployment),
        deployment_name=deployment,
        credentials=credentials_spec(
            _text(
                credentials,
                "name",
                "credentials.",
                "name the credential configuration",
                f"{deployment}-credentials",
            ),
            str(_role_arn(credentials, "role_arn", "credentials.")),
        ),
        storage=storage_spec(
            _text(storage, "name", "storage.", "name the storage configuration", f"{deployment}-storage"),
            _text(storage, "bucket_name", "storage.", "give the root S3 bucket's name"),
            _role_arn(storage, "role_arn", "storage.", required=False),
        ),
        network=network,
        endpoints=endpoints,
        private_access=private_access,
        pricing_tier=params.get("pricing_tier"),
        workspace_host=params.get("workspace_host"),
    )
