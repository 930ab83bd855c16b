"""Asks a new workspace who the caller is (SCIM Me): the last check before a deployment counts as done.

The account API's RUNNING says the workspace exists; its own host answering says it can be used. The
client is databricks-sdk's WorkspaceClient on the workspace host (built from the deployment name, see
:func:`platform_ops.core.workspace_objects.workspace_host`), authenticated with the same credentials as
the account connection (a token, or the OAuth M2M service principal). The credentials are handed to
the SDK and never logged.

A fresh workspace answers "does not have any associated worker environments" for a while, and its DNS
name may not resolve yet: both are :class:`~platform_ops.exceptions.TransientServiceError` here, for the
caller to retry until its own deadline.

:func:`restrict_buckets` writes the IP restriction of
:mod:`platform_ops.core.bucket_policy` into the buckets' policies through the Amazon provider's S3Hook
(one read and at most one write per bucket), after one EC2 call that finds the VPC's S3 gateway
endpoint when the parameters name none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from airflow.providers.amazon.aws.hooks.ec2 import EC2Hook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from botocore.exceptions import BotoCoreError, ClientError
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config

from platform_ops.core.bucket_policy import BucketRestriction, merge_statement
from platform_ops.exceptions import ConfigError, ExternalServiceError, TransientServiceError
from platform_ops.hooks import aws_network
from platform_ops.hooks.databricks_account import DatabricksAccountHook, translate

SERVICE = "Databricks workspace"
NOT_READY = re.compile(
    r"does not have any associated worker environments|Name or service not known|"
    r"nodename nor servname|Temporary failure in name resolution|getaddrinfo failed",
    re.IGNORECASE,
)
_CREDENTIAL_KEYS = ("token", "client_id", "client_secret", "auth_type", "retry_timeout_seconds")


def is_not_ready(exc: BaseException) -> bool:
    """Whether ``exc`` is what a workspace that is still coming up answers (or its DNS not there yet)."""
    return bool(NOT_READY.search(str(exc)))


def workspace_client(
    account: DatabricksAccountHook, host: str, retry_timeout: float | None = None
) -> WorkspaceClient:
    """A WorkspaceClient on ``host`` with the account connection's credentials (never logged).

    ``retry_timeout`` bounds the SDK's own retries of one call (its default is 300 s).
    """
    settings = {k: v for k, v in account.client_kwargs.items() if k in _CREDENTIAL_KEYS}
    if retry_timeout is not None:
        settings["retry_timeout_seconds"] = max(1, int(retry_timeout))
    return WorkspaceClient(config=Config(host=host, **settings))


def current_user(
    account: DatabricksAccountHook, host: str, retry_timeout: float | None = None
) -> dict[str, Any]:
    """The SCIM user the account connection's credentials are on ``host`` (``id`` and ``userName``).

    Args:
        account: the account hook whose connection holds the credentials.
        host: the workspace URL.
        retry_timeout: how long the SDK may retry this one call (the caller retries after that).

    Raises:
        TransientServiceError: the workspace is not ready yet, or not reachable.
        ExternalServiceError: any other refusal (translated).
    """
    try:
        me = workspace_client(account, host, retry_timeout).current_user.me()
    except ExternalServiceError:
        raise
    except Exception as exc:
        if is_not_ready(exc):
            raise TransientServiceError(SERVICE, "current user", str(exc)) from exc
        error = translate(exc, "current user")
        raise type(error)(SERVICE, "current user", error.message) from exc
    return {"id": me.id, "userName": me.user_name}


def ensure_instance_profile(account: DatabricksAccountHook, host: str, arn: str) -> bool:
    """Register the instance profile in the workspace unless it is; True when this call added it.

    Raises:
        ExternalServiceError: translated (Databricks validates the profile with AWS when adding it).
    """
    client = workspace_client(account, host)
    try:
        if any(p.instance_profile_arn == arn for p in client.instance_profiles.list()):
            return False
        client.instance_profiles.add(instance_profile_arn=arn)
    except Exception as exc:
        error = translate(exc, "instance profiles")
        raise type(error)(SERVICE, "instance profiles", error.message) from exc
    return True


def ensure_cluster_policy(
    account: DatabricksAccountHook, host: str, name: str, definition: Mapping[str, Any]
) -> tuple[str, str]:
    """Find the cluster policy by name and make its definition ``definition``.

    Returns:
        ``(policy_id, action)``, action one of ``created``, ``updated``, ``unchanged``.

    Raises:
        ExternalServiceError: translated.
    """
    client = workspace_client(account, host)
    wanted = json.dumps(definition, sort_keys=True)
    try:
        found = [p for p in client.cluster_policies.list() if p.name == name]
        if not found:
            created = client.cluster_policies.create(name=name, definition=wanted)
            return str(created.policy_id), "created"
        policy = found[0]
        if json.loads(policy.definition or "{}") == json.loads(wanted):
            return str(policy.policy_id), "unchanged"
        client.cluster_policies.edit(policy_id=str(policy.policy_id), name=name, definition=wanted)
    except Exception as exc:
        error = translate(exc, "cluster policies")
        raise type(error)(SERVICE, "cluster policies", error.message) from exc
    return str(policy.policy_id), "updated"


def s3_gateway_endpoints(aws_conn_id: str | None, region: str, vpc_id: str) -> list[str]:
    """The VPC's S3 gateway endpoint ids (one EC2 call).

    Raises:
        ExternalServiceError: translated from botocore.
    """
    ec2 = EC2Hook(aws_conn_id=aws_conn_id, region_name=region, api_type="client_type").conn
    filters = [
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "service-name", "Values": [f"com.amazonaws.{region}.s3"]},
        {"Name": "vpc-endpoint-type", "Values": ["Gateway"]},
    ]
    try:
        found = ec2.describe_vpc_endpoints(Filters=filters)["VpcEndpoints"]
    except (ClientError, BotoCoreError) as exc:
        raise aws_network.translate("ec2", "DescribeVpcEndpoints", exc) from exc
    return sorted(e["VpcEndpointId"] for e in found if str(e.get("State", "")).lower() != "deleted")


def _current_policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        document: dict[str, Any] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucketPolicy":
            return None
        raise
    return document


def restrict_buckets(
    aws_conn_id: str | None, region: str, restriction: BucketRestriction
) -> list[dict[str, Any]]:
    """Merge the restriction's Deny statement into each bucket's policy; write only what changes.

    Returns one entry per bucket: ``bucket``, ``changed``, ``vpc_endpoint_ids``.

    Raises:
        ConfigError: no S3 gateway endpoint is given or found (clusters would lose the buckets).
        ExternalServiceError: translated from botocore.
    """
    endpoints = list(restriction.vpc_endpoint_ids) or s3_gateway_endpoints(
        aws_conn_id, region, restriction.vpc_id
    )
    if not endpoints:
        raise ConfigError(
            "bucket_policy.s3_gateway_endpoint_ids",
            f"the VPC {restriction.vpc_id} has no S3 gateway endpoint: its clusters would lose the buckets",
            "add the S3 gateway endpoint on the cluster subnets' route tables, or name it here",
        )
    statement = restriction.statement(endpoints)
    s3 = S3Hook(aws_conn_id=aws_conn_id, region_name=region).get_conn()
    results = []
    for bucket in restriction.buckets:
        try:
            merged, changed = merge_statement(_current_policy(s3, bucket), statement)
            if changed:
                s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(merged))
        except (ClientError, BotoCoreError) as exc:
            raise aws_network.translate("s3", "bucket policy", exc) from exc
        results.append({"bucket": bucket, "changed": changed, "vpc_endpoint_ids": endpoints})
    return results
