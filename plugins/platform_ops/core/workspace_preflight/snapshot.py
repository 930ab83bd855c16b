"""The snapshot the rules read.

Typed values built from describe results by the AWS hook, and the queries on them that several rule
families share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from platform_ops.core.workspace_preflight.request import PreflightRequest


@dataclass(frozen=True)
class Vpc:
    """A VPC with its DNS attributes."""

    vpc_id: str
    cidr: str
    dns_hostnames: bool
    dns_support: bool


@dataclass(frozen=True)
class Subnet:
    """A subnet and its free addresses."""

    subnet_id: str
    vpc_id: str
    cidr: str
    availability_zone: str
    available_ips: int


@dataclass(frozen=True)
class Route:
    """One route: a destination CIDR (or prefix list) and the target."""

    destination: str
    gateway_id: str | None = None
    nat_gateway_id: str | None = None
    state: str = "active"


@dataclass(frozen=True)
class RouteTable:
    """A route table, whether it is the VPC's main table, and its explicit subnet associations."""

    route_table_id: str
    vpc_id: str
    main: bool
    subnet_ids: tuple[str, ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class NatGateway:
    """A NAT gateway, the subnet it sits in, and its state."""

    nat_gateway_id: str
    subnet_id: str
    state: str


@dataclass(frozen=True)
class InternetGateway:
    """An internet gateway and the VPCs it is attached to."""

    internet_gateway_id: str
    attached_vpc_ids: tuple[str, ...]


@dataclass(frozen=True)
class NaclEntry:
    """One network ACL entry (protocol ``-1`` = all, ``6`` = TCP, ``17`` = UDP)."""

    rule_number: int
    egress: bool
    protocol: str
    allow: bool
    cidr: str
    port_from: int = 0
    port_to: int = 65535


@dataclass(frozen=True)
class NetworkAcl:
    """A network ACL and the subnets associated with it."""

    network_acl_id: str
    subnet_ids: tuple[str, ...]
    entries: tuple[NaclEntry, ...]


@dataclass(frozen=True)
class Permission:
    """One security group rule: protocol (``-1``, ``tcp``, ``udp``...), ports and peers."""

    protocol: str
    from_port: int
    to_port: int
    cidrs: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecurityGroup:
    """A security group with its ingress and egress rules."""

    group_id: str
    vpc_id: str
    ingress: tuple[Permission, ...]
    egress: tuple[Permission, ...]


@dataclass(frozen=True)
class VpcEndpoint:
    """A VPC endpoint (Gateway or Interface) and where it sits."""

    endpoint_id: str
    service_name: str
    endpoint_type: str
    state: str
    private_dns: bool
    subnet_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    route_table_ids: tuple[str, ...] = ()
    vpc_id: str = ""


@dataclass(frozen=True)
class IamRole:
    """An IAM role: its trust policy and every permission document (inline and attached)."""

    arn: str
    trust_policy: Mapping[str, Any]
    permission_policies: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class PreflightSnapshot:
    """Everything the rules read, as described by AWS at one moment."""

    vpc: Vpc
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    nat_gateways: tuple[NatGateway, ...] = ()
    internet_gateways: tuple[InternetGateway, ...] = ()
    network_acls: tuple[NetworkAcl, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    endpoints: tuple[VpcEndpoint, ...] = ()
    roles: Mapping[str, IamRole] = field(default_factory=dict)
    root_bucket_policy: Mapping[str, Any] | None = None
    root_bucket_exists: bool = True
    other_vpcs: tuple[Vpc, ...] = ()

    def in_vpc(self, endpoint: VpcEndpoint) -> bool:
        """Whether ``endpoint`` sits in the workspace VPC (an endpoint read without a VPC id counts)."""
        return endpoint.vpc_id in ("", self.vpc.vpc_id)

    def subnet(self, subnet_id: str) -> Subnet | None:
        """The subnet with this id, if it is in the snapshot."""
        return next((s for s in self.subnets if s.subnet_id == subnet_id), None)

    def group(self, group_id: str) -> SecurityGroup | None:
        """The security group with this id, if it is in the snapshot."""
        return next((g for g in self.security_groups if g.group_id == group_id), None)

    def endpoint(self, endpoint_id: str) -> VpcEndpoint | None:
        """The VPC endpoint with this id, if it is in the snapshot."""
        return next((e for e in self.endpoints if e.endpoint_id == endpoint_id), None)

    def route_table_of(self, subnet_id: str) -> RouteTable | None:
        """The table that routes ``subnet_id``: its explicit association, else the VPC's main table."""
        for table in self.route_tables:
            if subnet_id in table.subnet_ids:
                return table
        return next((t for t in self.route_tables if t.main and t.vpc_id == self.vpc.vpc_id), None)

    def nacl_of(self, subnet_id: str) -> NetworkAcl | None:
        """The network ACL associated with ``subnet_id``."""
        return next((a for a in self.network_acls if subnet_id in a.subnet_ids), None)


# --- queries several rule families share ---------------------------------------------------------


def cluster_subnets(snapshot: PreflightSnapshot, request: PreflightRequest) -> list[Subnet]:
    """The request's cluster subnets found in the snapshot."""
    return [s for sid in request.cluster_subnet_ids if (s := snapshot.subnet(sid)) is not None]


def aws_service(region: str, name: str) -> str:
    """The endpoint service name of an AWS service in ``region``."""
    return f"com.amazonaws.{region}.{name}"


def service_endpoints(snapshot: PreflightSnapshot, service: str, kind: str) -> list[VpcEndpoint]:
    """The workspace VPC's live endpoints of ``service`` and ``kind`` (gateway or interface)."""
    return [
        e
        for e in snapshot.endpoints
        if e.service_name == service
        and e.endpoint_type.lower() == kind
        and e.state.lower() != "deleted"
        and snapshot.in_vpc(e)
    ]


def front_end_only(request: PreflightRequest) -> str | None:
    """The front-end endpoint's id when it is not also the workspace (REST API) endpoint."""
    front = request.front_end_endpoint_id
    return front if front and front != request.workspace_endpoint_id else None
