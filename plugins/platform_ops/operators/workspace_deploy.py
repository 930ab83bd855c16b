"""WorkspaceDeployOperator: a Databricks workspace on a customer-managed AWS VPC, preflight to first answer.

Steps, each before the next:

1. **Validate** the parameters (a YAML file or the ``workspace`` argument): any bad value fails the
   task, naming the field and the fix, before any call.
2. **Preflight** the VPC, its endpoints and the IAM roles and bucket policy (read through the Amazon
   provider's hooks, judged by :mod:`platform_ops.core.workspace_preflight`): the report (errors and
   warnings, each with its resource id) goes to XCom (key ``preflight``) and the task log, and any
   error fails the task before any account write.
3. **Plan**: the account objects it will find or create, printed. ``dry_run`` stops here: no account
   API call at all.
4. **Account objects**, each found by name or created (credentials, storage configuration, VPC endpoint
   registrations, network, private access settings, workspace): an identical object is adopted, a
   different one is a drift error. Each id is written to the run state as soon as it exists (a shared
   document per deployment name, so a later run resolves duplicate names to it); credential validation
   failures are retried as IAM propagation only because the IAM preflight passed.
5. **Wait for RUNNING** in the triggerer (``deferrable``, default Airflow's
   ``[operators] default_deferrable``) or by polling on the worker; the deadline is fixed when the wait
   starts. FAILED, BANNED, CANCELLING and CANCELLED fail the task with their explanation.
6. **Answer**: the new workspace's host must return the current user (SCIM Me); "no worker
   environments" and DNS errors are retried until ``answer_timeout``.
7. **S3 commit-service hardening** (when ``commit_service.instance_profile_arn`` is given): the
   instance profile registered in the workspace, and a cluster policy (found by name, created or
   updated) fixing the AssumeRole Spark confs on the data role, optionally with the commit service's
   direct upload off.
8. **Bucket policy** (when ``bucket_policy.allowed_ips`` is given), last because it may refuse
   object calls from here: a Deny of ``s3:*`` on the root bucket (or ``bucket_policy.buckets``)
   outside the allowed IPs, the region's control plane IPs and the VPC's S3 gateway endpoint,
   merged into the bucket policy by its Sid (a re-run changes nothing; other statements stay).

With ``delete_failed_workspace``, a workspace that ends FAILED (or BANNED, CANCELLING, or not RUNNING
by the deadline) is deleted and waited for until it is gone, then the objects this run created are
deleted in reverse creation order (an object in use is retried until ``cleanup_timeout``); adopted
objects are never deleted. An object is this run's when its name was free at this run's first look-up
(also when a create answered an error but had been committed, and the look-up after it found the
object), or when an earlier try of the same run created it: each created id is written to the run's
provisioning document as soon as it exists, and a retry of the task reads it back. Only an object that
existed before this run's first create attempt is adopted. The task still fails, its message and
XCom ``cleanup`` saying what was deleted and what was not, and the run state forgets the deleted ids
so a re-run starts clean.

Credentials come from the Airflow connections only; they never reach the logs, XCom, rendered fields
or the run state.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, conf
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

from platform_ops.config_files import load_yaml
from platform_ops.core import workspace_preflight as wp
from platform_ops.core.params import is_unset, parse_bool
from platform_ops.core.workspace_deploy import (
    CommitHardening,
    DeployPlan,
    WaitOutcome,
    WorkspaceStatus,
    WorkspaceWaitEvent,
    cleanup_plan,
    cleanup_report,
    forget_removed,
    parse_deploy_params,
    plan_lines,
    remaining_objects,
)
from platform_ops.exceptions import (
    ConfigError,
    ExternalServiceError,
    InvalidRequestError,
    TransientServiceError,
)
from platform_ops.hooks.aws_network import AwsNetworkHook
from platform_ops.hooks.databricks_account import (
    AccountObject,
    DatabricksAccountHook,
    RetryPolicy,
)
from platform_ops.hooks.workspace_deploy import (
    current_user,
    ensure_cluster_policy,
    ensure_instance_profile,
    restrict_buckets,
)
from platform_ops.state import RunStateStore
from platform_ops.task_failures import fail_fast_on_permanent_errors
from platform_ops.triggers.workspace_deploy import WorkspaceRunningTrigger, read_status

STATE_NAMESPACE = "workspace_objects"
STATE_NAME = "workspace_deploy"
SERVICE = "Databricks account API"
# The deferral timeout is a backstop: the trigger ends the wait at its own deadline.
_DEFER_MARGIN = 60.0


class WorkspaceDeployOperator(BaseOperator):
    """Preflight, plan, find-or-create the account objects, wait for RUNNING, check the workspace answers.

    See the module docstring for the steps. Returns (XCom) the workspace id, deployment name, host,
    status, the user the workspace answered for, and each object (kind, name, id, created); a dry
    run returns the plan and the preflight report.

    Args:
        workspace: the workspace's parameters (see ``include/config/workspaces/``); or
        config_path: a YAML file holding them (read at run time).
        dry_run: stop after the preflight and the plan (no account API call).
        databricks_conn_id: Airflow Databricks connection of the account console (token or OAuth M2M).
        aws_conn_id: Airflow AWS connection of the account that owns the VPC.
        timeout: seconds to wait for RUNNING.
        poll_interval: seconds between status reads.
        answer_timeout: seconds for the new workspace to answer SCIM Me.
        deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
        state_root: RunStateStore root (default: the configured one).
        state_conn_id: RunStateStore connection (default: the configured one).
        account_retry_policy: how creates are retried (validation backoff, endpoints); the hook's default.
        workspace_host: the new workspace's URL, overriding the parameters' (``{deployment_name}`` is
            filled in); default ``https://<deployment_name>.cloud.databricks.com``.
        delete_failed_workspace: when the workspace does not reach RUNNING, delete it and the objects
            this run created (see the module docstring).
        cleanup_timeout: seconds the cleanup may take (deletes refused as "in use" are retried until then).
        **kwargs: BaseOperator arguments.
    """

    template_fields = (
        "workspace",
        "config_path",
        "dry_run_only",
        "workspace_host",
        "timeout",
        "delete_failed_workspace",
    )
    ui_color = "#ffe8d6"

    def __init__(
        self,
        *,
        workspace: Mapping[str, Any] | None = None,
        config_path: str | None = None,
        dry_run: bool | str = False,
        databricks_conn_id: str = "databricks_default",
        aws_conn_id: str | None = "aws_default",
        timeout: float | str = 3600.0,
        poll_interval: float = 30.0,
        answer_timeout: float = 600.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=True),
        state_root: str | None = None,
        state_conn_id: str | None = None,
        account_retry_policy: RetryPolicy | None = None,
        workspace_host: str | None = None,
        delete_failed_workspace: bool | str = False,
        cleanup_timeout: float = 1800.0,
        **kwargs: Any,
    ) -> None:
        """Assign the arguments; nothing is read or called here."""
        super().__init__(**kwargs)
        self.workspace = workspace
        self.config_path = config_path
        self.dry_run_only = dry_run  # BaseOperator.dry_run is a method
        self.databricks_conn_id = databricks_conn_id
        self.aws_conn_id = aws_conn_id
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.answer_timeout = answer_timeout
        self.deferrable = deferrable
        self.state_root = state_root
        self.state_conn_id = state_conn_id
        self.account_retry_policy = account_retry_policy
        self.workspace_host = workspace_host
        self.delete_failed_workspace = delete_failed_workspace
        self.cleanup_timeout = cleanup_timeout

    # -- collaborators ---------------------------------------------------------------------------
    @cached_property
    def account(self) -> DatabricksAccountHook:
        """The account API hook."""
        return DatabricksAccountHook(self.databricks_conn_id, retry_policy=self.account_retry_policy)

    @cached_property
    def store(self) -> RunStateStore:
        """The run state store."""
        return RunStateStore(self.state_root, self.state_conn_id)

    # -- steps -----------------------------------------------------------------------------------
    def validate(self) -> DeployPlan:
        """Parse every argument (step 1).

        Raises:
            ConfigError: naming the bad field and the fix.
        """
        parse_bool("dry_run", self.dry_run_only)
        parse_bool("delete_failed_workspace", self.delete_failed_workspace)
        for name in ("timeout", "poll_interval", "answer_timeout", "cleanup_timeout"):
            setattr(self, name, _seconds(name, getattr(self, name)))
        if (self.workspace is None) == is_unset(self.config_path):
            raise ConfigError(
                "workspace",
                "give exactly one of workspace and config_path",
                "pass the parameters as workspace=, or the YAML file as config_path=",
            )
        params = self.workspace if self.workspace is not None else load_yaml(str(self.config_path))
        if not is_unset(self.workspace_host) and isinstance(params, Mapping):
            params = {**params, "workspace_host": self.workspace_host}
        return parse_deploy_params(params)

    def preflight(self, plan: DeployPlan, context: Any) -> wp.PreflightReport:
        """Read the snapshot and check every rule (step 2); errors fail the task.

        Raises:
            ConfigError: the preflight found errors (the report is in XCom and the log first).
        """
        hook = AwsNetworkHook(aws_conn_id=self.aws_conn_id, region_name=plan.deployment.region)
        report = wp.evaluate(hook.snapshot(plan.preflight), plan.preflight)
        context["ti"].xcom_push(key="preflight", value=report.to_dict())
        for line in report.lines():
            (self.log.error if line.startswith("[error]") else self.log.info)("%s", line)
        self.log.info("Preflight read AWS with %d API calls", hook.call_count)
        if not report.ok:
            failing = ", ".join(f"{f.rule_id} ({f.resource_id})" for f in report.errors)
            raise ConfigError(
                "network",
                f"the preflight found {len(report.errors)} error(s): {failing}",
                "fix each finding as the task log and XCom 'preflight' say, then run again "
                "(nothing was created in the account)",
            )
        return report

    def execute(self, context: Any) -> dict[str, Any]:
        """Run the steps; defers for the RUNNING wait when ``deferrable``."""
        with fail_fast_on_permanent_errors():
            plan = self.validate()
            report = self.preflight(plan, context)
            lines = plan_lines(plan.deployment)
            if plan.hardening is not None:
                lines.append(
                    f"  then in the workspace: instance profile {plan.hardening.instance_profile_arn}, "
                    f"cluster policy {plan.hardening.policy_name!r} {plan.hardening.policy_definition()}"
                )
            if plan.bucket_policy is not None:
                lines.append(f"  last: {plan.bucket_policy.describe()}")
            for line in lines:
                self.log.info("%s", line)
            if parse_bool("dry_run", self.dry_run_only):
                self.log.info("Dry run: stopping before any account API call")
                return {
                    "dry_run": True,
                    "plan": lines,
                    "preflight": report.to_dict(),
                }
            objects = self.ensure_objects(plan, context, iam_checked=report.ok)
            workspace = objects[-1]
            settled = WorkspaceWaitEvent.of(read_status(self.account, workspace["object_id"]))
            if settled is not None:  # already RUNNING (a re-run), or already failed
                return self._finish(plan, settled, objects, context)
            deadline = time.time() + float(self.timeout)
            if self.deferrable:
                self.defer(
                    trigger=WorkspaceRunningTrigger(
                        workspace["object_id"],
                        deadline,
                        self.databricks_conn_id,
                        account_id=self.account.account_id,
                        poll_interval=float(self.poll_interval),
                    ),
                    method_name="execute_complete",
                    kwargs={"objects": objects},
                    timeout=timedelta(seconds=float(self.timeout) + _DEFER_MARGIN),
                )
            return self._finish(plan, self.poll(workspace["object_id"], deadline), objects, context)

    def execute_complete(
        self, context: Any, event: Mapping[str, Any], objects: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger: fail unless RUNNING, then check that the workspace answers."""
        with fail_fast_on_permanent_errors():
            plan = self.validate()
            if objects is None:  # the run state has them when the deferral did not carry them
                objects = list((self._load_state(context) or {}).get("objects") or [])
            return self._finish(plan, WorkspaceWaitEvent.from_json(event), objects, context)

    def ensure_objects(self, plan: DeployPlan, context: Any, iam_checked: bool) -> list[dict[str, Any]]:
        """Find or create every account object (step 4); ids reach the run state as they exist.

        An object is this run's (``created``, so a cleanup deletes it) when this run's create made it,
        or when an earlier try of this run did (its provisioning document says so); only an object that
        existed before this run's first create attempt is adopted.
        """
        deployment = plan.deployment
        recorded: dict[str, str] = dict(
            self.store.get_shared(STATE_NAMESPACE, deployment.deployment_name) or {}
        )
        created = self._created_earlier(context, deployment.deployment_name)
        if created:
            self.log.info(
                "Earlier tries of this run created: %s",
                ", ".join(f"{c['kind']} {c['name']!r} ({c['object_id']})" for c in created),
            )

        def on_id(kind: str, name: str, object_id: str) -> None:
            key = f"{kind}:{name}"
            self.store.update_shared(
                STATE_NAMESPACE, deployment.deployment_name, lambda doc: {**(doc or {}), key: object_id}
            )
            recorded[key] = object_id

        def on_created(kind: str, name: str, object_id: str) -> None:
            entry = {"kind": kind, "name": name, "object_id": object_id}
            if entry not in created:  # this try's document says so before the next call
                created.append(entry)
                self._save_state(context, self._run_doc(context, deployment.deployment_name, created))

        found = self.account.ensure_all(
            deployment,
            recorded=recorded,
            on_id=on_id,
            iam_checked=iam_checked,
            created_earlier=[(c["kind"], c["object_id"]) for c in created],
            on_created=on_created,
        )
        objects = [_public(o) for o in found]
        for o in objects:
            self.log.info(
                "%s %s %r: %s", "Created" if o["created"] else "Adopted", o["kind"], o["name"], o["object_id"]
            )
        self._save_state(
            context, {**self._run_doc(context, deployment.deployment_name, created), "objects": objects}
        )
        return objects

    def _created_earlier(self, context: Any, deployment_name: str) -> list[dict[str, str]]:
        """The objects earlier tries of this run created, from its provisioning document.

        Only a document of this run (same run id and deployment) counts: a new run of the same date
        starts with nothing of its own. Malformed entries are ignored.
        """
        doc = self._load_state(context)
        if (
            not isinstance(doc, Mapping)
            or doc.get("run_id") != context.get("run_id")
            or doc.get("deployment_name") != deployment_name
        ):
            return []
        entries = [*(doc.get("created") or []), *(o for o in doc.get("objects") or [] if o.get("created"))]
        created: list[dict[str, str]] = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            values = [entry.get(k) for k in ("kind", "name", "object_id")]
            if not all(isinstance(v, str) and v for v in values):
                continue
            picked = {k: str(v) for k, v in zip(("kind", "name", "object_id"), values, strict=True)}
            if picked not in created:
                created.append(picked)
        return created

    def _run_doc(self, context: Any, deployment_name: str, created: list[dict[str, str]]) -> dict[str, Any]:
        """The provisioning document's header: whose it is and what this run created so far."""
        return {
            "deployment_name": deployment_name,
            "run_id": context.get("run_id"),
            "try_number": _try_number(context),
            "created": list(created),
        }

    def poll(self, workspace_id: str, deadline: float) -> WorkspaceWaitEvent:
        """Wait for RUNNING on the worker (the non-deferrable path), with the trigger's rules."""
        last: list[WorkspaceStatus] = []

        def once() -> WorkspaceWaitEvent | None:
            status = read_status(self.account, workspace_id)
            if not last or status.describe() != last[-1].describe():
                self.log.info("Workspace %s: %s", workspace_id, status.describe())
            last.append(status)
            return WorkspaceWaitEvent.of(status)

        retrying = Retrying(
            retry=retry_if_exception_type(TransientServiceError) | retry_if_result(lambda e: e is None),
            stop=lambda _: time.time() >= deadline,
            wait=wait_fixed(float(self.poll_interval)),
            retry_error_callback=lambda _: WorkspaceWaitEvent(
                workspace_id,
                WaitOutcome.TIMED_OUT,
                f"workspace {workspace_id} not RUNNING by the deadline"
                + (f": {last[-1].describe()}" if last else ""),
                last[-1] if last else None,
            ),
        )
        try:
            event: WorkspaceWaitEvent | None = retrying(once)
        except ExternalServiceError as exc:  # permanent (denied, invalid, not found): as the trigger says
            return WorkspaceWaitEvent(workspace_id, WaitOutcome.FAILED, str(exc), last[-1] if last else None)
        if event is None:  # tenacity hands back the last result only through the callback above
            raise TransientServiceError(SERVICE, "wait for RUNNING", f"workspace {workspace_id}: no status")
        return event

    def answer(self, host: str) -> dict[str, Any]:
        """The new workspace's current user (step 6), transient errors retried until ``answer_timeout``."""
        retrying = Retrying(
            retry=retry_if_exception_type(TransientServiceError),
            stop=stop_after_delay(float(self.answer_timeout)),
            wait=wait_exponential(multiplier=0.5, max=min(30.0, float(self.poll_interval))),
            before_sleep=lambda state: self.log.warning(
                "Workspace %s does not answer yet (%s): retrying",
                host,
                state.outcome.exception() if state.outcome else "",
            ),
            reraise=True,
        )
        per_call = min(float(self.poll_interval), float(self.answer_timeout))
        user: dict[str, Any] = retrying(current_user, self.account, host, per_call)
        return user

    def _finish(
        self, plan: DeployPlan, event: WorkspaceWaitEvent, objects: list[dict[str, Any]], context: Any
    ) -> dict[str, Any]:
        if event.outcome is not WaitOutcome.RUNNING and parse_bool(
            "delete_failed_workspace", self.delete_failed_workspace
        ):
            self.log.error("Workspace %s did not reach RUNNING: %s", event.workspace_id, event.message)
            report = self.cleanup(plan, objects, context)
            raise InvalidRequestError(SERVICE, "wait for RUNNING", f"{event.message}; {report}")
        if event.outcome is WaitOutcome.TIMED_OUT:  # a retry of the task adopts everything and waits again
            self.log.error("Workspace %s: %s", event.workspace_id, event.message)
            raise TransientServiceError(SERVICE, "wait for RUNNING", event.message)
        if event.outcome is not WaitOutcome.RUNNING:
            self.log.error("Workspace %s did not reach RUNNING: %s", event.workspace_id, event.message)
            raise InvalidRequestError(SERVICE, "wait for RUNNING", event.message)
        host = plan.deployment.host()
        self.log.info("Workspace %s is RUNNING at %s: checking that it answers", event.workspace_id, host)
        user = self.answer(host)
        self.log.info(
            "Workspace %s answers at %s (current user %s)", event.workspace_id, host, user["userName"]
        )
        return {
            "workspace_id": event.workspace_id,
            "deployment_name": plan.deployment.deployment_name,
            "host": host,
            "status": event.status.status if event.status else None,
            "user": user["userName"],
            "objects": objects,
            "hardening": self.harden(plan.hardening, host),
            # last: once written, object calls from outside the allowed networks are refused
            "bucket_policy": self.restrict_bucket(plan),
        }

    def restrict_bucket(self, plan: DeployPlan) -> list[dict[str, Any]] | None:
        """Merge the IP restriction into the bucket policies (step 8), when asked for."""
        if plan.bucket_policy is None:
            return None
        results = restrict_buckets(self.aws_conn_id, plan.deployment.region, plan.bucket_policy)
        for r in results:
            self.log.info(
                "Bucket policy of %s: %s", r["bucket"], "restriction written" if r["changed"] else "unchanged"
            )
        return results

    def cleanup(self, plan: DeployPlan, objects: list[dict[str, Any]], context: Any) -> str:
        """Delete the failed workspace and what this run created; update the run state; the report."""
        to_delete = cleanup_plan(objects)
        if to_delete.reason:
            self.log.warning("Cleanup: %s", to_delete.reason)
        outcomes = self.account.cleanup(
            to_delete.deletions, time.time() + float(self.cleanup_timeout), float(self.poll_interval)
        )
        report = cleanup_report(outcomes, to_delete)
        (self.log.info if all(o.removed for o in outcomes) else self.log.error)("%s", report)
        name = plan.deployment.deployment_name
        self.store.update_shared(STATE_NAMESPACE, name, lambda doc: forget_removed(dict(doc or {}), outcomes))
        remaining = remaining_objects(objects, outcomes)
        created = [
            {"kind": o["kind"], "name": o["name"], "object_id": str(o["object_id"])}
            for o in remaining
            if o["created"]
        ]
        self._save_state(
            context,
            {
                **self._run_doc(context, name, created),
                "objects": remaining,
                "cleanup": [o.to_json() for o in outcomes],
            },
        )
        context["ti"].xcom_push(key="cleanup", value=[o.to_json() for o in outcomes])
        return report

    def _save_state(self, context: Any, doc: dict[str, Any]) -> None:
        """This run's provisioning document (its objects, the cleanup) as the version of this try."""
        self.store.put(
            doc,
            self.dag_id,
            self.task_id,
            context.get("logical_date"),
            STATE_NAME,
            _try_number(context),
            run_id=context.get("run_id"),
        )

    def _load_state(self, context: Any) -> Any | None:
        """The latest provisioning document of this run (None when there is none)."""
        return self.store.get_latest(
            self.dag_id, self.task_id, context.get("logical_date"), STATE_NAME, run_id=context.get("run_id")
        )

    def harden(self, hardening: CommitHardening | None, host: str) -> dict[str, Any] | None:
        """Register the instance profile and find-or-update the S3 commit-service cluster policy (step 7)."""
        if hardening is None:
            return None
        added = ensure_instance_profile(self.account, host, hardening.instance_profile_arn)
        self.log.info(
            "Instance profile %s %s",
            hardening.instance_profile_arn,
            "registered" if added else "already registered",
        )
        policy_id, action = ensure_cluster_policy(
            self.account, host, hardening.policy_name, hardening.policy_definition()
        )
        self.log.info("Cluster policy %r (%s): %s", hardening.policy_name, policy_id, action)
        return {
            "instance_profile_arn": hardening.instance_profile_arn,
            "instance_profile_added": added,
            "policy_name": hardening.policy_name,
            "policy_id": policy_id,
            "policy_action": action,
        }


def _try_number(context: Any) -> int:
    """The try this task instance runs as (1 for the first)."""
    return int(getattr(context["ti"], "try_number", 1) or 1)


def _seconds(name: str, value: Any) -> float:
    """A positive number of seconds, also from a rendered template ("3600")."""
    try:
        seconds = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise ConfigError(name, f"{value!r} is not a positive number of seconds", "give seconds > 0")
    return seconds


def _public(obj: AccountObject) -> dict[str, Any]:
    """What XCom and the run state keep of an object: kind, name, id, whether this run created it."""
    return {
        "kind": obj.kind,
        "name": obj.name,
        "object_id": obj.object_id,
        "created": obj.created,
    }
