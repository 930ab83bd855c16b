"""Desired account objects: parameter validation, adopt / drift / ambiguity decisions, workspace host."""

from __future__ import annotations

import copy

import pytest

from platform_ops.core.workspace_objects import (
    CREDENTIALS,
    NETWORK,
    WORKSPACE,
    AmbiguousObjectError,
    DriftError,
    choose,
    deployment_from_params,
    workspace_host,
)
from platform_ops.exceptions import ConfigError

ROLE = "arn:aws:iam::123456789012:role/databricks-cross-account"
PARAMS = {
    "account_id": "acc-1",
    "region": "us-east-1",
    "deployment_name": "acme-prod",
    "credentials": {"role_arn": ROLE},
    "storage": {"bucket_name": "acme-root"},
    "network": {
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "cluster_security_group_ids": ["sg-cluster"],
        "endpoint_security_group_id": "sg-endpoints",
    },
    "private_link": {
        "rest_api_endpoint": {"aws_vpc_endpoint_id": "vpce-rest"},
        "dataplane_relay_endpoint": {"aws_vpc_endpoint_id": "vpce-relay"},
        "private_access_settings": {"public_access_enabled": True},
    },
}


def params(**changes):
    out = copy.deepcopy(PARAMS)
    out.update(changes)
    return out


def test_parses_a_privatelink_deployment_with_default_names():
    d = deployment_from_params(PARAMS)
    assert d.credentials.name == "acme-prod-credentials"
    assert d.storage.name == "acme-prod-storage"
    assert d.network.name == "acme-prod-network"
    assert [(e.name, e.use) for e in d.endpoints] == [
        ("acme-prod-rest-api", "rest_api"),
        ("acme-prod-dataplane-relay", "dataplane_relay"),
    ]
    assert d.private_access is not None
    assert d.private_access.name == "acme-prod-private-access"
    assert d.workspace_name == "acme-prod"


def test_network_registers_both_security_groups_and_the_endpoint_ids():
    d = deployment_from_params(PARAMS)
    spec = d.network_spec({"acme-prod-rest-api": "db-rest", "acme-prod-dataplane-relay": "db-relay"})
    assert spec.kind == NETWORK
    assert spec.fields["security_group_ids"] == ["sg-cluster", "sg-endpoints"]
    assert spec.fields["vpc_endpoints.rest_api"] == ["db-rest"]
    assert spec.fields["vpc_endpoints.dataplane_relay"] == ["db-relay"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"account_id": ""}, "account_id"),
        ({"account_id": None}, "account_id"),
        ({"private_link": {"private_access_settings": {}}}, "private_link"),
        (
            {"private_link": {"rest_api_endpoint": {"aws_vpc_endpoint_id": "vpce-1", "region": "eu-west-1"}}},
            "private_link.rest_api_endpoint.region",
        ),
        ({"region": "moon-1"}, "region"),
        ({"deployment_name": "Acme_Prod"}, "deployment_name"),
        ({"credentials": {"role_arn": "role/x"}}, "credentials.role_arn"),
        ({"storage": {}}, "storage.bucket_name"),
        (
            {"network": {**PARAMS["network"], "subnet_ids": ["subnet-a"]}},
            "network.subnet_ids",
        ),
        (
            {"network": {**PARAMS["network"], "cluster_security_group_ids": [f"sg-{i}" for i in range(6)]}},
            "network.cluster_security_group_ids",
        ),
        (
            {"network": {**PARAMS["network"], "endpoint_security_group_id": None}},
            "network.endpoint_security_group_id",
        ),
        (
            {
                "private_link": {
                    "rest_api_endpoint": {"aws_vpc_endpoint_id": "vpce-rest"},
                    "private_access_settings": {"public_access_enabled": False},
                }
            },
            "private_link.private_access_settings.public_access_enabled",
        ),
    ],
)
def test_bad_params_name_the_field_and_the_fix(changes, field):
    with pytest.raises(ConfigError) as err:
        deployment_from_params(params(**changes))
    assert err.value.field == field
    assert err.value.fix


def test_without_private_link_there_are_no_endpoints_nor_private_access():
    d = deployment_from_params(params(private_link=None))
    assert d.endpoints == ()
    assert d.private_access is None
    assert not d.private_link
    assert d.private_access_spec({}) is None


