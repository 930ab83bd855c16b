"""The rule catalogue.

Each rule's id, severity, the runbook section or documentation it comes from, the fix and the failure
it prevents; and the enums a request chooses from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from platform_ops.core import iam_policy
from platform_ops.core.workspace_preflight.reference import (
    CREDENTIALS_FAILURE,
    FREEZE_FAILURE,
    NPIP_FAILURE,
    SECURITY_DAEMON_FAILURE,
)


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
