"""A DR migration between two Databricks workspaces: its parameters, checkpoint, decisions and reports.

Pure: no Airflow, no SDK, no I/O. What each object becomes in the target is
:mod:`platform_ops.core.dr_objects`'s business (``prepare``, ``canonical``, markers); this module
decides what a run does with it and keeps the books:

* :class:`DrParams` validates every parameter of ``databricks_dr_migrate`` before any call (the
  field is named in each error, with the fix); :class:`CutoverParams` those of the cutover.
* :class:`Checkpoint` is the resume document shared by every run of one (source, target) pair: the
  source-to-target id map, the source hashes last copied, the source pause statuses, the clusters
  each run created and the failures still open. Tasks record into a :class:`CheckpointDelta` and
  merge it in with a compare-and-set, so tasks running side by side never lose each other's entries.
  The checkpoint only saves time: objects are found in the target by their marker either way.
* :func:`classify` turns one prepared object plus what the target holds into an :class:`Action`;
  :class:`PlanReport` and :class:`ValidationReport` are the tables for the log and the counts for XCom.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from platform_ops.core.dr_objects import (
    DEFAULT_INIT_SCRIPTS_FOLDER,
    DOCKER_PASSWORDS_KEY,
    IDENTITY_BY_NAME,
    OBJECT_TYPES,
    OUT_OF_SCOPE,
    REFERENCE_KINDS,
    Outcome,
    Prepared,
    marker_of,
    object_name,
    source_id,
)
from platform_ops.core.params import is_unset, parse_bool, parse_int
from platform_ops.exceptions import ConfigError

CHECKPOINT_NAMESPACE = "dr_migrate"
DEFAULT_ROOTS = ("/Users", "/Shared")
MAX_PARALLELISM = 64
PAUSED = "PAUSED"
UNPAUSED = "UNPAUSED"
# The job settings that start runs by themselves: each carries its own pause_status.
TRIGGERS = ("schedule", "continuous", "trigger")
# Types whose identity is their name or path (no marker, so no conflict either), and the cluster
# libraries, identified by their (target) cluster.
NAMED_BY_IDENTITY = (*sorted(IDENTITY_BY_NAME), "cluster_libraries")
_PATH_PART = re.compile(r"[^/\x00]+")


# -- parameters ----------------------------------------------------------------------------------
def _text(field_name: str, value: Any, fix: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field_name, f"{value!r} is not a non-empty string", fix)
    return value.strip()


def parse_object_types(value: Any) -> tuple[str, ...]:
    """The object types to migrate, in dependency order; empty or ``"all"`` means every type.

    Raises:
        ConfigError: a name that is no object type (out-of-scope ones are named as such).
    """
    if is_unset(value) or value == "all" or value == ["all"]:
        return OBJECT_TYPES
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(
            "object_types", f"{value!r} is not a list of names", "pass e.g. ['jobs', 'clusters']"
        )
    for name in names:
        if name in OUT_OF_SCOPE:
            raise ConfigError(
                "object_types",
                f"{name!r} is out of scope: {OUT_OF_SCOPE[name]}",
                f"leave it out; migrate some of {', '.join(OBJECT_TYPES)}",
            )
        if name not in OBJECT_TYPES:
            raise ConfigError(
                "object_types", f"unknown object type {name!r}", f"use some of {', '.join(OBJECT_TYPES)}"
            )
    if not names:
        raise ConfigError("object_types", "is an empty list", "name at least one type, or pass 'all'")
    return tuple(t for t in OBJECT_TYPES if t in names)


def parse_roots(value: Any) -> tuple[str, ...]:
    """Absolute workspace folders, ``/Repos`` excluded (Git folders are out of scope), each once.

    Raises:
        ConfigError: an empty list, a relative path, ``..``, ``/`` itself or a path under /Repos.
    """
    if is_unset(value):
        return DEFAULT_ROOTS
    roots = [r.strip() for r in value.split(",")] if isinstance(value, str) else value
    if not isinstance(roots, (list, tuple)) or not roots:
        raise ConfigError(
            "roots", f"{value!r} is not a non-empty list of folders", "pass e.g. ['/Users', '/Shared']"
        )
    out: list[str] = []
    for root in roots:
        if not isinstance(root, str) or not root.startswith("/"):
            raise ConfigError(
                "roots", f"{root!r} is not an absolute workspace path", "start each root with '/'"
            )
        parts = [p for p in root.split("/") if p]
        if not parts or any(p in (".", "..") or not _PATH_PART.fullmatch(p) for p in parts):
            raise ConfigError(
                "roots",
                f"{root!r} is not a folder under the workspace root",
                "pass e.g. /Users or /Shared/team",
            )
        if parts[0] == "Repos":
            raise ConfigError(
                "roots", f"{root!r} is a Git folder: {OUT_OF_SCOPE['repos']}", "leave /Repos out of the roots"
            )
        normal = "/" + "/".join(parts)
        if normal not in out:
            out.append(normal)
    return tuple(out)


def parse_references(value: Any) -> dict[str, dict[str, str]]:
    """The id maps for what the migration does not copy: warehouses, pipelines, notification destinations.

    Raises:
        ConfigError: an unknown kind, or a map that is not source id -> target id strings.
    """
    if is_unset(value):
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            "references", f"{value!r} is not a mapping", 'pass {"warehouses": {"<source id>": "<target id>"}}'
        )
    out: dict[str, dict[str, str]] = {}
    for kind, ids in value.items():
        if kind not in REFERENCE_KINDS:
            raise ConfigError(
                "references", f"unknown kind {kind!r}", f"use some of {', '.join(REFERENCE_KINDS)}"
            )
        if not isinstance(ids, Mapping) or not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in ids.items()
        ):
            raise ConfigError(
                f"references.{kind}",
                "is not a map of source id -> target id",
                'pass e.g. {"abc123": "def456"}',
            )
        out[kind] = dict(ids)
    return out


def _values_document(value: Any, source: str, fix: str) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(source, "does not hold JSON", fix) from None
    if not isinstance(value, Mapping):
        raise ConfigError(source, "does not hold a map of scopes", fix)
    return value


def parse_secret_values(value: Any, source: str) -> dict[str, dict[str, str]]:
    """The ``{scope: {key: value}}`` map read from ``source``; errors never quote a value.

    The instance pools' Docker passwords (``DOCKER_PASSWORDS_KEY``) are left out: see
    :func:`parse_docker_passwords`.

    Raises:
        ConfigError: not a map of scopes to maps of key names to string values.
    """
    fix = 'store a JSON object {"<scope>": {"<key>": "<value>"}} there'
    out: dict[str, dict[str, str]] = {}
    for scope, keys in _values_document(value, source, fix).items():
        if scope == DOCKER_PASSWORDS_KEY:
            continue
        if not isinstance(scope, str) or not scope or not isinstance(keys, Mapping):
            raise ConfigError(source, f"scope {scope!r} does not map key names to values", fix)
        for key, secret in keys.items():
            if not isinstance(key, str) or not key or not isinstance(secret, str):
                raise ConfigError(source, f"scope {scope!r}: key {key!r} has no string value", fix)
        out[scope] = dict(keys)
    return out


def parse_docker_passwords(value: Any, source: str) -> dict[str, dict[str, str]]:
    """The instance pools' Docker basic-auth passwords ``{pool name: {image url: password}}``.

    They sit in the secret values document under ``DOCKER_PASSWORDS_KEY``; empty when it has none.
    Errors never quote a value.

    Raises:
        ConfigError: the entry is not a map of pool names to maps of image urls to string passwords.
    """
    fix = f'store {{"{DOCKER_PASSWORDS_KEY}": {{"<pool name>": {{"<image url>": "<password>"}}}}}} there'
    pools = _values_document(value, source, fix).get(DOCKER_PASSWORDS_KEY)
    if pools is None:
        return {}
    if not isinstance(pools, Mapping):
        raise ConfigError(f"{source}.{DOCKER_PASSWORDS_KEY}", "is not a map of pool names", fix)
    out: dict[str, dict[str, str]] = {}
    for pool, images in pools.items():
        if not isinstance(pool, str) or not pool or not isinstance(images, Mapping):
            raise ConfigError(
                f"{source}.{DOCKER_PASSWORDS_KEY}", f"pool {pool!r} does not map image urls to passwords", fix
            )
        for url, password in images.items():
            if not isinstance(url, str) or not url or not isinstance(password, str) or not password:
                raise ConfigError(
                    f"{source}.{DOCKER_PASSWORDS_KEY}", f"pool {pool!r}: image {url!r} has no password", fix
                )
        out[pool] = dict(images)
    return out


def parse_folder(field_name: str, value: Any) -> str:
    """An absolute workspace folder outside /Repos, without ``..``, as ``/a/b``.

    Raises:
        ConfigError: naming ``field_name``.
    """
    if not isinstance(value, str) or not value.strip().startswith("/"):
        raise ConfigError(field_name, f"{value!r} is not an absolute workspace folder", "start it with '/'")
    parts = [p for p in value.strip().split("/") if p]
    if not parts or any(p in (".", "..") or not _PATH_PART.fullmatch(p) for p in parts):
        raise ConfigError(
            field_name,
            f"{value!r} is not a folder under the workspace root",
            "pass e.g. /Shared/dr-init-scripts",
        )
    if parts[0] == "Repos":
        raise ConfigError(
            field_name, f"{value!r} is under /Repos (a Git folder)", "pick a folder outside /Repos"
        )
    return "/" + "/".join(parts)


def _bounded(field_name: str, value: Any, low: int, high: int) -> int:
    number = parse_int(field_name, value)
    if not low <= number <= high:
        raise ConfigError(field_name, f"{number} is out of range", f"pass a number from {low} to {high}")
    return number


@dataclass(frozen=True)
class DrParams:
    """Everything a migration run needs, checked before any call."""

    source_conn_id: str
    target_conn_id: str
    dry_run: bool = True
    object_types: tuple[str, ...] = OBJECT_TYPES
    roots: tuple[str, ...] = DEFAULT_ROOTS
    keep_clusters_running: bool = False
    keep_idle_instances: bool = False
    skip_blocked_jobs: bool = False
    references: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    secret_values_conn_id: str | None = None
    secret_values_variable: str | None = None
    refresh_secret_values: bool = False
    relocate_dbfs_init_scripts: bool = False
    init_scripts_folder: str = DEFAULT_INIT_SCRIPTS_FOLDER
    parallelism: int = 8
    progress_every: int = 50
    flush_every: int = 20
    export_limit_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DrParams:
        """Parse the DAG's params (rendered templates included).

        Raises:
            ConfigError: naming the first bad field and the fix (unknown fields included).
        """
        known = {f.name for f in fields(cls)}
        for name in params:
            if name not in known:
                raise ConfigError(
                    name, "is not a parameter of the migration", f"use some of {', '.join(sorted(known))}"
                )
        source = _text(
            "source_conn_id", params.get("source_conn_id"), "name the source workspace's connection"
        )
        target = _text(
            "target_conn_id", params.get("target_conn_id"), "name the target workspace's connection"
        )
        if source == target:
            raise ConfigError(
                "target_conn_id",
                f"is the source connection {source!r}",
                "name the secondary workspace's connection: the source and target must differ",
            )
        conn_id, variable = params.get("secret_values_conn_id"), params.get("secret_values_variable")
        if not is_unset(conn_id) and not is_unset(variable):
            raise ConfigError(
                "secret_values_variable",
                "is given with secret_values_conn_id",
                "keep the secret values in one place: a connection's extra or a Variable",
            )

        def flag(name: str, default: bool) -> bool:
            value = params.get(name)
            return default if is_unset(value) else parse_bool(name, value)

        refresh = flag("refresh_secret_values", False)
        if refresh and is_unset(conn_id) and is_unset(variable):
            raise ConfigError(
                "refresh_secret_values",
                "is true but no secret values are configured",
                "set secret_values_conn_id or secret_values_variable to the values to put again",
            )

        def number(name: str, default: int, low: int, high: int) -> int:
            value = params.get(name)
            return default if is_unset(value) else _bounded(name, value, low, high)

        return cls(
            source_conn_id=source,
            target_conn_id=target,
            dry_run=flag("dry_run", True),
            object_types=parse_object_types(params.get("object_types")),
            roots=parse_roots(params.get("roots")),
            keep_clusters_running=flag("keep_clusters_running", False),
            keep_idle_instances=flag("keep_idle_instances", False),
            skip_blocked_jobs=flag("skip_blocked_jobs", False),
            references=parse_references(params.get("references")),
            secret_values_conn_id=None
            if is_unset(conn_id)
            else _text("secret_values_conn_id", conn_id, "name a connection"),
            secret_values_variable=None
            if is_unset(variable)
            else _text("secret_values_variable", variable, "name a Variable"),
            refresh_secret_values=refresh,
            relocate_dbfs_init_scripts=flag("relocate_dbfs_init_scripts", False),
            init_scripts_folder=DEFAULT_INIT_SCRIPTS_FOLDER
            if is_unset(params.get("init_scripts_folder"))
            else parse_folder("init_scripts_folder", params.get("init_scripts_folder")),
            parallelism=number("parallelism", 8, 1, MAX_PARALLELISM),
            progress_every=number("progress_every", 50, 1, 100_000),
            flush_every=number("flush_every", 20, 1, 100_000),
            export_limit_bytes=number("export_limit_bytes", 10 * 1024 * 1024, 1, 1024**3),
        )


@dataclass(frozen=True)
class CutoverParams:
    """The cutover's parameters: it writes, so ``confirm`` must be true."""

    source_conn_id: str
    target_conn_id: str
    confirm: bool = False
    pause_source: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CutoverParams:
        """Parse and check; nothing runs without ``confirm``.

        Raises:
            ConfigError: naming the bad field and the fix.
        """
        dr = DrParams.from_params(
            {k: params.get(k) for k in ("source_conn_id", "target_conn_id")}
        )  # the same connection checks
        confirm = parse_bool("confirm", False if is_unset(params.get("confirm")) else params.get("confirm"))
        if not confirm:
            raise ConfigError(
                "confirm",
                "is false: the cutover un-pauses jobs in the target workspace",
                "trigger it again with confirm=true once the target should take over",
            )
        pause = params.get("pause_source")
        return cls(
            dr.source_conn_id,
            dr.target_conn_id,
            confirm,
            False if is_unset(pause) else parse_bool("pause_source", pause),
        )


