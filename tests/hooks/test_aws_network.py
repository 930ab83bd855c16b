"""AwsNetworkHook on moto: the runbook's hands-on VPC (as its templates deploy it) passes the preflight
with the front-end DNS warning only, breaking each thing in moto fails the right rule, a front-end
endpoint in a transit VPC is read where it is, moto refuses what EC2 refuses, and the number of AWS calls
does not depend on the rules or on the VPC's size."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from platform_ops.core import iam_policy
from platform_ops.core import workspace_preflight as wp
from platform_ops.exceptions import (
    AccessDeniedError,
    ConfigError,
    InvalidRequestError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks.aws_network import AwsNetworkHook, translate
from sandbox.aws_vpc import (
    HandsOnVpc,
    Knobs,
    boto3_factory,
    build_hands_on_vpc,
    build_transit_vpc,
    recreate_interface_endpoint,
)

REGION = "ap-northeast-1"
CONN_ID = "preflight_aws"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """moto in-process, and an Airflow AWS connection the hook reads."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"region_name": REGION}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    with mock_aws():
        yield boto3_factory(REGION)


def preflight(
    hands_on: HandsOnVpc, hook: AwsNetworkHook | None = None, **overrides: Any
) -> tuple[wp.PreflightReport, AwsNetworkHook]:
    hook = hook or AwsNetworkHook(aws_conn_id=CONN_ID, region_name=REGION)
    return hook.preflight(hands_on.request(**overrides)), hook


# What the hands-on layout is warned about: its front-end endpoint has private DNS off (the REST API
# endpoint of the same service owns the name in that VPC), so browsers need the runbook's hosts entry.
HANDS_ON_WARNINGS = {"PAS-FRONTEND-DNS"}


def test_the_hands_on_vpc_passes(aws: Callable[[str], Any]) -> None:
    hands_on = build_hands_on_vpc(aws)
    front = aws("ec2").describe_vpc_endpoints(VpcEndpointIds=[hands_on.endpoint_ids["front_end"]])
    (described,) = front["VpcEndpoints"]
    assert described["PrivateDnsEnabled"] is False  # as the template deploys it
    assert described["SubnetIds"] == [hands_on.public_subnet_id]
    assert [g["GroupId"] for g in described["Groups"]] == [hands_on.front_end_group_id]
    report, hook = preflight(hands_on)
    assert report.errors == [], report.lines()
    (warning,) = report.warnings
    assert warning.rule_id == "PAS-FRONTEND-DNS"
    assert warning.resource_id == hands_on.endpoint_ids["front_end"]
    assert "<deployment-name>.cloud.databricks.com" in warning.message
    assert hands_on.endpoint_ids["workspace"] in warning.message  # the endpoint owning the DNS name
    assert hook.calls["ec2.DescribeVpcEndpoints"] == 1


def test_the_endpoint_subnet_is_routed_by_the_main_table_holding_only_the_local_route(
    aws: Callable[[str], Any],
) -> None:
    hands_on = build_hands_on_vpc(aws)
    ec2 = aws("ec2")
    explicit = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [hands_on.endpoint_subnet_id]}]
    )["RouteTables"]
    assert explicit == []
    (main,) = ec2.describe_route_tables(RouteTableIds=[hands_on.main_route_table_id])["RouteTables"]
    assert [r["DestinationCidrBlock"] for r in main["Routes"]] == ["10.0.0.0/16"]


def test_implicit_main_table_association_passes(aws: Callable[[str], Any]) -> None:
    hands_on = build_hands_on_vpc(aws, knobs=Knobs(cluster_routes_on_main=True))
    tables = aws("ec2").describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": hands_on.cluster_subnet_ids}]
    )["RouteTables"]
    assert tables == []  # no explicit association: AWS (and moto) answer nothing for these subnets
    report, _ = preflight(hands_on)
    assert report.failed_rules() == HANDS_ON_WARNINGS, report.lines()


