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

The package holds one concern per module: ``reference`` (the documented values), ``rules`` (the rule
catalogue), ``snapshot`` and ``request`` (the inputs), ``report`` (the findings), ``ports`` (port
coverage), and one module per rule family (``network_rules``, ``group_rules``, ``endpoint_rules``,
``iam_rules``). Everything public is importable from here, as before the split.
"""

from __future__ import annotations

from platform_ops.core.workspace_preflight.endpoint_rules import (
    check_aws_endpoints,
    check_private_link,
)
from platform_ops.core.workspace_preflight.group_rules import (
    check_groups,
)
from platform_ops.core.workspace_preflight.iam_rules import (
    check_commit_service,
    check_cross_account,
    check_storage,
)
from platform_ops.core.workspace_preflight.network_rules import (
    check_nacls,
    check_no_nat,
    check_routes,
    check_subnets,
    check_vpc,
)
from platform_ops.core.workspace_preflight.ports import (
    fmt_ranges,
    ports_of,
    protocol_matches,
    uncovered,
)
from platform_ops.core.workspace_preflight.reference import (
    ALL_PORTS,
    ANYWHERE,
    CLUSTER_EGRESS_PORTS,
    CREDENTIALS_FAILURE,
    CUSTOMER_MANAGED_VPC_ACTIONS,
    DEFAULT_NETMASK_RANGE,
    ENDPOINT_SERVICES,
    FREEZE_FAILURE,
    HIVE_METASTORE_PORT,
    NPIP_FAILURE,
    ROOT_BUCKET_ACTIONS,
    ROOT_BUCKET_OBJECT_ACTIONS,
    SECURITY_DAEMON_FAILURE,
    SPOT_ROLE_ACTIONS,
    SPOT_SERVICE_LINKED_ROLE,
    TERRAFORM_MAX_PREFIX,
    relay_service,
    workspace_service,
)
from platform_ops.core.workspace_preflight.report import (
    Finding,
    PreflightReport,
    finding,
)
from platform_ops.core.workspace_preflight.request import (
    PreflightRequest,
)
from platform_ops.core.workspace_preflight.rules import (
    RULES,
    Metastore,
    PrivateAccessLevel,
    Rule,
    Severity,
)
from platform_ops.core.workspace_preflight.snapshot import (
    IamRole,
    InternetGateway,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    Permission,
    PreflightSnapshot,
    Route,
    RouteTable,
    SecurityGroup,
    Subnet,
    Vpc,
    VpcEndpoint,
    aws_service,
    cluster_subnets,
    front_end_only,
    service_endpoints,
)

__all__ = [
    "ALL_PORTS",
    "ANYWHERE",
    "CHECKS",
    "CLUSTER_EGRESS_PORTS",
    "CREDENTIALS_FAILURE",
    "CUSTOMER_MANAGED_VPC_ACTIONS",
    "DEFAULT_NETMASK_RANGE",
    "ENDPOINT_SERVICES",
    "FREEZE_FAILURE",
    "HIVE_METASTORE_PORT",
    "NPIP_FAILURE",
    "ROOT_BUCKET_ACTIONS",
    "ROOT_BUCKET_OBJECT_ACTIONS",
    "RULES",
    "SECURITY_DAEMON_FAILURE",
    "SPOT_ROLE_ACTIONS",
    "SPOT_SERVICE_LINKED_ROLE",
    "TERRAFORM_MAX_PREFIX",
    "Finding",
    "IamRole",
    "InternetGateway",
    "Metastore",
    "NaclEntry",
    "NatGateway",
    "NetworkAcl",
    "Permission",
    "PreflightReport",
    "PreflightRequest",
    "PreflightSnapshot",
    "PrivateAccessLevel",
    "Route",
    "RouteTable",
    "Rule",
    "SecurityGroup",
    "Severity",
    "Subnet",
    "Vpc",
    "VpcEndpoint",
    "aws_service",
    "cluster_subnets",
    "evaluate",
    "finding",
    "fmt_ranges",
    "front_end_only",
    "ports_of",
    "protocol_matches",
    "relay_service",
    "service_endpoints",
    "uncovered",
    "workspace_service",
]

CHECKS = (
    check_vpc,
    check_subnets,
    check_routes,
    check_no_nat,
    check_nacls,
    check_groups,
    check_aws_endpoints,
    check_private_link,
    check_cross_account,
    check_storage,
    check_commit_service,
)


def evaluate(snapshot: PreflightSnapshot, request: PreflightRequest) -> PreflightReport:
    """Check every rule against the snapshot; the report lists each broken rule per resource."""
    findings = tuple(f for check in CHECKS for f in check(snapshot, request))
    return PreflightReport(findings=findings, rules_checked=tuple(RULES))
