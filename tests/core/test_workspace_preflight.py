"""The workspace preflight rules, on snapshots built directly: each rule passes on the runbook's setup and
fails when the one thing it guards is broken; the passing variants (split port ranges, protocol -1,
implicit main-table association, no NAT done right) pass."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platform_ops.core import iam_policy
from platform_ops.core import workspace_preflight as wp
from platform_ops.exceptions import ConfigError

REGION = "ap-northeast-1"
VPC = "vpc-0a0000000000000a1"
PUBLIC, CL_A, CL_B, EP_SUBNET = (f"subnet-0{i}000000000000001" for i in range(1, 5))
CLUSTER_SG, ENDPOINT_SG = "sg-0c0000000000000c1", "sg-0e0000000000000e1"
IGW, NAT = "igw-0100000000000000a", "nat-0100000000000000a"
PUBLIC_RT, CLUSTER_RT, MAIN_RT = "rtb-01", "rtb-02", "rtb-00"
ACL = "acl-01"
EP = {
    k: f"vpce-0{i}00000000000000a"
    for i, k in enumerate(["s3", "sts", "kinesis", "relay", "workspace", "front"])
}
ACCOUNT = "123456789012"
DBX_ACCOUNT = "0d26daa6-5e44-4c97-a497-ef015f91254a"
CROSS = f"arn:aws:iam::{ACCOUNT}:role/wk1-cross-account"
STORAGE = f"arn:aws:iam::{ACCOUNT}:role/wk1-storage"
CLUSTER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/wk1-cluster"
PROFILE = f"arn:aws:iam::{ACCOUNT}:instance-profile/wk1-cluster"
DATA_ROLE = f"arn:aws:iam::{ACCOUNT}:role/wk1-data"
BUCKET = "wk1-root"
DATABRICKS_ROOT = f"arn:aws:iam::{iam_policy.DATABRICKS_AWS_ACCOUNT_ID}:root"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def self_rules(group: str, protocols: tuple[str, ...] = ("tcp", "udp")) -> tuple[wp.Permission, ...]:
    return tuple(wp.Permission(p, 0, 65535, group_ids=(group,)) for p in protocols)


def anywhere(low: int, high: int) -> wp.Permission:
    return wp.Permission("tcp", low, high, cidrs=(wp.ANYWHERE,))


CLUSTER_EGRESS = tuple(anywhere(a, b) for a, b in (*wp.CLUSTER_EGRESS_PORTS, wp.HIVE_METASTORE_PORT))


def interface(key: str, service: str, dns: bool = True, **kw: Any) -> wp.VpcEndpoint:
    values: dict[str, Any] = {"subnet_ids": (EP_SUBNET,), "group_ids": (ENDPOINT_SG,)} | kw
    return wp.VpcEndpoint(EP[key], service, "Interface", "available", dns, **values)


def roles() -> dict[str, wp.IamRole]:
    external = {"StringEquals": {"sts:ExternalId": DBX_ACCOUNT}}
    cross = wp.IamRole(
        CROSS,
        doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": DATABRICKS_ROOT},
                "Action": "sts:AssumeRole",
                "Condition": external,
            }
        ),
        (
            doc(
                {"Effect": "Allow", "Action": list(wp.CUSTOMER_MANAGED_VPC_ACTIONS), "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": list(wp.SPOT_ROLE_ACTIONS),
                    "Resource": wp.SPOT_SERVICE_LINKED_ROLE,
                },
            ),
        ),
    )
    storage = wp.IamRole(
        STORAGE,
        doc(
            {"Effect": "Allow", "Principal": {"AWS": [DATABRICKS_ROOT, STORAGE]}, "Action": "sts:AssumeRole"}
        ),
    )
    cluster = wp.IamRole(
        CLUSTER_ROLE,
        doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
        (doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": DATA_ROLE}),),
    )
    data = wp.IamRole(
        DATA_ROLE,
        doc({"Effect": "Allow", "Principal": {"AWS": CLUSTER_ROLE}, "Action": "sts:AssumeRole"}),
        (doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),),
    )
    return {r.arn: r for r in (cross, storage, cluster, data)}


BUCKET_POLICY = doc(
    {
        "Effect": "Allow",
        "Principal": {"AWS": DATABRICKS_ROOT},
        "Action": [*wp.ROOT_BUCKET_OBJECT_ACTIONS, *wp.ROOT_BUCKET_ACTIONS],
        "Resource": [f"arn:aws:s3:::{BUCKET}/*", f"arn:aws:s3:::{BUCKET}"],
    }
)
DEFAULT_ACL = wp.NetworkAcl(
    ACL,
    (PUBLIC, CL_A, CL_B, EP_SUBNET),
    tuple(
        wp.NaclEntry(n, egress, "-1", allow, wp.ANYWHERE)
        for egress in (False, True)
        for n, allow in ((100, True), (32767, False))
    ),
)


def good() -> wp.PreflightSnapshot:
    """The runbook's hands-on network, PrivateLink included."""
    return wp.PreflightSnapshot(
        vpc=wp.Vpc(VPC, "10.0.0.0/16", True, True),
        subnets=(
            wp.Subnet(PUBLIC, VPC, "10.0.0.0/24", f"{REGION}a", 250),
            wp.Subnet(CL_A, VPC, "10.0.16.0/20", f"{REGION}a", 4091),
            wp.Subnet(CL_B, VPC, "10.0.32.0/20", f"{REGION}c", 4091),
            wp.Subnet(EP_SUBNET, VPC, "10.0.1.0/24", f"{REGION}a", 245),
        ),
        route_tables=(
            wp.RouteTable(MAIN_RT, VPC, True, (), (wp.Route("10.0.0.0/16", "local"),)),
            wp.RouteTable(PUBLIC_RT, VPC, False, (PUBLIC,), (wp.Route(wp.ANYWHERE, IGW),)),
            wp.RouteTable(CLUSTER_RT, VPC, False, (CL_A, CL_B), (wp.Route(wp.ANYWHERE, nat_gateway_id=NAT),)),
        ),
        nat_gateways=(wp.NatGateway(NAT, PUBLIC, "available"),),
        internet_gateways=(wp.InternetGateway(IGW, (VPC,)),),
        network_acls=(DEFAULT_ACL,),
        security_groups=(
            wp.SecurityGroup(
                CLUSTER_SG, VPC, self_rules(CLUSTER_SG), self_rules(CLUSTER_SG) + CLUSTER_EGRESS
            ),
            wp.SecurityGroup(ENDPOINT_SG, VPC, self_rules(ENDPOINT_SG), self_rules(ENDPOINT_SG)),
        ),
        endpoints=(
            wp.VpcEndpoint(
                EP["s3"],
                f"com.amazonaws.{REGION}.s3",
                "Gateway",
                "available",
                False,
                route_table_ids=(CLUSTER_RT,),
            ),
            interface("sts", f"com.amazonaws.{REGION}.sts"),
            interface("kinesis", f"com.amazonaws.{REGION}.kinesis-streams"),
            interface("relay", wp.relay_service(REGION)),
            interface("workspace", wp.workspace_service(REGION)),
            interface("front", wp.workspace_service(REGION)),
        ),
        roles=roles(),
        root_bucket_policy=BUCKET_POLICY,
    )


