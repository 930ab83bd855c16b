"""What the rules are checked against.

The runbook's failure texts, Databricks' PrivateLink endpoint services per region, the IAM action
sets and the ports, each cited where it is defined.
"""

from __future__ import annotations

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
