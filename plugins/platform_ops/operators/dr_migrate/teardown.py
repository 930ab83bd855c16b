"""The teardown: the clusters a run created are terminated, whatever happened upstream."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from platform_ops.operators.dr_migrate.base import TERMINATED, DrBaseOperator
from platform_ops.task_failures import fail_fast_on_permanent_errors


class DrTeardownOperator(DrBaseOperator):
    """Terminate the clusters this run created (all_done: also after a failure), unless kept running."""

    def __init__(self, **kwargs: Any) -> None:
        """A teardown runs whatever happened upstream."""
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)

    def execute(self, context: Any) -> dict[str, Any]:
        """Terminate each of this run's clusters that is not terminated yet."""
        with fail_fast_on_permanent_errors():
            params = self.migration_params(context)
            if params.dry_run or params.keep_clusters_running:
                self.log.info(
                    "Nothing to terminate (%s)", "dry run" if params.dry_run else "keep_clusters_running"
                )
                return {"terminated": []}
            pair = self.open_pair(params.source_conn_id, params.target_conn_id, params.parallelism)
            mine = self.checkpoint(pair).clusters_created.get(str(context.get("run_id") or ""), [])

            def stop(cluster_id: str) -> str | None:
                if pair.target.cluster_state(cluster_id) in TERMINATED:
                    return None
                pair.target.terminate_cluster(cluster_id)
                return cluster_id

            # the clusters' reads and terminations run on the task's pool, like its other calls
            with ThreadPoolExecutor(max_workers=params.parallelism, thread_name_prefix="dr-teardown") as pool:
                stopped = [c for c in pool.map(stop, mine) if c]
            self.log.info(
                "Clusters this run created: %d; terminated now: %s", len(mine), ", ".join(stopped) or "none"
            )
            return {"terminated": stopped, "created": list(mine)}