def check_distinct_hosts(source_host: str, target_host: str) -> None:
    """Two connections that reach one workspace host are one workspace.

    Raises:
        ConfigError: naming ``target_conn_id``.
    """
    if source_host.rstrip("/").lower() == target_host.rstrip("/").lower():
        raise ConfigError(
            "target_conn_id",
            f"reaches the source's host {source_host}",
            "point the target connection at the secondary workspace",
        )


def check_distinct_workspaces(source_id: str, target_id: str) -> None:
    """The two connections must reach two workspaces.

    Raises:
        ConfigError: naming ``target_conn_id``.
    """
    if str(source_id) == str(target_id):
        raise ConfigError(
            "target_conn_id",
            f"reaches the source workspace {source_id}",
            "point the target connection at the secondary workspace",
        )


def checkpoint_key(source_workspace_id: str, target_workspace_id: str) -> str:
    """The checkpoint's key in the shared run state: one per (source, target) pair, not per run."""
    return f"{source_workspace_id}__{target_workspace_id}"


# -- checkpoint ----------------------------------------------------------------------------------
def copy_stamp(source: Mapping[str, Any], target: Mapping[str, Any] | None) -> str | None:
    """Both sides' ``modified_at`` (workspace/list) of one notebook or file, as one string.

    None when either side does not say: such a pair is always exported to be compared.
    """
    times = (source.get("modified_at"), (target or {}).get("modified_at"))
    if any(isinstance(t, bool) or not isinstance(t, int | str) for t in times):
        return None
    return f"{times[0]}:{times[1]}"


