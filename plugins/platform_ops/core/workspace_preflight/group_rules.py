"""Rules of the security groups.

How many groups the network registers, the cluster group's traffic with itself and to the internet,
and the endpoint group's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from platform_ops.core.workspace_preflight.ports import fmt_ranges, ports_of, uncovered
from platform_ops.core.workspace_preflight.reference import (
    ALL_PORTS,
    ANYWHERE,
    CLUSTER_EGRESS_PORTS,
    HIVE_METASTORE_PORT,
)
from platform_ops.core.workspace_preflight.report import Finding, finding
from platform_ops.core.workspace_preflight.request import PreflightRequest
from platform_ops.core.workspace_preflight.rules import Metastore
from platform_ops.core.workspace_preflight.snapshot import PreflightSnapshot, SecurityGroup


def _self_gaps(groups: Sequence[SecurityGroup], own_ids: set[str]) -> list[str]:
    gaps = []
    for direction in ("ingress", "egress"):
        rules = [p for g in groups for p in getattr(g, direction)]
        for protocol in ("tcp", "udp"):
            ports = ports_of(rules, protocol, lambda p: bool(own_ids & set(p.group_ids)))
            missing = uncovered(ALL_PORTS, ports)
            if missing:
                gaps.append(f"{direction} {protocol} {fmt_ranges(missing)} with itself")
    return gaps


def _egress_gaps(
    groups: Sequence[SecurityGroup], required: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    rules = [p for g in groups for p in g.egress]
    ports = ports_of(rules, "tcp", lambda p: ANYWHERE in p.cidrs)
    return [gap for need in required for gap in uncovered(need, ports)]


def check_groups(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """SG-*: the groups the network registers, the cluster group and the endpoint group."""
    registered = request.security_group_ids
    missing = [g for g in registered if (sg := snapshot.group(g)) is None or sg.vpc_id != request.vpc_id]
    for group_id in missing:
        yield finding("SG-COUNT", group_id, f"security group not found in {request.vpc_id}")
    if not 1 <= len(registered) <= 5:
        yield finding("SG-COUNT", request.vpc_id, f"{len(registered)} groups registered; 1-5 allowed")
    if request.endpoint_security_group_id not in registered:
        yield finding(
            "SG-NETWORK-GROUPS",
            request.endpoint_security_group_id,
            "endpoint group not registered on the network: cluster nodes are not its members",
        )
    cluster = [g for gid in request.cluster_group_ids if (g := snapshot.group(gid)) is not None]
    yield from _check_cluster_group(cluster, request)
    endpoint_group = snapshot.group(request.endpoint_security_group_id)
    if endpoint_group is not None:
        gaps = _self_gaps([endpoint_group], {endpoint_group.group_id})
        if gaps:
            yield finding("SG-ENDPOINT-SELF", endpoint_group.group_id, "; ".join(gaps))


def _check_cluster_group(cluster: Sequence[SecurityGroup], request: PreflightRequest) -> Iterator[Finding]:
    if not cluster:
        return
    resource = ",".join(g.group_id for g in cluster)
    gaps = _self_gaps(cluster, {g.group_id for g in cluster})
    if gaps:
        yield finding("SG-CLUSTER-SELF", resource, "; ".join(gaps))
    egress = _egress_gaps(cluster, CLUSTER_EGRESS_PORTS)
    if egress:
        yield finding("SG-CLUSTER-EGRESS", resource, f"no egress to 0.0.0.0/0 on TCP {fmt_ranges(egress)}")
    if _egress_gaps(cluster, [HIVE_METASTORE_PORT]):
        hive = request.metastore is Metastore.DATABRICKS_HIVE
        rule = "SG-CLUSTER-METASTORE" if hive else "SG-CLUSTER-METASTORE-UNUSED"
        yield finding(
            rule, resource, f"no egress to 0.0.0.0/0 on TCP 3306 (metastore={request.metastore.value})"
        )