def request(**overrides: Any) -> wp.PreflightRequest:
    values: dict[str, Any] = {
        "region": REGION,
        "databricks_account_id": DBX_ACCOUNT,
        "aws_account_id": ACCOUNT,
        "vpc_id": VPC,
        "cluster_subnet_ids": (CL_A, CL_B),
        "endpoint_subnet_ids": (EP_SUBNET,),
        "security_group_ids": (CLUSTER_SG, ENDPOINT_SG),
        "endpoint_security_group_id": ENDPOINT_SG,
        "cross_account_role_arn": CROSS,
        "root_bucket_name": BUCKET,
        "max_nodes": 20,
        "private_link": True,
        "relay_endpoint_id": EP["relay"],
        "workspace_endpoint_id": EP["workspace"],
        "front_end_endpoint_id": EP["front"],
        "public_access_enabled": False,
        "storage_role_arn": STORAGE,
        "cluster_role_arn": CLUSTER_ROLE,
        "data_role_arn": DATA_ROLE,
    }
    return wp.PreflightRequest(**(values | overrides))


def with_items(
    snapshot: wp.PreflightSnapshot, attr: str, key: Callable[[Any], bool], **changes: Any
) -> wp.PreflightSnapshot:
    """The snapshot with the items of ``attr`` selected by ``key`` changed."""
    items = tuple(replace(i, **changes) if key(i) else i for i in getattr(snapshot, attr))
    return replace(snapshot, **{attr: items})


