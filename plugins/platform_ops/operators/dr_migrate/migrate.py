"""The migration of one object type: find by marker, create once, update, or leave identical."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import Any

from platform_ops.core import dr_objects as objs
from platform_ops.core.dr_migrate import (
    Action,
    Checkpoint,
    CheckpointDelta,
    Decision,
    DrParams,
    TargetIndex,
    copy_stamp,
    keep_pauses,
    progress_line,
)
from platform_ops.exceptions import ExternalServiceError
from platform_ops.hooks.dr_migrate import ExportTooLargeError
from platform_ops.operators.dr_migrate.base import (
    OBJECT_TYPES,
    TERMINATED,
    DrBaseOperator,
    Pair,
    docker_passwords_of,
    pool_threads,
)
from platform_ops.operators.dr_migrate.compare import Comparer, libraries_key, same_content
from platform_ops.operators.dr_migrate.decide import Side, decide_side, read_side, too_large
from platform_ops.operators.dr_migrate.permissions import PermissionCopy
from platform_ops.task_failures import fail_fast_on_permanent_errors


class Recorder:
    """Thread-safe progress and checkpoint bookkeeping of one migration task."""

    def __init__(
        self,
        total: int,
        flush: Callable[[CheckpointDelta], None],
        flush_every: int,
        progress_every: int,
        log_progress: Callable[[int, int], None],
    ) -> None:
        """Count to ``total``; flush every ``flush_every`` entries; log every ``progress_every`` objects."""
        self.total = total
        self.done = 0
        self.pending = CheckpointDelta()
        self.lock = threading.Lock()
        self._flush = flush
        self.flush_every = flush_every
        self.progress_every = progress_every
        self.log_progress = log_progress

    def record(self, change: Callable[[CheckpointDelta], None], finished: bool = True) -> None:
        """Apply ``change`` to the pending delta; flush and log progress on schedule."""
        with self.lock:
            change(self.pending)
            if finished:
                self.done += 1
            due = len(self.pending) >= self.flush_every
            if finished and (self.done % self.progress_every == 0 or self.done == self.total):
                self.log_progress(self.done, self.total)
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what is pending (a failed write keeps it pending for the next flush)."""
        with self.lock:
            delta, self.pending = self.pending, CheckpointDelta()
        try:
            self._flush(delta)
        except BaseException:
            with self.lock:
                merged = CheckpointDelta(
                    **{f.name: getattr(delta, f.name) + getattr(self.pending, f.name) for f in fields(delta)}
                )
                self.pending = merged
            raise


class DrMigrateOperator(DrBaseOperator):
    """Copy one object type to the target: find by marker, create once, update, or leave identical.

    Args:
        object_type: one of ``OBJECT_TYPES``.
        **kwargs: DrBaseOperator arguments.

    Returns (XCom) the count per action, the writes made and the failures.
    """

    def __init__(self, *, object_type: str, **kwargs: Any) -> None:
        """One task per object type; an unknown type fails when the DAG is parsed."""
        super().__init__(**kwargs)
        if object_type not in OBJECT_TYPES:
            raise ValueError(
                f"object_type: unknown object type {object_type!r}; use one of {', '.join(OBJECT_TYPES)}"
            )
        self.object_type = object_type

    def execute(self, context: Any) -> dict[str, Any]:
        """Migrate the type unless the run is a dry run or the type is not selected."""
        with fail_fast_on_permanent_errors():
            params = self.migration_params(context)
            if params.dry_run:
                self.log.info("Dry run: %s not migrated (nothing is written)", self.object_type)
                return {"dry_run": True}
            if self.object_type not in params.object_types:
                self.log.info("%s is not among object_types: nothing to do", self.object_type)
                return {"selected": False}
            with_values = ("secret_scopes", "instance_pools")
            secrets = self.secret_values(params) if self.object_type in with_values else {}
            pair = self.open_pair(params.source_conn_id, params.target_conn_id, params.parallelism)
            run_id = str(context.get("run_id") or "")
            if self.object_type == "permissions":
                return PermissionCopy(self, pair, params).run()
            return TypeMigration(self, pair, params, secrets, run_id).run()


