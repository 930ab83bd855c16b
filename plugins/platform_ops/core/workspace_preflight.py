"""Preflight of a Databricks workspace on a customer-managed AWS VPC: every network and IAM rule, checked.

Pure: the rules read a :class:`PreflightSnapshot` (typed values built from describe results by the AWS
hook) and a :class:`PreflightRequest` (what the workspace will be created with), and return a
:class:`PreflightReport` of findings. Nothing here calls AWS.

Sources of the rules:

- the customer-managed VPC and PrivateLink guide of the runbook (sections "必要な設定" of
  "自身で用意したVPCを使う" and of "AWS PrivateLinkを有効にする", "注意点", and the two cluster-launch
  failures of "トラブルシュート"), quoted in ``Rule.seed_section``;
- the S3 commit-service settings (AssumeRole instance profiles);
- Databricks' own documentation where the runbook is silent (NACLs, the cross-account action set, the
  endpoint service names per region), cited where the values are defined.

Each rule has an id, a severity (``error`` stops the deployment before any account write, ``warning``
is reported), the section it comes from, the fix, and the failure it causes later when the runbook
records one.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from platform_ops.core import iam_policy
from platform_ops.exceptions import ConfigError

ANYWHERE = "0.0.0.0/0"
ALL_PORTS = (0, 65535)

# Seed failure texts, quoted as the runbook recorded them.
NPIP_FAILURE = (
    "Npip Tunnel Setup Failure: NPIP tunnel setup failure during launch. ... Instance bootstrap failed "
    "command: WaitForNgrokTunnel Failure message (may be truncated): Timed out waiting for ngrok tunnel "
    "to be up"
)
SECURITY_DAEMON_FAILURE = (
    "Failed to set up the Spark container due to an error when registering the container to security daemon"
)
FREEZE_FAILURE = (
    "clusters, SQL warehouses and the catalog freeze until they time out (no NAT and no external Hive "
    "metastore)"
)
CREDENTIALS_FAILURE = (
    "MALFORMED_REQUEST: Failed credentials validation checks (on credentials and workspace create)"
)

# Databricks PrivateLink endpoint services per region: (workspace = front-end and back-end REST API,
# relay = secure cluster connectivity). From "PrivateLink VPC endpoint services" in
# https://docs.databricks.com/aws/en/resources/ip-domain-region#privatelink-vpc-endpoint-services
# (the runbook's reference 4, supported-regions.html#privatelink).
ENDPOINT_SERVICES: dict[str, tuple[str, str]] = {
    "ap-northeast-1": (
        "com.amazonaws.vpce.ap-northeast-1.vpce-svc-02691fd610d24fd64",
        "com.amazonaws.vpce.ap-northeast-1.vpce-svc-02aa633bda3edbec0",
    ),
    "ap-northeast-2": (
        "com.amazonaws.vpce.ap-northeast-2.vpce-svc-0babb9bde64f34d7e",
        "com.amazonaws.vpce.ap-northeast-2.vpce-svc-0dc0e98a5800db5c4",
    ),
    "ap-south-1": (
        "com.amazonaws.vpce.ap-south-1.vpce-svc-0dbfe5d9ee18d6411",
        "com.amazonaws.vpce.ap-south-1.vpce-svc-03fd4d9b61414f3de",
    ),
    "ap-southeast-1": (
        "com.amazonaws.vpce.ap-southeast-1.vpce-svc-02535b257fc253ff4",
        "com.amazonaws.vpce.ap-southeast-1.vpce-svc-0557367c6fc1a0c5c",
    ),
    "ap-southeast-2": (
        "com.amazonaws.vpce.ap-southeast-2.vpce-svc-0b87155ddd6954974",
        "com.amazonaws.vpce.ap-southeast-2.vpce-svc-0b4a72e8f825495f6",
    ),
    "ca-central-1": (
        "com.amazonaws.vpce.ca-central-1.vpce-svc-0205f197ec0e28d65",
        "com.amazonaws.vpce.ca-central-1.vpce-svc-0c4e25bdbcbfbb684",
    ),
    "eu-central-1": (
        "com.amazonaws.vpce.eu-central-1.vpce-svc-081f78503812597f7",
        "com.amazonaws.vpce.eu-central-1.vpce-svc-08e5dfca9572c85c4",
    ),
    "eu-west-1": (
        "com.amazonaws.vpce.eu-west-1.vpce-svc-0da6ebf1461278016",
        "com.amazonaws.vpce.eu-west-1.vpce-svc-09b4eb2bc775f4e8c",
    ),
    "eu-west-2": (
        "com.amazonaws.vpce.eu-west-2.vpce-svc-01148c7cdc1d1326c",
        "com.amazonaws.vpce.eu-west-2.vpce-svc-05279412bf5353a45",
    ),
    "eu-west-3": (
        "com.amazonaws.vpce.eu-west-3.vpce-svc-008b9368d1d011f37",
        "com.amazonaws.vpce.eu-west-3.vpce-svc-005b039dd0b5f857d",
    ),
    "sa-east-1": (
        "com.amazonaws.vpce.sa-east-1.vpce-svc-0bafcea8cdfe11b66",
        "com.amazonaws.vpce.sa-east-1.vpce-svc-0e61564963be1b43f",
    ),
    "us-east-1": (
        "com.amazonaws.vpce.us-east-1.vpce-svc-09143d1e626de2f04",
        "com.amazonaws.vpce.us-east-1.vpce-svc-00018a8c3ff62ffdf",
    ),
    "us-east-2": (
        "com.amazonaws.vpce.us-east-2.vpce-svc-041dc2b4d7796b8d3",
        "com.amazonaws.vpce.us-east-2.vpce-svc-090a8fab0d73e39a6",
    ),
    "us-west-1": (
        "com.amazonaws.vpce.us-west-1.vpce-svc-09bb6ca26208063f2",
        "com.amazonaws.vpce.us-west-1.vpce-svc-04cb91f9372b792fe",
    ),
    "us-west-2": (
        "com.amazonaws.vpce.us-west-2.vpce-svc-0129f463fcfbc46c5",
        "com.amazonaws.vpce.us-west-2.vpce-svc-0158114c0c730c3bb",
    ),
}


def workspace_service(region: str) -> str:
    """The Databricks workspace (REST API / front-end) endpoint service name of ``region``."""
    return ENDPOINT_SERVICES[region][0]


def relay_service(region: str) -> str:
    """The Databricks secure cluster connectivity relay endpoint service name of ``region``."""
    return ENDPOINT_SERVICES[region][1]


# The cross-account role's actions for a customer-managed VPC ("Customer-managed VPC with default
# policy restrictions" in https://docs.databricks.com/aws/en/admin/account-settings-e2/credentials and
# the "IAM permissions for customer-managed VPC" table of
# https://docs.databricks.com/aws/en/admin/account-settings-e2/permissions; the same list as Terraform's
# databricks_aws_crossaccount_policy with policy_type = "customer").
CUSTOMER_MANAGED_VPC_ACTIONS: tuple[str, ...] = (
    "ec2:AssignPrivateIpAddresses",
    "ec2:AssociateIamInstanceProfile",
    "ec2:AttachVolume",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CancelSpotInstanceRequests",
    "ec2:CreateFleet",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateLaunchTemplateVersion",
    "ec2:CreateTags",
    "ec2:CreateVolume",
    "ec2:DeleteFleets",
    "ec2:DeleteLaunchTemplate",
    "ec2:DeleteLaunchTemplateVersions",
    "ec2:DeleteTags",
    "ec2:DeleteVolume",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeFleetHistory",
    "ec2:DescribeFleetInstances",
    "ec2:DescribeFleets",
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstances",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribePrefixLists",
    "ec2:DescribeReservedInstancesOfferings",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSpotInstanceRequests",
    "ec2:DescribeSpotPriceHistory",
    "ec2:DescribeSubnets",
    "ec2:DescribeVolumes",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcs",
    "ec2:DetachVolume",
    "ec2:DisassociateIamInstanceProfile",
    "ec2:GetLaunchTemplateData",
    "ec2:GetSpotPlacementScores",
    "ec2:ModifyFleet",
    "ec2:ModifyLaunchTemplate",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "ec2:RequestSpotInstances",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RunInstances",
    "ec2:TerminateInstances",
)
SPOT_SERVICE_LINKED_ROLE = "arn:aws:iam::*:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
SPOT_ROLE_ACTIONS = ("iam:CreateServiceLinkedRole", "iam:PutRolePolicy")

# What the root bucket policy grants Databricks' account (storage configuration docs:
# https://docs.databricks.com/aws/en/admin/account-settings-e2/storage).
ROOT_BUCKET_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject")
ROOT_BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation")

# Cluster egress to the internet (runbook: 必要な設定 / セキュリティグループ (クラスターノード用)).
CLUSTER_EGRESS_PORTS: tuple[tuple[int, int], ...] = ((443, 443), (6666, 6666), (2443, 2443), (8443, 8451))
HIVE_METASTORE_PORT = (3306, 3306)

TERRAFORM_MAX_PREFIX = 25
DEFAULT_NETMASK_RANGE = (17, 26)


class Severity(StrEnum):
    """How a finding counts: an error stops the deployment, a warning is reported."""

    ERROR = "error"
    WARNING = "warning"


class Metastore(StrEnum):
    """Where the workspace's Hive metastore lives (decides whether NAT and port 3306 are needed)."""

    DATABRICKS_HIVE = "databricks_hive"
    EXTERNAL_HIVE = "external_hive"
    GLUE = "glue"