def _nested(raw: Any) -> dict[str, dict[str, str]]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): {str(i): str(j) for i, j in v.items()} for k, v in raw.items() if isinstance(v, Mapping)}


def _ids(raw: Any) -> frozenset[str]:
    return frozenset(str(i) for i in raw) if isinstance(raw, list) else frozenset()


@dataclass
class CheckpointDelta:
    """What a task learned since its last flush; merged into the stored checkpoint on flush."""

    ids: list[tuple[str, str, str]] = field(default_factory=list)  # type, source id, target id
    hashes: list[tuple[str, str, str]] = field(default_factory=list)  # type, source id, source hash
    stamps: list[tuple[str, str]] = field(default_factory=list)  # workspace path, copy stamp
    pauses: list[tuple[str, str]] = field(default_factory=list)  # source job id, source pause status
    clusters: list[tuple[str, str]] = field(default_factory=list)  # run id, target cluster id
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # type, source id, message
    cleared: list[tuple[str, str]] = field(default_factory=list)  # type, source id: no longer failing
    forgotten: list[tuple[str, str]] = field(default_factory=list)  # type, source id: gone from the target
    cutover_paused: list[str] = field(default_factory=list)  # source job ids the cutover paused in the source
    cutover_unpaused: list[str] = field(default_factory=list)  # source job ids the cutover runs in the target

    def __len__(self) -> int:
        """How many entries wait for a flush."""
        return sum(len(getattr(self, f.name)) for f in fields(self))