def test_endpoint_level_private_access_allows_the_registered_endpoints():
    link = copy.deepcopy(PARAMS["private_link"])
    link["private_access_settings"] = {"private_access_level": "ENDPOINT", "public_access_enabled": False}
    d = deployment_from_params(params(private_link=link))
    spec = d.private_access_spec({"acme-prod-rest-api": "id-r", "acme-prod-dataplane-relay": "id-d"})
    assert spec is not None
    assert spec.fields["allowed_vpc_endpoint_ids"] == ["id-d", "id-r"]
    assert spec.fields["public_access_enabled"] is False


def _credential(cid: str, name: str = "acme-prod-credentials", role: str = ROLE) -> dict:
    return {
        "credentials_id": cid,
        "credentials_name": name,
        "aws_credentials": {"sts_role": {"role_arn": role}},
    }


def test_choose_creates_when_no_object_has_the_name():
    spec = deployment_from_params(PARAMS).credentials
    assert choose(spec, [_credential("c1", name="other")]).action == "create"


def test_choose_adopts_an_identical_object():
    spec = deployment_from_params(PARAMS).credentials
    choice = choose(spec, [_credential("c1")])
    assert (choice.action, choice.object_id) == ("adopt", "c1")


def test_choose_refuses_an_object_with_another_configuration_naming_the_field():
    spec = deployment_from_params(PARAMS).credentials
    other_role = "arn:aws:iam::123456789012:role/other"
    with pytest.raises(DriftError) as err:
        choose(spec, [_credential("c1", role=other_role)])
    assert err.value.kind == CREDENTIALS
    assert err.value.object_id == "c1"
    assert set(err.value.differences) == {"aws_credentials.sts_role.role_arn"}
    assert other_role in str(err.value)
    assert ROLE in str(err.value)


def test_network_lists_compare_as_sets():
    d = deployment_from_params(params(private_link=None))
    spec = d.network_spec({})
    existing = {
        "network_id": "n1",
        "network_name": "acme-prod-network",
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-b", "subnet-a"],
        "security_group_ids": ["sg-endpoints", "sg-cluster"],
    }
    assert choose(spec, [existing]).object_id == "n1"
    with pytest.raises(DriftError) as err:
        choose(spec, [{**existing, "subnet_ids": ["subnet-a", "subnet-c"], "vpc_id": "vpc-2"}])
    assert set(err.value.differences) == {"subnet_ids", "vpc_id"}


def test_two_objects_with_one_name_use_the_recorded_id_else_fail_listing_both():
    spec = deployment_from_params(PARAMS).credentials
    both = [_credential("c1"), _credential("c2")]
    assert choose(spec, both, recorded_id="c2").object_id == "c2"
    with pytest.raises(AmbiguousObjectError) as err:
        choose(spec, both)
    assert err.value.object_ids == ["c1", "c2"]
    assert "c1" in str(err.value)
    assert "c2" in str(err.value)
    with pytest.raises(AmbiguousObjectError):
        choose(spec, both, recorded_id="c3")


def test_workspace_spec_compares_references_and_integer_ids():
    d = deployment_from_params(params(private_link=None))
    spec = d.workspace_spec({CREDENTIALS: "c1", "storage_configuration": "s1", NETWORK: "n1"})
    existing = {
        "workspace_id": 42,
        "workspace_name": "acme-prod",
        "deployment_name": "acme-prod",
        "aws_region": "us-east-1",
        "credentials_id": "c1",
        "storage_configuration_id": "s1",
        "network_id": "n1",
    }
    assert choose(spec, [existing]).object_id == "42"
    with pytest.raises(DriftError) as err:
        choose(spec, [{**existing, "network_id": "n2"}])
    assert err.value.kind == WORKSPACE
    assert set(err.value.differences) == {"network_id"}


def test_workspace_host_from_the_deployment_name_or_an_override():
    assert workspace_host("acme-prod") == "https://acme-prod.cloud.databricks.com"
    assert workspace_host("acme-prod", "http://127.0.0.1:8765/") == "http://127.0.0.1:8765"
    assert (
        workspace_host("acme-prod", "https://{deployment_name}.example.test")
        == "https://acme-prod.example.test"
    )
    d = deployment_from_params(params(workspace_host="http://127.0.0.1:9"))
    assert d.host() == "http://127.0.0.1:9"
