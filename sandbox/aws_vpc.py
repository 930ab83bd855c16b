"""The runbook's hands-on network, built in moto as its CloudFormation templates deploy it.

What :func:`build_hands_on_vpc` creates (region ap-northeast-1 by default, like the hands-on), after the
templates its ``aws cloudformation deploy`` commands name (``databricks-network-cmvpc``,
``databricks-base-cmvpc`` and ``databricks-storage-workspace``, the last one deployed twice):

- a VPC (10.0.0.0/16) with DNS hostnames and DNS resolution on;
- a public subnet (10.0.0.0/20, AZ a) with a NAT gateway, routed to an attached internet gateway;
- two cluster subnets (10.0.16.0/20 in AZ a, 10.0.32.0/20 in AZ c) whose 0.0.0.0/0 goes to the NAT
  gateway (through an explicitly associated table, or the VPC's main table with
  ``cluster_routes_on_main=True``);
- a private endpoint subnet (10.0.48.0/20, AZ c) with no table of its own: it is routed by the VPC's
  main table, which holds only the local route;
- the cluster security group (all traffic with itself, egress 443, 3306, 6666, 2443, 8443-8451 to
  0.0.0.0/0 and nothing else), the endpoint security group (all traffic with itself, plus the default
  egress a template keeps when it names no egress rule) and the public group of the front-end endpoint
  (TCP 443 from anywhere, default egress);
- an S3 gateway endpoint on the cluster route table; STS, Kinesis, relay (SCC) and workspace (REST)
  interface endpoints with private DNS in the endpoint subnet with the endpoint group; the front-end
  endpoint on the same workspace service in the PUBLIC subnet with the public group and private DNS OFF
  (AWS lets one endpoint per service and VPC own the private DNS name; browsers reach the front-end
  endpoint through a hosts entry, the runbook's DNS-registration step);
- the IAM roles: the cross-account role, the storage role (trusting Databricks' Unity Catalog master
  role with the ExternalId, then itself too on the second deploy), the S3 commit-service cluster and
  data roles; the root bucket and its policy (Databricks' account, tagged with the Databricks account
  id, and a Deny of the bucket's ``unity-catalog/`` prefix).

:func:`build_transit_vpc` adds the layout Databricks recommends for front-end PrivateLink: a separate
transit VPC whose own front-end endpoint (private DNS on) users reach.

moto's traps, handled here: :func:`boto3_factory` installs :mod:`sandbox.aws_strict`, so moto refuses what
EC2 refuses (a second private-DNS endpoint of one service in a VPC, private DNS without the VPC's DNS
attributes); private DNS can only be chosen when an interface endpoint is created (moto ignores
``modify_vpc_endpoint``), so the knobs act at creation; moto accepts any endpoint service name, so the
region's real Databricks service names are used; bucket policies are enforced on moto's own object
calls, so the bucket is written before its policy (an IP-restricting policy must come after every object
write).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from platform_ops.core import iam_policy
from platform_ops.core import workspace_preflight as wp

DATABRICKS_ACCOUNT_ID = "0d26daa6-5e44-4c97-a497-ef015f91254a"
# The role Databricks' Unity Catalog (and the storage configuration's credential) assumes; the storage
# role of the hands-on template trusts it, not the account root.
UC_MASTER_ROLE_ARN = (
    f"arn:aws:iam::{iam_policy.DATABRICKS_AWS_ACCOUNT_ID}:role/unity-catalog-prod-UCMasterRole-14S5ZJVKOTYTL"
)
ClientFactory = Callable[[str], Any]


@dataclass
class HandsOnVpc:
    """Ids of everything :func:`build_hands_on_vpc` created."""

    region: str
    aws_account_id: str
    vpc_id: str
    public_subnet_id: str
    cluster_subnet_ids: list[str]
    endpoint_subnet_id: str
    cluster_group_id: str
    endpoint_group_id: str
    front_end_group_id: str
    internet_gateway_id: str
    nat_gateway_id: str
    public_route_table_id: str
    cluster_route_table_id: str
    main_route_table_id: str
    endpoint_ids: dict[str, str]
    cross_account_role_arn: str
    storage_role_arn: str
    cluster_role_arn: str
    cluster_instance_profile_arn: str
    data_role_arn: str
    root_bucket_name: str
    databricks_account_id: str = DATABRICKS_ACCOUNT_ID
    extra: dict[str, str] = field(default_factory=dict)

    def fill_workspace_file(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Point a workspace file's AWS ids (account, roles, bucket, network, endpoints) at this VPC;
        the rest of ``doc`` is kept. A ``commit_service.instance_profile_arn`` (the hardening) becomes
        the cluster role's instance profile; a file without one stays without (no hardening), and the
        section's other keys (``policy_name``, ``buckets``, ...) are kept. Returns ``doc``, changed in
        place."""
        doc["aws_account_id"] = self.aws_account_id
        doc.setdefault("credentials", {})["role_arn"] = self.cross_account_role_arn
        doc["storage"] = {"bucket_name": self.root_bucket_name, "role_arn": self.storage_role_arn}
        doc["network"] = {
            "vpc_id": self.vpc_id,
            "subnet_ids": self.cluster_subnet_ids,
            "cluster_security_group_ids": [self.cluster_group_id],
            "endpoint_security_group_id": self.endpoint_group_id,
            "endpoint_subnet_ids": [self.endpoint_subnet_id],
        }
        link = doc.setdefault("private_link", {})
        link.setdefault("rest_api_endpoint", {})["aws_vpc_endpoint_id"] = self.endpoint_ids["workspace"]
        link.setdefault("dataplane_relay_endpoint", {})["aws_vpc_endpoint_id"] = self.endpoint_ids["relay"]
        link["front_end_endpoint_id"] = self.endpoint_ids["front_end"]
        commit = doc["commit_service"] = dict(doc.get("commit_service") or {})
        commit.update(cluster_role_arn=self.cluster_role_arn, data_role_arn=self.data_role_arn)
        if "instance_profile_arn" in commit:
            commit["instance_profile_arn"] = self.cluster_instance_profile_arn
        return doc

    def request(self, **overrides: Any) -> wp.PreflightRequest:
        """The preflight request of a PrivateLink workspace on this VPC (fields overridable)."""
        base = wp.PreflightRequest(
            region=self.region,
            databricks_account_id=self.databricks_account_id,
            aws_account_id=self.aws_account_id,
            vpc_id=self.vpc_id,
            cluster_subnet_ids=tuple(self.cluster_subnet_ids),
            endpoint_subnet_ids=(self.endpoint_subnet_id,),
            security_group_ids=(self.cluster_group_id, self.endpoint_group_id),
            endpoint_security_group_id=self.endpoint_group_id,
            cross_account_role_arn=self.cross_account_role_arn,
            root_bucket_name=self.root_bucket_name,
            max_nodes=20,
            private_link=True,
            relay_endpoint_id=self.endpoint_ids["relay"],
            workspace_endpoint_id=self.endpoint_ids["workspace"],
            front_end_endpoint_id=self.endpoint_ids["front_end"],
            public_access_enabled=False,
            storage_role_arn=self.storage_role_arn,
            cluster_role_arn=self.cluster_role_arn,
            data_role_arn=self.data_role_arn,
        )
        return replace(base, **overrides) if overrides else base