def _delete_nat_route(c: Callable[[str], Any], h: HandsOnVpc) -> None:
    c("ec2").delete_route(RouteTableId=h.cluster_route_table_id, DestinationCidrBlock=wp.ANYWHERE)


def _route_to_igw(c: Callable[[str], Any], h: HandsOnVpc) -> None:
    c("ec2").replace_route(
        RouteTableId=h.cluster_route_table_id,
        DestinationCidrBlock=wp.ANYWHERE,
        GatewayId=h.internet_gateway_id,
    )


def _revoke(
    group: str, direction: str, permission: dict[str, Any]
) -> Callable[[Callable[[str], Any], HandsOnVpc], None]:
    def apply(c: Callable[[str], Any], h: HandsOnVpc) -> None:
        group_id = getattr(h, group)
        method = f"revoke_security_group_{direction}"
        if "UserIdGroupPairs" in permission:
            permission["UserIdGroupPairs"] = [{"GroupId": group_id}]
        getattr(c("ec2"), method)(GroupId=group_id, IpPermissions=[permission])

    return apply


def _deny_443(c: Callable[[str], Any], h: HandsOnVpc) -> None:
    ec2 = c("ec2")
    acl = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": h.cluster_subnet_ids[:1]}]
    )
    ec2.create_network_acl_entry(
        NetworkAclId=acl["NetworkAcls"][0]["NetworkAclId"],
        RuleNumber=50,
        Protocol="6",
        RuleAction="deny",
        Egress=True,
        CidrBlock=wp.ANYWHERE,
        PortRange={"From": 443, "To": 443},
    )


def _trust(role: str, *statements: dict[str, Any]) -> Callable[[Callable[[str], Any], HandsOnVpc], None]:
    def apply(c: Callable[[str], Any], h: HandsOnVpc) -> None:
        arn = getattr(h, role)
        document = {"Version": "2012-10-17", "Statement": [dict(s) for s in statements]}
        for s in document["Statement"]:
            if s["Principal"].get("AWS") == "PROFILE":
                s["Principal"] = {"AWS": h.cluster_instance_profile_arn}
        c("iam").update_assume_role_policy(
            RoleName=arn.rsplit("/", 1)[-1], PolicyDocument=json.dumps(document)
        )

    return apply


DATABRICKS_ROOT = {"AWS": f"arn:aws:iam::{iam_policy.DATABRICKS_AWS_ACCOUNT_ID}:root"}
Breaker = Callable[[Callable[[str], Any], HandsOnVpc], None]


def _nothing(c: Callable[[str], Any], h: HandsOnVpc) -> None:
    return None


def _cluster_subnet(cidr: str, zone: str) -> Breaker:
    """Replace the second cluster subnet by a new one (routed through the cluster table)."""

    def apply(c: Callable[[str], Any], h: HandsOnVpc) -> None:
        ec2 = c("ec2")
        subnet = ec2.create_subnet(VpcId=h.vpc_id, CidrBlock=cidr, AvailabilityZone=f"{h.region}{zone}")
        subnet_id = subnet["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=h.cluster_route_table_id, SubnetId=subnet_id)
        h.cluster_subnet_ids[1] = subnet_id

    return apply


def _s3_gateway_on_public_table(c: Callable[[str], Any], h: HandsOnVpc) -> None:
    ec2 = c("ec2")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[h.endpoint_ids["s3"]])
    h.endpoint_ids["s3"] = ec2.create_vpc_endpoint(
        VpcId=h.vpc_id,
        ServiceName=f"com.amazonaws.{h.region}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[h.public_route_table_id],
    )["VpcEndpoint"]["VpcEndpointId"]


def _more_groups(c: Callable[[str], Any], h: HandsOnVpc) -> None:
    ec2 = c("ec2")
    for i in range(4):
        h.extra[f"group{i}"] = ec2.create_security_group(
            GroupName=f"more-{i}", Description="x", VpcId=h.vpc_id
        )["GroupId"]