def endpoint(key: str, **changes: Any) -> Callable[[wp.PreflightSnapshot], wp.PreflightSnapshot]:
    return lambda s: with_items(s, "endpoints", lambda e: e.endpoint_id == EP[key], **changes)


def role(arn: str, **changes: Any) -> Callable[[wp.PreflightSnapshot], wp.PreflightSnapshot]:
    return lambda s: replace(s, roles={**s.roles, arn: replace(s.roles[arn], **changes)})


def group(group_id: str, **changes: Any) -> Callable[[wp.PreflightSnapshot], wp.PreflightSnapshot]:
    return lambda s: with_items(s, "security_groups", lambda g: g.group_id == group_id, **changes)


def no_nat_route(s: wp.PreflightSnapshot) -> wp.PreflightSnapshot:
    return with_items(s, "route_tables", lambda t: t.route_table_id == CLUSTER_RT, routes=())


CLOSED_SG = "sg-0f000000000000ff"  # a group admitting nothing
Case = tuple[Callable[[wp.PreflightSnapshot], wp.PreflightSnapshot], dict[str, Any]]

# One broken setup per rule: (snapshot change, request overrides).
BROKEN: dict[str, Case] = {
    "VPC-DNS": (lambda s: replace(s, vpc=replace(s.vpc, dns_hostnames=False)), {}),
    "SUBNET-COUNT": (lambda s: s, {"cluster_subnet_ids": (CL_A,)}),
    "SUBNET-AZ": (
        lambda s: with_items(s, "subnets", lambda n: n.subnet_id == CL_B, availability_zone=f"{REGION}a"),
        {},
    ),
    "SUBNET-NETMASK": (
        lambda s: with_items(s, "subnets", lambda n: n.subnet_id == CL_B, cidr="10.0.32.0/27"),
        {},
    ),
    "SUBNET-NETMASK-SMALL": (
        lambda s: with_items(s, "subnets", lambda n: n.subnet_id == CL_B, cidr="10.0.32.0/26"),
        {},
    ),
    "SUBNET-CAPACITY": (
        lambda s: with_items(s, "subnets", lambda n: n.subnet_id == CL_A, available_ips=39),
        {},
    ),
    "SUBNET-PRIVATE": (
        lambda s: with_items(
            s, "route_tables", lambda t: t.route_table_id == CLUSTER_RT, routes=(wp.Route(wp.ANYWHERE, IGW),)
        ),
        {},
    ),
    "NAT-EGRESS": (lambda s: with_items(s, "nat_gateways", lambda n: True, state="failed"), {}),
    "NONAT-ENDPOINTS": (
        lambda s: endpoint("sts", private_dns=False)(no_nat_route(s)),
        {"metastore": wp.Metastore.GLUE},
    ),
    "NONAT-METASTORE": (no_nat_route, {}),
    "NACL-CLUSTER": (
        lambda s: replace(
            s,
            network_acls=(
                replace(
                    DEFAULT_ACL,
                    entries=(wp.NaclEntry(90, True, "6", False, wp.ANYWHERE, 443, 443), *DEFAULT_ACL.entries),
                ),
            ),
        ),
        {},
    ),
    "SG-COUNT": (lambda s: s, {"security_groups_extra": 4}),
    "SG-NETWORK-GROUPS": (lambda s: s, {"security_group_ids": (CLUSTER_SG,)}),
    "SG-CLUSTER-SELF": (group(CLUSTER_SG, ingress=self_rules(CLUSTER_SG, ("tcp",))), {}),
    "SG-CLUSTER-EGRESS": (group(CLUSTER_SG, egress=(*self_rules(CLUSTER_SG), anywhere(443, 443))), {}),
    "SG-CLUSTER-METASTORE": (group(CLUSTER_SG, egress=self_rules(CLUSTER_SG) + CLUSTER_EGRESS[:-1]), {}),
    "SG-CLUSTER-METASTORE-UNUSED": (
        group(CLUSTER_SG, egress=self_rules(CLUSTER_SG) + CLUSTER_EGRESS[:-1]),
        {"metastore": wp.Metastore.EXTERNAL_HIVE},
    ),
    "SG-ENDPOINT-SELF": (group(ENDPOINT_SG, egress=()), {}),
    "EP-S3-GATEWAY": (endpoint("s3", route_table_ids=(PUBLIC_RT,)), {}),
    "EP-STS": (endpoint("sts", private_dns=False), {}),
    "EP-KINESIS": (endpoint("kinesis", group_ids=(CLUSTER_SG,)), {}),
    "PL-RELAY": (endpoint("relay", private_dns=False), {}),
    "PL-WORKSPACE": (endpoint("workspace", subnet_ids=(CL_A,)), {}),
    "PAS-PUBLIC-ACCESS": (lambda s: s, {"front_end_endpoint_id": None}),
    "PAS-FRONTEND": (endpoint("front", service_name=f"com.amazonaws.{REGION}.sts"), {}),
    "PAS-FRONTEND-DNS": (endpoint("front", private_dns=False), {}),
    "PAS-FRONTEND-INGRESS": (
        lambda s: endpoint("front", group_ids=(CLOSED_SG,))(
            replace(s, security_groups=(*s.security_groups, wp.SecurityGroup(CLOSED_SG, VPC, (), ())))
        ),
        {},
    ),
    "PAS-ALLOWED-ENDPOINTS": (
        lambda s: s,
        {"private_access_level": wp.PrivateAccessLevel.ENDPOINT, "allowed_vpc_endpoint_ids": (EP["sts"],)},
    ),
    "IAM-CROSS-ACCOUNT-TRUST": (
        role(
            CROSS,
            trust_policy=doc(
                {"Effect": "Allow", "Principal": {"AWS": DATABRICKS_ROOT}, "Action": "sts:AssumeRole"}
            ),
        ),
        {},
    ),
    "IAM-CROSS-ACCOUNT-POLICY": (
        role(
            CROSS, permission_policies=(doc({"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}),)
        ),
        {},
    ),
    "IAM-ROOT-BUCKET-POLICY": (lambda s: replace(s, root_bucket_policy=None), {}),
    "IAM-STORAGE-ROLE-SELF-TRUST": (
        role(
            STORAGE,
            trust_policy=doc(
                {"Effect": "Allow", "Principal": {"AWS": DATABRICKS_ROOT}, "Action": "sts:AssumeRole"}
            ),
        ),
        {},
    ),
    "COMMIT-CLUSTER-ASSUME": (role(CLUSTER_ROLE, permission_policies=()), {}),
    "COMMIT-CLUSTER-NO-S3": (
        role(
            CLUSTER_ROLE,
            permission_policies=(
                doc({"Effect": "Allow", "Action": ["sts:AssumeRole", "s3:*"], "Resource": "*"}),
            ),
        ),
        {},
    ),
    "COMMIT-DATA-TRUST": (
        role(
            DATA_ROLE,
            trust_policy=doc({"Effect": "Allow", "Principal": {"AWS": PROFILE}, "Action": "sts:AssumeRole"}),
        ),
        {},
    ),
}


def run(snapshot: wp.PreflightSnapshot, **overrides: Any) -> wp.PreflightReport:
    extra = overrides.pop("security_groups_extra", 0)
    if extra:
        more = tuple(f"sg-0f00000000000000{i}" for i in range(extra))
        overrides["security_group_ids"] = (CLUSTER_SG, ENDPOINT_SG, *more)
        snapshot = replace(
            snapshot,
            security_groups=snapshot.security_groups + tuple(wp.SecurityGroup(g, VPC, (), ()) for g in more),
        )
    return wp.evaluate(snapshot, request(**overrides))


def test_the_hands_on_setup_passes_every_rule() -> None:
    report = run(good())
    assert report.findings == ()
    assert report.ok
    assert set(report.rules_checked) == set(wp.RULES)


def test_every_rule_has_a_failing_case() -> None:
    assert set(BROKEN) == set(wp.RULES)


@pytest.mark.parametrize("rule_id", sorted(BROKEN))
def test_each_rule_fails_when_its_requirement_is_broken(rule_id: str) -> None:
    change, overrides = BROKEN[rule_id]
    report = run(change(good()), **overrides)
    hits = [f for f in report.findings if f.rule_id == rule_id]
    assert hits, report.lines()
    rule = wp.RULES[rule_id]
    assert all(f.severity is rule.severity and f.fix == rule.fix and f.seed_section for f in hits)
    assert report.ok is (rule.severity is wp.Severity.WARNING and not report.errors)
    assert all(f.resource_id for f in hits)


def test_scc_endpoint_without_private_dns_quotes_the_npip_failure() -> None:
    change, _ = BROKEN["PL-RELAY"]
    (hit,) = [f for f in run(change(good())).errors if f.rule_id == "PL-RELAY"]
    assert hit.resource_id == EP["relay"]
    assert "NPIP tunnel setup failure" in hit.line()
    assert "WaitForNgrokTunnel" in hit.line()
    assert "private DNS disabled" in hit.message


def test_nat_removed_with_sts_private_dns_off_quotes_the_security_daemon_failure() -> None:
    change, overrides = BROKEN["NONAT-ENDPOINTS"]
    report = run(change(good()), **overrides)
    sts = [f for f in report.errors if f.resource_id == EP["sts"]]
    assert sts
    assert wp.SECURITY_DAEMON_FAILURE in sts[0].message
    assert wp.SECURITY_DAEMON_FAILURE in sts[0].line()
    # With the NAT route in place, the same endpoint is only a warning that names the later failure.
    warning = run(endpoint("sts", private_dns=False)(good()))
    assert warning.ok
    assert warning.warnings[0].rule_id == "EP-STS"
    assert wp.SECURITY_DAEMON_FAILURE in (warning.warnings[0].later_failure or "")


def test_no_nat_done_right_passes() -> None:
    """No NAT route, every endpoint with private DNS and Glue as metastore: the no-NAT rules hold."""
    report = run(no_nat_route(good()), metastore=wp.Metastore.GLUE)
    assert report.findings == ()


def test_no_nat_with_the_databricks_metastore_freezes() -> None:
    (hit,) = run(no_nat_route(good())).errors
    assert hit.rule_id == "NONAT-METASTORE"
    assert "freeze" in (hit.later_failure or "")


@pytest.mark.parametrize(
    ("nat_change", "expected"),
    [
        ({"state": "pending"}, "is pending"),
        ({"subnet_id": CL_A}, "no 0.0.0.0/0 route to an internet gateway"),
    ],
)
def test_nat_must_be_available_and_in_a_public_subnet(nat_change: dict[str, Any], expected: str) -> None:
    snapshot = with_items(good(), "nat_gateways", lambda n: True, **nat_change)
    hits = [f for f in run(snapshot).errors if f.rule_id == "NAT-EGRESS"]
    assert hits
    assert expected in hits[0].message


def test_nat_behind_a_detached_internet_gateway_fails() -> None:
    snapshot = with_items(good(), "internet_gateways", lambda g: True, attached_vpc_ids=())
    assert "NAT-EGRESS" in run(snapshot).failed_rules()


def test_a_blackhole_nat_route_fails() -> None:
    assert "NAT-EGRESS" in run(replace(good(), nat_gateways=())).failed_rules()


def test_implicit_main_table_association_is_followed() -> None:
    """Cluster subnets with no explicit association use the VPC's main table, as AWS does."""
    nat_route = (wp.Route("10.0.0.0/16", "local"), wp.Route(wp.ANYWHERE, nat_gateway_id=NAT))
    implicit = replace(
        good(),
        route_tables=(
            wp.RouteTable(MAIN_RT, VPC, True, (), nat_route),
            wp.RouteTable(PUBLIC_RT, VPC, False, (PUBLIC,), (wp.Route(wp.ANYWHERE, IGW),)),
        ),
    )
    implicit = endpoint("s3", route_table_ids=(MAIN_RT,))(implicit)
    assert run(implicit).findings == ()
    public_main = with_items(implicit, "route_tables", lambda t: t.main, routes=(wp.Route(wp.ANYWHERE, IGW),))
    hits = [f for f in run(public_main).errors if f.rule_id == "SUBNET-PRIVATE"]
    assert {f.resource_id for f in hits} == {CL_A, CL_B}


def test_split_port_ranges_and_protocol_all_pass() -> None:
    split = tuple(
        wp.Permission(p, a, b, group_ids=(CLUSTER_SG,))
        for p in ("tcp", "6", "udp")
        for a, b in ((0, 999), (1000, 65535))
    )
    egress = (
        wp.Permission("-1", -1, -1, group_ids=(CLUSTER_SG,)),
        anywhere(443, 443),
        anywhere(2443, 2443),
        anywhere(3306, 3306),
        anywhere(6666, 6666),
        anywhere(8443, 8446),
        anywhere(8447, 8451),
    )
    snapshot = group(CLUSTER_SG, ingress=split, egress=egress)(good())
    snapshot = group(ENDPOINT_SG, ingress=(wp.Permission("-1", 0, 0, group_ids=(ENDPOINT_SG,)),))(snapshot)
    assert run(snapshot).findings == ()


def test_a_gap_in_a_split_range_is_reported_with_its_ports() -> None:
    egress = self_rules(CLUSTER_SG) + tuple(
        anywhere(a, b) for a, b in ((443, 443), (2443, 2443), (3306, 3306), (6666, 6666), (8443, 8449))
    )
    (hit,) = run(group(CLUSTER_SG, egress=egress)(good())).errors
    assert hit.rule_id == "SG-CLUSTER-EGRESS"
    assert "8450-8451" in hit.message


def test_egress_to_a_narrower_cidr_does_not_count_as_anywhere() -> None:
    egress = self_rules(CLUSTER_SG) + tuple(replace(p, cidrs=("10.0.0.0/8",)) for p in CLUSTER_EGRESS)
    assert "SG-CLUSTER-EGRESS" in run(group(CLUSTER_SG, egress=egress)(good())).failed_rules()


def test_nacl_deny_after_an_allow_is_harmless_and_missing_return_traffic_is_caught() -> None:
    late_deny = replace(
        DEFAULT_ACL,
        entries=(*DEFAULT_ACL.entries, wp.NaclEntry(200, True, "6", False, wp.ANYWHERE, 443, 443)),
    )
    assert run(replace(good(), network_acls=(late_deny,))).findings == ()
    vpc_only = replace(
        DEFAULT_ACL,
        entries=(
            wp.NaclEntry(100, False, "-1", True, "10.0.0.0/16"),
            wp.NaclEntry(100, True, "-1", True, wp.ANYWHERE),
        ),
    )
    hits = run(replace(good(), network_acls=(vpc_only,))).errors
    assert {h.rule_id for h in hits} == {"NACL-CLUSTER"}
    assert len(hits) == 2
    assert all("ingress from 0.0.0.0/0 tcp/1024" in h.message and h.resource_id == ACL for h in hits)


def test_netmask_range_is_configurable_and_defaults_to_the_runbook() -> None:
    slash26 = BROKEN["SUBNET-NETMASK-SMALL"][0](good())
    assert run(slash26).ok
    assert "SUBNET-NETMASK-SMALL" in run(slash26).failed_rules()
    assert "SUBNET-NETMASK" in run(slash26, netmask_range=(17, 25)).failed_rules()
    assert wp.DEFAULT_NETMASK_RANGE == (17, 26)


@given(ips=st.integers(min_value=0, max_value=8000), nodes=st.integers(min_value=1, max_value=4000))
def test_capacity_needs_two_ips_per_node(ips: int, nodes: int) -> None:
    snapshot = with_items(good(), "subnets", lambda n: n.subnet_id in (CL_A, CL_B), available_ips=ips)
    failed = "SUBNET-CAPACITY" in run(snapshot, max_nodes=nodes).failed_rules()
    assert failed is (ips < 2 * nodes)


@given(cuts=st.lists(st.integers(min_value=1, max_value=65535), max_size=6), hole=st.integers(0, 65535))
def test_port_coverage_of_split_ranges(cuts: list[int], hole: int) -> None:
    bounds = [0, *sorted(set(cuts)), 65536]
    pieces = [(a, b - 1) for a, b in itertools.pairwise(bounds)]
    assert wp.uncovered(wp.ALL_PORTS, pieces) == []
    holed = [r for a, b in pieces for r in ((a, min(b, hole - 1)), (max(a, hole + 1), b)) if r[0] <= r[1]]
    assert wp.uncovered(wp.ALL_PORTS, holed) == [(hole, hole)]


def test_the_cross_account_role_reports_each_missing_action() -> None:
    actions = [a for a in wp.CUSTOMER_MANAGED_VPC_ACTIONS if a != "ec2:CreateFleet"]
    policy = doc(
        {"Effect": "Allow", "Action": actions, "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"},
    )
    (hit,) = run(role(CROSS, permission_policies=(policy,))(good())).errors
    assert hit.rule_id == "IAM-CROSS-ACCOUNT-POLICY"
    assert "ec2:CreateFleet" in hit.message
    assert "ec2:RunInstances" in hit.message
    assert "missing 2" in hit.message


def test_wildcard_grants_satisfy_the_action_set() -> None:
    policy = doc(
        {
            "Effect": "Allow",
            "Action": ["ec2:*", "iam:CreateServiceLinkedRole", "iam:PutRolePolicy"],
            "Resource": "*",
        }
    )
    assert run(role(CROSS, permission_policies=(policy,))(good())).findings == ()


def test_the_cross_account_trust_names_the_wrong_external_id() -> None:
    trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": DATABRICKS_ROOT},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": ACCOUNT}},
        }
    )
    (hit,) = run(role(CROSS, trust_policy=trust)(good())).errors
    assert ACCOUNT in hit.message
    assert DBX_ACCOUNT in hit.message