def boto3_factory(region: str, endpoint_url: str | None = None) -> ClientFactory:
    """Clients for moto: in-process under ``mock_aws`` (no endpoint) or a moto server (``endpoint_url``),
    with moto made as strict as EC2 (:func:`sandbox.aws_strict.install`) for either."""
    import boto3

    from sandbox import aws_strict

    aws_strict.install()
    made: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in made:
            made[service] = boto3.client(service, region_name=region, endpoint_url=endpoint_url)
        return made[service]

    return make


def _self_rule(group_id: str) -> dict[str, Any]:
    return {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]}


def _anywhere(low: int, high: int) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": low, "ToPort": high, "IpRanges": [{"CidrIp": wp.ANYWHERE}]}


def _group(
    ec2: Any,
    vpc_id: str,
    name: str,
    egress: list[dict[str, Any]] | None,
    ingress: list[dict[str, Any]] | None = None,
    with_itself: bool = True,
) -> str:
    """A security group as a CloudFormation template declares it: ``egress=None`` keeps EC2's default
    allow-all egress (a template without ``SecurityGroupEgress``), a list replaces it; all traffic with
    the group itself both ways when ``with_itself`` (the templates' separate ingress/egress resources)."""
    group_id: str = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)["GroupId"]
    if egress is not None:
        ec2.revoke_security_group_egress(
            GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": wp.ANYWHERE}]}]
        )
    own = [_self_rule(group_id)] if with_itself else []
    if own or ingress:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[*(ingress or []), *own])
    if own or egress:
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=[*(egress or []), *own])
    return group_id