@dataclass(frozen=True)
class Checkpoint:
    """The resume document of one (source, target) workspace pair.

    ``pause`` holds each migrated job's source pause status as it was before any cutover: a job the
    cutover paused in the source (``cutover_paused``) keeps its recorded status whatever a later
    migration reads there, so every cutover un-pauses the same jobs. ``cutover_unpaused`` lists the
    jobs a cutover un-paused in the target (the validation expects them to run).

    ``stamps`` holds, per notebook or file path, the :func:`copy_stamp` of both sides once the
    target held the source's content (``hashes``): while both workspaces still list those
    modification times, the pair is unchanged and need not be exported again to be compared.
    """

    source_workspace_id: str
    target_workspace_id: str
    id_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    hashes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    stamps: Mapping[str, str] = field(default_factory=dict)
    pause: Mapping[str, str] = field(default_factory=dict)
    clusters_created: Mapping[str, Sequence[str]] = field(default_factory=dict)
    failures: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    cutover_paused: frozenset[str] = frozenset()
    cutover_unpaused: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """The shared-state key of this pair."""
        return checkpoint_key(self.source_workspace_id, self.target_workspace_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "source_workspace_id": self.source_workspace_id,
            "target_workspace_id": self.target_workspace_id,
            "id_map": {k: dict(v) for k, v in self.id_map.items()},
            "hashes": {k: dict(v) for k, v in self.hashes.items()},
            "stamps": dict(self.stamps),
            "pause": dict(self.pause),
            "clusters_created": {k: list(v) for k, v in self.clusters_created.items()},
            "failures": {k: dict(v) for k, v in self.failures.items()},
            "cutover_paused": sorted(self.cutover_paused),
            "cutover_unpaused": sorted(self.cutover_unpaused),
        }

    @classmethod
    def from_dict(cls, doc: Any, source_workspace_id: str, target_workspace_id: str) -> Checkpoint:
        """Read a stored document; a missing or foreign one is an empty checkpoint of the pair."""
        if not isinstance(doc, Mapping) or (
            str(doc.get("source_workspace_id")),
            str(doc.get("target_workspace_id")),
        ) != (str(source_workspace_id), str(target_workspace_id)):
            return cls(str(source_workspace_id), str(target_workspace_id))
        pause = doc.get("pause")
        stamps = doc.get("stamps")
        clusters = doc.get("clusters_created")
        return cls(
            str(source_workspace_id),
            str(target_workspace_id),
            id_map=_nested(doc.get("id_map")),
            hashes=_nested(doc.get("hashes")),
            stamps={str(k): str(v) for k, v in stamps.items()} if isinstance(stamps, Mapping) else {},
            pause={str(k): str(v) for k, v in pause.items()} if isinstance(pause, Mapping) else {},
            clusters_created=(
                {str(k): [str(c) for c in v] for k, v in clusters.items() if isinstance(v, list)}
                if isinstance(clusters, Mapping)
                else {}
            ),
            failures=_nested(doc.get("failures")),
            cutover_paused=_ids(doc.get("cutover_paused")),
            cutover_unpaused=_ids(doc.get("cutover_unpaused")),
        )

    def merged(self, delta: CheckpointDelta) -> Checkpoint:
        """This checkpoint with ``delta`` applied (the delta wins)."""
        id_map = {k: dict(v) for k, v in self.id_map.items()}
        hashes = {k: dict(v) for k, v in self.hashes.items()}
        failures = {k: dict(v) for k, v in self.failures.items()}
        stamps = dict(self.stamps)
        for object_type, gone in delta.forgotten:
            id_map.get(object_type, {}).pop(gone, None)
            hashes.get(object_type, {}).pop(gone, None)
            if object_type == "workspace_objects":
                stamps.pop(gone, None)
        for object_type, sid, target_id in delta.ids:
            id_map.setdefault(object_type, {})[sid] = target_id
        for object_type, sid, digest in delta.hashes:
            hashes.setdefault(object_type, {})[sid] = digest
        for path, stamp in delta.stamps:
            stamps[path] = stamp
        for object_type, sid in delta.cleared:
            failures.get(object_type, {}).pop(sid, None)
        for object_type, sid, message in delta.failures:
            failures.setdefault(object_type, {})[sid] = message
        clusters = {k: list(v) for k, v in self.clusters_created.items()}
        for run_id, cluster_id in delta.clusters:
            if cluster_id not in clusters.setdefault(run_id, []):
                clusters[run_id].append(cluster_id)
        paused_by_cutover = self.cutover_paused | set(delta.cutover_paused)
        pause = {**self.pause}
        for sid, status in delta.pauses:
            if sid not in paused_by_cutover or sid not in pause:  # the cutover's pause is not the source's
                pause[sid] = status
        return Checkpoint(
            self.source_workspace_id,
            self.target_workspace_id,
            id_map={k: v for k, v in id_map.items() if v},
            hashes={k: v for k, v in hashes.items() if v},
            stamps=stamps,
            pause=pause,
            clusters_created=clusters,
            failures={k: v for k, v in failures.items() if v},
            cutover_paused=frozenset(paused_by_cutover),
            cutover_unpaused=self.cutover_unpaused | set(delta.cutover_unpaused),
        )


