"""The root bucket's IP restriction: parameters, the Deny statement, merging it into a policy, and what
it refuses (evaluated here: moto does not evaluate aws:SourceIp, see the operator tests)."""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

import pytest

from platform_ops.core.bucket_policy import (
    CONTROL_PLANE_IPS,
    CONTROL_PLANE_IPS_MISSING,
    DEFAULT_SID,
    BucketRestriction,
    denies,
    merge_statement,
    restriction_from_params,
)
from platform_ops.core.workspace_preflight import ENDPOINT_SERVICES
from platform_ops.exceptions import ConfigError

OTHER = {
    "Sid": "GrantDatabricksAccess",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::414351767826:root"},
    "Action": ["s3:GetObject", "s3:PutObject"],
    "Resource": ["arn:aws:s3:::root-bucket/*"],
}


def restriction(**changes: Any) -> BucketRestriction:
    params = {"allowed_ips": ["203.0.113.0/24", "198.51.100.7"], **changes}
    found = restriction_from_params(params, "ap-northeast-1", "root-bucket", "vpc-1")
    assert found is not None
    return found


def test_no_allowed_ips_means_no_restriction():
    assert restriction_from_params({}, "ap-northeast-1", "root-bucket", "vpc-1") is None
    assert restriction_from_params(None, "ap-northeast-1", "root-bucket", "vpc-1") is None


def test_the_statement_denies_s3_outside_the_ips_and_the_control_plane_but_not_through_the_vpc_endpoint():
    statement = restriction().statement(["vpce-s3gw"])
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == "s3:*"
    assert statement["Resource"] == ["arn:aws:s3:::root-bucket", "arn:aws:s3:::root-bucket/*"]
    ips = statement["Condition"]["NotIpAddress"]["aws:SourceIp"]
    assert ips == ["203.0.113.0/24", "198.51.100.7/32", *CONTROL_PLANE_IPS["ap-northeast-1"]]
    assert statement["Condition"]["StringNotEquals"]["aws:SourceVpce"] == ["vpce-s3gw"]
    assert denies(statement, source_ip="192.0.2.10")  # from elsewhere
    assert not denies(statement, source_ip="203.0.113.99")  # an allowed range
    assert not denies(statement, source_ip="198.51.100.7")
    assert not denies(statement, source_ip=CONTROL_PLANE_IPS["ap-northeast-1"][0].split("/")[0])
    assert not denies(statement, source_ip="10.0.1.5", source_vpce="vpce-s3gw")  # clusters, privately
    assert denies(statement, source_ip="10.0.1.5", source_vpce="vpce-other")


def test_control_plane_ips_are_configurable_and_can_be_left_out():
    assert restriction(control_plane_ips=["192.0.2.0/28"]).allowed_cidrs[-1] == "192.0.2.0/28"
    assert restriction(include_control_plane=False).allowed_cidrs == ("203.0.113.0/24", "198.51.100.7/32")


@pytest.mark.parametrize("region", sorted(ENDPOINT_SERVICES))
def test_every_privatelink_region_has_control_plane_ips_or_is_named_as_missing(region):
    assert (region in CONTROL_PLANE_IPS) != (region in CONTROL_PLANE_IPS_MISSING)
    for block in CONTROL_PLANE_IPS.get(region, ()):
        assert ipaddress.ip_network(block, strict=True).is_global  # a public block, written exactly
    if region in CONTROL_PLANE_IPS:
        given = {"allowed_ips": ["203.0.113.0/24"]}
        found = restriction_from_params(given, region, "root-bucket", "vpc-1")
        assert found is not None
        assert found.allowed_cidrs == ("203.0.113.0/24", *CONTROL_PLANE_IPS[region])


@pytest.mark.parametrize("region", ["ap-northeast-1", "us-east-1", "eu-west-3"])
def test_the_override_replaces_the_table(region):
    given = {"allowed_ips": ["203.0.113.0/24"], "control_plane_ips": ["192.0.2.0/28"]}
    found = restriction_from_params(given, region, "root-bucket", "vpc-1")
    assert found is not None
    assert found.allowed_cidrs == ("203.0.113.0/24", "192.0.2.0/28")  # the table's blocks are not added


@pytest.mark.parametrize(
    ("changes", "field", "fix"),
    [
        ({"allowed_ips": ["10.0.0.300/24"]}, "bucket_policy.allowed_ips", "CIDR"),
        ({"allowed_ips": ["10.0.0.1/24"]}, "bucket_policy.allowed_ips", "10.0.0.0/24"),
        ({"allowed_ips": "203.0.113.0/24"}, "bucket_policy.allowed_ips", "list"),
        ({"control_plane_ips": ["nope"]}, "bucket_policy.control_plane_ips", "CIDR"),
        ({"s3_gateway_endpoint_ids": ["gw-1"]}, "bucket_policy.s3_gateway_endpoint_ids", "vpce-"),
        ({"include_control_plane": "yes"}, "bucket_policy.include_control_plane", "true or false"),
        ({"buckets": ["Bad_Bucket"]}, "bucket_policy.buckets", "bucket"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(changes, field, fix):
    with pytest.raises(ConfigError) as raised:
        restriction(**changes)
    assert raised.value.field == field
    assert fix in str(raised.value)


@pytest.mark.parametrize("region", [*sorted(CONTROL_PLANE_IPS_MISSING), "eu-north-1"])
def test_a_region_without_control_plane_ips_needs_them_given(region):
    with pytest.raises(ConfigError) as raised:
        restriction_from_params({"allowed_ips": ["203.0.113.0/24"]}, region, "b-1", "vpc-1")
    assert raised.value.field == "bucket_policy.control_plane_ips"
    assert region in raised.value.problem
    assert "set bucket_policy.control_plane_ips" in raised.value.fix
    assert "ip-domain-region" in raised.value.fix
    given = {"allowed_ips": ["203.0.113.0/24"], "control_plane_ips": ["192.0.2.0/28"]}
    found = restriction_from_params(given, region, "b-1", "vpc-1")
    assert found is not None
    assert found.allowed_cidrs == ("203.0.113.0/24", "192.0.2.0/28")


def test_merging_keeps_other_statements_and_is_idempotent():
    statement = restriction().statement(["vpce-s3gw"])
    existing = {"Version": "2012-10-17", "Statement": [OTHER]}
    before = copy.deepcopy(existing)
    merged, changed = merge_statement(existing, statement)
    assert changed
    assert existing == before  # the input is not modified
    assert merged["Statement"] == [OTHER, statement]
    again, changed_again = merge_statement(json.loads(json.dumps(merged)), statement)
    assert not changed_again
    assert again == merged
    assert [s.get("Sid") for s in again["Statement"]].count(DEFAULT_SID) == 1


def test_a_changed_list_replaces_the_statement_in_place():
    first, _ = merge_statement({"Statement": [OTHER]}, restriction().statement(["vpce-s3gw"]))
    wider = restriction(allowed_ips=["203.0.113.0/24", "192.0.2.0/24"]).statement(["vpce-s3gw"])
    merged, changed = merge_statement(first, wider)
    assert changed
    assert merged["Statement"] == [OTHER, wider]


def test_no_policy_yet_and_a_single_statement_object():
    statement = restriction().statement(["vpce-s3gw"])
    assert merge_statement(None, statement) == ({"Version": "2012-10-17", "Statement": [statement]}, True)
    merged, _ = merge_statement({"Version": "2012-10-17", "Statement": OTHER}, statement)
    assert merged["Statement"] == [OTHER, statement]
