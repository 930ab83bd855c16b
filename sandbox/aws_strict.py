"""moto made as strict as EC2 where the workspace code relies on a refusal.

moto accepts VPC endpoints that AWS refuses, so a fixture built on it can hold a network no AWS account
could hold, and a preflight test built on that fixture proves nothing. :func:`install` wraps moto's
``create_vpc_endpoint`` (in-process ``mock_aws`` and ``ThreadedMotoServer`` alike: both run moto's
backends in this process) so that it answers as EC2 does for:

- **a second endpoint owning a service's private DNS name in one VPC.** AWS lets only one interface
  endpoint per service and VPC enable private DNS (the name lives in a private hosted zone the VPC can
  hold once); a second create with private DNS fails with ``InvalidParameter`` ("conflicting DNS
  domain"). This is why the runbook's front-end endpoint, on the same workspace service as its REST API
  endpoint in one VPC, has private DNS off.
- **private DNS in a VPC without DNS support and DNS hostnames.** EC2 refuses ``PrivateDnsEnabled``
  unless both VPC attributes are on (``InvalidParameter``).
- **two subnets of one availability zone for one interface endpoint** (``DuplicateSubnetsInSameZone``).

What it does not reproduce (moto still accepts it): any endpoint service name (the preflight compares
names with the region's table itself), ``modify_vpc_endpoint(PrivateDnsEnabled=...)`` (moto ignores it;
the builders choose private DNS at creation), turning a VPC's DNS attributes off while endpoints use
private DNS, and a NAT gateway in a subnet without an internet gateway route.
"""

from __future__ import annotations

import functools
from typing import Any

_INSTALLED = "_platform_ops_strict"


def _refusal(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def _check(backend: Any, vpc_id: str, service_name: str, subnet_ids: list[str], private_dns: bool) -> None:
    vpc = backend.get_vpc(vpc_id)
    if private_dns:
        if not (vpc.enable_dns_support and vpc.enable_dns_hostnames):
            raise _refusal(
                "InvalidParameter",
                "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes "
                f"set to true for {vpc_id}",
            )
        for other in backend.vpc_end_points.values():
            if (
                other.vpc_id == vpc_id
                and other.service_name == service_name
                and other.private_dns_enabled
                and str(other.state).lower() not in ("deleted", "deleting")
            ):
                raise _refusal(
                    "InvalidParameter",
                    f"private-dns-enabled cannot be set because there is already a conflicting DNS domain "
                    f"for {service_name} in the VPC {vpc_id} (endpoint {other.id})",
                )
    zones: dict[str, str] = {}
    for subnet_id in subnet_ids:
        zone = backend.get_subnet(subnet_id).availability_zone
        if zone in zones:
            raise _refusal(
                "DuplicateSubnetsInSameZone",
                f"Found another VPC endpoint subnet in the availability zone of {subnet_id} "
                f"({zones[zone]}). VPC endpoint subnets should be in different availability zones "
                "supported by the VPC endpoint service.",
            )
        zones[zone] = subnet_id


def install() -> None:
    """Make moto's EC2 refuse what EC2 refuses (see the module's list); calling it again does nothing."""
    from moto.ec2.models.vpcs import VPCBackend

    original = VPCBackend.create_vpc_endpoint
    if getattr(original, _INSTALLED, False):
        return

    @functools.wraps(original)
    def create_vpc_endpoint(self: Any, vpc_id: str, service_name: str, *args: Any, **kwargs: Any) -> Any:
        endpoint_type = kwargs.get("endpoint_type", args[0] if args else None)
        if str(endpoint_type or "").lower() == "interface":
            _check(
                self,
                vpc_id,
                service_name,
                list(kwargs.get("subnet_ids") or []),
                bool(kwargs.get("private_dns_enabled")),
            )
        return original(self, vpc_id, service_name, *args, **kwargs)

    setattr(create_vpc_endpoint, _INSTALLED, True)
    VPCBackend.create_vpc_endpoint = create_vpc_endpoint  # type: ignore[method-assign]