# -- decisions -----------------------------------------------------------------------------------
class Action(StrEnum):
    """What a run does with one source object."""

    CREATE = "create"
    UPDATE = "update"
    IDENTICAL = "identical"
    FILTERED = "filtered"
    BLOCKED = "blocked"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out_of_scope"
    NEEDS_VALUE = "needs_value"
    SKIPPED = "skipped"


WRITES = (Action.CREATE, Action.UPDATE)
_NOT_MIGRATED = {
    Outcome.FILTERED: Action.FILTERED,
    Outcome.BLOCKED: Action.BLOCKED,
    Outcome.OUT_OF_SCOPE: Action.OUT_OF_SCOPE,
    Outcome.NEEDS_VALUE: Action.NEEDS_VALUE,
    Outcome.SKIPPED: Action.SKIPPED,
}


@dataclass(frozen=True)
class Decision:
    """One source object's action, with the target object it concerns and why."""

    object_type: str
    source_id: str
    name: str
    action: Action
    reason: str = ""
    target_id: str | None = None
    copies: tuple[str, ...] = ()  # every target id carrying the marker (a DUPLICATE's)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        out: dict[str, Any] = {
            "object_type": self.object_type,
            "source_id": self.source_id,
            "name": self.name,
            "action": str(self.action),
            "reason": self.reason,
            "target_id": self.target_id,
        }
        if self.copies:
            out["copies"] = list(self.copies)
        return out


def identity(prepared: Prepared) -> str | None:
    """What finds ``prepared``'s copy in the target index (:class:`TargetIndex`)."""
    if prepared.object_type == "cluster_libraries":
        return str(prepared.spec["cluster_id"]) if prepared.spec else None
    if prepared.object_type in NAMED_BY_IDENTITY:
        return prepared.source_id
    return prepared.marker