_NO_3306 = {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "IpRanges": [{"CidrIp": wp.ANYWHERE}]}
Overrides = dict[str, Any] | Callable[[HandsOnVpc], dict[str, Any]]

# rule id -> (build knobs, what to break after the build, request overrides: fixed or from the build)
BREAKS: dict[str, tuple[Knobs, Breaker, Overrides]] = {
    "VPC-DNS": (
        Knobs(),
        lambda c, h: c("ec2").modify_vpc_attribute(VpcId=h.vpc_id, EnableDnsHostnames={"Value": False}),
        {},
    ),
    "SUBNET-COUNT": (Knobs(), lambda c, h: h.cluster_subnet_ids.__delitem__(1), {}),
    "SUBNET-AZ": (Knobs(), _cluster_subnet("10.0.64.0/20", "a"), {}),
    "SUBNET-NETMASK": (Knobs(), _cluster_subnet("10.0.64.0/27", "c"), {}),
    "SUBNET-NETMASK-SMALL": (Knobs(), _cluster_subnet("10.0.64.0/26", "c"), {}),
    "SUBNET-CAPACITY": (Knobs(), _nothing, {"max_nodes": 2100}),  # a /20 has 4091 free addresses
    "SUBNET-PRIVATE": (Knobs(), _route_to_igw, {}),
    "NAT-EGRESS": (
        Knobs(),
        lambda c, h: c("ec2").detach_internet_gateway(
            InternetGatewayId=h.internet_gateway_id, VpcId=h.vpc_id
        ),
        {},
    ),
    "NONAT-METASTORE": (Knobs(), _delete_nat_route, {}),
    "NONAT-ENDPOINTS": (Knobs(sts_private_dns=False), _delete_nat_route, {"metastore": wp.Metastore.GLUE}),
    "NACL-CLUSTER": (Knobs(), _deny_443, {}),
    "SG-CLUSTER-EGRESS": (
        Knobs(),
        _revoke(
            "cluster_group_id",
            "egress",
            {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8451, "IpRanges": [{"CidrIp": wp.ANYWHERE}]},
        ),
        {},
    ),
    "SG-CLUSTER-SELF": (
        Knobs(),
        _revoke("cluster_group_id", "ingress", {"IpProtocol": "-1", "UserIdGroupPairs": []}),
        {},
    ),
    "SG-COUNT": (
        Knobs(),
        _more_groups,
        lambda h: {"security_group_ids": (h.cluster_group_id, h.endpoint_group_id, *h.extra.values())},
    ),
    "SG-NETWORK-GROUPS": (Knobs(), _nothing, lambda h: {"security_group_ids": (h.cluster_group_id,)}),
    "SG-CLUSTER-METASTORE": (Knobs(), _revoke("cluster_group_id", "egress", dict(_NO_3306)), {}),
    "SG-CLUSTER-METASTORE-UNUSED": (
        Knobs(),
        _revoke("cluster_group_id", "egress", dict(_NO_3306)),
        {"metastore": wp.Metastore.EXTERNAL_HIVE},
    ),
    "EP-S3-GATEWAY": (Knobs(), _s3_gateway_on_public_table, {}),
    "PAS-PUBLIC-ACCESS": (Knobs(), _nothing, {"front_end_endpoint_id": None}),
    "PAS-FRONTEND": (Knobs(), _nothing, lambda h: {"front_end_endpoint_id": h.endpoint_ids["sts"]}),
    "PAS-ALLOWED-ENDPOINTS": (
        Knobs(),
        _nothing,
        lambda h: {
            "private_access_level": wp.PrivateAccessLevel.ENDPOINT,
            "allowed_vpc_endpoint_ids": (h.endpoint_ids["sts"],),
        },
    ),
    "SG-ENDPOINT-SELF": (
        Knobs(),
        _revoke("endpoint_group_id", "ingress", {"IpProtocol": "-1", "UserIdGroupPairs": []}),
        {},
    ),
    "PAS-FRONTEND-DNS": (Knobs(), _nothing, lambda h: {"front_end_endpoint_id": h.endpoint_ids["front_end"]}),
    "PAS-FRONTEND-INGRESS": (
        Knobs(),
        _revoke(
            "front_end_group_id",
            "ingress",
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": wp.ANYWHERE}]},
        ),
        {},
    ),
    "EP-STS": (Knobs(sts_private_dns=False), _nothing, {}),
    "EP-KINESIS": (Knobs(kinesis_private_dns=False), _nothing, {}),
    "PL-RELAY": (Knobs(relay_private_dns=False), _nothing, {}),
    "PL-WORKSPACE": (Knobs(workspace_private_dns=False), _nothing, {}),
    "IAM-CROSS-ACCOUNT-TRUST": (
        Knobs(),
        _trust(
            "cross_account_role_arn",
            {"Effect": "Allow", "Principal": DATABRICKS_ROOT, "Action": "sts:AssumeRole"},
        ),
        {},
    ),
    "IAM-CROSS-ACCOUNT-POLICY": (
        Knobs(),
        lambda c, h: c("iam").delete_role_policy(
            RoleName="wk1-cross-account", PolicyName="customer-managed-vpc"
        ),
        {},
    ),
    "IAM-ROOT-BUCKET-POLICY": (
        Knobs(),
        lambda c, h: c("s3").delete_bucket_policy(Bucket=h.root_bucket_name),
        {},
    ),
    "IAM-STORAGE-ROLE-SELF-TRUST": (
        Knobs(),
        _trust(
            "storage_role_arn", {"Effect": "Allow", "Principal": DATABRICKS_ROOT, "Action": "sts:AssumeRole"}
        ),
        {},
    ),
    "COMMIT-CLUSTER-ASSUME": (
        Knobs(),
        lambda c, h: c("iam").delete_role_policy(RoleName="wk1-cluster", PolicyName="assume-data-role"),
        {},
    ),
    "COMMIT-CLUSTER-NO-S3": (
        Knobs(),
        lambda c, h: c("iam").attach_role_policy(
            RoleName="wk1-cluster",
            PolicyArn=c("iam").create_policy(
                PolicyName="s3-read",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}],
                    }
                ),
            )["Policy"]["Arn"],
        ),
        {},
    ),
    "COMMIT-DATA-TRUST": (
        Knobs(),
        _trust(
            "data_role_arn", {"Effect": "Allow", "Principal": {"AWS": "PROFILE"}, "Action": "sts:AssumeRole"}
        ),
        {},
    ),
}


