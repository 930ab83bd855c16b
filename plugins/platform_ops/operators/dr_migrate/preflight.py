"""The preflight: both workspaces read, the principals checked, the plan printed (a dry run ends here)."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from platform_ops.core import dr_objects as objs
from platform_ops.core.dr_migrate import (
    Checkpoint,
    Decision,
    DrParams,
    GitCredentialsReport,
    PlanReport,
    git_job_users,
)
from platform_ops.exceptions import ConfigError, ExternalServiceError
from platform_ops.hooks.dr_migrate import DrWorkspaceHook
from platform_ops.operators.dr_migrate.base import (
    DEPENDS_ON,
    OBJECT_TYPES,
    DrBaseOperator,
    Pair,
    pool_threads,
)
from platform_ops.operators.dr_migrate.compare import Comparer
from platform_ops.operators.dr_migrate.decide import decide_side, read_side
from platform_ops.operators.dr_migrate.permissions import permission_objects
from platform_ops.task_failures import fail_fast_on_permanent_errors


class DrPreflightOperator(DrBaseOperator):
    """Read both workspaces, check the ACL principals, print the plan; a dry run ends the run here.

    Returns (XCom) the workspace ids, whether it is a dry run, and the counts per type and action;
    the principals missing in the target fail the task before any write.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        """Validate, read, check, plan."""
        with fail_fast_on_permanent_errors():
            params = self.migration_params(context)
            secrets = self.secret_values(params)
            pair = self.open_pair(
                params.source_conn_id, params.target_conn_id, params.parallelism, target_read_only=True
            )
            checkpoint = self.checkpoint(pair)
            # the ACL reads of the principal check (the source's host) run beside the plan's reads;
            # a missing principal still fails the task before the plan is printed, and neither writes
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dr-preflight") as pool:
                principals = None
                if {"permissions", "clusters", "jobs"} & set(params.object_types):
                    principals = pool.submit(self.check_principals, pair, params)
                planned = pool.submit(self.plan, params, pair, checkpoint, secrets)
                if principals is not None:
                    principals.result()
                report = PlanReport(tuple(planned.result()))
            git = self.git_credentials(pair, params)
            for line in [*report.lines(), *(git.lines() if git else ())]:
                self.log.info("%s", line)
            if params.dry_run:
                self.log.info(
                    "Dry run: nothing was written to either workspace; %d write(s) planned", report.writes
                )
            return {
                "dry_run": params.dry_run,
                "source_workspace_id": pair.source_id,
                "target_workspace_id": pair.target_id,
                "counts": report.counts(),
                "writes_planned": report.writes,
                "git_credentials": git.to_dict() if git else None,
            }

    def git_credentials(self, pair: Pair, params: DrParams) -> GitCredentialsReport | None:
        """What the source shows of its Git credentials (out of scope), or None when it cannot be read.

        A workspace that refuses one of the reads (no Git folders feature, no permission) is noted
        in the log; the plan does not depend on it.
        """
        try:
            return GitCredentialsReport(
                caller=pair.source.me(),
                credentials=tuple(pair.source.git_credentials()),
                git_folder_users=tuple(pair.source.git_folder_owners()),
                git_job_users=git_job_users(pair.source.list_objects("jobs", params.roots)),
            )
        except ExternalServiceError as exc:
            self.log.warning("Git credentials of the source not listed (they are never migrated): %s", exc)
            return None

    def plan(
        self, params: DrParams, pair: Pair, checkpoint: Checkpoint, secrets: Mapping[str, Mapping[str, str]]
    ) -> list[Decision]:
        """Every selected type's decisions, in dependency order, as a run would make them.

        The types the selected ones refer to are read too (their planned ids resolve references).
        """
        needed = set(params.object_types)
        for object_type in params.object_types:
            needed.update(DEPENDS_ON.get(object_type, ()))
        ctx = self._plain_context(params, pair, {}, {}, secrets)
        comparer = Comparer(pair, checkpoint, params.refresh_secret_values)
        decisions: list[Decision] = []
        for object_type in OBJECT_TYPES:
            if object_type == "permissions" or object_type not in needed:
                continue
            side = read_side(pair, params, object_type)
            decided = decide_side(
                side, ctx, comparer, True, planning=True, workers=pool_threads(params.parallelism)
            )
            if object_type in params.object_types:
                decisions += [d for _, d in decided]
        return decisions

    def check_principals(self, pair: Pair, params: DrParams) -> None:
        """Every principal a run would name in the target must exist there.

        That is: ACL entries (when permissions are copied), clusters' single users, jobs' run_as.

        Raises:
            ConfigError: naming the missing principals and where they appear.
        """
        known = pair.target.principals() | objs.BUILTIN_GROUPS
        missing: dict[str, list[str]] = {}
        targets = permission_objects(pair.source, params) if "permissions" in params.object_types else []

        def named(item: tuple[str, str]) -> set[str]:
            return objs.principals(objs.acl_entries(pair.source.get_permissions(*item)))

        with ThreadPoolExecutor(
            max_workers=pool_threads(params.parallelism), thread_name_prefix="dr-acls"
        ) as pool:
            for (object_type, object_id), names in zip(targets, pool.map(named, targets), strict=True):
                for principal in sorted(names - known):
                    missing.setdefault(principal, []).append(f"{object_type}/{object_id}")
        for object_type, object_id, names in spec_principals(pair.source, params):
            for principal in sorted(names - known):
                missing.setdefault(principal, []).append(f"{object_type}/{object_id}")
        if missing:
            listed = "; ".join(
                f"{p} (in {', '.join(w[:3])}{'...' if len(w) > 3 else ''})"
                for p, w in sorted(missing.items())
            )
            raise ConfigError(
                "permissions",
                f"{len(missing)} principal(s) of the source ACLs do not exist in the target: {listed}",
                "create them in the target (users, groups and service principals are not migrated); "
                "nothing was written to either workspace",
            )


def spec_principals(hook: DrWorkspaceHook, params: DrParams) -> list[tuple[str, str, set[str]]]:
    """(type, source id, principals) that the selected clusters and jobs name outside their ACLs.

    A cluster's single user and a job's run_as must exist in the target for the create to succeed.
    """
    out: list[tuple[str, str, set[str]]] = []
    for object_type in ("clusters", "jobs"):
        if object_type not in params.object_types:
            continue
        for obj in hook.list_objects(object_type, params.roots):
            if object_type == "clusters" and obj.get("cluster_source") not in objs.MIGRATED_CLUSTER_SOURCES:
                continue
            body = (obj.get("settings") or {}) if object_type == "jobs" else obj
            names = objs.spec_principals(object_type, body)
            if names:
                out.append((object_type, objs.source_id(object_type, obj), names))
    return out