def _interface(ec2: Any, vpc_id: str, service: str, subnet: str, group: str, private_dns: bool) -> str:
    """An interface endpoint; private DNS is chosen here, at creation (moto ignores later changes)."""
    endpoint_id: str = ec2.create_vpc_endpoint(
        VpcId=vpc_id,
        ServiceName=service,
        VpcEndpointType="Interface",
        SubnetIds=[subnet],
        SecurityGroupIds=[group],
        PrivateDnsEnabled=private_dns,
    )["VpcEndpoint"]["VpcEndpointId"]
    return endpoint_id


@dataclass(frozen=True)
class Knobs:
    """What to break (or vary) while building: each default is the runbook's working setup."""

    relay_private_dns: bool = True
    sts_private_dns: bool = True
    kinesis_private_dns: bool = True
    workspace_private_dns: bool = True
    front_end_private_dns: bool = False
    cluster_routes_on_main: bool = False
    extra_interface_services: tuple[str, ...] = ()
    name_prefix: str = "wk1"


def _network(ec2: Any, region: str, knobs: Knobs) -> dict[str, Any]:
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    for attribute in ("EnableDnsHostnames", "EnableDnsSupport"):
        ec2.modify_vpc_attribute(VpcId=vpc_id, **{attribute: {"Value": True}})

    def subnet(cidr: str, zone: str) -> str:
        sid: str = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"{region}{zone}")[
            "Subnet"
        ]["SubnetId"]
        return sid

    public = subnet("10.0.0.0/20", "a")
    clusters = [subnet("10.0.16.0/20", "a"), subnet("10.0.32.0/20", "c")]
    endpoint_subnet = subnet("10.0.48.0/20", "c")  # no table of its own: the main table routes it
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    public_rt = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock=wp.ANYWHERE, GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    main_rt = next(t["RouteTableId"] for t in tables if any(a.get("Main") for a in t.get("Associations", [])))
    if knobs.cluster_routes_on_main:
        cluster_rt = main_rt
    else:
        cluster_rt = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        for sid in clusters:
            ec2.associate_route_table(RouteTableId=cluster_rt, SubnetId=sid)
    ec2.create_route(RouteTableId=cluster_rt, DestinationCidrBlock=wp.ANYWHERE, NatGatewayId=nat)
    return {
        "vpc_id": vpc_id,
        "public_subnet_id": public,
        "cluster_subnet_ids": clusters,
        "endpoint_subnet_id": endpoint_subnet,
        "internet_gateway_id": igw,
        "nat_gateway_id": nat,
        "public_route_table_id": public_rt,
        "cluster_route_table_id": cluster_rt,
        "main_route_table_id": main_rt,
    }


