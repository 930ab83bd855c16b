"""A new workspace's own instance profiles and cluster policies, under its host.

A workspace the account API created (``routes.accounts``) answers at
``<sandbox url>/_sandbox/workspaces/{deployment_name}`` (see ``launcher.workspace_host_template``).
Besides SCIM Me (``routes.accounts``), its host serves what the S3 commit-service hardening calls
there, as databricks-sdk's WorkspaceClient sends it:

* ``POST instance-profiles/add`` (``instance_profile_arn`` required and an instance profile ARN,
  optional ``iam_role_arn``, ``is_meta_instance_profile``, ``skip_validation``; one already
  registered answers 400 RESOURCE_ALREADY_EXISTS), ``GET instance-profiles/list``
  (``{"instance_profiles": [...]}``, ``{}`` when there is none, as the real API answers),
  ``POST instance-profiles/edit``, ``POST instance-profiles/remove``;
* ``POST policies/clusters/create`` (``name`` required and unique: 400 RESOURCE_ALREADY_EXISTS;
  ``definition`` a JSON object of attribute path -> ``{"type": ...}`` with a known type, a fixed
  one with its value) -> ``{"policy_id"}``; ``GET policies/clusters/list`` (``sort_column``
  POLICY_CREATION_TIME or POLICY_NAME, ``sort_order`` ASC or DESC, default newest first),
  ``GET policies/clusters/get?policy_id=``, ``POST policies/clusters/edit`` (``policy_id`` and
  ``name`` required), ``POST policies/clusters/delete``; an unknown id answers 404
  RESOURCE_DOES_NOT_EXIST.

(each under ``/api/2.0/``). Every workspace has its own objects and starts with none, apart from
the sandbox's own workspace (minilake's, at the sandbox's root url) and any other new workspace.
They belong to the workspace id, so a workspace deleted and created again under the same deployment
name starts empty. A workspace that is not RUNNING answers 400 INVALID_STATE, an unknown deployment
404, as its SCIM Me does.

``GET /_sandbox/workspace-hosts/{deployment_name}/stats`` (not a Databricks API) counts the requests
these routes got for that deployment: ``by_route`` (``"POST instance-profiles/add"`` -> count) and
``writes`` (the POSTs). Counted before the workspace's state is checked: a refused request was still
sent. ``POST /_sandbox/reset`` clears the objects and the counts.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request

from sandbox.databricks.fault import ApiError, invalid, not_found, read_json
from sandbox.databricks.routes.accounts import AccountStore

HOST = "/_sandbox/workspaces/{deployment_name}/api/2.0"
PROFILE_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:iam::\d{12}:instance-profile/[\w+=,.@/-]+")
POLICY_TYPES = ("fixed", "forbidden", "allowlist", "blocklist", "regex", "range", "unlimited")
POLICY_FIELDS = (
    "name",
    "definition",
    "description",
    "max_clusters_per_user",
    "policy_family_id",
    "policy_family_definition_overrides",
    "libraries",
)


def _exists(message: str) -> ApiError:
    return ApiError(400, "RESOURCE_ALREADY_EXISTS", message)


def _check_definition(definition: Any) -> None:
    """A policy definition: a JSON object of attribute path -> rule, as Databricks checks it."""
    if definition is None:
        return
    try:
        parsed = json.loads(definition) if isinstance(definition, str) else None
    except ValueError as exc:
        raise invalid(f"Invalid policy definition: not a JSON document ({exc})") from None
    if not isinstance(parsed, dict):
        raise invalid("Invalid policy definition: it must be a JSON object given as a string")
    for path, rule in parsed.items():
        kind = rule.get("type") if isinstance(rule, dict) else None
        if kind not in POLICY_TYPES:
            raise invalid(f"Invalid policy definition: {path}: type must be one of {', '.join(POLICY_TYPES)}")
        if kind == "fixed" and "value" not in rule:
            raise invalid(f"Invalid policy definition: {path}: a fixed rule needs a value")


class WorkspaceHostStore:
    """Instance profiles and cluster policies per workspace id, and request counts per deployment."""

    def __init__(self, accounts: AccountStore, user_name: str) -> None:
        self._lock = threading.RLock()
        self.accounts = accounts
        self.user_name = user_name
        self.profiles: dict[int, dict[str, dict[str, Any]]] = {}
        self.policies: dict[int, dict[str, dict[str, Any]]] = {}
        self.counts: dict[str, Counter[str]] = {}

    def reset(self) -> None:
        with self._lock:
            self.profiles, self.policies, self.counts = {}, {}, {}

    def stats(self, deployment_name: str) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.counts.get(deployment_name, Counter()))
        writes = sum(n for key, n in counts.items() if key.split(" ", 1)[0] == "POST")
        return {"by_route": counts, "writes": writes}

    def _workspace(self, method: str, route: str, deployment_name: str) -> int:
        """Count the request, then the id of the RUNNING workspace behind the host (or raise as it)."""
        with self._lock:
            self.counts.setdefault(deployment_name, Counter())[f"{method} {route}"] += 1
        return int(self.accounts.workspace_host(deployment_name)["workspace_id"])

    # -- instance profiles -----------------------------------------------------------------------
    def add_profile(self, deployment_name: str, body: dict[str, Any]) -> dict[str, Any]:
        workspace = self._workspace("POST", "instance-profiles/add", deployment_name)
        arn = body.get("instance_profile_arn")
        if not isinstance(arn, str) or not PROFILE_ARN.fullmatch(arn):
            raise invalid(
                f"instance_profile_arn {arn!r} is not an instance profile ARN "
                "(arn:aws:iam::<account>:instance-profile/<name>)"
            )
        with self._lock:
            profiles = self.profiles.setdefault(workspace, {})
            if arn in profiles:
                raise _exists(f"Instance profile {arn} is already registered in this workspace")
            profiles[arn] = {
                "instance_profile_arn": arn,
                **({"iam_role_arn": body["iam_role_arn"]} if body.get("iam_role_arn") else {}),
                "is_meta_instance_profile": bool(body.get("is_meta_instance_profile", False)),
            }
        return {}

    def list_profiles(self, deployment_name: str) -> dict[str, Any]:
        workspace = self._workspace("GET", "instance-profiles/list", deployment_name)
        with self._lock:
            listed = [dict(p) for p in self.profiles.get(workspace, {}).values()]
        return {"instance_profiles": listed} if listed else {}

    def edit_profile(self, deployment_name: str, body: dict[str, Any]) -> dict[str, Any]:
        workspace = self._workspace("POST", "instance-profiles/edit", deployment_name)
        with self._lock:
            profile = self._profile(workspace, body)
            for key in ("iam_role_arn", "is_meta_instance_profile"):
                if body.get(key) is not None:
                    profile[key] = body[key]
        return {}

    def remove_profile(self, deployment_name: str, body: dict[str, Any]) -> dict[str, Any]:
        workspace = self._workspace("POST", "instance-profiles/remove", deployment_name)
        with self._lock:
            self._profile(workspace, body)
            del self.profiles[workspace][body["instance_profile_arn"]]
        return {}

    def _profile(self, workspace: int, body: dict[str, Any]) -> dict[str, Any]:
        arn = body.get("instance_profile_arn")
        if not arn:
            raise invalid("instance_profile_arn is required")
        profile = self.profiles.get(workspace, {}).get(str(arn))
        if profile is None:
            raise not_found(f"Instance profile {arn} is not registered in this workspace")
        return profile

    # -- cluster policies ------------------------------------------------------------------------
    def create_policy(self, deployment_name: str, body: dict[str, Any]) -> dict[str, Any]:
        workspace = self._workspace("POST", "policies/clusters/create", deployment_name)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise invalid("name is required")
        _check_definition(body.get("definition"))
        with self._lock:
            policies = self.policies.setdefault(workspace, {})
            self._name_free(policies, name)
            policy_id = uuid.uuid4().hex[:16].upper()
            policies[policy_id] = {
                **{k: body[k] for k in POLICY_FIELDS if body.get(k) is not None},
                "policy_id": policy_id,
                "is_default": False,
                "creator_user_name": self.user_name,
                "created_at_timestamp": int(time.time() * 1000),
            }
        return {"policy_id": policy_id}

    def list_policies(self, deployment_name: str, sort_column: str | None, sort_order: str | None) -> dict:
        workspace = self._workspace("GET", "policies/clusters/list", deployment_name)
        column = sort_column or "POLICY_CREATION_TIME"
        order = sort_order or "DESC"
        if column not in ("POLICY_CREATION_TIME", "POLICY_NAME"):
            raise invalid(f"sort_column {column!r} is not POLICY_CREATION_TIME or POLICY_NAME")
        if order not in ("ASC", "DESC"):
            raise invalid(f"sort_order {order!r} is not ASC or DESC")
        key = "created_at_timestamp" if column == "POLICY_CREATION_TIME" else "name"
        with self._lock:
            listed = sorted(
                (dict(p) for p in self.policies.get(workspace, {}).values()),
                key=lambda p: p[key],
                reverse=order == "DESC",
            )
        return {"policies": listed, "total_count": len(listed)} if listed else {}

    def get_policy(self, deployment_name: str, policy_id: str) -> dict[str, Any]:
        workspace = self._workspace("GET", "policies/clusters/get", deployment_name)
        with self._lock:
            return dict(self._policy(workspace, policy_id))

    def edit_policy(self, deployment_name: str, body: dict[str, Any]) -> dict[str, Any]:
        workspace = self._workspace("POST", "policies/clusters/edit", deployment_name)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise invalid("name is required")
        _check_definition(body.get("definition"))
        with self._lock:
            policy = self._policy(workspace, body.get("policy_id"))
            self._name_free(self.policies[workspace], name, policy["policy_id"])
            for key in POLICY_FIELDS:
                if body.get(key) is not None:
                    policy[key] = body[key]
        return {}

    def delete_policy(self, deployment_name: str, body: dict[str, Any]) -> dict[str, Any]:
        workspace = self._workspace("POST", "policies/clusters/delete", deployment_name)
        with self._lock:
            policy = self._policy(workspace, body.get("policy_id"))
            del self.policies[workspace][policy["policy_id"]]
        return {}

    def _policy(self, workspace: int, policy_id: Any) -> dict[str, Any]:
        if not policy_id:
            raise invalid("policy_id is required")
        policy = self.policies.get(workspace, {}).get(str(policy_id))
        if policy is None:
            raise not_found(f"Can't find a cluster policy with id: {policy_id}.")
        return policy

    @staticmethod
    def _name_free(policies: dict[str, dict[str, Any]], name: str, own_id: str | None = None) -> None:
        if any(p["name"] == name and p["policy_id"] != own_id for p in policies.values()):
            raise _exists(f"Policy with name {name} already exists")


def router(store: WorkspaceHostStore) -> APIRouter:
    """The new workspaces' instance profile and cluster policy routes, and their counts."""
    api = APIRouter()

    @api.post(f"{HOST}/instance-profiles/add")
    async def add_profile(deployment_name: str, request: Request) -> dict:
        return store.add_profile(deployment_name, await read_json(request))

    @api.get(f"{HOST}/instance-profiles/list")
    async def list_profiles(deployment_name: str) -> dict:
        return store.list_profiles(deployment_name)

    @api.post(f"{HOST}/instance-profiles/edit")
    async def edit_profile(deployment_name: str, request: Request) -> dict:
        return store.edit_profile(deployment_name, await read_json(request))

    @api.post(f"{HOST}/instance-profiles/remove")
    async def remove_profile(deployment_name: str, request: Request) -> dict:
        return store.remove_profile(deployment_name, await read_json(request))

    @api.post(f"{HOST}/policies/clusters/create")
    async def create_policy(deployment_name: str, request: Request) -> dict:
        return store.create_policy(deployment_name, await read_json(request))

    @api.get(f"{HOST}/policies/clusters/list")
    async def list_policies(
        deployment_name: str, sort_column: str | None = None, sort_order: str | None = None
    ) -> dict:
        return store.list_policies(deployment_name, sort_column, sort_order)

    @api.get(f"{HOST}/policies/clusters/get")
    async def get_policy(deployment_name: str, policy_id: str = "") -> dict:
        return store.get_policy(deployment_name, policy_id)

    @api.post(f"{HOST}/policies/clusters/edit")
    async def edit_policy(deployment_name: str, request: Request) -> dict:
        return store.edit_policy(deployment_name, await read_json(request))

    @api.post(f"{HOST}/policies/clusters/delete")
    async def delete_policy(deployment_name: str, request: Request) -> dict:
        return store.delete_policy(deployment_name, await read_json(request))

    @api.get("/_sandbox/workspace-hosts/{deployment_name}/stats")
    async def stats(deployment_name: str) -> dict:
        return store.stats(deployment_name)

    return api
