"""The request: what the workspace will be created with, validated field by field before any AWS read."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from platform_ops.core.workspace_preflight.reference import DEFAULT_NETMASK_RANGE, ENDPOINT_SERVICES
from platform_ops.core.workspace_preflight.rules import Metastore, PrivateAccessLevel
from platform_ops.exceptions import ConfigError

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