class PrivateAccessLevel(StrEnum):
    """Which VPC endpoints may reach the workspace (private access settings)."""

    ACCOUNT = "ACCOUNT"
    ENDPOINT = "ENDPOINT"


_VPC = "自身で用意したVPCを使う / 必要な設定"
_PL = "AWS PrivateLinkを有効にする / 必要な設定"
_PL_NOTES = "AWS PrivateLinkを有効にする / 注意点"


@dataclass(frozen=True)
class Rule:
    """One documented requirement."""

    rule_id: str
    severity: Severity
    title: str
    seed_section: str
    fix: str
    later_failure: str | None = None


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.rule_id: r for r in rules}


RULES: dict[str, Rule] = _rules(
    Rule(
        "VPC-DNS",
        Severity.ERROR,
        "VPC DNS hostnames and DNS resolution are enabled",
        f"{_VPC}: VPC",
        "enable both enableDnsHostnames and enableDnsSupport on the VPC",
    ),
    Rule(
        "SUBNET-COUNT",
        Severity.ERROR,
        "at least two cluster subnets, all in the VPC",
        f"{_VPC}: Subnet (プライベートサブネット2個)",
        "list two or more private subnets of the VPC in cluster_subnet_ids",
    ),
    Rule(
        "SUBNET-AZ",
        Severity.ERROR,
        "cluster subnets in different availability zones",
        f"{_VPC}: Subnet",
        "put the cluster subnets in at least two availability zones",
    ),
    Rule(
        "SUBNET-NETMASK",
        Severity.ERROR,
        "cluster subnet netmask within the documented range",
        f"{_VPC}: Subnet (サブネット CIDR /17-/26)",
        "use subnets between /17 and /26 (Terraform's docs stop at /25)",
    ),
    Rule(
        "SUBNET-NETMASK-SMALL",
        Severity.WARNING,
        "cluster subnet netmask beyond /25",
        f"{_VPC}: Subnet (サブネット CIDR /17-/26)",
        "prefer /25 or larger: Terraform's Databricks docs accept /17-/25 only",
    ),
    Rule(
        "SUBNET-CAPACITY",
        Severity.ERROR,
        "free IPs >= 2 x requested max nodes (one for management, one for Spark)",
        f"{_VPC}: Subnet (ノードごとに 2 つの IP アドレス)",
        "use larger subnets or lower max_nodes",
    ),
    Rule(
        "SUBNET-PRIVATE",
        Severity.ERROR,
        "cluster subnets are private (no 0.0.0.0/0 to an internet gateway)",
        f"{_VPC}: Subnet (プライベートサブネット)",
        "route the cluster subnets' 0.0.0.0/0 to a NAT gateway, not an internet gateway",
    ),
    Rule(
        "NAT-EGRESS",
        Severity.ERROR,
        "0.0.0.0/0 to an available NAT gateway in a public subnet routed to an attached internet gateway",
        f"{_VPC}: ゲートウェイ (NAT GW / Internet GW)",
        "place an available NAT gateway in a public subnet whose route table sends 0.0.0.0/0 to an "
        "internet gateway attached to the VPC, and route the cluster subnets' 0.0.0.0/0 to it",
    ),
    Rule(
        "NONAT-ENDPOINTS",
        Severity.ERROR,
        "without NAT: S3 gateway, STS and Kinesis endpoints, and private DNS on every interface endpoint",
        f"{_PL_NOTES} / トラブルシュート: ケース2",
        "restore the NAT route, or create the missing endpoints with private DNS enabled at creation",
        SECURITY_DAEMON_FAILURE,
    ),
    Rule(
        "NONAT-METASTORE",
        Severity.ERROR,
        "without NAT, the metastore is an external Hive metastore or Glue (RDS has no endpoint)",
        f"{_PL_NOTES}: NAT 排除は困難",
        "keep a NAT route, or use an external Hive metastore in the VPC or AWS Glue",
        FREEZE_FAILURE,
    ),
    Rule(
        "NACL-CLUSTER",
        Severity.ERROR,
        "the cluster subnets' network ACLs let the required traffic through",
        "not in the runbook: Databricks validates NACLs of a customer-managed VPC",
        "allow all traffic within the VPC CIDR both ways, egress to 0.0.0.0/0 on the cluster ports and "
        "ingress of return traffic (TCP 1024-65535) from 0.0.0.0/0",
    ),
    Rule(
        "SG-COUNT",
        Severity.ERROR,
        "1-5 security groups registered on the network, all in the VPC",
        f"{_VPC}: セキュリティグループ (1-5個まで割当て可能)",
        "register between one and five security groups of the VPC",
    ),
    Rule(
        "SG-NETWORK-GROUPS",
        Severity.ERROR,
        "the network registers both the cluster group and the endpoint group",
        f"{_VPC}: ネットワーク設定 (クラスターノード用とエンドポイント用の2つを指定)",  # noqa: RUF001
        "add the endpoint security group to security_group_ids: the endpoints admit only its members",
    ),
    Rule(
        "SG-CLUSTER-SELF",
        Severity.ERROR,
        "the cluster group allows all TCP and UDP to and from itself",
        f"{_VPC}: セキュリティグループ (クラスターノード用)",
        "add ingress and egress rules for TCP 0-65535 and UDP 0-65535 (or all traffic) with the group itself",
    ),
    Rule(
        "SG-CLUSTER-EGRESS",
        Severity.ERROR,
        "the cluster group allows egress TCP 443, 6666, 2443, 8443-8451 to 0.0.0.0/0",
        f"{_VPC}: セキュリティグループ (クラスターノード用 / アウトバウンド)",
        "add egress rules to 0.0.0.0/0 for TCP 443, 2443, 6666 and 8443-8451",
    ),
    Rule(
        "SG-CLUSTER-METASTORE",
        Severity.ERROR,
        "the cluster group allows egress TCP 3306 (legacy Hive metastore)",
        f"{_VPC}: セキュリティグループ (クラスターノード用 / 3306)",
        "add an egress rule to 0.0.0.0/0 for TCP 3306",
    ),
    Rule(
        "SG-CLUSTER-METASTORE-UNUSED",
        Severity.WARNING,
        "egress TCP 3306 missing; only the legacy Hive metastore needs it",
        f"{_VPC}: セキュリティグループ (クラスターノード用 / 3306)",
        "nothing to do unless the workspace will use the Databricks-hosted Hive metastore",
    ),
    Rule(
        "SG-ENDPOINT-SELF",
        Severity.ERROR,
        "the endpoint group allows all traffic to and from itself",
        f"{_VPC}: セキュリティグループ (エンドポイント用)",
        "add ingress and egress rules for TCP and UDP 0-65535 (or all traffic) with the group itself",
    ),
    Rule(
        "EP-S3-GATEWAY",
        Severity.WARNING,
        "an S3 gateway endpoint on every cluster subnet's route table",
        f"{_VPC}: エンドポイント (S3)",
        "create a Gateway endpoint for com.amazonaws.<region>.s3 on the cluster subnets' route tables",
    ),
    Rule(
        "EP-STS",
        Severity.WARNING,
        "an STS interface endpoint with private DNS, in the endpoint subnet, with the endpoint group",
        f"{_VPC}: エンドポイント (STS) / トラブルシュート: ケース2",
        "create the STS interface endpoint with private DNS enabled at creation, in the endpoint subnet, "
        "with the endpoint security group",
        SECURITY_DAEMON_FAILURE + " (once the NAT route is removed)",
    ),
    Rule(
        "EP-KINESIS",
        Severity.WARNING,
        "a Kinesis Streams interface endpoint with private DNS, in the endpoint subnet, with its group",
        f"{_VPC}: エンドポイント (Kinesis Stream)",
        "create the kinesis-streams interface endpoint with private DNS enabled at creation, in the "
        "endpoint subnet, with the endpoint security group",
    ),
    Rule(
        "PL-RELAY",
        Severity.ERROR,
        "the relay (SCC) endpoint: region's service, private DNS, endpoint subnet and group",
        f"{_PL}: scc-endpoint / トラブルシュート: ケース1",
        "create the relay endpoint on the region's relay service with private DNS enabled at creation, in "
        "the endpoint subnet, with the endpoint security group",
        NPIP_FAILURE,
    ),
    Rule(
        "PL-WORKSPACE",
        Severity.ERROR,
        "the workspace (REST API) endpoint: region's service, private DNS, endpoint subnet and group",
        f"{_PL}: workspace-endpoint",
        "create the workspace endpoint on the region's workspace service with private DNS enabled at "
        "creation, in the endpoint subnet, with the endpoint security group",
    ),
    Rule(
        "PAS-PUBLIC-ACCESS",
        Severity.ERROR,
        "public access disabled only with front-end and back-end PrivateLink",
        f"{_PL}: プライベートアクセス設定 (パブリックアクセス False)",
        "enable back-end PrivateLink and give front_end_endpoint_id, or set public_access_enabled",
    ),
    Rule(
        "PAS-FRONTEND",
        Severity.ERROR,
        "the front-end endpoint exists in the region (workspace VPC or a transit VPC), on the region's "
        "workspace service, and is usable",
        f"{_PL}: frontend-endpoint (Databricks: front-end PrivateLink, step 1)",
        "create the front-end endpoint on the region's workspace service, in the workspace VPC or in the "
        "transit VPC users reach, and give its AWS id in front_end_endpoint_id",
    ),
    Rule(
        "PAS-FRONTEND-DNS",
        Severity.WARNING,
        "the front-end endpoint has private DNS off: the users' DNS must send the workspace URL to it",
        f"{_PL}: DNS登録 (hosts entry in the hands-on)",
        "point the workspace URL (<deployment-name>.cloud.databricks.com) at the front-end endpoint's "
        "private IPs in the DNS the users' browsers use (a hosts entry, as the runbook does, or a Route 53 "
        "private hosted zone); AWS lets only one endpoint per service and VPC own the private DNS name",
    ),
    Rule(
        "PAS-FRONTEND-INGRESS",
        Severity.WARNING,
        "the front-end endpoint's security groups admit HTTPS (TCP 443) from the users' networks",
        "not in the runbook's prose (its template opens 443): Databricks' front-end PrivateLink requirements",
        "allow inbound TCP 443 on a security group of the front-end endpoint from the networks users "
        "connect from",
    ),
    Rule(
        "PAS-ALLOWED-ENDPOINTS",
        Severity.WARNING,
        "the endpoints allowed at ENDPOINT level are endpoints of this VPC on the workspace service",
        f"{_PL}: プライベートアクセス設定",
        "list AWS endpoint ids of workspace (front-end) endpoints in allowed_vpc_endpoint_ids",
    ),
    Rule(
        "IAM-CROSS-ACCOUNT-TRUST",
        Severity.ERROR,
        "the cross-account role trusts Databricks' account with ExternalId = your Databricks account id",
        f"{_VPC}: IAM ロール (参考資料5)",
        f"trust arn:aws:iam::{iam_policy.DATABRICKS_AWS_ACCOUNT_ID}:root for sts:AssumeRole with "
        "StringEquals sts:ExternalId = the Databricks account id",
        CREDENTIALS_FAILURE,
    ),
    Rule(
        "IAM-CROSS-ACCOUNT-POLICY",
        Severity.ERROR,
        "the cross-account role holds the customer-managed VPC action set",
        f"{_VPC}: IAM ロール (顧客管理VPC向け, 参考資料5)",
        "attach the customer-managed VPC policy of Databricks' credentials documentation",
        CREDENTIALS_FAILURE,
    ),
    Rule(
        "IAM-ROOT-BUCKET-POLICY",
        Severity.ERROR,
        "the root bucket policy grants Databricks' account the storage configuration's actions",
        "ハンズオン: databricks-storage-workspace (ストレージ設定)",
        f"grant arn:aws:iam::{iam_policy.DATABRICKS_AWS_ACCOUNT_ID}:root s3:GetObject, GetObjectVersion, "
        "PutObject, DeleteObject on bucket/* and s3:ListBucket, GetBucketLocation on the bucket",
    ),
    Rule(
        "IAM-STORAGE-ROLE-SELF-TRUST",
        Severity.ERROR,
        "the storage role trusts itself (self-assuming)",
        "ハンズオン: IAM Role を自己仮定型にするために再デプロイ (IsFirstStep=False)",
        "deploy the storage role a second time so that its trust policy names its own ARN",
    ),
    Rule(
        "COMMIT-CLUSTER-ASSUME",
        Severity.ERROR,
        "the cluster instance-profile role may sts:AssumeRole the data role",
        "S3 コミットサービス: AssumeRole インスタンスプロファイル",
        "allow sts:AssumeRole on the data role ARN in the cluster role's policy",
    ),
    Rule(
        "COMMIT-CLUSTER-NO-S3",
        Severity.WARNING,
        "the cluster instance-profile role holds no S3 access itself",
        "S3 コミットサービス: このインスタンスプロファイルには、S3への直接アクセスは必要ありません",
        "remove S3 permissions from the cluster role; data access goes through the data role",
    ),
    Rule(
        "COMMIT-DATA-TRUST",
        Severity.ERROR,
        "the data role trusts the cluster ROLE ARN (not the instance-profile ARN)",
        "S3 コミットサービス: 既存のデータアクセスIAMロールに信頼ポリシーステートメントを追加",
        "add a trust statement with Principal AWS = the cluster role ARN and Action sts:AssumeRole "
        "(IAM does not accept an instance-profile ARN as a principal)",
    ),
)