# The request a rule holds for before its break, where the hands-on default does not: one endpoint
# serving browsers and clusters has the REST API endpoint's private DNS.
BASELINES: dict[str, Callable[[HandsOnVpc], dict[str, Any]]] = {
    "PAS-FRONTEND-DNS": lambda h: {"front_end_endpoint_id": h.endpoint_ids["workspace"]},
}


def test_every_rule_is_broken_in_moto() -> None:
    assert set(BREAKS) == set(wp.RULES)


@pytest.mark.parametrize("rule_id", sorted(BREAKS))
def test_breaking_it_in_moto_fails_the_right_rule(aws: Callable[[str], Any], rule_id: str) -> None:
    knobs, breaker, given = BREAKS[rule_id]
    hands_on = build_hands_on_vpc(aws, knobs=knobs)
    hook = AwsNetworkHook(aws_conn_id=CONN_ID, region_name=REGION)
    if breaker is not _nothing or knobs == Knobs():  # the rule held before the break or the overrides
        baseline = BASELINES.get(rule_id, lambda h: {})(hands_on)
        report, _ = preflight(hands_on, hook, **baseline)
        assert rule_id not in report.failed_rules()
    breaker(aws, hands_on)
    overrides = given(hands_on) if callable(given) else given
    report, _ = preflight(hands_on, hook, **overrides)
    assert rule_id in report.failed_rules(), report.lines()
    assert report.ok is (wp.RULES[rule_id].severity is wp.Severity.WARNING and not report.errors)


