"""What every DR task shares: the two workspaces of a run, its params, checkpoint and secret values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook, BaseOperator, Variable
from airflow.sdk.log import mask_secret

from platform_ops.core import dr_objects as objs
from platform_ops.core.dr_migrate import (
    CHECKPOINT_NAMESPACE,
    Checkpoint,
    CheckpointDelta,
    CutoverParams,
    DrParams,
    check_distinct_hosts,
    check_distinct_workspaces,
    checkpoint_key,
    marker_ids,
    parse_docker_passwords,
    parse_secret_values,
)
from platform_ops.exceptions import ConfigError
from platform_ops.hooks.dr_migrate import DrWorkspaceHook
from platform_ops.state import RunStateStore

OBJECT_TYPES = objs.OBJECT_TYPES  # for the DAG files, which import no core module
# The types whose target ids a type's specs refer to (rebuilt from the target's markers each run).
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "cluster_policies": ("instance_pools",),
    "clusters": ("cluster_policies", "instance_pools"),
    "cluster_libraries": ("clusters",),
    "jobs": ("cluster_policies", "instance_pools", "clusters", "jobs"),
}
TERMINATED = ("TERMINATED", "TERMINATING")


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