def _endpoints(
    ec2: Any, region: str, net: dict[str, Any], groups: dict[str, str], knobs: Knobs
) -> dict[str, str]:
    vpc_id, subnet, group = net["vpc_id"], net["endpoint_subnet_id"], groups["endpoint"]
    s3 = ec2.create_vpc_endpoint(
        VpcId=vpc_id,
        ServiceName=f"com.amazonaws.{region}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[net["cluster_route_table_id"]],
    )["VpcEndpoint"]["VpcEndpointId"]
    ids = {"s3": s3}
    interfaces = {
        "sts": (f"com.amazonaws.{region}.sts", knobs.sts_private_dns),
        "kinesis": (f"com.amazonaws.{region}.kinesis-streams", knobs.kinesis_private_dns),
        "relay": (wp.relay_service(region), knobs.relay_private_dns),
        "workspace": (wp.workspace_service(region), knobs.workspace_private_dns),
    }
    for service in knobs.extra_interface_services:
        interfaces[service] = (f"com.amazonaws.{region}.{service}", True)
    for key, (service, dns) in interfaces.items():
        ids[key] = _interface(ec2, vpc_id, service, subnet, group, dns)
    # The template's DatabricksFrontendEndpoint: public subnet, public group, private DNS off.
    ids["front_end"] = _interface(
        ec2,
        vpc_id,
        wp.workspace_service(region),
        net["public_subnet_id"],
        groups["front_end"],
        knobs.front_end_private_dns,
    )
    return ids


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _roles(iam: Any, account_id: str, databricks_account_id: str, prefix: str) -> dict[str, str]:
    databricks_root = f"arn:aws:iam::{iam_policy.DATABRICKS_AWS_ACCOUNT_ID}:root"
    external = {"StringEquals": {"sts:ExternalId": databricks_account_id}}
    cross = iam.create_role(
        RoleName=f"{prefix}-cross-account",
        AssumeRolePolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": databricks_root},
                "Action": "sts:AssumeRole",
                "Condition": external,
            }
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=f"{prefix}-cross-account",
        PolicyName="customer-managed-vpc",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": list(wp.CUSTOMER_MANAGED_VPC_ACTIONS), "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": list(wp.SPOT_ROLE_ACTIONS),
                "Resource": wp.SPOT_SERVICE_LINKED_ROLE,
                "Condition": {"StringLike": {"iam:AWSServiceName": "spot.amazonaws.com"}},
            },
        ),
    )
    # Storage role, deployed twice as in the hands-on (databricks-storage-workspace): the first deploy
    # trusts Databricks' Unity Catalog master role; the second (IsFirstStep=False) adds the role itself.
    storage_name = f"{prefix}-storage"
    storage = iam.create_role(
        RoleName=storage_name,
        AssumeRolePolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": [UC_MASTER_ROLE_ARN]},
                "Action": "sts:AssumeRole",
                "Condition": external,
            }
        ),
    )["Role"]["Arn"]
    iam.update_assume_role_policy(
        RoleName=storage_name,
        PolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": [UC_MASTER_ROLE_ARN, storage]},
                "Action": "sts:AssumeRole",
                "Condition": external,
            }
        ),
    )
    ec2_trust = _policy(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )
    cluster_name = f"{prefix}-cluster"
    cluster = iam.create_role(RoleName=cluster_name, AssumeRolePolicyDocument=ec2_trust)["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName=cluster_name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=cluster_name, RoleName=cluster_name)
    data_name = f"{prefix}-data"
    data = iam.create_role(
        RoleName=data_name,
        AssumeRolePolicyDocument=_policy(
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": cluster}, "Action": "sts:AssumeRole"},
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=data_name,
        PolicyName="data-access",
        PolicyDocument=_policy({"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}),
    )
    iam.put_role_policy(
        RoleName=cluster_name,
        PolicyName="assume-data-role",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": data}),
    )
    # The base template also lets Databricks pass the cluster role to the instances it launches.
    iam.put_role_policy(
        RoleName=f"{prefix}-cross-account",
        PolicyName="pass-cluster-role",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "iam:PassRole", "Resource": cluster}),
    )
    return {
        "cross_account_role_arn": cross,
        "storage_role_arn": storage,
        "cluster_role_arn": cluster,
        "cluster_instance_profile_arn": profile,
        "data_role_arn": data,
    }


def root_bucket_policy(bucket: str, databricks_account_id: str = DATABRICKS_ACCOUNT_ID) -> str:
    """The root bucket policy of the hands-on storage template: Databricks' account (its principals
    tagged with this Databricks account id) reads and writes the bucket, and nothing of it reaches the
    ``unity-catalog/`` prefix."""
    principal = {"AWS": f"arn:aws:iam::{iam_policy.DATABRICKS_AWS_ACCOUNT_ID}:root"}
    return _policy(
        {
            "Sid": "GrantDatabricksAccess",
            "Effect": "Allow",
            "Principal": principal,
            "Action": [*wp.ROOT_BUCKET_OBJECT_ACTIONS, *wp.ROOT_BUCKET_ACTIONS],
            "Resource": [f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"],
            "Condition": {"StringEquals": {"aws:PrincipalTag/DatabricksAccountId": databricks_account_id}},
        },
        {
            "Sid": "PreventDBFSFromAccessingUnityCatalogMetastore",
            "Effect": "Deny",
            "Principal": principal,
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{bucket}/unity-catalog/*",
        },
    )


def _storage_role_policy(iam: Any, role_arn: str, bucket: str) -> None:
    """The storage role's inline policy of the template: the bucket's objects, and assuming itself."""
    iam.put_role_policy(
        RoleName=role_arn.rsplit("/", 1)[-1],
        PolicyName="InlinePolicy",
        PolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:GetLifecycleConfiguration",
                    "s3:PutLifecycleConfiguration",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"],
            },
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn},
        ),
    )


def build_hands_on_vpc(
    clients: ClientFactory,
    region: str = "ap-northeast-1",
    knobs: Knobs | None = None,
    databricks_account_id: str = DATABRICKS_ACCOUNT_ID,
) -> HandsOnVpc:
    """Create the hands-on VPC, endpoints, roles and root bucket; return their ids.

    Args:
        clients: Makes a boto3 client per service name (see :func:`boto3_factory`).
        region: The workspace region; must have Databricks endpoint services (``ENDPOINT_SERVICES``).
        knobs: What to vary; the default is the working setup.
        databricks_account_id: The ExternalId the cross-account and storage roles require.
    """
    knobs = knobs or Knobs()
    ec2, iam, s3 = clients("ec2"), clients("iam"), clients("s3")
    account_id = clients("sts").get_caller_identity()["Account"]
    net = _network(ec2, region, knobs)
    prefix = knobs.name_prefix
    groups = {
        "cluster": _group(
            ec2,
            net["vpc_id"],
            f"{prefix}-sg-cluster",
            [_anywhere(low, high) for low, high in (*wp.CLUSTER_EGRESS_PORTS, wp.HIVE_METASTORE_PORT)],
        ),
        "endpoint": _group(ec2, net["vpc_id"], f"{prefix}-sg-endpoint", None),
        "front_end": _group(
            ec2, net["vpc_id"], f"{prefix}-sg-public", None, [_anywhere(443, 443)], with_itself=False
        ),
    }
    endpoint_ids = _endpoints(ec2, region, net, groups, knobs)
    roles = _roles(iam, account_id, databricks_account_id, prefix)
    bucket = f"{prefix}-root-{net['vpc_id'][4:]}"
    _storage_role_policy(iam, roles["storage_role_arn"], bucket)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket=bucket, Key="README", Body=b"workspace root bucket\n")  # objects first, policy last
    s3.put_bucket_policy(Bucket=bucket, Policy=root_bucket_policy(bucket, databricks_account_id))
    return HandsOnVpc(
        region=region,
        aws_account_id=account_id,
        cluster_group_id=groups["cluster"],
        endpoint_group_id=groups["endpoint"],
        front_end_group_id=groups["front_end"],
        endpoint_ids=endpoint_ids,
        root_bucket_name=bucket,
        databricks_account_id=databricks_account_id,
        cross_account_role_arn=roles["cross_account_role_arn"],
        storage_role_arn=roles["storage_role_arn"],
        cluster_role_arn=roles["cluster_role_arn"],
        cluster_instance_profile_arn=roles["cluster_instance_profile_arn"],
        data_role_arn=roles["data_role_arn"],
        **net,
    )


@dataclass
class TransitVpc:
    """Ids of what :func:`build_transit_vpc` created."""

    vpc_id: str
    subnet_id: str
    group_id: str
    front_end_endpoint_id: str


def build_transit_vpc(
    clients: ClientFactory,
    region: str = "ap-northeast-1",
    cidr: str = "10.1.0.0/16",
    user_cidr: str = "10.0.0.0/8",
    private_dns: bool = True,
) -> TransitVpc:
    """The transit VPC of Databricks' front-end PrivateLink layout: a VPC of its own (DNS attributes on)
    whose front-end endpoint on the region's workspace service admits the users' networks
    (``user_cidr``) on TCP 443. Being the only endpoint of that service in its VPC, it may own the
    service's private DNS name (``private_dns``)."""
    ec2 = clients("ec2")
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    for attribute in ("EnableDnsHostnames", "EnableDnsSupport"):
        ec2.modify_vpc_attribute(VpcId=vpc_id, **{attribute: {"Value": True}})
    subnet_id = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock=str(next(ipaddress.ip_network(cidr).subnets(new_prefix=24))),
        AvailabilityZone=f"{region}a",
    )["Subnet"]["SubnetId"]
    ingress = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": user_cidr}]}]
    group_id = _group(ec2, vpc_id, "transit-front-end", None, ingress, with_itself=False)
    endpoint_id = _interface(ec2, vpc_id, wp.workspace_service(region), subnet_id, group_id, private_dns)
    return TransitVpc(vpc_id, subnet_id, group_id, endpoint_id)


def recreate_interface_endpoint(
    clients: ClientFactory, hands_on: HandsOnVpc, key: str, private_dns: bool = True
) -> str:
    """Replace one of the hands-on interface endpoints (``relay``, ``workspace``, ``sts``, ``kinesis``)
    by a new one with ``private_dns`` chosen at creation (moto ignores ``modify_vpc_endpoint``'s
    private DNS); ``hands_on.endpoint_ids`` gets the new id, which is returned."""
    services = {
        "sts": f"com.amazonaws.{hands_on.region}.sts",
        "kinesis": f"com.amazonaws.{hands_on.region}.kinesis-streams",
        "relay": wp.relay_service(hands_on.region),
        "workspace": wp.workspace_service(hands_on.region),
    }
    if key not in services:
        raise ValueError(f"endpoint {key!r}: one of {sorted(services)}")
    ec2 = clients("ec2")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[hands_on.endpoint_ids[key]])
    new_id = _interface(
        ec2,
        hands_on.vpc_id,
        services[key],
        hands_on.endpoint_subnet_id,
        hands_on.endpoint_group_id,
        private_dns,
    )
    hands_on.endpoint_ids[key] = new_id
    return new_id