def test_a_root_bucket_policy_without_list_bucket_names_it() -> None:
    policy = doc(
        {
            **BUCKET_POLICY["Statement"][0],
            "Action": [*list(wp.ROOT_BUCKET_OBJECT_ACTIONS), "s3:GetBucketLocation"],
        }
    )
    (hit,) = run(replace(good(), root_bucket_policy=policy)).errors
    assert hit.message.endswith("s3:ListBucket")
    assert hit.resource_id == BUCKET


def test_the_data_role_trusting_the_instance_profile_arn_is_explained() -> None:
    change, _ = BROKEN["COMMIT-DATA-TRUST"]
    (hit,) = run(change(good())).errors
    assert "instance profile" in hit.message
    assert PROFILE in hit.message


def test_a_missing_role_is_a_finding_not_a_crash() -> None:
    snapshot = replace(good(), roles={k: v for k, v in good().roles.items() if k != DATA_ROLE})
    (hit,) = run(snapshot).errors
    assert hit.rule_id == "COMMIT-DATA-TRUST"
    assert hit.message == "role not found"


def test_public_access_with_back_end_only_passes() -> None:
    assert run(good(), front_end_endpoint_id=None, public_access_enabled=True).findings == ()


def test_report_json_carries_errors_and_warnings_with_resource_ids() -> None:
    snapshot = endpoint("sts", private_dns=False)(BROKEN["PL-RELAY"][0](good()))
    data = json.loads(run(snapshot).to_json())
    assert data["ok"] is False
    assert [(e["rule_id"], e["resource_id"]) for e in data["errors"]] == [("PL-RELAY", EP["relay"])]
    assert [(w["rule_id"], w["resource_id"]) for w in data["warnings"]] == [("EP-STS", EP["sts"])]
    assert "WaitForNgrokTunnel" in data["errors"][0]["later_failure"]


