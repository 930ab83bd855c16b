"""AwsNetworkHook: reads the preflight snapshot of a workspace VPC through the Amazon provider's hooks.

EC2 through :class:`EC2Hook` (client API), IAM and S3 through :class:`AwsBaseHook` clients, all from one
Airflow AWS connection (its ``extra.endpoint_url`` points them at moto for local runs; under moto's
``mock_aws`` no endpoint is needed).

Few calls, and a fixed number of them: every EC2 describe is one batch filtered by the VPC id (one
call per page), so the count does not grow with the number of subnets, groups, endpoints or rules;
IAM costs a fixed handful of calls per role the request names, S3 one call. An endpoint the request
names that is not in the VPC (a front-end endpoint in a transit VPC) is read where it is, with its VPC
and groups: a few calls more, only then. ``calls`` counts every
API call made, by ``service.Operation``. botocore errors become :mod:`platform_ops.exceptions`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.ec2 import EC2Hook
from botocore import exceptions as boto_errors

from platform_ops.core import workspace_preflight as wp
from platform_ops.exceptions import (
    AccessDeniedError,
    ConfigError,
    ExternalServiceError,
    InvalidRequestError,
    ResourceNotFoundError,
    TransientServiceError,
)

_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthFailure",
    "InvalidClientTokenId",
}
_TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "SlowDown",
    "RequestTimeout",
}


def translate(service: str, operation: str, exc: Exception) -> ExternalServiceError:
    """The platform_ops error for a botocore exception raised by ``service.operation``."""
    if isinstance(exc, boto_errors.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
        if code in _DENIED:
            return AccessDeniedError(service, operation, message)
        if code in _TRANSIENT:
            return TransientServiceError(service, operation, message)
        if code.endswith(".NotFound") or code.startswith("NoSuch") or code == "NotFound":
            return ResourceNotFoundError(service, operation, message)
        return InvalidRequestError(service, operation, message)
    if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
        return AccessDeniedError(service, operation, str(exc))
    if isinstance(exc, boto_errors.EndpointConnectionError | boto_errors.ConnectTimeoutError):
        return TransientServiceError(service, operation, str(exc))
    if isinstance(exc, boto_errors.ReadTimeoutError | boto_errors.ConnectionClosedError):
        return TransientServiceError(service, operation, str(exc))
    return ExternalServiceError(service, operation, str(exc))


def _document(value: Any) -> Mapping[str, Any]:
    """A policy document as boto3 returns it (already a dict, or URL-encoded JSON text)."""
    if isinstance(value, Mapping):
        return value
    return json.loads(unquote(str(value)))  # type: ignore[no-any-return]


class AwsNetworkHook(AwsBaseHook):
    """Describes a workspace VPC, its IAM roles and root bucket policy as a :class:`PreflightSnapshot`.

    Args:
        aws_conn_id: The Airflow AWS connection (``None``: boto3's default credential chain).
        region_name: The workspace region (overrides the connection's).
    """

    def __init__(self, aws_conn_id: str | None = "aws_default", region_name: str | None = None) -> None:
        """Bind the hook to a connection and region; clients are made on first use."""
        super().__init__(aws_conn_id=aws_conn_id, region_name=region_name, client_type="ec2")
        self.calls: Counter[str] = Counter()
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            if service == "ec2":
                hook: AwsBaseHook = EC2Hook(
                    api_type="client_type", aws_conn_id=self.aws_conn_id, region_name=self._region_name
                )
            else:
                hook = AwsBaseHook(
                    aws_conn_id=self.aws_conn_id, region_name=self._region_name, client_type=service
                )
            try:
                client = hook.get_client_type()
            except Exception as exc:
                raise translate(service, "connect", exc) from exc
            client.meta.events.register("before-call", self._count)
            self._clients[service] = client
        return self._clients[service]

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    @property
    def call_count(self) -> int:
        """AWS API calls made so far by this hook."""
        return sum(self.calls.values())

    def _call(self, service: str, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client(service), operation)(**kwargs)
        except boto_errors.BotoCoreError as exc:
            raise translate(service, operation, exc) from exc
        except boto_errors.ClientError as exc:
            raise translate(service, operation, exc) from exc

    def _pages(self, service: str, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
        try:
            for page in self._client(service).get_paginator(operation).paginate(**kwargs):
                yield from page.get(key, [])
        except (boto_errors.BotoCoreError, boto_errors.ClientError) as exc:
            raise translate(service, operation, exc) from exc

    # --- EC2 ---------------------------------------------------------------------------------------

    def describe_vpc(self, vpc_id: str) -> wp.Vpc:
        """The VPC and its two DNS attributes (3 calls: the attributes cannot be batched)."""
        vpcs = self._call("ec2", "describe_vpcs", VpcIds=[vpc_id])["Vpcs"]
        hostnames = self._call("ec2", "describe_vpc_attribute", VpcId=vpc_id, Attribute="enableDnsHostnames")
        support = self._call("ec2", "describe_vpc_attribute", VpcId=vpc_id, Attribute="enableDnsSupport")
        return wp.Vpc(
            vpc_id=vpc_id,
            cidr=vpcs[0]["CidrBlock"],
            dns_hostnames=bool(hostnames["EnableDnsHostnames"]["Value"]),
            dns_support=bool(support["EnableDnsSupport"]["Value"]),
        )

    def _in_vpc(self, operation: str, key: str, vpc_id: str, filter_name: str = "vpc-id") -> list[Any]:
        return list(self._pages("ec2", operation, key, Filters=[{"Name": filter_name, "Values": [vpc_id]}]))

    def describe_network(self, vpc_id: str) -> dict[str, tuple[Any, ...]]:
        """Subnets, route tables, gateways, NACLs, groups and endpoints of the VPC: one batch each."""
        return {
            "subnets": tuple(_subnet(s) for s in self._in_vpc("describe_subnets", "Subnets", vpc_id)),
            "route_tables": tuple(
                _table(t) for t in self._in_vpc("describe_route_tables", "RouteTables", vpc_id)
            ),
            "nat_gateways": tuple(
                wp.NatGateway(n["NatGatewayId"], n["SubnetId"], n["State"])
                for n in self._in_vpc("describe_nat_gateways", "NatGateways", vpc_id)
            ),
            "internet_gateways": tuple(
                wp.InternetGateway(
                    g["InternetGatewayId"],
                    tuple(
                        a["VpcId"]
                        for a in g.get("Attachments", [])
                        if a.get("State") in ("available", "attached")
                    ),
                )
                for g in self._in_vpc(
                    "describe_internet_gateways", "InternetGateways", vpc_id, "attachment.vpc-id"
                )
            ),
            "network_acls": tuple(
                _acl(a) for a in self._in_vpc("describe_network_acls", "NetworkAcls", vpc_id)
            ),
            "security_groups": tuple(
                _group(g) for g in self._in_vpc("describe_security_groups", "SecurityGroups", vpc_id)
            ),
            "endpoints": tuple(
                _endpoint(e) for e in self._in_vpc("describe_vpc_endpoints", "VpcEndpoints", vpc_id)
            ),
        }

    def describe_elsewhere(
        self, endpoint_ids: list[str], vpc_id: str
    ) -> tuple[tuple[wp.VpcEndpoint, ...], tuple[wp.Vpc, ...], tuple[wp.SecurityGroup, ...]]:
        """Endpoints the request names outside ``vpc_id``, with their VPCs and security groups.

        They are read by id, wherever they are in the region; an id AWS does not know is left out (the
        rules report it).
        """
        if not endpoint_ids:
            return (), (), ()
        try:
            found = self._call("ec2", "describe_vpc_endpoints", VpcEndpointIds=endpoint_ids)["VpcEndpoints"]
        except ResourceNotFoundError:  # one unknown id fails the batch: ask for each one
            found = []
            for endpoint_id in endpoint_ids:
                try:
                    found += self._call("ec2", "describe_vpc_endpoints", VpcEndpointIds=[endpoint_id])[
                        "VpcEndpoints"
                    ]
                except ResourceNotFoundError:
                    continue
        endpoints = tuple(_endpoint(e) for e in found)
        vpcs = tuple(self.describe_vpc(v) for v in sorted({e.vpc_id for e in endpoints} - {vpc_id, ""}))
        group_ids = sorted({g for e in endpoints if e.vpc_id != vpc_id for g in e.group_ids})
        groups: tuple[wp.SecurityGroup, ...] = ()
        if group_ids:
            described = self._call("ec2", "describe_security_groups", GroupIds=group_ids)["SecurityGroups"]
            groups = tuple(_group(g) for g in described)
        return endpoints, vpcs, groups

    # --- IAM and S3 --------------------------------------------------------------------------------

    def describe_role(self, arn: str) -> wp.IamRole | None:
        """A role's trust policy and every permission document (inline and attached), or None if absent."""
        name = arn.rsplit("/", 1)[-1]
        try:
            role = self._call("iam", "get_role", RoleName=name)["Role"]
        except ResourceNotFoundError:
            return None
        documents = [
            _document(self._call("iam", "get_role_policy", RoleName=name, PolicyName=p)["PolicyDocument"])
            for p in self._pages("iam", "list_role_policies", "PolicyNames", RoleName=name)
        ]
        for attached in self._pages("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=name):
            policy = self._call("iam", "get_policy", PolicyArn=attached["PolicyArn"])["Policy"]
            version = self._call(
                "iam",
                "get_policy_version",
                PolicyArn=attached["PolicyArn"],
                VersionId=policy["DefaultVersionId"],
            )
            documents.append(_document(version["PolicyVersion"]["Document"]))
        return wp.IamRole(
            arn=role["Arn"],
            trust_policy=_document(role["AssumeRolePolicyDocument"]),
            permission_policies=tuple(documents),
        )

    def bucket_policy(self, bucket: str) -> tuple[bool, Mapping[str, Any] | None]:
        """Whether the bucket exists, and its policy document (None when it has none)."""
        try:
            return True, _document(self._call("s3", "get_bucket_policy", Bucket=bucket)["Policy"])
        except ResourceNotFoundError as exc:
            if "NoSuchBucketPolicy" in exc.message:
                return True, None
            if "NoSuchBucket" in exc.message:
                return False, None
            raise

    def snapshot(self, request: wp.PreflightRequest) -> wp.PreflightSnapshot:
        """Everything the preflight rules read for ``request``.

        Raises:
            ConfigError: The connection's region is not the workspace's (checked before any call).
        """
        if self.region_name and self.region_name != request.region:
            raise ConfigError(
                "region",
                f"the workspace is in {request.region} but the AWS connection {self.aws_conn_id!r} is for "
                f"{self.region_name}",
                "set region_name of the AWS connection (or the task) to the workspace's region",
            )
        roles = {arn: role for arn in request.role_arns if (role := self.describe_role(arn)) is not None}
        bucket_exists, bucket_policy = self.bucket_policy(request.root_bucket_name)
        network = self.describe_network(request.vpc_id)
        named = [request.relay_endpoint_id, request.workspace_endpoint_id, request.front_end_endpoint_id]
        named += request.allowed_vpc_endpoint_ids
        here = {e.endpoint_id for e in network["endpoints"]}
        elsewhere = sorted({e for e in named if e and e not in here})
        endpoints, vpcs, groups = self.describe_elsewhere(elsewhere, request.vpc_id)
        network["endpoints"] += endpoints
        network["security_groups"] += groups
        return wp.PreflightSnapshot(
            vpc=self.describe_vpc(request.vpc_id),
            roles=roles,
            root_bucket_policy=bucket_policy,
            root_bucket_exists=bucket_exists,
            other_vpcs=vpcs,
            **network,
        )

    def preflight(self, request: wp.PreflightRequest) -> wp.PreflightReport:
        """Read the snapshot for ``request`` and evaluate every rule on it."""
        return wp.evaluate(self.snapshot(request), request)


# --- describe results -> snapshot values -----------------------------------------------------------


def _subnet(s: Mapping[str, Any]) -> wp.Subnet:
    return wp.Subnet(
        s["SubnetId"], s["VpcId"], s["CidrBlock"], s["AvailabilityZone"], int(s["AvailableIpAddressCount"])
    )


def _table(t: Mapping[str, Any]) -> wp.RouteTable:
    associations = t.get("Associations", [])
    routes = tuple(
        wp.Route(
            destination=r.get("DestinationCidrBlock") or r.get("DestinationPrefixListId") or "",
            gateway_id=r.get("GatewayId"),
            nat_gateway_id=r.get("NatGatewayId"),
            state=r.get("State", "active"),
        )
        for r in t.get("Routes", [])
    )
    return wp.RouteTable(
        route_table_id=t["RouteTableId"],
        vpc_id=t["VpcId"],
        main=any(a.get("Main") for a in associations),
        subnet_ids=tuple(a["SubnetId"] for a in associations if a.get("SubnetId")),
        routes=routes,
    )


def _acl(a: Mapping[str, Any]) -> wp.NetworkAcl:
    entries = tuple(
        wp.NaclEntry(
            rule_number=int(e["RuleNumber"]),
            egress=bool(e["Egress"]),
            protocol=str(e["Protocol"]),
            allow=e["RuleAction"] == "allow",
            cidr=e.get("CidrBlock") or e.get("Ipv6CidrBlock") or "::/0",
            port_from=int(e.get("PortRange", {}).get("From", 0)),
            port_to=int(e.get("PortRange", {}).get("To", 65535)),
        )
        for e in a.get("Entries", [])
    )
    return wp.NetworkAcl(a["NetworkAclId"], tuple(x["SubnetId"] for x in a.get("Associations", [])), entries)


def _permission(p: Mapping[str, Any]) -> wp.Permission:
    return wp.Permission(
        protocol=str(p.get("IpProtocol", "-1")),
        from_port=int(p.get("FromPort", 0)),
        to_port=int(p.get("ToPort", 65535)),
        cidrs=tuple(r["CidrIp"] for r in p.get("IpRanges", [])),
        group_ids=tuple(g["GroupId"] for g in p.get("UserIdGroupPairs", []) if "GroupId" in g),
    )


def _group(g: Mapping[str, Any]) -> wp.SecurityGroup:
    return wp.SecurityGroup(
        group_id=g["GroupId"],
        vpc_id=g.get("VpcId", ""),
        ingress=tuple(_permission(p) for p in g.get("IpPermissions", [])),
        egress=tuple(_permission(p) for p in g.get("IpPermissionsEgress", [])),
    )


def _endpoint(e: Mapping[str, Any]) -> wp.VpcEndpoint:
    return wp.VpcEndpoint(
        endpoint_id=e["VpcEndpointId"],
        service_name=e["ServiceName"],
        endpoint_type=e.get("VpcEndpointType", "Interface"),
        state=e.get("State", "available"),
        private_dns=bool(e.get("PrivateDnsEnabled", False)) and e.get("VpcEndpointType") != "Gateway",
        subnet_ids=tuple(e.get("SubnetIds", [])),
        group_ids=tuple(g["GroupId"] for g in e.get("Groups", [])),
        route_table_ids=tuple(e.get("RouteTableIds", [])),
        vpc_id=e.get("VpcId", ""),
    )