def _replace_rules(
    ec2: Any, group_id: str, ingress: list[dict[str, Any]], egress: list[dict[str, Any]]
) -> None:
    described = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=described["IpPermissions"])
    ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=described["IpPermissionsEgress"])
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=ingress)
    if egress:
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=egress)


def test_split_port_ranges_and_protocol_all_pass_in_moto(aws: Callable[[str], Any]) -> None:
    """The groups' rules written another way (protocol -1, TCP split in two ranges, 8443-8451 in two)."""
    hands_on = build_hands_on_vpc(aws)
    ec2, cluster, endpoints = aws("ec2"), hands_on.cluster_group_id, hands_on.endpoint_group_id

    def pair(group_id: str, proto: str, low: int | None = None, high: int | None = None) -> dict[str, Any]:
        rule: dict[str, Any] = {"IpProtocol": proto, "UserIdGroupPairs": [{"GroupId": group_id}]}
        return rule if low is None else {**rule, "FromPort": low, "ToPort": high}

    def anywhere(low: int, high: int) -> dict[str, Any]:
        return {"IpProtocol": "tcp", "FromPort": low, "ToPort": high, "IpRanges": [{"CidrIp": wp.ANYWHERE}]}

    ports = [(443, 443), (2443, 2443), (3306, 3306), (6666, 6666), (8443, 8446), (8447, 8451)]
    split = [pair(cluster, "tcp", 0, 999), pair(cluster, "tcp", 1000, 65535), pair(cluster, "udp", 0, 65535)]
    _replace_rules(ec2, cluster, split, [pair(cluster, "-1"), *(anywhere(a, b) for a, b in ports)])
    _replace_rules(ec2, endpoints, [pair(endpoints, "-1")], [pair(endpoints, "-1")])
    report, _ = preflight(hands_on)
    assert report.failed_rules() == HANDS_ON_WARNINGS, report.lines()

    _replace_rules(
        ec2, cluster, split[:1] + split[2:], [pair(cluster, "-1"), *(anywhere(a, b) for a, b in ports)]
    )
    report, _ = preflight(hands_on)
    assert report.failed_rules() == {"SG-CLUSTER-SELF", *HANDS_ON_WARNINGS}, report.lines()


def test_relay_endpoint_without_private_dns_fails_with_the_npip_text(aws: Callable[[str], Any]) -> None:
    report, _ = preflight(build_hands_on_vpc(aws, knobs=Knobs(relay_private_dns=False)))
    (error,) = report.errors
    assert error.rule_id == "PL-RELAY"
    assert "NPIP tunnel setup failure" in error.line()
    assert "WaitForNgrokTunnel" in json.loads(report.to_json())["errors"][0]["later_failure"]


def test_swapped_relay_and_workspace_endpoints_are_caught_by_their_service_names(
    aws: Callable[[str], Any],
) -> None:
    """moto accepts any service name: the rules compare each endpoint with the region's service table."""
    hands_on = build_hands_on_vpc(aws)
    relay, rest = hands_on.endpoint_ids["relay"], hands_on.endpoint_ids["workspace"]
    report, _ = preflight(hands_on, relay_endpoint_id=rest, workspace_endpoint_id=relay)
    found = {f.rule_id: f for f in report.errors}
    assert set(found) == {"PL-RELAY", "PL-WORKSPACE"}, report.lines()
    assert found["PL-RELAY"].resource_id == rest
    assert f"expected {wp.relay_service(REGION)}" in found["PL-RELAY"].message
    assert f"expected {wp.workspace_service(REGION)}" in found["PL-WORKSPACE"].message