def test_every_rule_documents_its_source_and_fix() -> None:
    for rule in wp.RULES.values():
        assert rule.fix
        assert rule.seed_section
        assert rule.title


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"])
def test_endpoint_services_cover_the_main_regions(region: str) -> None:
    workspace, relay = wp.ENDPOINT_SERVICES[region]
    assert workspace != relay
    assert workspace.startswith(f"com.amazonaws.vpce.{region}.vpce-svc-")
    assert relay.startswith(f"com.amazonaws.vpce.{region}.vpce-svc-")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"databricks_account_id": ""}, "databricks_account_id"),
        ({"aws_account_id": "12345"}, "aws_account_id"),
        ({"region": "Tokyo"}, "region"),
        ({"region": "me-central-1"}, "region"),
        ({"relay_endpoint_id": None}, "relay_endpoint_id"),
        ({"cluster_subnet_ids": ()}, "cluster_subnet_ids"),
        ({"cluster_subnet_ids": ("sn-1",)}, "cluster_subnet_ids"),
        ({"security_group_ids": ()}, "security_group_ids"),
        ({"max_nodes": 0}, "max_nodes"),
        ({"netmask_range": (26, 17)}, "netmask_range"),
        ({"private_access_level": wp.PrivateAccessLevel.ENDPOINT}, "allowed_vpc_endpoint_ids"),
        ({"cross_account_role_arn": PROFILE}, "cross_account_role_arn"),
        ({"data_role_arn": None}, "data_role_arn"),
        ({"root_bucket_name": "Bad_Bucket"}, "root_bucket_name"),
        ({"front_end_endpoint_id": "endpoint-1"}, "front_end_endpoint_id"),
    ],
)
def test_bad_requests_name_the_field_and_the_fix(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        request(**overrides)
    assert caught.value.field == field
    assert caught.value.fix


def test_private_link_off_needs_no_endpoints_or_supported_region() -> None:
    req = request(
        region="me-central-1",
        private_link=False,
        relay_endpoint_id=None,
        workspace_endpoint_id=None,
        front_end_endpoint_id=None,
        public_access_enabled=True,
    )
    assert req.region == "me-central-1"


def test_request_coerces_yaml_and_ui_values() -> None:
    """Lists (YAML, JSON params) become tuples and plain strings become the enums."""
    req = request(
        cluster_subnet_ids=[CL_A, CL_B],
        security_group_ids=[CLUSTER_SG, ENDPOINT_SG],
        netmask_range=[17, 25],
        metastore="glue",
        private_access_level="ENDPOINT",
        allowed_vpc_endpoint_ids=[EP["front"]],
    )
    assert req.cluster_subnet_ids == (CL_A, CL_B)
    assert req.netmask_range == (17, 25)
    assert req.metastore is wp.Metastore.GLUE
    assert req.private_access_level is wp.PrivateAccessLevel.ENDPOINT
    assert run(no_nat_route(good()), metastore="glue").findings == ()


@pytest.mark.parametrize(("field", "value"), [("metastore", "rds"), ("private_access_level", "PUBLIC")])
def test_unknown_choices_name_the_field(field: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        request(**{field: value})
    assert caught.value.field == field


def test_a_missing_root_bucket_is_a_finding() -> None:
    (hit,) = run(replace(good(), root_bucket_policy=None, root_bucket_exists=False)).errors
    assert hit.rule_id == "IAM-ROOT-BUCKET-POLICY"
    assert hit.message == "bucket not found"
