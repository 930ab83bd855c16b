"""Rules of the VPC and its subnets.

DNS attributes, subnet count, zones, netmask and capacity, routes and NAT, what running without NAT
needs, and the cluster subnets' network ACLs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from platform_ops.core.workspace_preflight.ports import protocol_matches
from platform_ops.core.workspace_preflight.reference import (
    ANYWHERE,
    CLUSTER_EGRESS_PORTS,
    HIVE_METASTORE_PORT,
    SECURITY_DAEMON_FAILURE,
    TERRAFORM_MAX_PREFIX,
)
from platform_ops.core.workspace_preflight.report import Finding, finding
from platform_ops.core.workspace_preflight.request import PreflightRequest
from platform_ops.core.workspace_preflight.rules import Metastore
from platform_ops.core.workspace_preflight.snapshot import (
    NetworkAcl,
    PreflightSnapshot,
    Route,
    RouteTable,
    aws_service,
    cluster_subnets,
    front_end_only,
    service_endpoints,
)


def check_vpc(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """VPC-DNS: both DNS attributes of the VPC are on."""
    vpc = snapshot.vpc
    off = [
        n for n, on in (("DNS hostnames", vpc.dns_hostnames), ("DNS resolution", vpc.dns_support)) if not on
    ]
    if off:
        yield finding("VPC-DNS", vpc.vpc_id, f"{' and '.join(off)} disabled")


def check_subnets(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """SUBNET-*: the cluster subnets' count, zones, netmasks and free addresses."""
    found = [
        s for sid in request.cluster_subnet_ids if (s := snapshot.subnet(sid)) and s.vpc_id == request.vpc_id
    ]
    for missing in sorted(set(request.cluster_subnet_ids) - {s.subnet_id for s in found}):
        yield finding("SUBNET-COUNT", missing, f"subnet not found in {request.vpc_id}")
    if len(found) < 2:
        yield finding("SUBNET-COUNT", request.vpc_id, f"{len(found)} cluster subnet(s) in the VPC; 2 needed")
    if found and len({s.availability_zone for s in found}) < 2:
        yield finding("SUBNET-AZ", request.vpc_id, f"all cluster subnets in {found[0].availability_zone}")
    low, high = request.netmask_range
    for subnet in found:
        prefix = ipaddress.ip_network(subnet.cidr, strict=False).prefixlen
        if not low <= prefix <= high:
            yield finding("SUBNET-NETMASK", subnet.subnet_id, f"/{prefix} outside /{low}-/{high}")
        elif prefix > TERRAFORM_MAX_PREFIX:
            yield finding("SUBNET-NETMASK-SMALL", subnet.subnet_id, f"/{prefix} is beyond Terraform's /25")
        if subnet.available_ips < 2 * request.max_nodes:
            yield finding(
                "SUBNET-CAPACITY",
                subnet.subnet_id,
                f"{subnet.available_ips} free IPs fit {subnet.available_ips // 2} nodes; "
                f"max_nodes={request.max_nodes} needs {2 * request.max_nodes}",
            )


def _default_route(table: RouteTable | None) -> Route | None:
    if table is None:
        return None
    return next((r for r in table.routes if r.destination == ANYWHERE), None)


def _attached_igw(snapshot: PreflightSnapshot, gateway_id: str | None) -> bool:
    return any(
        g.internet_gateway_id == gateway_id and snapshot.vpc.vpc_id in g.attached_vpc_ids
        for g in snapshot.internet_gateways
    )


def _nat_problem(snapshot: PreflightSnapshot, route: Route) -> str | None:
    nat = next((n for n in snapshot.nat_gateways if n.nat_gateway_id == route.nat_gateway_id), None)
    if nat is None or route.state != "active":
        return f"0.0.0.0/0 goes to {route.nat_gateway_id}, which is missing (blackhole route)"
    if nat.state != "available":
        return f"NAT gateway {nat.nat_gateway_id} is {nat.state}"
    public = _default_route(snapshot.route_table_of(nat.subnet_id))
    if public is None or not _attached_igw(snapshot, public.gateway_id):
        return (
            f"NAT gateway {nat.nat_gateway_id} sits in {nat.subnet_id}, which has no 0.0.0.0/0 route to an "
            "internet gateway attached to the VPC"
        )
    return None


def _nat_status(snapshot: PreflightSnapshot, subnet_id: str) -> tuple[bool, str | None]:
    """(has a working NAT route, problem of a NAT route that exists but does not work)."""
    route = _default_route(snapshot.route_table_of(subnet_id))
    if route is None or not route.nat_gateway_id:
        return False, None
    problem = _nat_problem(snapshot, route)
    return problem is None, problem


