"""Asks a new workspace who the caller is (SCIM Me): the last check before a deployment counts as done.

The account API's RUNNING says the workspace exists; its own host answering says it can be used. The
client is databricks-sdk's WorkspaceClient on the workspace host (built from the deployment name, see
:func:`platform_ops.core.workspace_objects.workspace_host`), authenticated with the same credentials as
the account connection (a token, or the OAuth M2M service principal). The credentials are handed to
the SDK and never logged.

A fresh workspace answers "does not have any associated worker environments" for a while, and its DNS
name may not resolve yet: both are :class:`~platform_ops.exceptions.TransientServiceError` here, for the
caller to retry until its own deadline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config

from platform_ops.exceptions import ExternalServiceError, TransientServiceError
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
