"""The cutover: the target runs exactly the jobs that ran in the source; the source may be paused."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from platform_ops.core import dr_objects as objs
from platform_ops.core.dr_migrate import (
    PAUSED,
    UNPAUSED,
    CheckpointDelta,
    CutoverParams,
    marker_ids,
    unpaused_triggers,
)
from platform_ops.exceptions import ConfigError
from platform_ops.operators.dr_migrate.base import DrBaseOperator, Pair
from platform_ops.task_failures import fail_fast_on_permanent_errors


class DrCutoverOperator(DrBaseOperator):
    """Un-pause in the target exactly the jobs that ran un-paused in the source; optionally pause the source.

    Idempotent: a job already in the wanted state is left alone. Needs ``confirm=true``.
    """

    params_class = CutoverParams

    def execute(self, context: Any) -> dict[str, Any]:
        """Validate, then flip the pause statuses."""
        with fail_fast_on_permanent_errors():
            params = CutoverParams.from_params(self.raw_params(context))
            pair = self.open_pair(params.source_conn_id, params.target_conn_id, source_read_only=False)
            checkpoint = self.checkpoint(pair)
            wanted = {sid for sid, status in checkpoint.pause.items() if status == UNPAUSED}
            if not checkpoint.pause:
                raise ConfigError(
                    "source_conn_id",
                    f"no migration checkpoint for workspaces {pair.source_id} -> {pair.target_id}",
                    "run databricks_dr_migrate (dry_run=false) for this pair first",
                )
            target_ids, copies = marker_ids(pair.source_id, "jobs", pair.target.list_objects("jobs"))
            doubled = {sid: ids for sid, ids in copies.items() if sid in wanted}
            if doubled:  # un-pausing one copy (or both) would be a guess: nothing is changed
                listed = "; ".join(f"job {sid}: {', '.join(ids)}" for sid, ids in sorted(doubled.items()))
                raise AirflowFailException(
                    f"Cutover refused: the target holds more than one copy of {len(doubled)} job(s) "
                    f"({listed}); delete all but one of each there and trigger the cutover again "
                    "(nothing was changed in either workspace)"
                )
            unpaused, already, missing = [], [], []
            target_jobs = {objs.source_id("jobs", j): j for j in pair.target.list_objects("jobs")}
            running: list[str] = []  # source ids of the jobs the target runs now
            for sid in sorted(wanted):
                tid = target_ids.get(sid)
                if tid is None:
                    missing.append(sid)
                    continue
                if unpaused_triggers(dict(target_jobs[tid].get("settings") or {})):
                    already.append(tid)
                else:
                    pair.target.set_job_pause(tid, UNPAUSED)
                    unpaused.append(tid)
                running.append(sid)
            self.flush(pair, CheckpointDelta(cutover_unpaused=running))
            paused_source = self.pause_source(pair, wanted) if params.pause_source else []
            self.log.info(
                "Cutover: %d job(s) un-paused in the target (%d already were), %d paused in the source; "
                "missing: %s",
                len(unpaused),
                len(already),
                len(paused_source),
                ", ".join(missing) or "none",
            )
            return {
                "unpaused": unpaused,
                "already_unpaused": already,
                "paused_in_source": paused_source,
                "missing": missing,
            }

    def pause_source(self, pair: Pair, wanted: set[str]) -> list[str]:
        """Pause the source's copies of ``wanted`` that still run.

        They are recorded in the checkpoint first: a later migration then keeps their source status
        (un-paused) instead of reading the pause this cutover made, whatever happens after the record.
        """
        out = [
            objs.source_id("jobs", job)
            for job in pair.source.list_objects("jobs")
            if objs.source_id("jobs", job) in wanted and unpaused_triggers(dict(job.get("settings") or {}))
        ]
        self.flush(pair, CheckpointDelta(cutover_paused=out))
        for sid in out:
            pair.source.set_job_pause(sid, PAUSED)
        return out