def test_modify_vpc_endpoint_cannot_fix_private_dns_in_moto(aws: Callable[[str], Any]) -> None:
    """moto ignores modify_vpc_endpoint(PrivateDnsEnabled): the builder sets it at creation instead."""
    hands_on = build_hands_on_vpc(aws, knobs=Knobs(relay_private_dns=False))
    aws("ec2").modify_vpc_endpoint(VpcEndpointId=hands_on.endpoint_ids["relay"], PrivateDnsEnabled=True)
    report, _ = preflight(hands_on)
    assert "PL-RELAY" in report.failed_rules()


def test_recreating_the_relay_endpoint_with_private_dns_clears_the_npip_error(
    aws: Callable[[str], Any],
) -> None:
    """What `make demo` does between its failing and its provisioning run."""
    hands_on = build_hands_on_vpc(aws, knobs=Knobs(relay_private_dns=False))
    old = hands_on.endpoint_ids["relay"]
    new = recreate_interface_endpoint(aws, hands_on, "relay", private_dns=True)
    assert new != old
    assert hands_on.endpoint_ids["relay"] == new
    report, _ = preflight(hands_on)
    assert report.failed_rules() == HANDS_ON_WARNINGS, report.lines()
    with pytest.raises(ValueError, match="front_end"):
        recreate_interface_endpoint(aws, hands_on, "front_end")


def test_nat_route_removed_with_sts_private_dns_off_names_the_security_daemon_failure(
    aws: Callable[[str], Any],
) -> None:
    hands_on = build_hands_on_vpc(aws, knobs=Knobs(sts_private_dns=False))
    _delete_nat_route(aws, hands_on)
    report, _ = preflight(hands_on, metastore=wp.Metastore.EXTERNAL_HIVE)
    sts = [f for f in report.errors if f.resource_id == hands_on.endpoint_ids["sts"]]
    assert sts
    assert wp.SECURITY_DAEMON_FAILURE in sts[0].message


def test_aws_calls_do_not_depend_on_rules_or_vpc_size(aws: Callable[[str], Any]) -> None:
    small = build_hands_on_vpc(aws)
    big = build_hands_on_vpc(
        aws, knobs=Knobs(name_prefix="wk2", extra_interface_services=("logs", "ecr.api", "ecr.dkr", "glue"))
    )
    hook = AwsNetworkHook(aws_conn_id=CONN_ID, region_name=REGION)
    hook.snapshot(small.request())
    small_calls = dict(hook.calls)
    hook.calls.clear()
    snapshot = hook.snapshot(big.request())
    assert len(snapshot.endpoints) == 10
    assert dict(hook.calls) == small_calls
    # Evaluating the rules reads the snapshot only: no AWS call, whatever the number of rules.
    before = hook.call_count
    wp.evaluate(snapshot, big.request())
    assert hook.call_count == before
    ec2 = {k: v for k, v in small_calls.items() if k.startswith("ec2.")}
    assert sum(ec2.values()) == 10  # 1 VPC + 2 attributes + one batch for each of 7 resource kinds


def test_a_missing_vpc_is_resource_not_found(aws: Callable[[str], Any]) -> None:
    hands_on = build_hands_on_vpc(aws)
    hook = AwsNetworkHook(aws_conn_id=CONN_ID, region_name=REGION)
    with pytest.raises(ResourceNotFoundError) as caught:
        hook.snapshot(hands_on.request(vpc_id="vpc-0123456789abcdef0"))
    assert caught.value.operation == "describe_vpcs"