def marker_ids(
    source_workspace_id: str, object_type: str, target_objects: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Source id -> target id read back from the target's markers (or names and paths), and the copies.

    A source id that more than one target object carries in its marker is left out of the first map
    and listed in the second with every target id: no run may pick one of them.
    """
    found: dict[str, list[str]] = {}
    prefix = f"{source_workspace_id}:"
    for obj in target_objects:
        target_id = source_id(object_type, obj)
        if object_type in IDENTITY_BY_NAME:
            found.setdefault(target_id, []).append(target_id)
            continue
        marker = marker_of(object_type, obj)
        if marker and marker.startswith(prefix):
            found.setdefault(marker[len(prefix) :], []).append(target_id)
    ids = {sid: targets[0] for sid, targets in found.items() if len(targets) == 1}
    copies = {sid: tuple(sorted(targets)) for sid, targets in found.items() if len(targets) > 1}
    return ids, copies


def duplicate_reason(object_type: str, copies: Sequence[str]) -> str:
    """Why a source object with several marked copies in the target is neither written nor passed."""
    return (
        f"{len(copies)} target {object_type} objects carry its marker ({', '.join(copies)}): "
        "delete all but one in the target (a run never picks one, nor creates another)"
    )


@dataclass(frozen=True)
class TargetIndex:
    """The target's objects of one type by identity (marker, name or path) and by name.

    ``by_identity`` maps an identity to (target id, object) of the first object carrying it;
    ``copies`` lists every target id of an identity more than one object carries; ``by_name``
    holds the unmarked ones.
    """

    by_identity: Mapping[str, tuple[str, Mapping[str, Any]]]
    by_name: Mapping[str, Mapping[str, Any]]
    copies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, object_type: str, objects: Iterable[Mapping[str, Any]]) -> TargetIndex:
        """Index the target's objects of ``object_type`` as the hook lists them."""
        by_identity: dict[str, tuple[str, Mapping[str, Any]]] = {}
        by_name: dict[str, Mapping[str, Any]] = {}
        seen: dict[str, list[str]] = {}
        for obj in objects:
            target_id = source_id(object_type, obj)  # the id field, whichever workspace lists it
            if object_type in NAMED_BY_IDENTITY:
                by_identity[target_id] = (target_id, obj)
                continue
            marker = marker_of(object_type, obj)
            if marker:
                by_identity.setdefault(marker, (target_id, obj))
                seen.setdefault(marker, []).append(target_id)
            else:
                by_name.setdefault(object_name(object_type, obj), obj)
        copies = {m: tuple(sorted(ids)) for m, ids in seen.items() if len(ids) > 1}
        return cls(by_identity, by_name, copies)

    def found(self, prepared: Prepared) -> tuple[str, Mapping[str, Any]] | None:
        """The target id and copy of ``prepared``, if there is one (the first of several copies)."""
        key = identity(prepared)
        return self.by_identity.get(key) if key else None

    def copies_of(self, prepared: Prepared) -> tuple[str, ...]:
        """Every target id carrying ``prepared``'s marker when there is more than one, else ()."""
        key = identity(prepared)
        return tuple(self.copies.get(key, ())) if key else ()

    def same_name_without_marker(self, prepared: Prepared) -> Mapping[str, Any] | None:
        """A target object named like ``prepared`` that carries no marker (a conflict)."""
        if prepared.object_type in NAMED_BY_IDENTITY:
            return None
        return self.by_name.get(prepared.name)


def classify(prepared: Prepared, index: TargetIndex, identical: bool | None = None) -> Decision:
    """The action for one prepared source object, given the target's objects.

    ``identical`` says whether the copy found by marker already matches (None: not compared yet,
    which counts as different). A source object whose marker more than one target object carries
    is a DUPLICATE, whatever else it is: nothing is written for it, nor is any copy picked.
    """

    def decided(action: Action, reason: str = "", target_id: str | None = None) -> Decision:
        return Decision(
            prepared.object_type, prepared.source_id, prepared.name, action, reason, target_id, copies
        )

    copies = index.copies_of(prepared)
    if copies:  # whatever the source object became: it must not map to several target objects
        also = f"; also {prepared.outcome}: {prepared.reason}" if prepared.reason else ""
        return decided(Action.DUPLICATE, duplicate_reason(prepared.object_type, copies) + also)
    if prepared.outcome is not Outcome.MIGRATE:
        return decided(_NOT_MIGRATED[prepared.outcome], prepared.reason)
    found = index.found(prepared)
    if found is not None:
        action = Action.IDENTICAL if identical else Action.UPDATE
        return decided(action, prepared.reason, found[0])
    clash = index.same_name_without_marker(prepared)
    if clash is not None:
        return decided(
            Action.CONFLICT,
            f"the target has {prepared.name!r} without a {prepared.object_type} marker: "
            "rename or remove it there (it is never adopted or overwritten)",
        )
    return decided(Action.CREATE, prepared.reason)


# -- reports -------------------------------------------------------------------------------------
def _counts(items: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = {}
    for object_type, label in items:
        out.setdefault(object_type, Counter())[label] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def _table(title: str, columns: Sequence[str], counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    width = max([len("object type"), *(len(t) for t in counts)])
    header = f"{'object type':<{width}}  " + "  ".join(f"{c:>{max(len(c), 5)}}" for c in columns)
    lines = [title, header]
    for object_type, row in counts.items():
        cells = "  ".join(f"{row.get(c, 0):>{max(len(c), 5)}}" for c in columns)
        lines.append(f"{object_type:<{width}}  {cells}")
    return lines


@dataclass(frozen=True)
class PlanReport:
    """What a run would do (the dry run's output) or did, per object type."""

    decisions: tuple[Decision, ...]
    detail_limit: int = 50

    def counts(self) -> dict[str, dict[str, int]]:
        """Object type -> action -> count (for XCom)."""
        return _counts((d.object_type, str(d.action)) for d in self.decisions)

    def lines(self) -> list[str]:
        """The per-type table, then each object that is not simply copied, with its reason."""
        counts = self.counts()
        lines = _table("DR plan (objects per action):", [str(a) for a in Action], counts)
        for reason_name, reason in OUT_OF_SCOPE.items():
            lines.append(f"  out of scope, not migrated: {reason_name}: {reason}")
        shown: Counter[str] = Counter()
        for d in self.decisions:
            if d.action in (Action.CREATE, Action.UPDATE, Action.IDENTICAL) and not d.reason:
                continue
            shown[d.object_type] += 1
            if shown[d.object_type] <= self.detail_limit:
                lines.append(f"  {d.object_type} {d.action}: {d.name} ({d.source_id}): {d.reason}")
        for object_type, n in shown.items():
            if n > self.detail_limit:
                lines.append(f"  {object_type}: {n - self.detail_limit} more not listed")
        return lines

    @property
    def writes(self) -> int:
        """How many creates and updates the plan holds."""
        return sum(1 for d in self.decisions if d.action in WRITES)


class Check(StrEnum):
    """The validation verdict on one source object (or one created cluster)."""

    IDENTICAL = "identical"
    SKIPPED = "skipped"  # not migrated on purpose, with a reason
    DIFFERS = "differs"
    MISSING = "missing"
    BLOCKED = "blocked"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    NEEDS_VALUE = "needs_value"
    NOT_PAUSED = "not_paused"
    RUNNING = "running"


PASSING = (Check.IDENTICAL, Check.SKIPPED)


@dataclass(frozen=True)
class Verdict:
    """One line of the validation report."""

    object_type: str
    source_id: str
    name: str
    check: Check
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form."""
        return {
            "object_type": self.object_type,
            "source_id": self.source_id,
            "name": self.name,
            "check": str(self.check),
            "reason": self.reason,
        }


def verdict(prepared: Prepared, index: TargetIndex, identical: bool | None) -> Verdict:
    """The verdict on one source object: present by marker and identical, or not migrated with a reason.

    Filtered, out-of-scope and skipped objects pass with their reason; blocked ones, conflicts,
    objects with more than one marked copy (the reason names every id), scopes that need values
    (a copied scope whose keys lack some values too), missing and differing copies fail.
    """
    base = {"object_type": prepared.object_type, "source_id": prepared.source_id, "name": prepared.name}
    decision = classify(prepared, index, identical)
    checks = {
        Action.IDENTICAL: Check.IDENTICAL,
        Action.UPDATE: Check.DIFFERS,
        Action.CREATE: Check.MISSING,
        Action.CONFLICT: Check.CONFLICT,
        Action.DUPLICATE: Check.DUPLICATE,
        Action.BLOCKED: Check.BLOCKED,
        Action.NEEDS_VALUE: Check.NEEDS_VALUE,
    }
    check = checks.get(decision.action, Check.SKIPPED)
    if check is Check.IDENTICAL and prepared.object_type == "secret_scopes" and prepared.reason:
        check = Check.NEEDS_VALUE  # the keys with values are there; the others are not
    reason = decision.reason
    if check is Check.DIFFERS:
        reason = "the target copy differs from the source"
    elif check is Check.MISSING:
        reason = "no target object carries its marker"
    elif check is Check.SKIPPED and not reason:
        reason = str(decision.action)
    return Verdict(**base, check=check, reason=reason)


def unpaused_triggers(settings: Mapping[str, Any]) -> list[str]:
    """The schedule / continuous / trigger blocks of job settings that are not PAUSED.

    A block without ``pause_status`` runs (the API's default is UNPAUSED).
    """
    out = []
    for name in TRIGGERS:
        block = settings.get(name)
        if isinstance(block, Mapping) and block.get("pause_status") != PAUSED:
            out.append(name)
    return out


def keep_pauses(spec: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """Job settings ``spec`` with the pause status of each trigger block taken from ``current``.

    For the update of a job a cutover runs in the target: the migration's PAUSED must not stop it.
    """
    out = {k: (dict(v) if k in TRIGGERS and isinstance(v, Mapping) else v) for k, v in spec.items()}
    for name in TRIGGERS:
        block, now = out.get(name), current.get(name)
        if isinstance(block, dict) and isinstance(now, Mapping):
            block["pause_status"] = now.get("pause_status", UNPAUSED)
    return out


@dataclass(frozen=True)
class ValidationReport:
    """The validation of a run: one verdict per source object, paused triggers and created clusters."""

    verdicts: tuple[Verdict, ...]
    detail_limit: int = 50

    def counts(self) -> dict[str, dict[str, int]]:
        """Object type -> check -> count (for XCom)."""
        return _counts((v.object_type, str(v.check)) for v in self.verdicts)

    def duplicates(self) -> dict[str, int]:
        """Object type -> how many of its source objects have more than one marked target copy."""
        found = Counter(v.object_type for v in self.verdicts if v.check is Check.DUPLICATE)
        return dict(sorted(found.items()))

    @property
    def failures(self) -> list[Verdict]:
        """Every verdict that fails the validation."""
        return [v for v in self.verdicts if v.check not in PASSING]

    @property
    def ok(self) -> bool:
        """Whether every eligible object is identical or skipped with a reason."""
        return not self.failures

    def lines(self) -> list[str]:
        """The per-type table, then each failing verdict."""
        lines = _table("DR validation (objects per check):", [str(c) for c in Check], self.counts())
        for v in self.failures[: self.detail_limit]:
            lines.append(f"  {v.object_type} {v.check}: {v.name} ({v.source_id}): {v.reason}")
        if len(self.failures) > self.detail_limit:
            lines.append(f"  {len(self.failures) - self.detail_limit} more failures not listed")
        lines.append("validation " + ("passed" if self.ok else f"FAILED: {len(self.failures)} object(s)"))
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the run state's report)."""
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "duplicates": self.duplicates(),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


@dataclass(frozen=True)
class GitCredentialsReport:
    """The Git credentials a migration leaves behind, and whom to ask to add theirs in the secondary.

    The API lists the calling identity's credentials only (``caller``, ``credentials``); the other
    users who need one are those with Git folders under /Repos and the run-as users of jobs that
    check out a Git repository (``git_source``).
    """

    caller: str
    credentials: tuple[Mapping[str, Any], ...] = ()
    git_folder_users: tuple[str, ...] = ()
    git_job_users: Mapping[str, Sequence[str]] = field(default_factory=dict)  # user -> job names

    @property
    def users_to_ask(self) -> list[str]:
        """Everyone who needs a Git credential in the secondary, sorted."""
        users = set(self.git_folder_users) | set(self.git_job_users)
        if self.credentials and self.caller:
            users.add(self.caller)
        return sorted(users)

    def lines(self) -> list[str]:
        """What the plan prints after its out-of-scope lines (never a token: the API returns none)."""
        out = []
        if self.credentials:
            listed = ", ".join(
                f"{c.get('git_provider', '?')} as {c.get('git_username') or c.get('name') or '?'}"
                for c in self.credentials
            )
            out.append(f"  git_credentials of {self.caller or 'the connection'}: {listed}")
        for user in self.users_to_ask:
            why = []
            if user in self.git_folder_users:
                why.append(f"Git folders under /Repos/{user}")
            if user in self.git_job_users:
                why.append("runs jobs from Git: " + ", ".join(sorted(self.git_job_users[user])[:5]))
            if user == self.caller and self.credentials:
                why.append(f"{len(self.credentials)} Git credential(s) in the source")
            out.append(f"  git_credentials: ask {user} to add theirs in the secondary ({'; '.join(why)})")
        if not self.users_to_ask:
            out.append("  git_credentials: no Git folder, Git job or credential of the connection found")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (for XCom)."""
        return {"caller_credentials": len(self.credentials), "users_to_ask": self.users_to_ask}


def git_job_users(jobs: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Run-as user (or creator) -> names of the jobs that check out a Git repository."""
    out: dict[str, list[str]] = {}
    for job in jobs:
        settings = job.get("settings") or {}
        if not settings.get("git_source"):
            continue
        run_as = settings.get("run_as") or {}
        user = run_as.get("user_name") or run_as.get("service_principal_name") or job.get("creator_user_name")
        if user:
            out.setdefault(str(user), []).append(object_name("jobs", job))
    return out


def progress_line(object_type: str, done: int, total: int, retries: int, concurrency: int) -> str:
    """The progress line a migration task logs every N objects."""
    return f"{object_type}: {done}/{total} done, {retries} retries, concurrency {concurrency}"
