"""Rules of the VPC endpoints.

The AWS service endpoints, the back-end PrivateLink endpoints (relay and REST API), the front-end
endpoint wherever it sits, and the private access settings.
"""

from __future__ import annotations

from collections.abc import Iterator

from platform_ops.core.workspace_preflight.ports import ports_of, uncovered
from platform_ops.core.workspace_preflight.reference import (
    ENDPOINT_SERVICES,
    relay_service,
    workspace_service,
)
from platform_ops.core.workspace_preflight.report import Finding, finding
from platform_ops.core.workspace_preflight.request import PreflightRequest
from platform_ops.core.workspace_preflight.rules import PrivateAccessLevel
from platform_ops.core.workspace_preflight.snapshot import (
    PreflightSnapshot,
    VpcEndpoint,
    aws_service,
    cluster_subnets,
    service_endpoints,
)


def _placement_problems(endpoint: VpcEndpoint, request: PreflightRequest) -> list[str]:
    problems = []
    if not endpoint.private_dns:
        problems.append("private DNS disabled (it can only be set when the endpoint is created)")
    if request.endpoint_subnet_ids and not set(endpoint.subnet_ids) & set(request.endpoint_subnet_ids):
        problems.append(f"not in the endpoint subnet(s) {', '.join(request.endpoint_subnet_ids)}")
    if request.endpoint_security_group_id not in endpoint.group_ids:
        problems.append(f"not using the endpoint group {request.endpoint_security_group_id}")
    if endpoint.state.lower() in _GONE:
        problems.append(f"state {endpoint.state}")
    return problems