def test_a_missing_role_is_reported_by_the_rules(aws: Callable[[str], Any]) -> None:
    hands_on = build_hands_on_vpc(aws)
    gone = hands_on.data_role_arn.replace("wk1-data", "wk1-gone")
    report, _ = preflight(hands_on, data_role_arn=gone)
    assert [(f.rule_id, f.resource_id) for f in report.errors] == [
        ("COMMIT-CLUSTER-ASSUME", hands_on.cluster_role_arn),
        ("COMMIT-DATA-TRUST", gone),
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AccessDenied", AccessDeniedError),
        ("UnauthorizedOperation", AccessDeniedError),
        ("RequestLimitExceeded", TransientServiceError),
        ("Throttling", TransientServiceError),
        ("InvalidVpcID.NotFound", ResourceNotFoundError),
        ("NoSuchEntity", ResourceNotFoundError),
        ("InvalidParameterValue", InvalidRequestError),
    ],
)
def test_botocore_errors_are_translated(code: str, expected: type[Exception]) -> None:
    error = ClientError({"Error": {"Code": code, "Message": "m"}}, "DescribeVpcs")
    translated = translate("ec2", "describe_vpcs", error)
    assert type(translated) is expected
    assert code in translated.message


def test_connection_errors_are_transient() -> None:
    translated = translate("ec2", "describe_vpcs", EndpointConnectionError(endpoint_url="http://x"))
    assert isinstance(translated, TransientServiceError)
    assert translated.retryable


def test_against_a_moto_server_through_the_connection_endpoint(aws_conn: str, moto_endpoint: str) -> None:
    hands_on = build_hands_on_vpc(boto3_factory(REGION, moto_endpoint), knobs=Knobs(name_prefix="srv"))
    hook = AwsNetworkHook(aws_conn_id=aws_conn, region_name=REGION)
    req = hands_on.request()
    report = wp.evaluate(hook.snapshot(req), req)
    assert report.failed_rules() == HANDS_ON_WARNINGS, report.lines()
    assert hook.call_count > 0


def test_a_missing_root_bucket_is_reported_by_the_rules(aws: Callable[[str], Any]) -> None:
    hands_on = build_hands_on_vpc(aws)
    report, _ = preflight(hands_on, root_bucket_name="no-such-root-bucket")
    assert [(f.rule_id, f.resource_id, f.message) for f in report.errors] == [
        ("IAM-ROOT-BUCKET-POLICY", "no-such-root-bucket", "bucket not found")
    ]


def test_a_region_mismatch_fails_before_any_call(aws: Callable[[str], Any]) -> None:
    hands_on = build_hands_on_vpc(aws)
    hook = AwsNetworkHook(aws_conn_id=CONN_ID, region_name="us-east-1")
    with pytest.raises(ConfigError) as caught:
        hook.snapshot(hands_on.request())
    assert caught.value.field == "region"
    assert "us-east-1" in str(caught.value)
    assert hook.call_count == 0


def test_the_stand_in_refuses_a_second_private_dns_endpoint_of_one_service(aws: Callable[[str], Any]) -> None:
    """AWS lets one interface endpoint per service and VPC own the private DNS name; moto alone would
    accept the old fixture's front-end endpoint (private DNS on beside the REST API endpoint's)."""
    with pytest.raises(ClientError) as caught:
        build_hands_on_vpc(aws, knobs=Knobs(front_end_private_dns=True))
    assert caught.value.response["Error"]["Code"] == "InvalidParameter"
    assert "conflicting DNS domain" in caught.value.response["Error"]["Message"]

    hands_on = build_hands_on_vpc(aws, knobs=Knobs(name_prefix="wk2"))
    ec2 = aws("ec2")
    with pytest.raises(ClientError, match="conflicting DNS domain"):
        ec2.create_vpc_endpoint(
            VpcId=hands_on.vpc_id,
            ServiceName=f"com.amazonaws.{REGION}.sts",
            VpcEndpointType="Interface",
            SubnetIds=[hands_on.public_subnet_id],
        )  # PrivateDnsEnabled defaults to true for an interface endpoint, as in AWS
    ec2.create_vpc_endpoint(
        VpcId=hands_on.vpc_id,
        ServiceName=f"com.amazonaws.{REGION}.sts",
        VpcEndpointType="Interface",
        SubnetIds=[hands_on.public_subnet_id],
        PrivateDnsEnabled=False,
    )  # without private DNS a second endpoint of the service is fine


