"""Rules of the IAM roles and the root bucket.

The cross-account role's trust and actions, the root bucket policy, the storage role's self-trust, and
the S3 commit-service roles.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from platform_ops.core import iam_policy
from platform_ops.core.workspace_preflight.reference import (
    CUSTOMER_MANAGED_VPC_ACTIONS,
    ROOT_BUCKET_ACTIONS,
    ROOT_BUCKET_OBJECT_ACTIONS,
    SPOT_ROLE_ACTIONS,
    SPOT_SERVICE_LINKED_ROLE,
)
from platform_ops.core.workspace_preflight.report import Finding, finding
from platform_ops.core.workspace_preflight.request import PreflightRequest
from platform_ops.core.workspace_preflight.snapshot import IamRole, PreflightSnapshot


def _role(snapshot: PreflightSnapshot, rule_id: str, arn: str) -> tuple[IamRole | None, Finding | None]:
    role = snapshot.roles.get(arn)
    if role is None:
        return None, finding(rule_id, arn, "role not found")
    return role, None


def check_cross_account(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """IAM-CROSS-ACCOUNT-*: the cross-account role's trust and actions."""
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


def check_storage(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """IAM-ROOT-BUCKET-POLICY and IAM-STORAGE-ROLE-SELF-TRUST."""
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


def check_commit_service(snapshot: PreflightSnapshot, request: PreflightRequest) -> Iterator[Finding]:
    """COMMIT-*: the S3 commit-service cluster and data roles."""
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