def check_aws_endpoints(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """EP-*: the S3 gateway endpoint and the STS and Kinesis interface endpoints."""
    s3 = service_endpoints(snapshot, aws_service(request.region, "s3"), "gateway")
    tables = {s3_table for e in s3 for s3_table in e.route_table_ids}
    for subnet in cluster_subnets(snapshot, request):
        table = snapshot.route_table_of(subnet.subnet_id)
        if table is None or table.route_table_id not in tables:
            where = table.route_table_id if table else "no route table"
            yield finding("EP-S3-GATEWAY", subnet.subnet_id, f"no S3 gateway endpoint on {where}")
    for rule_id, name in (("EP-STS", "sts"), ("EP-KINESIS", "kinesis-streams")):
        service = aws_service(request.region, name)
        endpoints = service_endpoints(snapshot, service, "interface")
        if not endpoints:
            yield finding(rule_id, request.vpc_id, f"no interface endpoint for {service}")
        for endpoint in endpoints:
            problems = _placement_problems(endpoint, request)
            if problems:
                yield finding(rule_id, endpoint.endpoint_id, "; ".join(problems))


def _check_private_link_endpoint(
    snapshot: PreflightSnapshot, request: PreflightRequest, rule_id: str, endpoint_id: str, service: str
) -> Iterator[Finding]:
    endpoint = snapshot.endpoint(endpoint_id)
    if endpoint is None:
        yield finding(rule_id, endpoint_id, f"endpoint not found in {request.vpc_id}")
        return
    problems = _placement_problems(endpoint, request)
    if not snapshot.in_vpc(endpoint):
        problems.insert(0, f"in {endpoint.vpc_id}, not in the workspace VPC {request.vpc_id}")
    if endpoint.service_name != service:
        problems.insert(0, f"service {endpoint.service_name}, expected {service} for {request.region}")
    if problems:
        yield finding(rule_id, endpoint_id, "; ".join(problems))


def check_private_link(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """PL-* and PAS-*: the back-end endpoints, the front-end endpoint, the access settings."""
    if request.private_link and request.relay_endpoint_id and request.workspace_endpoint_id:
        yield from _check_private_link_endpoint(
            snapshot, request, "PL-RELAY", request.relay_endpoint_id, relay_service(request.region)
        )
        yield from _check_private_link_endpoint(
            snapshot,
            request,
            "PL-WORKSPACE",
            request.workspace_endpoint_id,
            workspace_service(request.region),
        )
    yield from _check_access_settings(snapshot, request)


def _check_access_settings(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    if not request.public_access_enabled and not (request.private_link and request.front_end_endpoint_id):
        lacking = [
            n
            for n, ok in (("back-end", request.private_link), ("front-end", request.front_end_endpoint_id))
            if not ok
        ]
        yield finding(
            "PAS-PUBLIC-ACCESS",
            request.vpc_id,
            f"public access disabled without {' and '.join(lacking)} PrivateLink: nobody can reach it",
        )
    if request.front_end_endpoint_id and request.region in ENDPOINT_SERVICES:
        yield from _check_front_end(snapshot, request, request.front_end_endpoint_id)
    if request.private_access_level is PrivateAccessLevel.ENDPOINT and request.region in ENDPOINT_SERVICES:
        for endpoint_id in request.allowed_vpc_endpoint_ids:
            endpoint = snapshot.endpoint(endpoint_id)
            if endpoint is None or endpoint.service_name != workspace_service(request.region):
                where = "not found" if endpoint is None else f"on {endpoint.service_name}"
                yield finding(
                    "PAS-ALLOWED-ENDPOINTS",
                    endpoint_id,
                    f"{where}: not an endpoint of {request.region}'s workspace service",
                )


_GONE = ("rejected", "failed", "deleted", "deleting", "expired")


def _check_front_end(snapshot: PreflightSnapshot, request: PreflightRequest, front: str) -> Iterator[Finding]:
    """What Databricks and AWS require of a front-end endpoint, wherever it sits.

    That is the workspace VPC, as in the runbook, or a transit VPC, as Databricks recommends. Its
    subnet and group are the user side's choice (the runbook puts it in the public subnet with a group
    open on 443), so they are not held to the back-end endpoints' placement. Private DNS is not
    required: in the workspace VPC the REST API endpoint already owns the service's private DNS name,
    and AWS refuses a second owner, so the users' DNS must carry the name (a warning says which).
    """
    endpoint = snapshot.endpoint(front)
    service = workspace_service(request.region)
    if endpoint is None:
        yield finding("PAS-FRONTEND", front, f"endpoint not found in {request.region}")
        return
    problems = []
    if endpoint.service_name != service:
        problems.append(f"service {endpoint.service_name}, expected {service} for {request.region}")
    if endpoint.state.lower() in _GONE:
        problems.append(f"state {endpoint.state}")
    if problems:
        yield finding("PAS-FRONTEND", front, "; ".join(problems))
        return
    if front == request.workspace_endpoint_id:
        return  # one endpoint serves browsers and clusters: its private DNS is PL-WORKSPACE's concern
    where = "the workspace VPC" if snapshot.in_vpc(endpoint) else f"the transit VPC {endpoint.vpc_id}"
    if not endpoint.private_dns:
        reason = (
            f"the REST API endpoint {request.workspace_endpoint_id} owns the service's private DNS name there"
            if snapshot.in_vpc(endpoint) and request.workspace_endpoint_id
            else "nothing resolves the workspace URL to it"
        )
        yield finding(
            "PAS-FRONTEND-DNS",
            front,
            f"in {where} with private DNS off ({reason}): the users' DNS must resolve the workspace URL "
            f"<deployment-name>.cloud.databricks.com to the private IPs of {front}",
        )
    groups = [g for gid in endpoint.group_ids if (g := snapshot.group(gid)) is not None]
    if groups and not any(
        not uncovered((443, 443), ports_of(g.ingress, "tcp", lambda p: bool(p.cidrs or p.group_ids)))
        for g in groups
    ):
        yield finding(
            "PAS-FRONTEND-INGRESS",
            front,
            f"in {where}: no group of {', '.join(endpoint.group_ids)} admits TCP 443, so browsers cannot "
            "connect",
        )
