"""One workspace deployment: its parameters, the plan it prints, and the status of the workspace it waits on.

Pure: no Airflow, no SDK, no I/O.

* :func:`parse_deploy_params` validates everything a deployment needs before any call: the account
  objects (:func:`~platform_ops.core.workspace_objects.deployment_from_params`) and the preflight
  request (:class:`~platform_ops.core.workspace_preflight.PreflightRequest`) built from the same
  parameters, so the network and IAM rules check exactly what the account objects will name.
* :func:`plan_lines` is what the task prints before it writes anything (and all a dry run does).
* :class:`WorkspaceStatus` is the workspace as the account API reports it, with the network's
  diagnostics when it FAILED; :class:`WorkspaceWaitEvent` is the one JSON-safe event that ends a wait
  (the trigger's and the polling path's alike).
* :func:`cleanup_plan` is what ``delete_failed_workspace`` removes once the workspace failed: the
  workspace and the objects this run created, in reverse creation order; what it adopted stays.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from platform_ops.core import workspace_preflight as wp
from platform_ops.core.bucket_policy import BUCKET_POLICY_KEYS, BucketRestriction, restriction_from_params
from platform_ops.core.params import KeyTree, refuse_unknown_keys
from platform_ops.core.workspace_objects import (
    ENDPOINT_USES,
    WORKSPACE,
    ObjectSpec,
    WorkspaceDeployment,
    deployment_from_params,
)
from platform_ops.exceptions import ConfigError

RUNNING = "RUNNING"
FAILED = "FAILED"
# Statuses that end the wait at once without RUNNING: BANNED and CANCELLED never recover, and a
# CANCELLING workspace only ends CANCELLED (the SDK's waiter would ride it to its own timeout).
STOPPED = ("BANNED", "CANCELLING", "CANCELLED")
TERMINAL = (RUNNING, FAILED, *STOPPED)


class WaitOutcome(StrEnum):
    """How a wait for RUNNING ended."""

    RUNNING = "running"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class NetworkHealth:
    """What the account API says about the network of a workspace that failed."""

    network_id: str | None = None
    vpc_status: str | None = None
    error_messages: tuple[str, ...] = ()
    warning_messages: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, network: Mapping[str, Any]) -> NetworkHealth:
        """Build from the API's network object (``error_messages`` / ``warning_messages`` entries)."""

        def texts(entries: Any, kind: str) -> tuple[str, ...]:
            out = []
            for entry in entries or ():
                if isinstance(entry, Mapping):
                    label = entry.get(f"{kind}_type")
                    text = str(entry.get(f"{kind}_message") or "")
                    out.append(f"{label}: {text}" if label else text)
                else:
                    out.append(str(entry))
            return tuple(out)

        return cls(
            network_id=network.get("network_id"),
            vpc_status=network.get("vpc_status"),
            error_messages=texts(network.get("error_messages"), "error"),
            warning_messages=texts(network.get("warning_messages"), "warning"),
        )

    def describe(self) -> str:
        """One paragraph: VPC status, errors, warnings."""
        parts = [f"network {self.network_id} vpc_status {self.vpc_status or 'unknown'}"]
        if self.error_messages:
            parts.append("errors: " + "; ".join(self.error_messages))
        if self.warning_messages:
            parts.append("warnings: " + "; ".join(self.warning_messages))
        return ", ".join(parts)