# --- snapshot value objects --------------------------------------------------------------------------


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


# --- the request ------------------------------------------------------------------------------------

_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")
_AWS_ACCOUNT = re.compile(r"\d{12}")
_DATABRICKS_ACCOUNT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_ENDPOINT_ID = re.compile(r"vpce-[0-9a-f]{8,17}")
_PREFIXED_ID = {"vpc": re.compile(r"vpc-[0-9a-f]{8,17}"), "subnet": re.compile(r"subnet-[0-9a-f]{8,17}")}
_GROUP_ID = re.compile(r"sg-[0-9a-f]{8,17}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _require(ok: bool, field_name: str, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(field_name, problem, fix)


def _check_ids(field_name: str, values: Sequence[str], pattern: re.Pattern[str], example: str) -> None:
    for value in values:
        _require(
            isinstance(value, str) and pattern.fullmatch(value) is not None,
            field_name,
            f"{value!r} is not an AWS id of the expected kind",
            f"give ids like {example}",
        )


@dataclass(frozen=True)
class PreflightRequest:
    """What the workspace will be created with: the inputs the rules need.

    ``security_group_ids`` are the groups the network object registers (the cluster group(s) and the
    endpoint group); ``endpoint_security_group_id`` is the group the interface endpoints use.
    ``netmask_range`` defaults to the runbook's /17-/26; prefixes beyond Terraform's /25 get a warning.
    """

    region: str
    databricks_account_id: str
    aws_account_id: str
    vpc_id: str
    cluster_subnet_ids: tuple[str, ...]
    endpoint_subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    endpoint_security_group_id: str
    cross_account_role_arn: str
    root_bucket_name: str
    max_nodes: int = 10
    netmask_range: tuple[int, int] = DEFAULT_NETMASK_RANGE
    private_link: bool = False
    relay_endpoint_id: str | None = None
    workspace_endpoint_id: str | None = None
    front_end_endpoint_id: str | None = None
    public_access_enabled: bool = True
    private_access_level: PrivateAccessLevel = PrivateAccessLevel.ACCOUNT
    allowed_vpc_endpoint_ids: tuple[str, ...] = ()
    metastore: Metastore = Metastore.DATABRICKS_HIVE
    storage_role_arn: str | None = None
    cluster_role_arn: str | None = None
    data_role_arn: str | None = None

    def __post_init__(self) -> None:
        """Coerce YAML/UI values (lists, plain strings), then validate every field before any AWS read."""
        self._coerce()
        self._check_accounts()
        self._check_network()
        self._check_private_link()
        self._check_roles()

    @property
    def cluster_group_ids(self) -> tuple[str, ...]:
        """The registered groups other than the endpoint group (the group itself when it is the only one)."""
        others = tuple(g for g in self.security_group_ids if g != self.endpoint_security_group_id)
        return others or (self.endpoint_security_group_id,)

    @property
    def role_arns(self) -> tuple[str, ...]:
        """Every role the IAM rules read."""
        arns = [self.cross_account_role_arn, self.storage_role_arn, self.cluster_role_arn, self.data_role_arn]
        return tuple(dict.fromkeys(a for a in arns if a))

    def _coerce(self) -> None:
        for name in (
            "cluster_subnet_ids",
            "endpoint_subnet_ids",
            "security_group_ids",
            "allowed_vpc_endpoint_ids",
        ):
            value = getattr(self, name)
            _require(
                isinstance(value, list | tuple),
                name,
                f"{value!r} is not a list of ids",
                "give a list of AWS ids",
            )
            object.__setattr__(self, name, tuple(value))
        _require(
            isinstance(self.netmask_range, list | tuple) and len(self.netmask_range) == 2,
            "netmask_range",
            f"{self.netmask_range!r} is not a pair of prefix lengths",
            f"give two numbers such as {list(DEFAULT_NETMASK_RANGE)}",
        )
        object.__setattr__(self, "netmask_range", tuple(self.netmask_range))
        for name, kind in (("metastore", Metastore), ("private_access_level", PrivateAccessLevel)):
            value = getattr(self, name)
            _require(
                value in {m.value for m in kind},
                name,
                f"{value!r} is not one of {[m.value for m in kind]}",
                f"choose one of {', '.join(m.value for m in kind)}",
            )
            object.__setattr__(self, name, kind(value))

    def _check_accounts(self) -> None:
        _require(
            bool(self.region) and _REGION.fullmatch(self.region) is not None,
            "region",
            f"{self.region!r} is not an AWS region name",
            "give the workspace's region, e.g. ap-northeast-1",
        )
        _require(
            _DATABRICKS_ACCOUNT.fullmatch(self.databricks_account_id or "") is not None,
            "databricks_account_id",
            "missing or not a Databricks account id (a UUID)",
            "copy the account id from the account console (top right menu)",
        )
        _require(
            _AWS_ACCOUNT.fullmatch(self.aws_account_id or "") is not None,
            "aws_account_id",
            f"{self.aws_account_id!r} is not a 12-digit AWS account id",
            "give the AWS account that owns the VPC",
        )

    def _check_network(self) -> None:
        _check_ids("vpc_id", [self.vpc_id], _PREFIXED_ID["vpc"], "vpc-0abc12345")
        _check_ids("cluster_subnet_ids", self.cluster_subnet_ids, _PREFIXED_ID["subnet"], "subnet-0abc12345")
        _check_ids(
            "endpoint_subnet_ids", self.endpoint_subnet_ids, _PREFIXED_ID["subnet"], "subnet-0abc12345"
        )
        _check_ids("security_group_ids", self.security_group_ids, _GROUP_ID, "sg-0abc12345")
        _check_ids("endpoint_security_group_id", [self.endpoint_security_group_id], _GROUP_ID, "sg-0abc12345")
        _require(
            bool(self.cluster_subnet_ids),
            "cluster_subnet_ids",
            "no cluster subnet given",
            "list the private subnets the clusters run in (two or more, different AZs)",
        )
        _require(
            bool(self.security_group_ids),
            "security_group_ids",
            "no security group given",
            "list the cluster group and the endpoint group the network registers",
        )
        _require(
            isinstance(self.max_nodes, int) and not isinstance(self.max_nodes, bool) and self.max_nodes >= 1,
            "max_nodes",
            f"{self.max_nodes!r} is not a positive node count",
            "give the largest cluster size the workspace must fit",
        )
        low, high = self.netmask_range
        _require(
            16 <= low <= high <= 28,
            "netmask_range",
            f"{self.netmask_range!r} is not a prefix range between /16 and /28",
            f"keep the documented default {DEFAULT_NETMASK_RANGE} (Terraform's docs: /17-/25)",
        )

    def _check_private_link(self) -> None:
        if self.private_link:
            _require(
                self.region in ENDPOINT_SERVICES,
                "region",
                f"no Databricks PrivateLink endpoint service is known for {self.region!r}",
                f"use one of {sorted(ENDPOINT_SERVICES)} or turn private_link off",
            )
            _require(
                bool(self.relay_endpoint_id) and bool(self.workspace_endpoint_id),
                "relay_endpoint_id",
                "PrivateLink needs both the relay (SCC) and the workspace (REST API) endpoint",
                "give relay_endpoint_id and workspace_endpoint_id (AWS vpce- ids)",
            )
        for name in ("relay_endpoint_id", "workspace_endpoint_id", "front_end_endpoint_id"):
            value = getattr(self, name)
            if value is not None:
                _check_ids(name, [value], _ENDPOINT_ID, "vpce-0abc12345")
        _check_ids("allowed_vpc_endpoint_ids", self.allowed_vpc_endpoint_ids, _ENDPOINT_ID, "vpce-0abc12345")
        _require(
            self.private_access_level != PrivateAccessLevel.ENDPOINT or bool(self.allowed_vpc_endpoint_ids),
            "allowed_vpc_endpoint_ids",
            "private access level ENDPOINT admits only listed endpoints, and none is listed",
            "list the front-end endpoint ids, or use private_access_level ACCOUNT",
        )

    def _check_roles(self) -> None:
        for name in ("cross_account_role_arn", "storage_role_arn", "cluster_role_arn", "data_role_arn"):
            value = getattr(self, name)
            if value is None and name != "cross_account_role_arn":
                continue
            _require(
                isinstance(value, str) and _ROLE_ARN.fullmatch(value) is not None,
                name,
                f"{value!r} is not an IAM role ARN",
                "give arn:aws:iam::<account>:role/<name> (a role, not an instance profile)",
            )
        _require(
            (self.cluster_role_arn is None) == (self.data_role_arn is None),
            "data_role_arn",
            "the S3 commit-service check needs both the cluster role and the data role",
            "give both cluster_role_arn and data_role_arn, or neither",
        )
        _require(
            _BUCKET.fullmatch(self.root_bucket_name or "") is not None,
            "root_bucket_name",
            f"{self.root_bucket_name!r} is not an S3 bucket name",
            "give the workspace root bucket of the storage configuration",
        )


# --- findings and the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One broken rule on one resource."""

    rule_id: str
    severity: Severity
    resource_id: str
    message: str
    seed_section: str
    fix: str
    later_failure: str | None

    def line(self) -> str:
        """One log line: severity, rule, resource, message, fix and later failure."""
        text = f"[{self.severity}] {self.rule_id} {self.resource_id}: {self.message}. Fix: {self.fix}"
        if self.later_failure:
            text += f". Otherwise later: {self.later_failure}"
        return text


def finding(rule_id: str, resource_id: str, message: str) -> Finding:
    """A finding of rule ``rule_id`` on ``resource_id``, carrying the rule's severity, source and fix."""
    rule = RULES[rule_id]
    return Finding(
        rule_id, rule.severity, resource_id, message, rule.seed_section, rule.fix, rule.later_failure
    )


@dataclass(frozen=True)
class PreflightReport:
    """The outcome of a preflight: errors stop the deployment, warnings are reported."""

    findings: tuple[Finding, ...]
    rules_checked: tuple[str, ...]

    @property
    def errors(self) -> list[Finding]:
        """Findings of severity error."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity warning."""
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not self.errors

    def failed_rules(self) -> set[str]:
        """The ids of the rules with at least one finding."""
        return {f.rule_id for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what goes to XCom)."""
        return {
            "ok": self.ok,
            "rules_checked": list(self.rules_checked),
            "errors": [asdict(f) for f in self.errors],
            "warnings": [asdict(f) for f in self.warnings],
        }

    def to_json(self) -> str:
        """The report as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    def lines(self) -> list[str]:
        """Log lines: a summary, then each error and warning."""
        head = f"preflight: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        return [head, *(f.line() for f in self.errors), *(f.line() for f in self.warnings)]


# --- port coverage helpers --------------------------------------------------------------------------


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def uncovered(required: tuple[int, int], intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of the port range ``required`` that no interval covers."""
    gaps: list[tuple[int, int]] = []
    cursor = required[0]
    for low, high in _merge(intervals):
        if high < cursor or low > required[1]:
            continue
        if low > cursor:
            gaps.append((cursor, low - 1))
        cursor = max(cursor, high + 1)
        if cursor > required[1]:
            return gaps
    if cursor <= required[1]:
        gaps.append((cursor, required[1]))
    return gaps


def _protocol_matches(rule_protocol: str, protocol: str) -> bool:
    aliases = {"6": "tcp", "17": "udp", "-1": "-1", "all": "-1"}
    normal = aliases.get(rule_protocol.lower(), rule_protocol.lower())
    return normal in ("-1", protocol)


def _ports(permissions: Iterable[Permission], protocol: str, peer: Any) -> list[tuple[int, int]]:
    out = []
    for p in permissions:
        if not _protocol_matches(p.protocol, protocol) or not peer(p):
            continue
        out.append(ALL_PORTS if p.protocol in ("-1", "all") else (p.from_port, p.to_port))
    return out


def _fmt(ranges: Iterable[tuple[int, int]]) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


# --- the rules -------------------------------------------------------------------------------------


def _check_vpc(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    vpc = snapshot.vpc
    off = [
        n for n, on in (("DNS hostnames", vpc.dns_hostnames), ("DNS resolution", vpc.dns_support)) if not on
    ]
    if off:
        yield finding("VPC-DNS", vpc.vpc_id, f"{' and '.join(off)} disabled")


def _check_subnets(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
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


def _cluster_subnets(snapshot: PreflightSnapshot, request: PreflightRequest) -> list[Subnet]:
    return [s for sid in request.cluster_subnet_ids if (s := snapshot.subnet(sid)) is not None]


def _check_routes(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    for subnet in _cluster_subnets(snapshot, request):
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
        s.subnet_id for s in _cluster_subnets(snapshot, request) if not _nat_status(snapshot, s.subnet_id)[0]
    ]


def _aws_service(region: str, name: str) -> str:
    return f"com.amazonaws.{region}.{name}"


def _service_endpoints(snapshot: PreflightSnapshot, service: str, kind: str) -> list[VpcEndpoint]:
    return [
        e
        for e in snapshot.endpoints
        if e.service_name == service
        and e.endpoint_type.lower() == kind
        and e.state.lower() != "deleted"
        and snapshot.in_vpc(e)
    ]


def _front_end_only(request: PreflightRequest) -> str | None:
    """The front-end endpoint's id when it is not also the workspace (REST API) endpoint."""
    front = request.front_end_endpoint_id
    return front if front and front != request.workspace_endpoint_id else None


def _check_no_nat(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
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
    if not _service_endpoints(snapshot, _aws_service(request.region, "s3"), "gateway"):
        yield finding("NONAT-ENDPOINTS", where, "no working NAT route and no S3 gateway endpoint")
    for name in ("sts", "kinesis-streams"):
        if not _service_endpoints(snapshot, _aws_service(request.region, name), "interface"):
            text = f"no working NAT route and no {name} interface endpoint"
            if name == "sts":
                text += f": expect '{SECURITY_DAEMON_FAILURE}'"
            yield finding("NONAT-ENDPOINTS", where, text)
    # The clusters' paths: every interface endpoint of the workspace VPC but a front-end-only endpoint,
    # which users' browsers reach through their own DNS and no cluster calls.
    front = _front_end_only(request)
    for endpoint in snapshot.endpoints:
        if not snapshot.in_vpc(endpoint) or endpoint.endpoint_id == front:
            continue
        if endpoint.endpoint_type.lower() == "interface" and not endpoint.private_dns:
            text = f"no working NAT route and {endpoint.service_name} has private DNS disabled"
            if endpoint.service_name == _aws_service(request.region, "sts"):
                text += f": expect '{SECURITY_DAEMON_FAILURE}'"
            yield finding("NONAT-ENDPOINTS", endpoint.endpoint_id, text)


def _nacl_verdict(acl: NetworkAcl, egress: bool, protocol: str, port: int, network: str) -> bool:
    """Whether traffic to/from the whole of ``network`` on ``protocol``/``port`` passes ``acl``."""
    probe = ipaddress.ip_network(network)
    for entry in sorted((e for e in acl.entries if e.egress == egress), key=lambda e: e.rule_number):
        if not _protocol_matches(entry.protocol, protocol):
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


def _check_nacls(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    for subnet in _cluster_subnets(snapshot, request):
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


def _self_gaps(groups: Sequence[SecurityGroup], own_ids: set[str]) -> list[str]:
    gaps = []
    for direction in ("ingress", "egress"):
        rules = [p for g in groups for p in getattr(g, direction)]
        for protocol in ("tcp", "udp"):
            ports = _ports(rules, protocol, lambda p: bool(own_ids & set(p.group_ids)))
            missing = uncovered(ALL_PORTS, ports)
            if missing:
                gaps.append(f"{direction} {protocol} {_fmt(missing)} with itself")
    return gaps


def _egress_gaps(
    groups: Sequence[SecurityGroup], required: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    rules = [p for g in groups for p in g.egress]
    ports = _ports(rules, "tcp", lambda p: ANYWHERE in p.cidrs)
    return [gap for need in required for gap in uncovered(need, ports)]


def _check_groups(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
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
        yield finding("SG-CLUSTER-EGRESS", resource, f"no egress to 0.0.0.0/0 on TCP {_fmt(egress)}")
    if _egress_gaps(cluster, [HIVE_METASTORE_PORT]):
        hive = request.metastore is Metastore.DATABRICKS_HIVE
        rule = "SG-CLUSTER-METASTORE" if hive else "SG-CLUSTER-METASTORE-UNUSED"
        yield finding(
            rule, resource, f"no egress to 0.0.0.0/0 on TCP 3306 (metastore={request.metastore.value})"
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


def _check_aws_endpoints(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    s3 = _service_endpoints(snapshot, _aws_service(request.region, "s3"), "gateway")
    tables = {s3_table for e in s3 for s3_table in e.route_table_ids}
    for subnet in _cluster_subnets(snapshot, request):
        table = snapshot.route_table_of(subnet.subnet_id)
        if table is None or table.route_table_id not in tables:
            where = table.route_table_id if table else "no route table"
            yield finding("EP-S3-GATEWAY", subnet.subnet_id, f"no S3 gateway endpoint on {where}")
    for rule_id, name in (("EP-STS", "sts"), ("EP-KINESIS", "kinesis-streams")):
        service = _aws_service(request.region, name)
        endpoints = _service_endpoints(snapshot, service, "interface")
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


def _check_private_link(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
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
        not uncovered((443, 443), _ports(g.ingress, "tcp", lambda p: bool(p.cidrs or p.group_ids)))
        for g in groups
    ):
        yield finding(
            "PAS-FRONTEND-INGRESS",
            front,
            f"in {where}: no group of {', '.join(endpoint.group_ids)} admits TCP 443, so browsers cannot "
            "connect",
        )


def _role(snapshot: PreflightSnapshot, rule_id: str, arn: str) -> tuple[IamRole | None, Finding | None]:
    role = snapshot.roles.get(arn)
    if role is None:
        return None, finding(rule_id, arn, "role not found")
    return role, None


def _check_cross_account(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    role, missing = _role(snapshot, "IAM-CROSS-ACCOUNT-TRUST", request.cross_account_role_arn)
    if role is None:
        yield missing  # type: ignore[misc]
        return
    databricks = iam_policy.DATABRICKS_AWS_ACCOUNT_ID
    grants = [
        g
        for g in iam_policy.trusted_principals(role.trust_policy)
        if iam_policy.admits_account(g, databricks)
    ]
    if not grants:
        yield finding(
            "IAM-CROSS-ACCOUNT-TRUST", role.arn, f"trust policy does not admit account {databricks}"
        )
    elif not any(request.databricks_account_id in g.external_ids for g in grants):
        seen = sorted({e for g in grants for e in g.external_ids}) or ["none"]
        yield finding(
            "IAM-CROSS-ACCOUNT-TRUST",
            role.arn,
            f"sts:ExternalId is {', '.join(seen)}; expected the account id {request.databricks_account_id}",
        )
    lacking = iam_policy.missing_actions(role.permission_policies, CUSTOMER_MANAGED_VPC_ACTIONS)
    lacking += iam_policy.missing_actions(
        role.permission_policies, SPOT_ROLE_ACTIONS, SPOT_SERVICE_LINKED_ROLE
    )
    if lacking:
        yield finding(
            "IAM-CROSS-ACCOUNT-POLICY", role.arn, f"missing {len(lacking)} action(s): {', '.join(lacking)}"
        )


def _bucket_grants(policy: Mapping[str, Any] | None, bucket: str) -> list[str]:
    databricks = iam_policy.DATABRICKS_AWS_ACCOUNT_ID
    admitted = [
        s
        for s in iam_policy.statements(policy)
        if s.get("Effect") == "Allow"
        and any(
            iam_policy.admits_account(g, databricks)
            for g in iam_policy.trusted_principals({"Statement": [{**s, "Action": "sts:AssumeRole"}]})
        )
    ]
    documents = [{"Statement": admitted}]
    lacking = iam_policy.missing_actions(documents, ROOT_BUCKET_OBJECT_ACTIONS, f"arn:aws:s3:::{bucket}/*")
    lacking += iam_policy.missing_actions(documents, ROOT_BUCKET_ACTIONS, f"arn:aws:s3:::{bucket}")
    return lacking


def _check_storage(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    bucket = request.root_bucket_name
    if not snapshot.root_bucket_exists:
        yield finding("IAM-ROOT-BUCKET-POLICY", bucket, "bucket not found")
    elif snapshot.root_bucket_policy is None:
        yield finding("IAM-ROOT-BUCKET-POLICY", bucket, "bucket has no policy")
    else:
        lacking = _bucket_grants(snapshot.root_bucket_policy, bucket)
        if lacking:
            yield finding("IAM-ROOT-BUCKET-POLICY", bucket, f"Databricks lacks {', '.join(lacking)}")
    if request.storage_role_arn:
        role, missing = _role(snapshot, "IAM-STORAGE-ROLE-SELF-TRUST", request.storage_role_arn)
        if role is None:
            yield missing  # type: ignore[misc]
        elif not iam_policy.trust_admits(role.trust_policy, role.arn):
            yield finding(
                "IAM-STORAGE-ROLE-SELF-TRUST",
                role.arn,
                "trust policy does not name the role itself (first step only?)",
            )


def _check_commit_service(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    if not (request.cluster_role_arn and request.data_role_arn):
        return
    cluster, missing = _role(snapshot, "COMMIT-CLUSTER-ASSUME", request.cluster_role_arn)
    if cluster is None:
        yield missing  # type: ignore[misc]
    else:
        if not iam_policy.allowed(cluster.permission_policies, iam_policy.ASSUME_ROLE, request.data_role_arn):
            yield finding(
                "COMMIT-CLUSTER-ASSUME", cluster.arn, f"may not sts:AssumeRole {request.data_role_arn}"
            )
        if iam_policy.allowed(cluster.permission_policies, "s3:GetObject") or iam_policy.allowed(
            cluster.permission_policies, "s3:PutObject"
        ):
            yield finding("COMMIT-CLUSTER-NO-S3", cluster.arn, "the cluster role itself can read or write S3")
    data, missing = _role(snapshot, "COMMIT-DATA-TRUST", request.data_role_arn)
    if data is None:
        yield missing  # type: ignore[misc]
    elif not iam_policy.trust_admits(data.trust_policy, request.cluster_role_arn):
        profiles = [
            g.principal
            for g in iam_policy.trusted_principals(data.trust_policy)
            if ":instance-profile/" in g.principal
        ]
        detail = f"; it names the instance profile {profiles[0]}, which IAM never matches" if profiles else ""
        yield finding(
            "COMMIT-DATA-TRUST", data.arn, f"trust policy does not admit {request.cluster_role_arn}{detail}"
        )


CHECKS = (
    _check_vpc,
    _check_subnets,
    _check_routes,
    _check_no_nat,
    _check_nacls,
    _check_groups,
    _check_aws_endpoints,
    _check_private_link,
    _check_cross_account,
    _check_storage,
    _check_commit_service,
)


def evaluate(snapshot: PreflightSnapshot, request: PreflightRequest) -> PreflightReport:
    """Check every rule against the snapshot; the report lists each broken rule per resource."""
    findings = tuple(f for check in CHECKS for f in check(snapshot, request))
    return PreflightReport(findings=findings, rules_checked=tuple(RULES))
