"""Reading IAM policy documents without AWS: who a trust policy admits, what a permission policy allows.

AWS's own policy simulator is not available everywhere the preflight runs (moto raises
NotImplementedError for it), and the questions the workspace preflight asks are narrow, so they are
answered here from the documents themselves:

- :func:`trusted_principals` / :func:`trust_admits`: the AWS principals an ``Allow`` statement for
  ``sts:AssumeRole`` names, with the ``sts:ExternalId`` the statement requires.
- :func:`allowed` / :func:`missing_actions`: whether an action on a resource is allowed by at least one
  ``Allow`` statement and denied by none. Wildcards (``*``, ``?``) in actions and resources follow IAM's
  matching (actions case-insensitively); ``NotAction``/``NotResource`` are honoured. Conditions of
  permission statements are not evaluated (treated as satisfied): the preflight checks grants, not the
  request context of a later call.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The AWS account Databricks' control plane runs in (commercial partition). Credentials and root
# bucket policies name it; see https://docs.databricks.com/aws/en/admin/account-settings-e2/credentials
DATABRICKS_AWS_ACCOUNT_ID = "414351767826"
ASSUME_ROLE = "sts:AssumeRole"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The statements of a policy document (a single statement object counts as a list of one)."""
    if not document:
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _glob(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    regex = fnmatch.translate(pattern)
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.fullmatch(regex, value, flags) is not None


def _matches_any(patterns: Iterable[str], value: str, *, case_sensitive: bool) -> bool:
    return any(_glob(p, value, case_sensitive=case_sensitive) for p in patterns)


def _covers(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "NotAction" in statement:
        action_ok = not _matches_any(_as_list(statement["NotAction"]), action, case_sensitive=False)
    else:
        action_ok = _matches_any(_as_list(statement.get("Action")), action, case_sensitive=False)
    if "NotResource" in statement:
        resource_ok = not _matches_any(_as_list(statement["NotResource"]), resource, case_sensitive=True)
    else:
        resource_ok = _matches_any(_as_list(statement.get("Resource", "*")), resource, case_sensitive=True)
    return action_ok and resource_ok


def allowed(documents: Sequence[Mapping[str, Any]], action: str, resource: str = "*") -> bool:
    """True when some ``Allow`` statement grants ``action`` on ``resource`` and no ``Deny`` refuses it.

    Args:
        documents: The permission policy documents attached to one identity (inline and managed).
        action: An IAM action such as ``ec2:RunInstances``.
        resource: The resource ARN the action is checked against (``*`` for account-wide actions).
    """
    granted = False
    for document in documents:
        for statement in statements(document):
            if not _covers(statement, action, resource):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                granted = True
    return granted


def missing_actions(
    documents: Sequence[Mapping[str, Any]], actions: Iterable[str], resource: str = "*"
) -> list[str]:
    """The actions of ``actions`` that ``documents`` do not allow on ``resource``, in the given order."""
    return [a for a in actions if not allowed(documents, a, resource)]


@dataclass(frozen=True)
class TrustGrant:
    """One principal a trust policy lets assume the role, and the external id it must present."""

    principal: str
    external_ids: tuple[str, ...]


def _external_ids(condition: Any) -> tuple[str, ...]:
    if not isinstance(condition, Mapping):
        return ()
    found: list[str] = []
    for operator in ("StringEquals", "StringLike"):
        block = condition.get(operator)
        if isinstance(block, Mapping):
            for key, value in block.items():
                if key.lower() == "sts:externalid":
                    found.extend(str(v) for v in _as_list(value))
    return tuple(found)


def _aws_principals(principal: Any) -> list[str]:
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return [str(p) for p in _as_list(principal.get("AWS"))]
    return []


def trusted_principals(trust_document: Mapping[str, Any] | None) -> list[TrustGrant]:
    """Every AWS principal an ``Allow`` statement of the trust policy lets call ``sts:AssumeRole``."""
    grants: list[TrustGrant] = []
    for statement in statements(trust_document):
        if statement.get("Effect") != "Allow":
            continue
        if not _matches_any(_as_list(statement.get("Action")), ASSUME_ROLE, case_sensitive=False):
            continue
        external_ids = _external_ids(statement.get("Condition"))
        grants.extend(TrustGrant(p, external_ids) for p in _aws_principals(statement.get("Principal")))
    return grants


def account_of(principal: str) -> str | None:
    """The 12-digit account a principal (bare account id or IAM ARN) belongs to, if it names one."""
    if re.fullmatch(r"\d{12}", principal):
        return principal
    match = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):.+", principal)
    return match.group(1) if match else None


def admits_account(grant: TrustGrant, account_id: str) -> bool:
    """True when the grant's principal is the whole account (``<id>`` or ``arn:...:<id>:root``)."""
    return grant.principal in (account_id, f"arn:aws:iam::{account_id}:root")


def trust_admits(
    trust_document: Mapping[str, Any] | None, principal: str, external_id: str | None = None
) -> bool:
    """True when ``principal`` (an ARN, or an account id meaning its root) may assume the role.

    With ``external_id``, the admitting statement must require exactly that ``sts:ExternalId``.
    """
    for grant in trusted_principals(trust_document):
        if grant.principal != principal and not (
            account_of(principal) == principal and admits_account(grant, principal)
        ):
            continue
        if external_id is None or external_id in grant.external_ids:
            return True
    return False
