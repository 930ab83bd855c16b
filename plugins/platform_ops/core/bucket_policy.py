"""A bucket policy statement that keeps a workspace's buckets to known networks (pure: no I/O).

The S3 commit service runs in the Databricks control plane, so restricting a bucket to "our own
networks" must let the control plane in too, and the clusters, which reach S3 through the VPC's S3
gateway endpoint (their requests carry ``aws:SourceVpce``, not a public ``aws:SourceIp``). The one
statement this module writes is therefore::

    Deny s3:* on the bucket and its objects
      when aws:SourceIp is not in (allowed IPs + the region's control plane IPs)
      and aws:SourceVpce is not the S3 gateway endpoint

:func:`merge_statement` puts it into an existing policy by its ``Sid``: other statements are kept as
they are, and a second run with the same inputs changes nothing. :func:`denies` evaluates the
statement for one request, as S3 would, for the cases the emulator cannot show.

Every principal is denied outside those networks, the one applying the policy included: the host
that runs the deployment must be in ``allowed_ips`` to update the policy later.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from platform_ops.exceptions import ConfigError

# "Control plane services, including webapp" per region: that column of the "Inbound IPs to Databricks
# control plane" table of Databricks' "IP addresses and domains for Databricks services and assets"
# (IP_TABLE_SOURCE). Where each figure was read, in December 2026 (IP_TABLE_DATE):
# - ap-northeast-1, ap-northeast-2: on the page itself (its stored copy at
#   https://docs.databricks.com/en/resources/ip-domain-region.html, of which only the first rows could
#   be read here);
# - eu-central-1: the page as quoted by Databricks staff in
#   https://community.databricks.com/t5/administration-architecture/customer-managed-vpc-databricks-ip-address-ranges/td-p/112800
# - the twelve others: copies of the same column, in AWS's Databricks Quick Start
#   (https://github.com/aws-quickstart/quickstart-databricks-unified-data-analytics-platform,
#   functions/source/DatabricksEndpoints.py, last changed 2022-08-29: every region here but eu-west-3 and
#   sa-east-1) and in two public Terraform configurations (all fifteen regions). The copies agree with each
#   other and with the three rows above; us-west-1 is served from Oregon, as us-west-2 is.
# The page now also publishes these blocks as https://www.databricks.com/networking/v1/ip-ranges.json
# (entries with platform "aws" and type "inbound"), which could not be read here. Check the current
# figures before relying on the table; bucket_policy.control_plane_ips overrides a region or adds one.
CONTROL_PLANE_IPS: Mapping[str, tuple[str, ...]] = {
    "ap-northeast-1": ("35.72.28.0/28",),
    "ap-northeast-2": ("3.38.156.176/28",),
    "ap-south-1": ("65.0.37.64/28",),
    "ap-southeast-1": ("13.214.1.96/28",),
    "ap-southeast-2": ("3.26.4.0/28",),
    "ca-central-1": ("3.96.84.208/28",),
    "eu-central-1": ("18.159.44.32/28",),
    "eu-west-1": ("3.250.244.112/28",),
    "eu-west-2": ("18.134.65.240/28",),
    "eu-west-3": ("13.39.141.128/28",),
    "sa-east-1": ("15.229.120.16/28",),
    "us-east-1": ("3.237.73.224/28",),
    "us-east-2": ("3.128.237.208/28",),
    "us-west-1": ("44.234.192.32/28",),
    "us-west-2": ("44.234.192.32/28",),
}
# Databricks regions on AWS (https://docs.databricks.com/aws/en/resources/supported-regions) whose
# control plane blocks none of the sources above gives: a workspace there needs control_plane_ips.
CONTROL_PLANE_IPS_MISSING: Mapping[str, str] = {
    "ap-southeast-3": "listed by Databricks, but no source read here gives its blocks",
    "us-gov-west-1": "GovCloud, listed by Databricks, but no source read here gives its blocks",
}
IP_TABLE_SOURCE = "https://docs.databricks.com/aws/en/resources/ip-domain-region"
IP_TABLE_DATE = "2026-12-06"  # when the sources above were read
DEFAULT_SID = "PlatformOpsDenyOutsideAllowedNetworks"
# The keys of ``bucket_policy`` (values are CIDR lists, bucket names, endpoint ids, a flag, a Sid).
BUCKET_POLICY_KEYS: Mapping[str, None] = dict.fromkeys(
    ("allowed_ips", "control_plane_ips", "include_control_plane", "buckets", "s3_gateway_endpoint_ids", "sid")
)
POLICY_VERSION = "2012-10-17"
_FIELD = "bucket_policy."
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class BucketRestriction:
    """Which buckets to restrict, to which CIDR blocks, and the S3 gateway endpoints that keep access.

    ``vpc_endpoint_ids`` empty means: the VPC's S3 gateway endpoint, looked up when applying.
    """

    buckets: tuple[str, ...]
    allowed_cidrs: tuple[str, ...]
    vpc_id: str
    vpc_endpoint_ids: tuple[str, ...] = ()
    sid: str = DEFAULT_SID

    def statement(self, vpc_endpoint_ids: Sequence[str]) -> dict[str, Any]:
        """The Deny statement, with the gateway endpoints that clusters reach the buckets through."""
        resources = [arn for b in self.buckets for arn in (f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*")]
        condition: dict[str, Any] = {"NotIpAddress": {"aws:SourceIp": list(self.allowed_cidrs)}}
        if vpc_endpoint_ids:
            condition["StringNotEquals"] = {"aws:SourceVpce": sorted(vpc_endpoint_ids)}
        return {
            "Sid": self.sid,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": condition,
        }

    def describe(self) -> str:
        """One line for the plan."""
        return (
            f"bucket policy on {', '.join(self.buckets)}: deny s3:* outside {', '.join(self.allowed_cidrs)} "
            f"and the VPC's S3 gateway endpoint ({', '.join(self.vpc_endpoint_ids) or 'looked up'})"
        )


def _cidrs(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(
            f"{_FIELD}{key}",
            f"must be a list of CIDR blocks, got {value!r}",
            "give a list such as [203.0.113.0/24]",
        )
    blocks = []
    for item in value:
        try:
            blocks.append(str(ipaddress.ip_network(str(item).strip(), strict=True)))
        except ValueError as exc:
            network = _network_of(item)
            fix = (
                f"give the block's network address ({network})"
                if network
                else "give CIDR blocks such as 203.0.113.0/24 (one address: 203.0.113.7 or 203.0.113.7/32)"
            )
            raise ConfigError(f"{_FIELD}{key}", f"{item!r} is not a CIDR block ({exc})", fix) from exc
    return tuple(dict.fromkeys(blocks))


def _network_of(item: Any) -> str | None:
    try:
        return str(ipaddress.ip_network(str(item).strip(), strict=False))
    except ValueError:
        return None


def _flag(params: Mapping[str, Any], key: str, default: bool) -> bool:
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{_FIELD}{key}", f"{value!r} is not a boolean", "give true or false")
    return value


def _buckets(params: Mapping[str, Any], root_bucket: str) -> tuple[str, ...]:
    value = params.get("buckets") or [root_bucket]
    if isinstance(value, str) or not all(isinstance(b, str) and _BUCKET.fullmatch(b) for b in value):
        raise ConfigError(
            f"{_FIELD}buckets",
            f"{value!r} is not a list of S3 bucket names",
            "list bucket names (default: the root bucket)",
        )
    return tuple(dict.fromkeys(value))


def _endpoints(params: Mapping[str, Any]) -> tuple[str, ...]:
    value = params.get("s3_gateway_endpoint_ids") or []
    if isinstance(value, str) or not all(isinstance(v, str) and v.startswith("vpce-") for v in value):
        raise ConfigError(
            f"{_FIELD}s3_gateway_endpoint_ids",
            f"{value!r} is not a list of vpce-... ids",
            "give the S3 gateway endpoint ids (vpce-...), or leave it out to use the VPC's",
        )
    return tuple(value)


def _control_plane(params: Mapping[str, Any], region: str) -> tuple[str, ...]:
    if not _flag(params, "include_control_plane", True):
        return ()
    given = params.get("control_plane_ips")
    if given is not None:
        return _cidrs("control_plane_ips", given)
    if region not in CONTROL_PLANE_IPS:
        why = CONTROL_PLANE_IPS_MISSING.get(region, "not a region of the table")
        raise ConfigError(
            f"{_FIELD}control_plane_ips",
            f"is not given and the built-in table has no control plane IPs for {region} ({why}); "
            "the S3 commit service writes to the bucket from there",
            f"set {_FIELD}control_plane_ips to the region's 'Control plane services' CIDR blocks from "
            f"{IP_TABLE_SOURCE}",
        )
    return CONTROL_PLANE_IPS[region]


def restriction_from_params(
    params: Mapping[str, Any] | None, region: str, root_bucket: str, vpc_id: str
) -> BucketRestriction | None:
    """The restriction asked for by ``bucket_policy`` (None without ``allowed_ips``).

    Raises:
        ConfigError: a value that is not a CIDR block, an endpoint id, a bucket name or a boolean, or a
            region whose control plane IPs are not in the table and not given.
    """
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise ConfigError("bucket_policy", f"must be an object, got {params!r}", "give allowed_ips")
    if params.get("allowed_ips") in (None, []):
        return None
    allowed = _cidrs("allowed_ips", params["allowed_ips"])
    control_plane = _control_plane(params, region)
    return BucketRestriction(
        buckets=_buckets(params, root_bucket),
        allowed_cidrs=tuple(dict.fromkeys(allowed + control_plane)),
        vpc_id=vpc_id,
        vpc_endpoint_ids=_endpoints(params),
        sid=str(params.get("sid") or DEFAULT_SID),
    )


def merge_statement(
    policy: Mapping[str, Any] | None, statement: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """``policy`` with ``statement`` in it (replacing the one with its Sid); True when that changed it.

    Other statements keep their content and order; the input is not modified.
    """
    current = dict(policy or {})
    before = _statements(current)
    statements = [dict(s) for s in before]
    wanted = dict(statement)
    at = next((i for i, s in enumerate(statements) if s.get("Sid") == wanted["Sid"]), None)
    if at is None:
        statements.append(wanted)
    else:
        statements[at] = wanted
    merged = {**current, "Version": current.get("Version", POLICY_VERSION), "Statement": statements}
    return merged, policy is None or statements != before or "Version" not in current


def _statements(policy: Mapping[str, Any]) -> list[Any]:
    found = policy.get("Statement") or []
    return [found] if isinstance(found, Mapping) else list(found)


def _in(ip: str, blocks: Sequence[str]) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(b) for b in blocks)


def denies(
    statement: Mapping[str, Any], source_ip: str | None = None, source_vpce: str | None = None
) -> bool:
    """Whether S3 refuses a request from ``source_ip`` / through ``source_vpce`` under ``statement``.

    Conditions of one statement all hold for it to apply; a negated condition holds when its key is
    absent from the request, as in IAM.
    """
    condition = statement.get("Condition") or {}
    blocks = (condition.get("NotIpAddress") or {}).get("aws:SourceIp") or []
    endpoints = (condition.get("StringNotEquals") or {}).get("aws:SourceVpce")
    outside_ips = source_ip is None or not _in(source_ip, blocks)
    outside_vpce = endpoints is None or source_vpce not in endpoints
    return statement.get("Effect") == "Deny" and outside_ips and outside_vpce