class TypeMigration:
    """One object type's copy, run by :class:`DrMigrateOperator`."""

    def __init__(
        self,
        op: DrMigrateOperator,
        pair: Pair,
        params: DrParams,
        secrets: Mapping[str, Mapping[str, str]],
        run_id: str,
    ) -> None:
        """Copy ``op.object_type`` within ``pair``."""
        self.op = op
        self.pair = pair
        self.params = params
        self.secrets = secrets
        self.run_id = run_id
        self.object_type = op.object_type
        self.failures: dict[str, str] = {}
        self.comparer = Comparer(pair, Checkpoint(pair.source_id, pair.target_id))
        self.actions: dict[str, int] = {}
        self.writes = 0
        self.count_lock = threading.Lock()
        self.recorded: set[str] = set()  # the clusters some run has recorded as created
        self.cutover_unpaused: frozenset[str] = frozenset()  # jobs a cutover runs in the target
        self.index = TargetIndex({}, {})
        self.written: set[str] = set()  # the notebooks and files this task imported

    def run(self) -> dict[str, Any]:
        """Rounds of prepare + apply until no object becomes migratable (jobs that run other jobs)."""
        checkpoint = self.op.checkpoint(self.pair)
        self.comparer = Comparer(self.pair, checkpoint, self.params.refresh_secret_values)
        self.recorded = {c for ids in checkpoint.clusters_created.values() for c in ids}
        self.cutover_unpaused = checkpoint.cutover_unpaused
        side = read_side(self.pair, self.params, self.object_type)
        self.index = side.index
        recorder = Recorder(
            len(side.source),
            lambda delta: self.op.flush(self.pair, delta),
            self.params.flush_every,
            self.params.progress_every,
            self._progress,
        )
        try:
            pending = side.source
            while pending:
                ctx = self.op.context_for(self.params, self.pair, checkpoint, self.object_type, self.secrets)
                decided = decide_side(
                    Side(self.object_type, pending, side.index),
                    ctx,
                    self.comparer,
                    True,
                    workers=pool_threads(self.params.parallelism),
                )
                pending = self._apply(decided, pending, recorder)
            if self.object_type == "workspace_objects":
                self._stamp(side.source, recorder)
        finally:
            recorder.flush()
        self._log_summary()
        if self.failures:
            listed = "; ".join(f"{k}: {v}" for k, v in list(self.failures.items())[:10])
            raise RuntimeError(
                f"{len(self.failures)} {self.object_type} object(s) failed (a retry resumes): {listed}"
            )
        return {
            "object_type": self.object_type,
            "actions": dict(sorted(self.actions.items())),
            "writes": self.writes,
            "failures": 0,
        }

    def _stamp(self, source: list[dict[str, Any]], recorder: Recorder) -> None:
        """Record both sides' modification times of each notebook and file holding the source's content.

        Those are the ones this task wrote and those whose two exports matched. One fresh listing
        of the target (one call per folder) reads the times the imports gave the copies.

        A pair whose stamp still matches is compared without exports by later tasks and runs; an
        edit on either side changes its time, and the pair is exported again.
        """
        landed = self.written | self.comparer.verified
        if not landed:
            return
        target = {str(o.get("path")): o for o in self.pair.target.relist(self.object_type, self.params.roots)}
        stamps = [
            (path, stamp)
            for obj in source
            if (path := str(obj.get("path"))) in landed and (stamp := copy_stamp(obj, target.get(path)))
        ]
        recorder.record(lambda d: d.stamps.extend(stamps), finished=False)

    def _progress(self, done: int, total: int) -> None:
        """Done/total, the retries both hosts' limiters made, and the target host's concurrency now."""
        source, target = self.pair.source.limiter, self.pair.target.limiter
        retries = target.retries + (source.retries if source is not target else 0)
        self.op.log.info("%s", progress_line(self.object_type, done, total, retries, target.concurrency))

    def _apply(
        self,
        decided: list[tuple[objs.Prepared, Decision]],
        pending: list[dict[str, Any]],
        recorder: Recorder,
    ) -> list[dict[str, Any]]:
        """Apply the writes in the thread pool; returns the jobs to prepare again.

        A job that runs another job of this run which is not in the target yet waits for the next
        round; when a round migrates nothing new, the waiting jobs are reported as blocked.
        """
        waiting = objs.job_dependencies(pending) if self.object_type == "jobs" else {}
        retry: list[dict[str, Any]] = []
        work: list[tuple[objs.Prepared, Decision]] = []
        for (prepared, decision), source in zip(decided, pending, strict=True):
            if decision.action is Action.BLOCKED and waiting.get(prepared.source_id):
                retry.append(source)
            else:
                work.append((prepared, decision))
        with ThreadPoolExecutor(
            max_workers=pool_threads(self.params.parallelism), thread_name_prefix="dr-migrate"
        ) as pool:
            results = list(pool.map(lambda item: self._one(item[0], item[1], recorder), work))
        migrated = any(
            target_id and decision.action in (Action.CREATE, Action.UPDATE, Action.IDENTICAL)
            for (_, decision), target_id in zip(work, results, strict=True)
        )
        if retry and not migrated:  # nothing new to point at: they stay blocked
            for prepared, decision in decided:
                if any(objs.source_id("jobs", r) == prepared.source_id for r in retry):
                    self._one(prepared, decision, recorder)
            return []
        return retry

    def _count(self, action: Action, wrote: bool = False) -> None:
        with self.count_lock:
            self.actions[str(action)] = self.actions.get(str(action), 0) + 1
            self.writes += int(wrote)

    def _one(self, prepared: objs.Prepared, decision: Decision, recorder: Recorder) -> str | None:
        """Apply one decision; returns the target id when the object is (now) in the target."""
        sid = prepared.source_id
        try:
            target_id = self._write(prepared, decision)
        except ExportTooLargeError as exc:
            self._count(Action.BLOCKED)
            self.op.log.warning("%s blocked: %s", self.object_type, too_large(prepared, exc).reason)
            recorder.record(lambda d: None)
            return None
        except ExternalServiceError as exc:
            message = str(exc)
            self.failures[sid] = message
            self.op.log.error("%s %s (%s) failed: %s", self.object_type, prepared.name, sid, message)
            recorder.record(lambda d: d.failures.append((self.object_type, sid, message)))
            return None
        if decision.action not in (Action.CREATE, Action.UPDATE, Action.IDENTICAL):
            self._count(decision.action)
            log = self.op.log.warning if decision.action is Action.DUPLICATE else self.op.log.info
            log("%s %s: %s (%s): %s", self.object_type, decision.action, prepared.name, sid, decision.reason)
            recorder.record(lambda d: None)
            return None
        self._count(decision.action, wrote=decision.action is not Action.IDENTICAL)

        def note(d: CheckpointDelta) -> None:
            if target_id:
                d.ids.append((self.object_type, sid, target_id))
            d.cleared.append((self.object_type, sid))
            if (
                prepared.object_type == "workspace_objects"
                and prepared.spec
                and prepared.spec.get("object_type") != "DIRECTORY"
            ):
                d.hashes.append((self.object_type, sid, self.comparer.source_digest(sid)))
            elif prepared.spec is not None:
                d.hashes.append((self.object_type, sid, objs.content_hash(self.object_type, prepared.spec)))
            if prepared.object_type == "jobs":
                d.pauses.append((sid, prepared.pause_status or ""))

        recorder.record(note)
        return target_id

    def _content(self, prepared: objs.Prepared) -> bytes:
        return self.comparer.export_source(prepared.source_id)

    def _workspace_object(self, prepared: objs.Prepared, spec: dict[str, Any]) -> str:
        """Import a notebook or file with the source's content (a folder: create it)."""
        content = None if spec.get("object_type") == "DIRECTORY" else self._content(prepared)
        self.pair.target.import_object(spec, content, overwrite=True)
        if content is not None:
            with self.count_lock:
                self.written.add(prepared.source_id)
        return prepared.source_id

    def _write(self, prepared: objs.Prepared, decision: Decision) -> str | None:
        """The writes of one decision (none for identical or not migrated)."""
        if decision.action not in (Action.CREATE, Action.UPDATE) or prepared.spec is None:
            if decision.action is Action.IDENTICAL and decision.target_id:
                self._adopt_unrecorded_cluster(decision.target_id)
            return decision.target_id
        spec = dict(prepared.spec)
        target = self.pair.target
        if self.object_type == "workspace_objects":
            return self._workspace_object(prepared, spec)
        if self.object_type == "secret_scopes":
            return self._secret_scope(prepared, decision)
        if self.object_type == "cluster_libraries":
            self._libraries(spec, decision)
            return str(spec["cluster_id"])
        if prepared.relocations:
            self.comparer.relocator.write(prepared)
        if self.object_type == "instance_pools":
            passwords = docker_passwords_of(self.secrets).get(prepared.name, {})
            spec = objs.with_docker_passwords(spec, passwords)  # only in the request body
        if decision.action is Action.UPDATE and decision.target_id:
            found = self.index.found(prepared)
            if self.object_type == "jobs" and found and prepared.source_id in self.cutover_unpaused:
                spec = keep_pauses(spec, dict(found[1].get("settings") or {}))  # the target runs it now
            if not (
                prepared.relocations
                and found
                and same_content(self.object_type, prepared.spec, found[1], self.params.refresh_secret_values)
            ):  # a copy whose relocated script alone differed is left as it is
                target.update(self.object_type, decision.target_id, spec)
            self._adopt_unrecorded_cluster(decision.target_id)
            return decision.target_id
        target_id, _ = target.create_once(self.object_type, spec, self._lookup(prepared))
        if self.object_type == "clusters":  # created now, or committed before an ambiguous failure: ours
            self._cluster_created(target_id)
        return target_id

    def _lookup(self, prepared: objs.Prepared) -> Callable[[], str | None]:
        def lookup() -> str | None:
            found = TargetIndex.of(
                self.object_type, self.pair.target.list_objects(self.object_type, self.params.roots)
            ).found(prepared)
            return found[0] if found else None

        return lookup

    def _adopt_unrecorded_cluster(self, target_id: str) -> None:
        """A running cluster of ours that no run recorded (its run died first) becomes this run's."""
        if self.object_type != "clusters" or target_id in self.recorded:
            return
        if self.pair.target.cluster_state(target_id) in TERMINATED:
            return
        self.op.log.info("clusters: %s runs and no run recorded it: this run's teardown stops it", target_id)
        self._cluster_created(target_id)

    def _cluster_created(self, target_id: str) -> None:
        """Record the new cluster for the teardown, and stop it now unless it should keep running."""
        self.op.flush(self.pair, CheckpointDelta(clusters=[(self.run_id, target_id)]))
        if not self.params.keep_clusters_running:
            self.pair.target.terminate_cluster(target_id)

    def _secret_scope(self, prepared: objs.Prepared, decision: Decision) -> str:
        spec = prepared.spec or {}
        scope = str(spec["scope"])
        target = self.pair.target
        if decision.action is Action.CREATE:
            target.create_once(self.object_type, spec, self._lookup(prepared))
        have = set()
        if decision.target_id and not self.params.refresh_secret_values:
            found = [o for o in target.list_objects("secret_scopes") if o.get("name") == scope]
            have = set(found[0].get("keys") or ()) if found else set()
        for key in spec.get("keys") or ():
            if key not in have:
                target.put_secret(scope, key, self.secrets[scope][key])
        return scope

    def _libraries(self, spec: Mapping[str, Any], decision: Decision) -> None:
        cluster_id = str(spec["cluster_id"])
        have: set[str] = set()
        if decision.action is Action.UPDATE:
            for entry in self.pair.target.list_objects("cluster_libraries"):
                if str(entry.get("cluster_id")) == cluster_id:
                    have = {libraries_key(lib) for lib in entry.get("libraries") or ()}
        missing = [lib for lib in spec.get("libraries") or () if libraries_key(lib) not in have]
        if missing:
            self.pair.target.install_libraries(cluster_id, missing)

    def _log_summary(self) -> None:
        self.op.log.info(
            "%s: %s; %d write(s), %d failure(s)",
            self.object_type,
            ", ".join(f"{k} {v}" for k, v in sorted(self.actions.items())) or "nothing in the source",
            self.writes,
            len(self.failures),
        )