def check_routes(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """SUBNET-PRIVATE and NAT-EGRESS: each cluster subnet's default route."""
    for subnet in cluster_subnets(snapshot, request):
        table = snapshot.route_table_of(subnet.subnet_id)
        route = _default_route(table)
        if route is not None and route.gateway_id and route.gateway_id.startswith("igw-"):
            table_id = table.route_table_id if table else "?"
            yield finding(
                "SUBNET-PRIVATE", subnet.subnet_id, f"{table_id} sends 0.0.0.0/0 to {route.gateway_id}"
            )
        _, problem = _nat_status(snapshot, subnet.subnet_id)
        if problem:
            yield finding("NAT-EGRESS", subnet.subnet_id, problem)


def _without_nat(snapshot: PreflightSnapshot, request: PreflightRequest) -> list[str]:
    return [
        s.subnet_id for s in cluster_subnets(snapshot, request) if not _nat_status(snapshot, s.subnet_id)[0]
    ]


def check_no_nat(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """NONAT-*: what the cluster subnets need when no NAT route works."""
    subnets = _without_nat(snapshot, request)
    if not subnets:
        return
    where = ", ".join(subnets)
    if request.metastore not in (Metastore.EXTERNAL_HIVE, Metastore.GLUE):
        yield finding(
            "NONAT-METASTORE",
            where,
            f"no working NAT route and metastore={request.metastore.value}: the Databricks-hosted Hive "
            "metastore is reached through NAT only",
        )
    if not service_endpoints(snapshot, aws_service(request.region, "s3"), "gateway"):
        yield finding("NONAT-ENDPOINTS", where, "no working NAT route and no S3 gateway endpoint")
    for name in ("sts", "kinesis-streams"):
        if not service_endpoints(snapshot, aws_service(request.region, name), "interface"):
            text = f"no working NAT route and no {name} interface endpoint"
            if name == "sts":
                text += f": expect '{SECURITY_DAEMON_FAILURE}'"
            yield finding("NONAT-ENDPOINTS", where, text)
    # The clusters' paths: every interface endpoint of the workspace VPC but a front-end-only endpoint,
    # which users' browsers reach through their own DNS and no cluster calls.
    front = front_end_only(request)
    for endpoint in snapshot.endpoints:
        if not snapshot.in_vpc(endpoint) or endpoint.endpoint_id == front:
            continue
        if endpoint.endpoint_type.lower() == "interface" and not endpoint.private_dns:
            text = f"no working NAT route and {endpoint.service_name} has private DNS disabled"
            if endpoint.service_name == aws_service(request.region, "sts"):
                text += f": expect '{SECURITY_DAEMON_FAILURE}'"
            yield finding("NONAT-ENDPOINTS", endpoint.endpoint_id, text)


def _nacl_verdict(acl: NetworkAcl, egress: bool, protocol: str, port: int, network: str) -> bool:
    """Whether traffic to/from the whole of ``network`` on ``protocol``/``port`` passes ``acl``."""
    probe = ipaddress.ip_network(network)
    for entry in sorted((e for e in acl.entries if e.egress == egress), key=lambda e: e.rule_number):
        if not protocol_matches(entry.protocol, protocol):
            continue
        if entry.protocol not in ("-1", "all") and not entry.port_from <= port <= entry.port_to:
            continue
        net = ipaddress.ip_network(entry.cidr, strict=False)
        if net.version != probe.version or not net.overlaps(probe):
            continue
        if not entry.allow:
            return False
        if probe.subnet_of(net):  # type: ignore[arg-type]
            return True
    return False


def _nacl_probes(request: PreflightRequest, vpc_cidr: str) -> Iterator[tuple[bool, str, int, str]]:
    for egress in (False, True):
        for protocol in ("tcp", "udp"):
            for port in (0, 443, 32768, 65535):
                yield egress, protocol, port, vpc_cidr
    ports = [*CLUSTER_EGRESS_PORTS]
    if request.metastore is Metastore.DATABRICKS_HIVE:
        ports.append(HIVE_METASTORE_PORT)
    for low, high in ports:
        for port in sorted({low, high}):
            yield True, "tcp", port, ANYWHERE
    for port in (1024, 32768, 65535):
        yield False, "tcp", port, ANYWHERE


def check_nacls(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """NACL-CLUSTER: the cluster subnets' network ACLs let the required traffic through."""
    for subnet in cluster_subnets(snapshot, request):
        acl = snapshot.nacl_of(subnet.subnet_id)
        if acl is None:
            continue
        blocked = [
            f"{'egress to' if egress else 'ingress from'} {net} {protocol}/{port}"
            for egress, protocol, port, net in _nacl_probes(request, snapshot.vpc.cidr)
            if not _nacl_verdict(acl, egress, protocol, port, net)
        ]
        if blocked:
            yield finding(
                "NACL-CLUSTER", acl.network_acl_id, f"{subnet.subnet_id}: blocks {'; '.join(blocked)}"
            )
