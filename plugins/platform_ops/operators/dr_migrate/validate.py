"""The validation: every object compared in both workspaces, pauses and clusters checked."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from platform_ops.core.dr_migrate import (
    Action,
    Check,
    Checkpoint,
    DrParams,
    ValidationReport,
    Verdict,
    unpaused_triggers,
    verdict,
)
from platform_ops.operators.dr_migrate.base import TERMINATED, DrBaseOperator, Pair, pool_threads
from platform_ops.operators.dr_migrate.compare import Comparer
from platform_ops.operators.dr_migrate.decide import decide_side, read_side
from platform_ops.operators.dr_migrate.permissions import PermissionCopy
from platform_ops.task_failures import fail_fast_on_permanent_errors

VALIDATION_STATE = "dr_validation"


class DrValidateOperator(DrBaseOperator):
    """Compare source and target per type, check pauses and clusters; fail unless all is well."""

    def execute(self, context: Any) -> dict[str, Any]:
        """Build the report, store it, push the counts, log the table; fail on any failing verdict."""
        with fail_fast_on_permanent_errors():
            params = self.migration_params(context)
            if params.dry_run:
                self.log.info("Dry run: nothing to validate")
                return {"dry_run": True}
            pair = self.open_pair(
                params.source_conn_id, params.target_conn_id, params.parallelism, target_read_only=True
            )
            with_values = {"secret_scopes", "instance_pools"} & set(params.object_types)
            secrets = self.secret_values(params) if with_values else {}
            checkpoint = self.checkpoint(pair)
            run_id = str(context.get("run_id") or "")

            def lane(object_types: Sequence[str]) -> dict[str, list[Verdict]]:
                out: dict[str, list[Verdict]] = {}
                for object_type in object_types:
                    if object_type == "permissions":
                        out[object_type] = self.permissions(pair, params)
                    elif object_type == "created_clusters":
                        out[object_type] = self.clusters(pair, checkpoint, run_id, params.parallelism)
                    else:
                        out[object_type] = self.type_verdicts(pair, params, checkpoint, object_type, secrets)
                return out

            # the ACL reads (two per object) run beside the other types' reads: each host's limiter
            # bounds the calls of both lanes together
            checks = [*params.object_types, *(() if params.keep_clusters_running else ("created_clusters",))]
            lanes = [[t for t in checks if t == "permissions"], [t for t in checks if t != "permissions"]]
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dr-validate") as pool:
                by_type = {t: found for done in pool.map(lane, lanes) for t, found in done.items()}
            verdicts = [v for t in checks for v in by_type[t]]
            report = ValidationReport(tuple(verdicts))
            self.store_report(report, context)
            for line in report.lines():
                (self.log.info if report.ok else self.log.warning)("%s", line)
            summary = {
                "ok": report.ok,
                "counts": report.counts(),
                "failures": len(report.failures),
                "duplicates": report.duplicates(),
            }
            context["ti"].xcom_push(key="counts", value=summary)
            if not report.ok:
                raise AirflowFailException(
                    f"DR validation failed for {len(report.failures)} object(s): see the table in the log "
                    f"and the report in the run state ({VALIDATION_STATE})"
                )
            return summary

    def type_verdicts(
        self,
        pair: Pair,
        params: DrParams,
        checkpoint: Checkpoint,
        object_type: str,
        secrets: Mapping[str, Mapping[str, str]],
    ) -> list[Verdict]:
        """One verdict per source object of a type; jobs also by their pause status."""
        ctx = self.context_for(params, pair, Checkpoint(pair.source_id, pair.target_id), object_type, secrets)
        side = read_side(pair, params, object_type)
        out = []
        comparer = Comparer(pair, checkpoint)
        compared = decide_side(side, ctx, comparer, False, workers=pool_threads(params.parallelism))
        for prepared, decision in compared:
            found = side.index.found(prepared)
            identical = decision.action is Action.IDENTICAL
            v = verdict(prepared, side.index, identical if found else None)
            note = comparer.notes.get((object_type, prepared.source_id))
            if v.check is Check.DIFFERS and note:
                v = dataclasses.replace(v, reason=f"the target copy differs from the source: {note}")
            if object_type == "jobs" and found and v.check is Check.IDENTICAL:
                running = unpaused_triggers(dict(found[1].get("settings") or {}))
                if running and prepared.source_id not in checkpoint.cutover_unpaused:
                    v = Verdict(
                        object_type,
                        prepared.source_id,
                        prepared.name,
                        Check.NOT_PAUSED,
                        f"{', '.join(running)} not PAUSED in the target",
                    )
            out.append(v)
        return out

    def permissions(self, pair: Pair, params: DrParams) -> list[Verdict]:
        """Each migrated object's target ACL holds the source's non-inherited entries."""
        copy = PermissionCopy(self, pair, params)  # only its reads are used

        def one(item: tuple[str, str, str]) -> Verdict:
            object_type, source_id, target_id = item
            _, same, problem = copy.compare(object_type, source_id, target_id)
            check = Check.BLOCKED if problem else Check.IDENTICAL if same else Check.DIFFERS
            return Verdict("permissions", f"{object_type}/{source_id}", target_id, check, problem or "")

        with ThreadPoolExecutor(
            max_workers=pool_threads(params.parallelism), thread_name_prefix="dr-check-acls"
        ) as pool:
            return list(pool.map(one, copy.targets()))

    def clusters(
        self, pair: Pair, checkpoint: Checkpoint, run_id: str, parallelism: int = 8
    ) -> list[Verdict]:
        """Every cluster this run created is terminated."""
        created = checkpoint.clusters_created.get(run_id, [])
        with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="dr-check-clusters") as pool:
            states = list(pool.map(pair.target.cluster_state, created))
        out = []
        for cluster_id, state in zip(created, states, strict=True):
            check = Check.IDENTICAL if state in TERMINATED else Check.RUNNING
            out.append(Verdict("created_clusters", cluster_id, cluster_id, check, f"state {state}"))
        return out

    def store_report(self, report: ValidationReport, context: Any) -> None:
        """The full report in the run state (one version per try)."""
        ti = context["ti"]
        self.store.put(
            report.to_dict(),
            self.dag_id,
            self.task_id,
            context.get("logical_date"),
            VALIDATION_STATE,
            int(getattr(ti, "try_number", 1) or 1),
            run_id=context.get("run_id"),
        )
