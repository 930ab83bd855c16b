"""DR migration operators: copy a Databricks workspace's objects to a secondary workspace, then cut over.

The tasks of ``databricks_dr_migrate``, each reading the run's params (see
:class:`~platform_ops.core.dr_migrate.DrParams`) unless given ``dr_params``:

* :class:`DrPreflightOperator` reads both workspaces, checks that every principal named by a source
  ACL exists in the target, and prints per object type what a run would create, update, leave
  identical, filter, find blocked or in conflict, leave out of scope or lack a secret value for.
  A dry run stops here: the tasks after it write nothing to either workspace.
* :class:`DrMigrateOperator` (``object_type=...``, one task per type) copies one type: a thread pool
  shares the host's adaptive limiter (the hook's), every object is found in the target by its marker
  before any create, a same-name object without marker is a conflict (never adopted), and the ids
  go to the checkpoint shared by every run of the (source, target) pair, flushed every
  ``flush_every`` objects and in ``finally``.
* :class:`DrTeardownOperator` terminates the clusters this run created (``trigger_rule=all_done``)
  unless ``keep_clusters_running``.
* :class:`DrValidateOperator` compares every eligible object's canonical form in both workspaces
  (notebooks and files by their exported bytes), checks that every migrated schedule, continuous
  run and trigger is PAUSED and every cluster the run created is terminated, stores the report in
  the run state, pushes the counts to XCom and fails unless everything is identical or skipped
  with a reason.
* :class:`DrCutoverOperator` (``databricks_dr_cutover``, ``confirm=true``) un-pauses in the target
  exactly the jobs that were un-paused in the source (their statuses are in the checkpoint) and
  optionally pauses them in the source. It is idempotent.

Secret values never leave their configured source (a connection's extra or a Variable holding
``{scope: {key: value}}``) except towards the target's secrets API: they are masked, and never
reach logs, XCom or the run state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook, BaseOperator, Variable
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.log import mask_secret

from platform_ops.core import dr_objects as objs
from platform_ops.core.dr_migrate import (
    CHECKPOINT_NAMESPACE,
    PAUSED,
    UNPAUSED,
    Action,
    Check,
    Checkpoint,
    CheckpointDelta,
    CutoverParams,
    Decision,
    DrParams,
    GitCredentialsReport,
    PlanReport,
    TargetIndex,
    ValidationReport,
    Verdict,
    check_distinct_hosts,
    check_distinct_workspaces,
    checkpoint_key,
    classify,
    git_job_users,
    keep_pauses,
    marker_ids,
    parse_docker_passwords,
    parse_secret_values,
    progress_line,
    unpaused_triggers,
    verdict,
)
from platform_ops.exceptions import ConfigError, ExternalServiceError, ResourceNotFoundError
from platform_ops.hooks.dr_migrate import DrWorkspaceHook, ExportTooLargeError
from platform_ops.state import RunStateStore
from platform_ops.task_failures import fail_fast_on_permanent_errors

OBJECT_TYPES = objs.OBJECT_TYPES  # for the DAG files, which import no core module
VALIDATION_STATE = "dr_validation"
# The types whose target ids a type's specs refer to (rebuilt from the target's markers each run).
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "cluster_policies": ("instance_pools",),
    "clusters": ("cluster_policies", "instance_pools"),
    "cluster_libraries": ("clusters",),
    "jobs": ("cluster_policies", "instance_pools", "clusters", "jobs"),
}
# Permission object types per migrated type (workspace objects: per their own object_type).
PERMISSION_TYPES = (
    "cluster_policies",
    "instance_pools",
    "secret_scopes",
    "clusters",
    "jobs",
    "workspace_objects",
)
_WORKSPACE_PERMISSIONS = {"NOTEBOOK": "notebooks", "DIRECTORY": "directories", "FILE": "files"}
TERMINATED = ("TERMINATED", "TERMINATING")
_OWNER = "IS_OWNER"
# The task of a type runs after the tasks of the types its specs refer to (the others start at once).
TASK_UPSTREAM: dict[str, tuple[str, ...]] = {
    "cluster_policies": ("instance_pools",),  # a policy's definition may fix a pool id
    "clusters": ("cluster_policies", "instance_pools", "global_init_scripts", "workspace_objects"),
    "cluster_libraries": ("clusters",),
    "jobs": ("cluster_policies", "instance_pools", "workspace_objects", "clusters"),
    "permissions": tuple(t for t in OBJECT_TYPES if t != "permissions"),
}


def build_dr_migration(
    migrate_operators: Mapping[str, type[DrMigrateOperator]] | None = None, **task_kwargs: Any
) -> dict[str, BaseOperator]:
    """The migration's tasks in the current DAG, wired in dependency order; returns them by task id.

    ``preflight`` first; one ``migrate_<type>`` per object type after the types its specs refer to
    (``migrate_operators`` may give a type its own DrMigrateOperator subclass); ``teardown`` after
    every migration task whatever happened; ``validate`` last. ``task_kwargs`` go to every task.
    """
    preflight = DrPreflightOperator(task_id="preflight", **task_kwargs)
    tasks: dict[str, BaseOperator] = {"preflight": preflight}
    for object_type in OBJECT_TYPES:
        cls = (migrate_operators or {}).get(object_type, DrMigrateOperator)
        task = cls(task_id=f"migrate_{object_type}", object_type=object_type, **task_kwargs)
        ups = TASK_UPSTREAM.get(object_type, ())
        for up in ups:
            tasks[f"migrate_{up}"] >> task
        if not ups:
            preflight >> task
        tasks[task.task_id] = task
    teardown = DrTeardownOperator(task_id="teardown", **task_kwargs)
    validate = DrValidateOperator(task_id="validate", **task_kwargs)
    [tasks[f"migrate_{t}"] for t in OBJECT_TYPES] >> teardown
    [tasks["migrate_permissions"], teardown] >> validate
    tasks.update(teardown=teardown, validate=validate)
    return tasks


# -- shared plumbing -------------------------------------------------------------------------------
@dataclass
class Pair:
    """The two workspaces of a run, opened and checked to be distinct."""

    source: DrWorkspaceHook
    target: DrWorkspaceHook
    source_id: str
    target_id: str

    @property
    def key(self) -> str:
        """The checkpoint key of the pair."""
        return checkpoint_key(self.source_id, self.target_id)


@dataclass
class Side:
    """One object type as both workspaces hold it now, prepared against the current id map."""

    object_type: str
    source: list[dict[str, Any]]
    index: TargetIndex
    target: list[dict[str, Any]] = field(default_factory=list)


def pool_threads(parallelism: int) -> int:
    """Threads of a task's pool: enough to keep each host's ``parallelism`` slots busy.

    A thread waits on one host at a time (export from the source, then import into the target) and
    spends some time between its calls, so ``parallelism`` threads would leave slots idle; each
    host's limiter still admits at most ``parallelism`` calls at once, whatever the thread count.
    """
    return 2 * parallelism


_DOCKER_SEP = "\n"  # pool name and image url of a Docker password in the secret values' packed entry


def docker_passwords_of(secrets: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """``{pool name: {image url: password}}`` from :meth:`DrBaseOperator.secret_values`' answer."""
    out: dict[str, dict[str, str]] = {}
    for packed, password in (secrets.get(objs.DOCKER_PASSWORDS_KEY) or {}).items():
        pool, url = packed.split(_DOCKER_SEP, 1)
        out.setdefault(pool, {})[url] = password
    return out


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _marker_ids(
    pair_source_id: str, object_type: str, target_objects: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Source id -> target id, read back from the target's markers (or paths and names).

    A source object the target holds more than once is left out (see :func:`marker_ids`).
    """
    return marker_ids(pair_source_id, object_type, target_objects)[0]


class DrBaseOperator(BaseOperator):
    """What every DR task shares: its params, the two workspaces, the checkpoint.

    Args:
        dr_params: the migration's params (templated); default: the DAG run's params.
        state_root: RunStateStore root (default: the configured one).
        state_conn_id: RunStateStore connection (default: the configured one).
        **kwargs: BaseOperator arguments.
    """

    template_fields: Sequence[str] = ("dr_params",)
    ui_color = "#ffd8c2"
    params_class: type[DrParams] | type[CutoverParams] = DrParams

    def __init__(
        self,
        *,
        dr_params: Mapping[str, Any] | None = None,
        state_root: str | None = None,
        state_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Assign the arguments; nothing is read or called here."""
        super().__init__(**kwargs)
        self.dr_params = dr_params
        self.state_root = state_root
        self.state_conn_id = state_conn_id

    @cached_property
    def store(self) -> RunStateStore:
        """The run state store (the checkpoint's home)."""
        return RunStateStore(self.state_root, self.state_conn_id)

    def raw_params(self, context: Any) -> dict[str, Any]:
        """``dr_params``, or the run's params restricted to the migration's fields."""
        if self.dr_params is not None:
            if not isinstance(self.dr_params, Mapping):
                raise ConfigError(
                    "dr_params", f"{self.dr_params!r} is not a mapping", "pass the params as a dict"
                )
            return dict(self.dr_params)
        known = {f.name for f in fields(self.params_class)}
        return {k: v for k, v in dict(context.get("params") or {}).items() if k in known}

    def migration_params(self, context: Any) -> DrParams:
        """The run's :class:`DrParams` (ConfigError naming the field before any call)."""
        return DrParams.from_params(self.raw_params(context))

    def open_pair(
        self,
        source_conn_id: str,
        target_conn_id: str,
        parallelism: int = 8,
        *,
        source_read_only: bool = True,
        target_read_only: bool = False,
    ) -> Pair:
        """Both hooks; refuses one workspace reached twice (by host first, with no call; then by id).

        A workspace the task only reads lists each object type once (the hook memoizes its listings):
        the source for every task but the cutover, the target for the preflight and the validation.
        """
        source = DrWorkspaceHook(
            source_conn_id, max_concurrency=parallelism, memoize_listings=source_read_only
        )
        target = DrWorkspaceHook(
            target_conn_id, max_concurrency=parallelism, memoize_listings=target_read_only
        )
        check_distinct_hosts(source.host, target.host)
        source_id, target_id = str(source.workspace_id), str(target.workspace_id)
        check_distinct_workspaces(source_id, target_id)
        self.log.info(
            "Source workspace %s (%s), target workspace %s (%s)",
            source_id,
            source.host,
            target_id,
            target.host,
        )
        return Pair(source, target, source_id, target_id)

    def checkpoint(self, pair: Pair) -> Checkpoint:
        """The pair's checkpoint as stored (empty when there is none)."""
        doc = self.store.get_shared(CHECKPOINT_NAMESPACE, pair.key)
        return Checkpoint.from_dict(doc, pair.source_id, pair.target_id)

    def flush(self, pair: Pair, delta: CheckpointDelta) -> None:
        """Merge ``delta`` into the stored checkpoint with a compare-and-set."""
        if not len(delta):
            return

        def change(doc: Any) -> dict[str, Any]:
            return Checkpoint.from_dict(doc, pair.source_id, pair.target_id).merged(delta).to_dict()

        self.store.update_shared(CHECKPOINT_NAMESPACE, pair.key, change)

    def secret_values(self, params: DrParams) -> dict[str, dict[str, str]]:
        """The configured secret values (masked in every log from here on); empty when none is set.

        ``{scope: {key: value}}``, plus the instance pools' Docker basic-auth passwords
        ``{pool name: {image url: password}}`` under ``DOCKER_PASSWORDS_KEY`` when the document has
        them (no scope can have that name).
        """
        if params.secret_values_conn_id:
            raw: Any = BaseHook.get_connection(params.secret_values_conn_id).extra_dejson
            source = "secret_values_conn_id"
        elif params.secret_values_variable:
            raw = Variable.get(params.secret_values_variable, default=None)
            source = "secret_values_variable"
            if raw is None:
                raise ConfigError(
                    "secret_values_variable",
                    f"Variable {params.secret_values_variable!r} does not exist",
                    "create it holding {scope: {key: value}}, or leave the param empty",
                )
        else:
            return {}
        values = parse_secret_values(raw, source)
        docker = parse_docker_passwords(raw, source)
        if docker:
            values[objs.DOCKER_PASSWORDS_KEY] = {
                _DOCKER_SEP.join((pool, url)): password
                for pool, images in docker.items()
                for url, password in images.items()
            }
        for keys in values.values():
            for secret in keys.values():
                mask_secret(secret)
        return values

    def context_for(
        self,
        params: DrParams,
        pair: Pair,
        checkpoint: Checkpoint,
        object_type: str,
        secrets: Mapping[str, Mapping[str, str]],
    ) -> objs.Context:
        """The prepare context: ids from the checkpoint, corrected by the target's markers."""
        id_map: dict[str, dict[str, str]] = {k: dict(v) for k, v in checkpoint.id_map.items()}
        filtered: dict[str, dict[str, str]] = {}
        duplicates: dict[str, dict[str, tuple[str, ...]]] = {}
        for dep in DEPENDS_ON.get(object_type, ()):
            found, copies = marker_ids(pair.source_id, dep, pair.target.list_objects(dep))
            id_map[dep] = {**id_map.get(dep, {}), **found}
            for sid in copies:  # the checkpoint's id may be one of the copies: no pick
                id_map[dep].pop(sid, None)
            duplicates[dep] = copies
            if dep == object_type:
                continue
            dep_ctx = self._plain_context(params, pair, id_map, {}, secrets)
            filtered[dep] = {
                p.source_id: p.reason
                for p in (objs.prepare(dep, o, dep_ctx) for o in pair.source.list_objects(dep, params.roots))
                if p.outcome is objs.Outcome.FILTERED
            }
        return self._plain_context(params, pair, id_map, filtered, secrets, duplicates)

    @staticmethod
    def _plain_context(
        params: DrParams,
        pair: Pair,
        id_map: Mapping[str, Mapping[str, str]],
        filtered: Mapping[str, Mapping[str, str]],
        secrets: Mapping[str, Mapping[str, str]],
        duplicates: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
    ) -> objs.Context:
        return objs.Context(
            source_workspace_id=pair.source_id,
            id_map=id_map,
            filtered=filtered,
            references=params.references,
            keep_idle_instances=params.keep_idle_instances,
            skip_blocked_jobs=params.skip_blocked_jobs,
            roots=params.roots,
            export_limit_bytes=params.export_limit_bytes,
            secret_values={k: frozenset(v) for k, v in secrets.items() if k != objs.DOCKER_PASSWORDS_KEY},
            relocate_dbfs_init_scripts=params.relocate_dbfs_init_scripts,
            init_scripts_folder=params.init_scripts_folder,
            docker_passwords={
                pool: frozenset(images) for pool, images in docker_passwords_of(secrets).items()
            },
            duplicates={} if duplicates is None else duplicates,
        )


def _libraries_key(library: Mapping[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in library.items()))


def same_content(
    object_type: str, spec: Mapping[str, Any], target: Mapping[str, Any], refresh_secrets: bool = False
) -> bool:
    """Whether the target copy already matches the body a run would write (workspace objects aside).

    A scope matches when the target has every key with a configured value (values are unreadable);
    with ``refresh_secrets`` a scope with such keys never matches: its values are put again, and
    neither does a pool with Docker basic-auth images (its passwords are sent again).
    """
    if object_type == "secret_scopes":
        if refresh_secrets and spec.get("keys"):
            return False
        return set(spec.get("keys") or ()) <= set(target.get("keys") or ())
    if object_type == "instance_pools" and refresh_secrets and objs.docker_auth_images(spec):
        return False  # its Docker passwords are put again
    if object_type == "cluster_libraries":
        have = {_libraries_key(lib) for lib in target.get("libraries") or ()}
        return all(_libraries_key(lib) in have for lib in spec.get("libraries") or ())
    return objs.content_hash(object_type, spec) == objs.content_hash(object_type, target)


class Relocator:
    """DBFS init scripts as the target's workspace files (``relocate_dbfs_init_scripts``).

    A relocated script is the source's DBFS file with a last comment line carrying its marker; it
    is compared by content, written (with overwrite) only when absent or different, and a file at
    its path without that marker is never overwritten.
    """

    def __init__(self, pair: Pair) -> None:
        """Relocate within ``pair``."""
        self.pair = pair
        self.expected_bytes: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.current: set[str] = set()  # target paths written or found up to date by this task

    def expected(self, dbfs: str) -> bytes:
        """The content the target file of DBFS path ``dbfs`` must have (the source is read once)."""
        if dbfs not in self.expected_bytes:
            text = self.pair.source.read_dbfs(dbfs).decode()
            marker = objs.relocation_marker(self.pair.source_id, dbfs)
            self.expected_bytes[dbfs] = objs.relocated_script(text, marker).encode()
        return self.expected_bytes[dbfs]

    def check(self, prepared: objs.Prepared) -> tuple[list[str], list[str]]:
        """(problems that block the object, differences a write repairs) of its relocated scripts."""
        problems: list[str] = []
        differences: list[str] = []
        for dbfs, path in prepared.relocations:
            try:
                expected = self.expected(dbfs)
            except ResourceNotFoundError:
                problems.append(f"init script dbfs:{dbfs} does not exist in the source")
                continue
            except UnicodeDecodeError:
                problems.append(f"init script dbfs:{dbfs} is not UTF-8 text")
                continue
            have = self.pair.target.read_file(path)
            if have is None:
                differences.append(f"init script {path} (from dbfs:{dbfs}) is not in the target")
            elif objs.script_marker(have.decode(errors="replace")) != objs.relocation_marker(
                self.pair.source_id, dbfs
            ):
                problems.append(
                    f"init script {path} exists in the target without the marker of dbfs:{dbfs} (it is "
                    "never overwritten): remove it there or set another init_scripts_folder"
                )
            elif have != expected:
                differences.append(f"init script {path} differs from dbfs:{dbfs} in the source")
        return problems, differences

    def write(self, prepared: objs.Prepared) -> int:
        """Write each relocated script the target lacks or holds with other content; returns the writes."""
        wrote = 0
        for dbfs, path in prepared.relocations:
            with self.lock:  # objects sharing a script: one write, by the first
                if path in self.current:
                    continue
                expected = self.expected(dbfs)
                if self.pair.target.read_file(path) != expected:
                    folder = path.rsplit("/", 1)[0] or "/"
                    self.pair.target.import_object({"path": folder, "object_type": "DIRECTORY"}, None, True)
                    self.pair.target.import_object({"path": path, "object_type": "FILE"}, expected, True)
                    wrote += 1
                self.current.add(path)
        return wrote


class Comparer:
    """Decides whether a target copy is identical: specs by canonical hash, notebooks by exported bytes.

    A cluster or job with relocated DBFS init scripts is identical only when each relocated file
    holds the source's script; ``notes`` keeps, per (type, source id), what differs.
    """

    def __init__(self, pair: Pair, checkpoint: Checkpoint, refresh_secrets: bool = False) -> None:
        """Compare within ``pair``, trusting the checkpoint's source hashes for unchanged notebooks.

        ``refresh_secrets``: a scope's configured values are to be put again (see :func:`same_content`).
        """
        self.pair = pair
        self.refresh_secrets = refresh_secrets
        self.hashes = checkpoint.hashes.get("workspace_objects", {})
        self.source_bytes: dict[str, bytes] = {}
        self.relocator = Relocator(pair)
        self.notes: dict[tuple[str, str], str] = {}

    def identical(
        self, prepared: objs.Prepared, found: Mapping[str, Any] | None, trust_checkpoint: bool
    ) -> bool | None:
        """True/False when the copy was found, None when there is none."""
        if found is None or prepared.spec is None:
            return None
        if prepared.object_type != "workspace_objects":
            same = same_content(prepared.object_type, prepared.spec, found, self.refresh_secrets)
            if prepared.relocations:
                _, differences = self.relocator.check(prepared)
                if differences:
                    self.notes[(prepared.object_type, prepared.source_id)] = "; ".join(differences)
                    return False
            return same
        if prepared.spec.get("object_type") == "DIRECTORY":
            return True
        digest = _digest(self.export_source(prepared.source_id))
        if trust_checkpoint and self.hashes.get(prepared.source_id) == digest:
            return True
        return _digest(self.pair.target.export(prepared.source_id)) == digest

    def export_source(self, path: str) -> bytes:
        """The source's bytes of ``path`` (read once per task)."""
        if path not in self.source_bytes:
            self.source_bytes[path] = self.pair.source.export(path)
        return self.source_bytes[path]


def read_side(pair: Pair, params: DrParams, object_type: str) -> Side:
    """Both workspaces' objects of one type (jobs in the order their run_job_task references need)."""
    source = pair.source.list_objects(object_type, params.roots)
    if object_type == "jobs":
        source = [dict(j) for j in objs.job_order(source)]
    target = pair.target.list_objects(object_type, params.roots)
    return Side(object_type, source, TargetIndex.of(object_type, target), target)


def decide_side(
    side: Side,
    ctx: objs.Context,
    comparer: Comparer,
    trust_checkpoint: bool,
    planning: bool = False,
    workers: int = 1,
) -> list[tuple[objs.Prepared, Decision]]:
    """Prepare and classify every source object of a side (exports of oversized notebooks are blocked).

    The comparisons (notebook exports) run on ``workers`` threads. ``planning`` (the dry run's plan)
    records each decision in ``ctx``'s id map and filtered map, a create under a placeholder id, so
    what refers to it is planned as a run would do it (jobs one by one: a job may run another).
    """
    if planning and side.object_type == "jobs":
        out = []
        for obj in side.source:
            job, decision = _decided(side, comparer, trust_checkpoint, objs.prepare("jobs", obj, ctx))
            _plan_into(ctx, job, decision)
            out.append((job, decision))
        return out
    prepared = [objs.prepare(side.object_type, obj, ctx) for obj in side.source]
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dr-compare") as pool:
        out = list(pool.map(lambda p: _decided(side, comparer, trust_checkpoint, p), prepared))
    if planning:
        for prepared_one, decision in out:
            _plan_into(ctx, prepared_one, decision)
    return out


def _decided(
    side: Side, comparer: Comparer, trust_checkpoint: bool, prepared: objs.Prepared
) -> tuple[objs.Prepared, Decision]:
    if prepared.relocations:
        problems, _ = comparer.relocator.check(prepared)
        if problems:
            reason = f"{prepared.object_type} {prepared.name}: " + "; ".join(problems)
            prepared = dataclasses.replace(
                prepared, outcome=objs.Outcome.BLOCKED, spec=None, reason=reason, relocations=()
            )
    found = side.index.found(prepared)
    try:
        same = comparer.identical(prepared, found[1] if found else None, trust_checkpoint)
    except ExportTooLargeError as exc:
        prepared = _too_large(prepared, exc)
        same = None
    return prepared, classify(prepared, side.index, same)


def _plan_into(ctx: objs.Context, prepared: objs.Prepared, decision: Decision) -> None:
    """Record a planned decision in the (mutable) maps of ``ctx``."""
    if decision.action in (Action.CREATE, Action.UPDATE, Action.IDENTICAL):
        planned = decision.target_id or f"new-{prepared.source_id}"
        ctx.id_map.setdefault(prepared.object_type, {})[prepared.source_id] = planned  # type: ignore[attr-defined]
    elif decision.action is Action.FILTERED:
        ctx.filtered.setdefault(prepared.object_type, {})[prepared.source_id] = prepared.reason  # type: ignore[attr-defined]
    elif decision.action is Action.DUPLICATE:
        ctx.duplicates.setdefault(prepared.object_type, {})[prepared.source_id] = decision.copies  # type: ignore[attr-defined]


def _too_large(prepared: objs.Prepared, exc: ExportTooLargeError) -> objs.Prepared:
    return objs.Prepared(
        prepared.object_type,
        prepared.source_id,
        prepared.name,
        prepared.marker,
        objs.Outcome.BLOCKED,
        None,
        f"{exc.path} is over the export size limit ({exc.size} bytes): copy it another way",
    )


# -- preflight -------------------------------------------------------------------------------------
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
            if object_type == "clusters" and obj.get("cluster_source") not in ("UI", "API"):
                continue
            body = (obj.get("settings") or {}) if object_type == "jobs" else obj
            names = objs.spec_principals(object_type, body)
            if names:
                out.append((object_type, objs.source_id(object_type, obj), names))
    return out


def permission_objects(hook: DrWorkspaceHook, params: DrParams) -> list[tuple[str, str]]:
    """(permission object type, id) of every object whose ACL a run copies, as ``hook`` lists them."""
    out: list[tuple[str, str]] = []
    for object_type in PERMISSION_TYPES:
        for obj in hook.list_objects(object_type, params.roots):
            if object_type == "workspace_objects":
                kind = _WORKSPACE_PERMISSIONS.get(str(obj.get("object_type")))
                if (
                    kind
                    and obj.get("object_id") is not None
                    and not str(obj.get("path", "")).startswith("/Repos")
                ):
                    out.append((kind, str(obj["object_id"])))
            elif object_type == "clusters" and obj.get("cluster_source") not in ("UI", "API"):
                continue
            elif object_type == "secret_scopes" and obj.get("backend_type", "DATABRICKS") != "DATABRICKS":
                continue  # a vault-backed scope is not migrated
            else:
                out.append((object_type, objs.source_id(object_type, obj)))
    return out


# -- migration of one type -------------------------------------------------------------------------
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
            self.op.log.warning("%s blocked: %s", self.object_type, _too_large(prepared, exc).reason)
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
                d.hashes.append((self.object_type, sid, _digest(self._content(prepared))))
            elif prepared.spec is not None:
                d.hashes.append((self.object_type, sid, objs.content_hash(self.object_type, prepared.spec)))
            if prepared.object_type == "jobs":
                d.pauses.append((sid, prepared.pause_status or ""))

        recorder.record(note)
        return target_id

    def _content(self, prepared: objs.Prepared) -> bytes:
        return self.comparer.export_source(prepared.source_id)

    def _write(self, prepared: objs.Prepared, decision: Decision) -> str | None:
        """The writes of one decision (none for identical or not migrated)."""
        if decision.action not in (Action.CREATE, Action.UPDATE) or prepared.spec is None:
            if decision.action is Action.IDENTICAL and decision.target_id:
                self._adopt_unrecorded_cluster(decision.target_id)
            return decision.target_id
        spec = dict(prepared.spec)
        target = self.pair.target
        if self.object_type == "workspace_objects":
            content = None if spec.get("object_type") == "DIRECTORY" else self._content(prepared)
            target.import_object(spec, content, overwrite=True)
            return prepared.source_id
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
                    have = {_libraries_key(lib) for lib in entry.get("libraries") or ()}
        missing = [lib for lib in spec.get("libraries") or () if _libraries_key(lib) not in have]
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


# -- permissions -----------------------------------------------------------------------------------
class PermissionCopy:
    """Copy the non-inherited ACLs of every migrated object (principals were checked by the preflight)."""

    def __init__(self, op: DrMigrateOperator, pair: Pair, params: DrParams) -> None:
        """Copy within ``pair``."""
        self.op = op
        self.pair = pair
        self.params = params

    def targets(self) -> list[tuple[str, str, str]]:
        """(permission type, source id, target id) of every migrated object.

        An object the target holds more than once is left out (its own task and the validation
        report it with every id): its ACL would land on one copy picked at random.
        """
        mapped: dict[str, dict[str, str]] = {}
        for object_type in PERMISSION_TYPES:
            if object_type == "workspace_objects":
                continue
            mapped[object_type] = _marker_ids(
                self.pair.source_id, object_type, self.pair.target.list_objects(object_type)
            )
        out = []
        for object_type, source_id in permission_objects(self.pair.source, self.params):
            if object_type in mapped:
                target_id = mapped[object_type].get(source_id)
                if target_id:
                    out.append((object_type, source_id, target_id))
        out += self._workspace_targets()
        return out

    def _workspace_targets(self) -> list[tuple[str, str, str]]:
        roots = self.params.roots
        target_ids = {
            str(o.get("path")): str(o.get("object_id"))
            for o in self.pair.target.list_objects("workspace_objects", roots)
            if o.get("object_id") is not None
        }
        out = []
        for o in self.pair.source.list_objects("workspace_objects", roots):
            kind = _WORKSPACE_PERMISSIONS.get(str(o.get("object_type")))
            path = str(o.get("path"))
            if kind and path in target_ids and o.get("object_id") is not None:
                out.append((kind, str(o["object_id"]), target_ids[path]))
        return out

    def compare(
        self, object_type: str, source_id: str, target_id: str
    ) -> tuple[list[dict[str, Any]], bool, str | None]:
        """The entries to set, whether the target already has them, and an owner problem.

        A source ACL that names no owner keeps the target's owner (the identity that created it).
        """
        entries = objs.acl_entries(self.pair.source.get_permissions(object_type, source_id))
        current = objs.acl_entries(self.pair.target.get_permissions(object_type, target_id))
        if any(e.get("permission_level") == _OWNER for e in entries):
            problem = objs.owner_problem(object_type, entries)
        else:
            problem = None
            entries = [*entries, *(e for e in current if e.get("permission_level") == _OWNER)]
        have = _acl_key(current)
        same = _acl_key(entries) <= have
        if object_type == "secret_scopes":  # scope ACL items are put one by one: the missing ones only
            entries = [e for e in entries if not _acl_key([e]) <= have]
        return entries, same, problem

    def run(self) -> dict[str, Any]:
        """Set every ACL that differs; an object whose owner is ambiguous is reported and left alone."""
        counts: dict[str, int] = {}
        problems: list[str] = []
        lock = threading.Lock()

        def one(item: tuple[str, str, str]) -> None:
            object_type, source_id, target_id = item
            entries, same, problem = self.compare(object_type, source_id, target_id)
            if problem:
                outcome = "blocked"
                problems.append(f"{object_type}/{source_id}: {problem}")
            elif same:
                outcome = "identical"
            else:
                self.pair.target.set_permissions(object_type, target_id, entries)
                outcome = "update"
            with lock:
                counts[outcome] = counts.get(outcome, 0) + 1

        with ThreadPoolExecutor(
            max_workers=pool_threads(self.params.parallelism), thread_name_prefix="dr-permissions"
        ) as pool:
            list(pool.map(one, self.targets()))
        for problem in problems:
            self.op.log.warning("permissions blocked: %s", problem)
        self.op.log.info(
            "permissions: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to copy"
        )
        return {
            "object_type": "permissions",
            "actions": counts,
            "writes": counts.get("update", 0),
            "failures": 0,
        }


def _acl_key(entries: Iterable[Mapping[str, Any]]) -> set[str]:
    return {repr(sorted((k, str(v)) for k, v in e.items())) for e in entries}


# -- teardown --------------------------------------------------------------------------------------
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


# -- validation ------------------------------------------------------------------------------------
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
        copy = PermissionCopy(self, pair, params)  # type: ignore[arg-type]  # only its reads are used

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


# -- cutover ---------------------------------------------------------------------------------------
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