@dataclass(frozen=True)
class WorkspaceStatus:
    """A workspace's ``workspace_status`` and message, with its network's diagnostics once FAILED."""

    workspace_id: str
    status: str
    message: str = ""
    network_id: str | None = None
    network: NetworkHealth | None = None

    @classmethod
    def from_api(cls, workspace: Mapping[str, Any]) -> WorkspaceStatus:
        """Build from the API's workspace object (``workspace_status`` may be an enum's value)."""
        status = workspace.get("workspace_status") or "NOT_PROVISIONED"
        return cls(
            workspace_id=str(workspace.get("workspace_id")),
            status=str(getattr(status, "value", status)),
            message=str(workspace.get("workspace_status_message") or ""),
            network_id=workspace.get("network_id"),
        )

    def with_network(self, network: NetworkHealth) -> WorkspaceStatus:
        """The same status, explained by its network."""
        return WorkspaceStatus(self.workspace_id, self.status, self.message, self.network_id, network)

    @property
    def is_terminal(self) -> bool:
        """Whether the status ends the wait (RUNNING, FAILED, BANNED, CANCELLING, CANCELLED)."""
        return self.status in TERMINAL

    @property
    def is_successful(self) -> bool:
        """Whether the workspace is RUNNING."""
        return self.status == RUNNING

    @property
    def needs_network(self) -> bool:
        """Whether the network should be read to explain this status (FAILED, not read yet)."""
        return self.status == FAILED and self.network is None and bool(self.network_id)

    def describe(self) -> str:
        """``STATUS: message`` (what each status change logs)."""
        return f"{self.status}: {self.message}" if self.message else self.status

    def explain(self) -> str:
        """Why the workspace is not RUNNING: its message, and for FAILED its network's diagnostics."""
        text = f"workspace {self.workspace_id} is {self.describe()}"
        if self.network is not None:
            text += f" ({self.network.describe()})"
        return text

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        network = None
        if self.network is not None:
            network = {
                "network_id": self.network.network_id,
                "vpc_status": self.network.vpc_status,
                "error_messages": list(self.network.error_messages),
                "warning_messages": list(self.network.warning_messages),
            }
        return {
            "workspace_id": self.workspace_id,
            "status": self.status,
            "message": self.message,
            "network_id": self.network_id,
            "network": network,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkspaceStatus:
        """Rebuild from :meth:`to_json`."""
        net = data.get("network")
        network = None
        if isinstance(net, Mapping):
            network = NetworkHealth(
                network_id=net.get("network_id"),
                vpc_status=net.get("vpc_status"),
                error_messages=tuple(net.get("error_messages") or ()),
                warning_messages=tuple(net.get("warning_messages") or ()),
            )
        return cls(
            workspace_id=str(data["workspace_id"]),
            status=str(data["status"]),
            message=str(data.get("message") or ""),
            network_id=data.get("network_id"),
            network=network,
        )


def settled(status: WorkspaceStatus) -> WaitOutcome | None:
    """The outcome once ``status`` ends the wait, None while provisioning goes on."""
    if status.is_successful:
        return WaitOutcome.RUNNING
    return WaitOutcome.FAILED if status.is_terminal else None


@dataclass(frozen=True)
class WorkspaceWaitEvent:
    """The one event that ends a wait for RUNNING: outcome, message and the last status read."""

    workspace_id: str
    outcome: WaitOutcome
    message: str
    status: WorkspaceStatus | None = None

    @classmethod
    def of(cls, status: WorkspaceStatus) -> WorkspaceWaitEvent | None:
        """The event a status ends the wait with, None while it goes on."""
        outcome = settled(status)
        if outcome is None:
            return None
        message = status.describe() if outcome is WaitOutcome.RUNNING else status.explain()
        return cls(status.workspace_id, outcome, message, status)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (a trigger event's payload)."""
        return {
            "workspace_id": self.workspace_id,
            "outcome": self.outcome.value,
            "message": self.message,
            "status": None if self.status is None else self.status.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkspaceWaitEvent:
        """Rebuild from :meth:`to_json`."""
        status = data.get("status")
        return cls(
            workspace_id=str(data["workspace_id"]),
            outcome=WaitOutcome(data["outcome"]),
            message=str(data.get("message") or ""),
            status=WorkspaceStatus.from_json(status) if isinstance(status, Mapping) else None,
        )


# -- parameters -----------------------------------------------------------------------------------
# Every key a workspace file (or the operator's ``workspace`` argument) may hold, at every level; any
# other key is refused before anything is read or called, so a typo never falls back to a default.
WORKSPACE_KEYS: KeyTree = {
    **dict.fromkeys(
        (
            "local",  # read by the DAG file: tags the DAG `local` (make demo runs it)
            "account_id",
            "aws_account_id",
            "region",
            "deployment_name",
            "workspace_name",
            "workspace_host",
            "pricing_tier",
            "max_nodes",
            "netmask_range",
            "metastore",
        )
    ),
    "credentials": dict.fromkeys(("name", "role_arn")),
    "storage": dict.fromkeys(("name", "bucket_name", "role_arn")),
    "network": dict.fromkeys(
        (
            "name",
            "vpc_id",
            "subnet_ids",
            "cluster_security_group_ids",
            "endpoint_security_group_id",
            "endpoint_subnet_ids",
        )
    ),
    "private_link": {
        **{
            f"{use}_endpoint": dict.fromkeys(("aws_vpc_endpoint_id", "region", "name"))
            for use in ENDPOINT_USES
        },
        "front_end_endpoint_id": None,
        "private_access_settings": dict.fromkeys(("name", "public_access_enabled", "private_access_level")),
    },
    "commit_service": dict.fromkeys(
        (
            "cluster_role_arn",
            "data_role_arn",
            "instance_profile_arn",
            "policy_name",
            "buckets",
            "disable_direct_upload",
        )
    ),
    "bucket_policy": BUCKET_POLICY_KEYS,
}


@dataclass(frozen=True)
class DeployPlan:
    """A validated deployment: the account objects and the preflight request over the same parameters."""

    deployment: WorkspaceDeployment
    preflight: wp.PreflightRequest
    hardening: CommitHardening | None = None
    bucket_policy: BucketRestriction | None = None


def _section(params: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = params.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"must be an object, got {value!r}", f"give {key} as a mapping")
    return value


def _endpoint_id(link: Mapping[str, Any], use: str) -> str | None:
    entry = link.get(f"{use}_endpoint")
    return str(entry.get("aws_vpc_endpoint_id")) if isinstance(entry, Mapping) else None


def _preflight_request(params: Mapping[str, Any], deployment: WorkspaceDeployment) -> wp.PreflightRequest:
    network = _section(params, "network")
    link = _section(params, "private_link")
    access = _section(link, "private_access_settings")
    commit = _section(params, "commit_service")
    front_end = link.get("front_end_endpoint_id")
    level = access.get("private_access_level", "ACCOUNT")
    endpoint_group = deployment.network.endpoint_security_group_id
    if endpoint_group is None:
        raise ConfigError(
            "network.endpoint_security_group_id",
            "is missing: the STS and Kinesis interface endpoints (and PrivateLink's) need their group",
            "give the id of the group attached to the interface endpoints",
        )
    return wp.PreflightRequest(
        region=deployment.region,
        databricks_account_id=deployment.account_id,
        aws_account_id=str(params.get("aws_account_id") or ""),
        vpc_id=deployment.network.vpc_id,
        cluster_subnet_ids=deployment.network.subnet_ids,
        endpoint_subnet_ids=tuple(network.get("endpoint_subnet_ids") or ()),
        security_group_ids=deployment.network.security_group_ids,
        endpoint_security_group_id=endpoint_group,
        cross_account_role_arn=str(deployment.credentials.fields["aws_credentials.sts_role.role_arn"]),
        root_bucket_name=str(deployment.storage.fields["root_bucket_info.bucket_name"]),
        max_nodes=params.get("max_nodes", 10),
        netmask_range=tuple(params.get("netmask_range") or wp.DEFAULT_NETMASK_RANGE),
        private_link=deployment.private_link,
        relay_endpoint_id=_endpoint_id(link, "dataplane_relay"),
        workspace_endpoint_id=_endpoint_id(link, "rest_api"),
        front_end_endpoint_id=front_end,
        public_access_enabled=access.get("public_access_enabled", True),
        private_access_level=level,
        allowed_vpc_endpoint_ids=(front_end,) if level == "ENDPOINT" and front_end else (),
        metastore=params.get("metastore", wp.Metastore.DATABRICKS_HIVE.value),
        storage_role_arn=deployment.storage.fields.get("role_arn"),
        cluster_role_arn=commit.get("cluster_role_arn"),
        data_role_arn=commit.get("data_role_arn"),
    )


def parse_deploy_params(params: Mapping[str, Any]) -> DeployPlan:
    """Validate one workspace's parameters (a YAML file or the operator's ``workspace`` argument).

    Raises:
        ConfigError: naming the first bad parameter and its fix; an unknown key (at any level) is
            refused first, with its path and the closest known key.
    """
    if not isinstance(params, Mapping):
        raise ConfigError("workspace", f"must be a mapping, got {type(params).__name__}", "give a dict")
    refuse_unknown_keys(params, WORKSPACE_KEYS)
    deployment = deployment_from_params(params)
    preflight = _preflight_request(params, deployment)
    restriction = restriction_from_params(
        params.get("bucket_policy"),
        deployment.region,
        str(deployment.storage.fields["root_bucket_info.bucket_name"]),
        deployment.network.vpc_id,
    )
    hardening = hardening_from_params(params, deployment.deployment_name)
    return DeployPlan(deployment, preflight, hardening, restriction)


def _spec_line(spec: ObjectSpec) -> str:
    fields = ", ".join(f"{k}={v!r}" for k, v in spec.fields.items() if v not in (None, [], ""))
    return f"  {spec.kind} {spec.name!r}: {fields}"


def plan_lines(deployment: WorkspaceDeployment) -> list[str]:
    """What the deployment finds or creates, in order (ids not known yet are shown by name)."""
    names = {e.name: f"<{e.name}>" for e in deployment.endpoints}
    specs: list[ObjectSpec | None] = [
        deployment.credentials,
        deployment.storage,
        *deployment.endpoint_specs(),
        deployment.network_spec(names),
        deployment.private_access_spec(names),
        deployment.workspace_spec({}),
    ]
    head = (
        f"plan for workspace {deployment.workspace_name!r} (deployment {deployment.deployment_name!r}, "
        f"account {deployment.account_id}, {deployment.region}, host {deployment.host()}): "
        "find each object by name, adopt it when it matches, create it otherwise"
    )
    return [head, *(_spec_line(s) for s in specs if s is not None)]


def public_summary(objects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The objects as XCom and the run state keep them: kind, name, id, created (no details)."""
    return [
        {"kind": o["kind"], "name": o["name"], "object_id": o["object_id"], "created": o["created"]}
        for o in objects
    ]


# -- S3 commit-service hardening ------------------------------------------------------------------
DIRECT_PUT_THRESHOLD = "spark.hadoop.fs.s3a.databricks.s3commit.directPutFileSizeThreshold"
_PROFILE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+")


@dataclass(frozen=True)
class CommitHardening:
    """The cluster policy and instance profile that make clusters reach S3 through the data role.

    The cluster's instance profile may only ``sts:AssumeRole`` the data role; the policy fixes the
    AssumeRole Spark confs (for every bucket, or per bucket) and, optionally, turns off the commit
    service's direct upload (threshold 0).
    """

    policy_name: str
    instance_profile_arn: str
    data_role_arn: str
    buckets: tuple[str, ...] = ()
    disable_direct_upload: bool = False

    def policy_definition(self) -> dict[str, Any]:
        """The cluster policy definition (attribute path -> fixed value)."""

        def fixed(value: str) -> dict[str, Any]:
            return {"type": "fixed", "value": value, "hidden": False}

        definition: dict[str, Any] = {"aws_attributes.instance_profile_arn": fixed(self.instance_profile_arn)}
        prefixes = [f"fs.s3a.bucket.{b}." for b in self.buckets] or ["fs.s3a."]
        for prefix in prefixes:
            definition[f"spark_conf.{prefix}credentialsType"] = fixed("AssumeRole")
            definition[f"spark_conf.{prefix}stsAssumeRole.arn"] = fixed(self.data_role_arn)
        if self.disable_direct_upload:
            definition[f"spark_conf.{DIRECT_PUT_THRESHOLD}"] = fixed("0")
        return definition


def hardening_from_params(params: Mapping[str, Any], deployment_name: str) -> CommitHardening | None:
    """The hardening of ``commit_service`` (None when it names no ``instance_profile_arn``).

    Raises:
        ConfigError: a bad instance profile ARN, no data role, or bad bucket names.
    """
    commit = _section(params, "commit_service")
    profile = commit.get("instance_profile_arn")
    if profile is None:
        return None
    if not isinstance(profile, str) or not _PROFILE_ARN.fullmatch(profile):
        raise ConfigError(
            "commit_service.instance_profile_arn",
            f"{profile!r} is not an instance profile ARN",
            "give arn:aws:iam::<account>:instance-profile/<name> (the profile, not its role)",
        )
    data_role = commit.get("data_role_arn")
    if not isinstance(data_role, str) or not data_role:
        raise ConfigError(
            "commit_service.data_role_arn",
            "the hardening needs the data role the clusters assume",
            "give data_role_arn (the role that may read and write the buckets)",
        )
    buckets = commit.get("buckets") or []
    if isinstance(buckets, str) or not all(isinstance(b, str) and b for b in buckets):
        raise ConfigError(
            "commit_service.buckets", f"{buckets!r} is not a list of bucket names", "list bucket names"
        )
    direct = commit.get("disable_direct_upload", False)
    if not isinstance(direct, bool):
        raise ConfigError(
            "commit_service.disable_direct_upload", f"{direct!r} is not a boolean", "give true or false"
        )
    name = commit.get("policy_name") or f"{deployment_name}-s3-commit-service"
    return CommitHardening(str(name), profile, data_role, tuple(buckets), direct)


# -- cleanup of a failed deployment ---------------------------------------------------------------
@dataclass(frozen=True)
class Deletion:
    """One account object to delete."""

    kind: str
    name: str
    object_id: str


@dataclass(frozen=True)
class CleanupPlan:
    """What a cleanup deletes (in order) and what it keeps (adopted objects), with why."""

    deletions: list[Deletion]
    kept: list[Mapping[str, Any]]
    reason: str = ""


@dataclass(frozen=True)
class CleanupOutcome:
    """What happened to one object: ``deleted``, ``already gone`` or ``failed`` (with the error)."""

    kind: str
    name: str
    object_id: str
    result: str
    error: str = ""

    @property
    def removed(self) -> bool:
        """Whether the object no longer exists."""
        return self.result in ("deleted", "already gone")

    def to_json(self) -> dict[str, str]:
        """A JSON-safe dict (XCom, the run state)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "object_id": self.object_id,
            "result": self.result,
            "error": self.error,
        }


def cleanup_plan(objects: Sequence[Mapping[str, Any]]) -> CleanupPlan:
    """The objects to delete after the workspace failed: those this run created, newest first.

    ``objects`` are in creation order (kind, name, object_id, created), the workspace last. An
    adopted object is never deleted; when the workspace itself was adopted nothing is (the objects it
    uses could not be deleted before it anyway).
    """
    workspace = next((o for o in reversed(objects) if o["kind"] == WORKSPACE), None)
    if workspace is None or not workspace["created"]:
        return CleanupPlan([], list(objects), "the workspace was not created by this run: nothing is deleted")
    deletions = [
        Deletion(o["kind"], o["name"], str(o["object_id"])) for o in reversed(objects) if o["created"]
    ]
    return CleanupPlan(deletions, [o for o in objects if not o["created"]])


def cleanup_report(outcomes: Sequence[CleanupOutcome], plan: CleanupPlan) -> str:
    """One line: what was deleted, what could not be, what was kept."""
    parts = []
    for o in outcomes:
        if o.removed:
            parts.append(
                f"{o.result} {o.kind} {o.name!r} ({o.object_id})".replace("already gone", "already gone:")
            )
        else:
            parts.append(f"could not delete {o.kind} {o.name!r} ({o.object_id}): {o.error}")
    parts += [f"kept {k['kind']} {k['name']!r} ({k['object_id']}): adopted" for k in plan.kept]
    if plan.reason:
        parts.insert(0, plan.reason)
    return "cleanup: " + ("; ".join(parts) or "nothing to delete")


def forget_removed(recorded: Mapping[str, str], outcomes: Sequence[CleanupOutcome]) -> dict[str, str]:
    """The run state's ids (``kind:name`` -> id) without those of the objects that are gone."""
    gone = {f"{o.kind}:{o.name}": o.object_id for o in outcomes if o.removed}
    return {k: v for k, v in recorded.items() if gone.get(k) != v}


def remaining_objects(
    objects: Sequence[Mapping[str, Any]], outcomes: Sequence[CleanupOutcome]
) -> list[Mapping[str, Any]]:
    """The objects that still exist after the cleanup."""
    gone = {(o.kind, o.object_id) for o in outcomes if o.removed}
    return [o for o in objects if (o["kind"], str(o["object_id"])) not in gone]
