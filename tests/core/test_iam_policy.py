"""IAM documents read without AWS: grants with wildcards, NotAction, explicit denies, trust principals
and the ExternalId they require."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from platform_ops.core import iam_policy

ROLE = "arn:aws:iam::123456789012:role/data"
CLUSTER = "arn:aws:iam::123456789012:role/cluster"
DATABRICKS = iam_policy.DATABRICKS_AWS_ACCOUNT_ID


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_a_single_statement_object_counts() -> None:
    single = {"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE}}
    assert iam_policy.allowed([single], "sts:AssumeRole", ROLE)
    assert not iam_policy.allowed([single], "sts:AssumeRole", CLUSTER)


def test_an_explicit_deny_wins_over_any_allow() -> None:
    docs = [
        doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        doc({"Effect": "Deny", "Action": "ec2:Run*"}),
    ]
    assert not iam_policy.allowed(docs, "ec2:RunInstances")
    assert iam_policy.allowed(docs, "ec2:DescribeVpcs")


def test_not_action_and_not_resource() -> None:
    docs = [doc({"Effect": "Allow", "NotAction": "iam:*", "NotResource": ROLE})]
    assert iam_policy.allowed(docs, "ec2:RunInstances", "*")
    assert not iam_policy.allowed(docs, "iam:PassRole", "*")
    assert not iam_policy.allowed(docs, "s3:GetObject", ROLE)


@given(st.sampled_from(["ec2:RunInstances", "ec2:DescribeVpcs", "ec2:CreateFleet"]), st.booleans())
def test_actions_match_case_insensitively_with_wildcards(action: str, upper: bool) -> None:
    pattern = "EC2:*" if upper else "ec2:*"
    assert iam_policy.allowed([doc({"Effect": "Allow", "Action": pattern, "Resource": "*"})], action)
    assert iam_policy.missing_actions(
        [doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})], [action]
    ) == [action]


def test_trust_grants_carry_their_external_id() -> None:
    trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{DATABRICKS}:root", CLUSTER]},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {"sts:ExternalId": "acct-1"}},
        },
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": ROLE}, "Action": "sts:AssumeRole"},
    )
    grants = iam_policy.trusted_principals(trust)
    assert [g.principal for g in grants] == [f"arn:aws:iam::{DATABRICKS}:root", CLUSTER]
    assert all(g.external_ids == ("acct-1",) for g in grants)
    assert iam_policy.trust_admits(trust, DATABRICKS, "acct-1")
    assert not iam_policy.trust_admits(trust, DATABRICKS, "acct-2")
    assert iam_policy.trust_admits(trust, CLUSTER)
    assert not iam_policy.trust_admits(trust, ROLE)


def test_a_wildcard_principal_is_not_an_account_grant() -> None:
    trust = doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"})
    (grant,) = iam_policy.trusted_principals(trust)
    assert not iam_policy.admits_account(grant, DATABRICKS)