def test_the_stand_in_refuses_private_dns_without_the_vpc_dns_attributes(aws: Callable[[str], Any]) -> None:
    ec2 = aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]  # DNS hostnames off, as AWS creates it
    a = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.0.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
    b = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
    endpoint = {
        "VpcId": vpc_id,
        "ServiceName": wp.relay_service(REGION),
        "VpcEndpointType": "Interface",
        "SubnetIds": [a["SubnetId"]],
    }
    with pytest.raises(ClientError, match="enableDnsSupport and enableDnsHostnames"):
        ec2.create_vpc_endpoint(**endpoint, PrivateDnsEnabled=True)
    with pytest.raises(ClientError) as caught:
        ec2.create_vpc_endpoint(
            **{**endpoint, "SubnetIds": [a["SubnetId"], b["SubnetId"]]}, PrivateDnsEnabled=False
        )
    assert caught.value.response["Error"]["Code"] == "DuplicateSubnetsInSameZone"
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    ec2.create_vpc_endpoint(**endpoint, PrivateDnsEnabled=True)


def test_a_front_end_endpoint_in_a_transit_vpc_is_read_and_checked_there(aws: Callable[[str], Any]) -> None:
    """Databricks' recommended front-end layout: the endpoint is in a transit VPC, not in the
    workspace VPC's snapshot; the hook reads it by id with its VPC and groups."""
    hands_on = build_hands_on_vpc(aws)
    transit = build_transit_vpc(aws, REGION)
    report, hook = preflight(hands_on, front_end_endpoint_id=transit.front_end_endpoint_id)
    assert report.findings == (), report.lines()  # private DNS on in its own VPC, 443 open to users
    assert hook.calls["ec2.DescribeVpcEndpoints"] == 2  # the VPC's batch, then the transit endpoint by id
    assert hook.calls["ec2.DescribeSecurityGroups"] == 2

    closed = build_transit_vpc(aws, REGION, cidr="10.2.0.0/16", private_dns=False)
    aws("ec2").revoke_security_group_ingress(
        GroupId=closed.group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
        ],
    )
    report, _ = preflight(hands_on, front_end_endpoint_id=closed.front_end_endpoint_id)
    assert report.errors == [], report.lines()
    found = {f.rule_id: f for f in report.warnings}
    assert set(found) == {"PAS-FRONTEND-DNS", "PAS-FRONTEND-INGRESS"}
    assert f"the transit VPC {closed.vpc_id}" in found["PAS-FRONTEND-DNS"].message
    assert closed.group_id in found["PAS-FRONTEND-INGRESS"].message

    report, _ = preflight(hands_on, front_end_endpoint_id="vpce-0123456789abcdef0")
    (error,) = report.errors
    assert (error.rule_id, error.message) == ("PAS-FRONTEND", f"endpoint not found in {REGION}")


def test_a_back_end_endpoint_in_another_vpc_is_refused(aws: Callable[[str], Any]) -> None:
    hands_on = build_hands_on_vpc(aws)
    transit = build_transit_vpc(aws, REGION)
    report, _ = preflight(hands_on, workspace_endpoint_id=transit.front_end_endpoint_id)
    errors = [f for f in report.errors if f.rule_id == "PL-WORKSPACE"]
    assert errors, report.lines()
    assert f"in {transit.vpc_id}, not in the workspace VPC" in errors[0].message


def test_without_nat_the_front_end_endpoint_needs_no_private_dns(aws: Callable[[str], Any]) -> None:
    """The clusters never call the front-end endpoint: removing NAT (with Glue as metastore) leaves
    the hands-on layout with its DNS warning and no NONAT-ENDPOINTS error for it."""
    hands_on = build_hands_on_vpc(aws)
    _delete_nat_route(aws, hands_on)
    report, _ = preflight(hands_on, metastore=wp.Metastore.GLUE)
    assert report.failed_rules() == HANDS_ON_WARNINGS, report.lines()
