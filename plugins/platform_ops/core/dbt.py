"""dbt run-or-retry: the decision, the command lines and the run_results bookkeeping.

Pure functions over plain dicts (dbt's ``run_results.json`` / ``manifest.json`` and the document
this package persists per logical date), tested branch by branch in tests/core/test_dbt.py.

The persisted document (name :data:`STATE_NAME`)::

    {"format": 1,
     "request": {"target", "command", "select", "exclude", "full_refresh"},  # what produced these results
     "run_results": {...},      # dbt's run_results.json, merged across retries (full picture)
     "nodes": {unique_id: {"selector", "resource_type", "parents"}},  # from the manifest
     "invocations": [{"mode", "argv", "counts", "finished_at"}]}

Nothing in that document decides what dbt executes: whoever can write the state store must not
gain code execution. The document only says which nodes of the request failed; dbt retry gets a
run_results.json rebuilt from the request (:func:`retry_run_results`), whose failures are first
checked against the request's selection in the current project (:func:`check_against_project`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from platform_ops.core.params import is_unset, parse_bool, parse_int
from platform_ops.exceptions import ConfigError

STATE_NAME = "dbt_run_results"
STATE_FORMAT = 1

#: statuses that ``dbt retry`` re-runs (dbt-core 1.12)
RETRY_STATUSES = frozenset({"error", "fail", "runtime error", "skipped", "partial success"})
#: statuses that fail the task
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
#: node types each command runs (by the first part of the unique_id)
RUNNABLE = {
    "run": frozenset({"model"}),
    "build": frozenset({"model", "seed", "snapshot", "test", "unit_test", "function"}),
}
#: what a template renders for "nothing" (Python's None, an empty list, quoted empties): never a selector
_RENDERED_EMPTY = frozenset({"none", "null", "[]", "''", '""', "{}", "()"})
RUN_RESULTS_SCHEMA = "https://schemas.getdbt.com/dbt/run-results/v6.json"
_SCHEMA_URL = re.compile(r"https://schemas\.getdbt\.com/dbt/run-results/v[0-9]+\.json")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z?")
#: what dbt prints when a retry has nothing to work from (not an error for us)
NOTHING_TO_RETRY_MARKERS = ("Could not find previous run", "Nothing to do")
#: dbt's warning for each selector that picks no enabled node (dbt-core 1.12)
_NO_MATCH_WARNING = re.compile(r"The selection criterion .* does not match any enabled nodes")

_TARGET = re.compile(r"[A-Za-z0-9_\-]+")  # fullmatch: a trailing newline is not a target name
MIN_THREADS, MAX_THREADS = 1, 64


class Scope(StrEnum):
    """What a task may run for its logical date: the operator argument ``scope``.

    ``auto`` re-runs only the stored failures when there are any, else the whole request;
    ``failed`` runs only the stored failures and fails when there is nothing to retry from;
    ``full`` always runs the whole request.
    """

    AUTO = "auto"
    FAILED = "failed"
    FULL = "full"


class Command(StrEnum):
    """The dbt command a request runs."""

    RUN = "run"
    BUILD = "build"


class Step(StrEnum):
    """What one invocation does, as :func:`decide` chose it."""

    RUN = "run"  # the full requested command
    RETRY = "retry"  # `dbt retry` from the restored run_results
    REBUILD = "rebuild"  # `dbt build --select <nodes>`: retry that also rebuilds the models of failed tests
    SKIP = "skip"  # nothing to do: the stored results for this date are green


class NoStateToRetry(ConfigError):
    """``scope="failed"`` was requested but there is nothing usable to retry from.

    A :class:`ConfigError` of the operator argument ``scope``: the task fails without retrying.
    """

    def __init__(self, problem: str, fix: str) -> None:
        """Name ``scope`` as the field, with what went wrong and how to fix it."""
        super().__init__("scope", problem, fix)


# -- input validation ---------------------------------------------------------------------------


def _as_list(field_name: str, value: Any) -> tuple[str, ...]:
    """Dbt selectors from a string (space-separated) or a list of strings; None means no selection.

    Anything else is refused, including what a template renders for "nothing" ('', blanks, 'None',
    '[]', "''"): taken as no selection, it would build the whole project.
    """
    fix = "pass selectors such as 'tag:daily' or 'stg_orders+' as a string or a list of strings"
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split()
    elif isinstance(value, (list, tuple)):
        items = [part for item in value for part in (item.split() if isinstance(item, str) else [item])]
    else:
        raise ConfigError(field_name, f"{value!r} is a {type(value).__name__}, not a selection", fix)
    if not items:
        raise ConfigError(
            field_name,
            f"{value!r} is an empty selection",
            f"{fix}; leave it unset (None) to select everything",
        )
    for item in items:
        if not isinstance(item, str) or item.lower() in _RENDERED_EMPTY or item.startswith("-"):
            raise ConfigError(
                field_name, f"{item!r} is not a dbt selector", f"{fix} (no flags, no empty items)"
            )
    return tuple(items)


def parse_threads(value: Any) -> int | None:
    """The ``threads`` argument: None when unset, else an integer in 1-64."""
    if is_unset(value):
        return None
    problem = f"{value!r} is not an integer in {MIN_THREADS}-{MAX_THREADS}"
    try:
        n = parse_int("threads", value)
    except ConfigError:
        raise ConfigError("threads", problem, "pass e.g. 4") from None
    if not MIN_THREADS <= n <= MAX_THREADS:
        raise ConfigError("threads", problem, "pass e.g. 4")
    return n


def parse_vars(value: Any) -> dict[str, Any]:
    """The ``vars`` argument: a JSON-serialisable object, given as a mapping or a JSON string."""
    if is_unset(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                "vars", f"is not valid JSON ({exc.msg})", 'pass an object like {"key": "value"}'
            ) from exc
    if not isinstance(value, Mapping):
        raise ConfigError("vars", f"is a {type(value).__name__}, not an object", 'pass {"key": "value"}')
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            "vars", f"is not JSON-serialisable ({exc})", "use strings, numbers, lists, objects"
        ) from exc
    return dict(value)


def parse_enum(field_name: str, value: Any, enum: type[StrEnum]) -> Any:
    """The member of ``enum`` named by ``value`` (case and blanks ignored); a ConfigError otherwise."""
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        allowed = " | ".join(e.value for e in enum)
        raise ConfigError(
            field_name, f"{value!r} is not one of {allowed}", f"pass one of {allowed}"
        ) from None


@dataclass(frozen=True)
class DbtRequest:
    """What the task was asked to run. ``identity`` decides whether stored results can be retried."""

    project_dir: str
    target: str
    command: Command = Command.RUN
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    full_refresh: bool = False
    threads: int | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    profiles_dir: str | None = None

    @classmethod
    def from_params(
        cls,
        *,
        project_dir: Any,
        target: Any,
        command: Any = "run",
        select: Any = None,
        exclude: Any = None,
        full_refresh: Any = False,
        threads: Any = None,
        vars: Any = None,
        profiles_dir: Any = None,
    ) -> DbtRequest:
        """Validate raw (possibly template-rendered) values; every error names its field."""
        if not project_dir or not isinstance(project_dir, str):
            raise ConfigError(
                "project_dir",
                f"{project_dir!r} is not a folder name",
                "pass the folder holding dbt_project.yml",
            )
        if not (profiles_dir is None or isinstance(profiles_dir, str)):
            raise ConfigError(
                "profiles_dir", f"{profiles_dir!r} is not a folder name", "pass the folder with profiles.yml"
            )
        if not isinstance(target, str) or not _TARGET.fullmatch(target):
            raise ConfigError(
                "target", f"{target!r} is not a target name", "pass a target of profiles.yml, e.g. local"
            )
        return cls(
            project_dir=project_dir,
            target=target,
            command=parse_enum("command", command, Command),
            select=_as_list("select", select),
            exclude=_as_list("exclude", exclude),
            full_refresh=parse_bool("full_refresh", full_refresh),
            threads=parse_threads(threads),
            vars=parse_vars(vars),
            profiles_dir=profiles_dir or None,
        )

    @property
    def identity(self) -> dict[str, Any]:
        """The fields that must match for stored results to be retried."""
        return {
            "target": self.target,
            "command": self.command.value,
            "select": sorted(self.select),
            "exclude": sorted(self.exclude),
            "full_refresh": self.full_refresh,
        }


def _identity_diff(stored: Mapping[str, Any], request: DbtRequest) -> list[str]:
    """The fields in which stored results were produced by another request.

    ``full_refresh`` is False in documents written before it was recorded.
    """
    stored = {"full_refresh": False, **stored}
    return [k for k, v in request.identity.items() if stored.get(k) != v]


def _flat(value: Any) -> list[Any]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return sorted(
        (part for item in items for part in (item.split() if isinstance(item, str) else [item])), key=repr
    )


def _args_diff(args: Any, request: DbtRequest) -> list[str]:
    """How the ``args`` of stored run_results differ from what the request would run.

    dbt retry executes the command, selection, target and macro named in ``args``; for results
    this package stored they always equal the request, so any difference is a finding.
    """
    if not isinstance(args, Mapping):
        return [f"run_results.args is {type(args).__name__}, not the arguments of a dbt run"]
    expected: dict[str, Any] = {
        "which": request.command.value,
        "target": request.target,
        "select": _flat(list(request.select)),
        "exclude": _flat(list(request.exclude)),
        "full_refresh": request.full_refresh,
        "macro": None,
        "selector": None,
    }
    found: dict[str, Any] = {
        "which": args.get("which"),
        "target": args.get("target"),
        "select": _flat(args.get("select")),
        "exclude": _flat(args.get("exclude")),
        "full_refresh": bool(args.get("full_refresh", False)),
        "macro": args.get("macro"),
        "selector": args.get("selector"),
    }
    return [
        f"run_results.args.{k} is {found[k]!r}, the request's is {expected[k]!r}"
        for k in expected
        if found[k] != expected[k]
    ]


# -- the stored document ------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredState:
    """The document persisted for one task and logical date, once checked (:func:`load_state`)."""

    request: dict[str, Any]
    run_results: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    invocations: list[dict[str, Any]]

    @property
    def results(self) -> list[dict[str, Any]]:
        """The stored run_results' results."""
        results: list[dict[str, Any]] = self.run_results["results"]
        return results

    def retry_nodes(self) -> list[str]:
        """The nodes ``dbt retry`` re-runs: failed, errored and skipped ones."""
        return [r["unique_id"] for r in self.results if r.get("status") in RETRY_STATUSES]

    def failed_tests(self) -> list[str]:
        """The data and unit tests that failed."""
        return [
            r["unique_id"]
            for r in self.results
            if r.get("status") in FAILED_STATUSES and r["unique_id"].startswith(("test.", "unit_test."))
        ]


def load_state(doc: Any) -> tuple[StoredState | None, str | None]:
    """(state, None) for a usable document; (None, why) for one that is structurally corrupt."""
    if doc is None:
        return None, None
    try:
        if doc.get("format") != STATE_FORMAT:
            return None, f"unknown state format {doc.get('format')!r}"
        rr = doc["run_results"]
        results = rr["results"]
        if not isinstance(results, list) or not results:
            return None, "run_results has no results"
        for r in results:
            if not isinstance(r.get("unique_id"), str) or not isinstance(r.get("status"), str):
                return None, "a result lacks unique_id or status"
        request = doc["request"]
        if not isinstance(request, dict):
            return None, "request is not an object"
        return StoredState(
            request, rr, dict(doc.get("nodes") or {}), list(doc.get("invocations") or [])
        ), None
    except (AttributeError, KeyError, TypeError) as exc:
        return None, f"unexpected document shape ({exc!r})"


@dataclass(frozen=True)
class Decision:
    """What one invocation does and why (:func:`decide`, :func:`check_against_project`)."""

    step: Step
    reason: str
    warning: str | None = None
    nodes: tuple[str, ...] = ()  # the nodes a retry/rebuild re-runs
    selectors: tuple[str, ...] = ()  # REBUILD only: the explicit selection for `dbt build`
    failed_tests: tuple[str, ...] = ()  # REBUILD only: the tests whose models are rebuilt


def _mismatch(state: StoredState, request: DbtRequest, scope: Scope) -> Decision | None:
    """A full run when the stored results are not this request's; None when they are.

    With ``scope="failed"`` the mismatch is refused instead (:class:`NoStateToRetry`).
    """
    differ = _identity_diff(state.request, request)
    if differ:
        msg = (
            f"stored results are for {state.request}, this run asks for {request.identity} "
            f"(different {', '.join(differ)})"
        )
        if scope is Scope.FAILED:
            raise NoStateToRetry(
                f"'failed' re-runs stored failures, but {msg}",
                "retry with the same target/command/selection/full_refresh, or pass scope=auto",
            )
        reason = "different request: full run"
        if "full_refresh" in differ and request.full_refresh:
            reason = "full_refresh=true: full run with --full-refresh"
        return Decision(Step.RUN, reason, warning=msg)
    args_diff = _args_diff(state.run_results.get("args"), request)
    if args_diff:
        msg = "the stored run_results do not match this request: " + "; ".join(args_diff)
        if scope is Scope.FAILED:
            raise NoStateToRetry(
                f"'failed' re-runs stored failures, but {msg}; nothing stored is executed",
                "pass scope=full (a full run) or scope=auto",
            )
        return Decision(
            Step.RUN,
            "stored run_results do not match the request: full run",
            warning=f"{msg}; running the requested command in full",
        )
    return None


def decide(
    doc: Any, request: DbtRequest, scope: Scope, force: bool, store_warning: str | None = None
) -> Decision:
    """Run, retry, rebuild or skip, from the state persisted for this task and logical date.

    ``doc`` is what the state store returned (None when missing, empty or unreadable).
    """
    if scope is Scope.FULL:
        return Decision(Step.RUN, "scope=full: full run requested")
    state, corrupt = load_state(doc)
    if state is None:
        why = corrupt or store_warning or "no run_results stored for this logical date"
        if scope is Scope.FAILED:
            raise NoStateToRetry(
                f"'failed' re-runs stored failures, but there is nothing to retry from: {why}",
                "pass scope=auto (a full run when nothing is stored) or scope=full",
            )
        if corrupt:
            return Decision(
                Step.RUN, "stored state is unusable: full run", warning=f"stored state ignored: {why}"
            )
        return Decision(Step.RUN, f"{why}: full run")
    mismatch = _mismatch(state, request, scope)
    if mismatch is not None:
        return mismatch
    retry = state.retry_nodes()
    if not retry:
        if force:
            return Decision(Step.RUN, "stored results are all green; force=True: full run")
        return Decision(
            Step.SKIP, "stored results for this date are all green: nothing to do (force=True re-runs)"
        )
    failed_tests = state.failed_tests()
    if request.command is Command.BUILD and failed_tests:
        # dbt retry would re-run a failed test against the model it already built (dbt-core #10164):
        # rebuild the models those tests check together with everything dbt retry would run. Which
        # models and their selectors come from the current project (check_against_project).
        return Decision(
            Step.REBUILD,
            f"{len(failed_tests)} failed test(s): rebuild their models and retry",
            nodes=tuple(retry),
            failed_tests=tuple(failed_tests),
        )
    return Decision(Step.RETRY, f"{len(retry)} node(s) to retry", nodes=tuple(retry))


@dataclass(frozen=True)
class Project:
    """The current project as the request sees it.

    dbt's manifest.json and the unique ids the request's select/exclude pick (``dbt ls``).
    """

    manifest: Mapping[str, Any]
    selected: frozenset[str]

    def nodes(self) -> dict[str, Any]:
        """Every node of the manifest (unit tests and functions included), by unique id."""
        m = self.manifest
        return {**m.get("nodes", {}), **m.get("unit_tests", {}), **m.get("functions", {})}


def check_against_project(
    decision: Decision, request: DbtRequest, scope: Scope, project: Project
) -> Decision:
    """Check a retry or rebuild against the current project before anything runs.

    * a stored failure that is no longer in the project (deleted, renamed, disabled): dbt retry
      cannot run it (“Couldn't find model”), so ``auto`` runs the request in full with a warning and
      ``failed`` fails, saying to pass scope=full;
    * a stored failure that the request's command/select/exclude does not select (the project's
      tags changed, or someone edited the stored document): the same, nothing stored is executed;
    * a rebuild gets the models of its failed tests and every selector from the manifest.
    """
    if decision.step not in (Step.RETRY, Step.REBUILD):
        return decision
    known = project.nodes()
    runnable = RUNNABLE[request.command.value]
    of_type = [n for n in decision.nodes if n.split(".", 1)[0] in runnable]
    gone = [n for n in of_type if n not in known]
    outside = [n for n in decision.nodes if n not in of_type or (n in known and n not in project.selected)]
    if gone:
        msg = (
            f"the stored failure(s) {gone} no longer exist in the project (deleted, renamed or "
            "disabled), so dbt retry cannot run them"
        )
        if scope is Scope.FAILED:
            raise NoStateToRetry(
                f"'failed' re-runs stored failures, but {msg}",
                "pass scope=full (a full run of the request), "
                "or scope=auto (which runs in full when this happens)",
            )
        return Decision(
            Step.RUN, "stored failures are no longer in the project: full run", warning=f"{msg}: full run"
        )
    if outside:
        msg = (
            f"run_results.results lists {outside} as failed, which are not selected by this "
            f"request (command={request.command.value}, select/exclude): the project changed since, "
            "or the stored document was edited"
        )
        if scope is Scope.FAILED:
            raise NoStateToRetry(
                f"'failed' re-runs stored failures, but {msg}", "pass scope=full (a full run) or scope=auto"
            )
        return Decision(
            Step.RUN,
            "stored failures are not selected by this request: full run",
            warning=f"{msg}; nothing stored is executed, full run",
        )
    if decision.step is Step.RETRY:
        return decision
    parents = [
        p
        for t in decision.failed_tests
        for p in (known[t].get("depends_on") or {}).get("nodes", [])
        if p in known and p.split(".", 1)[0] in {"model", "seed", "snapshot"}
    ]
    nodes = tuple(dict.fromkeys([*decision.nodes, *parents]))
    index = node_index(project.manifest, nodes)
    selectors = tuple(dict.fromkeys(index[n]["selector"] for n in nodes if n in index))
    if len(index) != len(nodes):
        missing = [n for n in nodes if n not in index]
        return Decision(
            Step.RUN, "cannot map failed nodes to selectors: full run", warning=f"no selector for {missing}"
        )
    return Decision(decision.step, decision.reason, decision.warning, nodes, selectors, decision.failed_tests)


def retry_run_results(state: StoredState, request: DbtRequest, nodes: Sequence[str]) -> dict[str, Any]:
    """The run_results.json written for ``dbt retry --state``, built from the request.

    dbt retry runs the command, selection, target, full_refresh (and, for run-operation, the
    macro) named in the file's ``args``, ignoring its own command line but for vars and threads;
    so ``args`` come from the request alone. The results are only the nodes to re-run with their
    stored status; nothing else of the stored document (compiled code, batch results) reaches dbt.
    A microbatch model that partly failed is re-run in full.
    """
    status = {r["unique_id"]: r["status"] for r in state.results}
    results = [
        {
            "unique_id": uid,
            "status": status[uid],
            "timing": [],
            "thread_id": "",
            "execution_time": 0.0,
            "adapter_response": {},
            "message": None,
            "failures": None,
            "compiled": None,
            "compiled_code": None,
            "relation_name": None,
        }
        for uid in nodes
        if status.get(uid) in RETRY_STATUSES
    ]
    stored_meta = state.run_results.get("metadata")
    stored_meta = stored_meta if isinstance(stored_meta, Mapping) else {}
    schema = stored_meta.get("dbt_schema_version")
    metadata = {
        "dbt_schema_version": schema
        if isinstance(schema, str) and _SCHEMA_URL.fullmatch(schema)
        else RUN_RESULTS_SCHEMA
    }
    for key in ("generated_at", "invocation_started_at"):
        value = stored_meta.get(key)
        if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
            metadata[key] = value
    args: dict[str, Any] = {
        "which": request.command.value,
        "select": list(request.select),
        "exclude": list(request.exclude),
        "target": request.target,
    }
    if request.full_refresh:
        args["full_refresh"] = True
    return {"metadata": metadata, "results": results, "elapsed_time": 0.0, "args": args}


# -- command lines ------------------------------------------------------------------------------


def project_args(request: DbtRequest) -> list[str]:
    """The project, profiles folder and target of every dbt command of the request."""
    return [
        "--project-dir",
        request.project_dir,
        "--profiles-dir",
        request.profiles_dir or request.project_dir,
        "--target",
        request.target,
    ]


def run_args(request: DbtRequest, target_path: str, log_path: str) -> list[str]:
    """The arguments of every dbt command that runs the request's nodes.

    The project, the folders of its artifacts and logs, the vars in full (a retry's --vars replaces
    the stored ones) and the threads.
    """
    args = [
        *project_args(request),
        "--target-path",
        target_path,
        "--log-path",
        log_path,
        "--vars",
        json.dumps(request.vars, sort_keys=True),
    ]
    if request.threads:
        args += ["--threads", str(request.threads)]
    return args


def deps_argv(dbt_executable: str, request: DbtRequest) -> list[str]:
    """`dbt deps` for the request's project (packages land in the project's dbt_packages/)."""
    return [dbt_executable, "--no-use-colors", "deps", *project_args(request)]


def build_argv(
    dbt_executable: str,
    decision: Decision,
    request: DbtRequest,
    target_path: str,
    state_dir: str | None = None,
) -> list[str]:
    """The dbt command line. Always --target; vars always in full (a retry's --vars replaces)."""
    common = run_args(request, target_path, target_path)
    if decision.step is Step.RETRY:
        if not state_dir:
            raise ValueError("a retry needs the folder holding the restored run_results.json")
        return [dbt_executable, "--no-use-colors", "retry", *common, "--state", state_dir]
    if decision.step is Step.REBUILD:
        if not decision.selectors:
            raise ValueError("a rebuild needs the selectors of the current project (check_against_project)")
        argv = [dbt_executable, "--no-use-colors", "build", *common, "--select", *decision.selectors]
    elif decision.step is Step.RUN:
        argv = [dbt_executable, "--no-use-colors", request.command.value, *common]
        if request.select:
            argv += ["--select", *request.select]
        if request.exclude:
            argv += ["--exclude", *request.exclude]
    else:
        raise ValueError(f"{decision.step} runs no dbt command")
    if request.full_refresh:
        argv.append("--full-refresh")
    return argv


def ls_argv(dbt_executable: str, request: DbtRequest, target_path: str, log_path: str) -> list[str]:
    """`dbt ls` of the request's selection.

    The manifest goes to ``target_path``, the listed unique ids to ``<log_path>/dbt.log`` as JSON
    lines (:func:`parse_ls_log`), none to the task log.
    """
    return [
        dbt_executable,
        "--no-use-colors",
        "--log-level",
        "none",
        "--log-format-file",
        "json",
        "--log-level-file",
        "info",
        *_listing_args(request, target_path, log_path),
    ]


def _listing_args(request: DbtRequest, target_path: str, log_path: str) -> list[str]:
    """`dbt ls` of the request, listing the selected unique ids as JSON (log flags are the caller's)."""
    argv = [
        "ls",
        *project_args(request),
        "--target-path",
        target_path,
        "--log-path",
        log_path,
        "--vars",
        json.dumps(request.vars, sort_keys=True),
        "--resource-type",
        "all",
        "--output",
        "json",
        "--output-keys",
        "unique_id",
    ]
    if request.select:
        argv += ["--select", *request.select]
    if request.exclude:
        argv += ["--exclude", *request.exclude]
    return argv


def retry_session_spec(
    decision: Decision, request: DbtRequest, target_path: str, state_dir: str, out: str
) -> dict[str, Any]:
    """What one process runs for a retry (``platform_ops/hooks/retry_session.py``).

    ``dbt ls`` of the request, then, only when every stored failure to retry is of a type the command runs and
    selected by the request in the current project, the ``dbt retry`` of :func:`build_argv`.

    Both use one target folder, so the retry parses from the partial-parse file the listing wrote.
    When the check fails nothing runs: the report at ``out`` (the selected unique ids) and the
    listing's manifest.json make the :class:`Project` for :func:`check_against_project`.
    """
    if decision.step is not Step.RETRY:
        raise ValueError(f"a retry session runs dbt retry, not {decision.step}")
    listing = [
        "--no-use-colors",
        "--log-level",
        "none",
        "--log-level-file",
        "none",
        *_listing_args(request, target_path, target_path),
    ]
    retry = build_argv("dbt", decision, request, target_path, state_dir)[1:]
    return {
        "ls": listing,
        "retry": retry,
        "required": list(decision.nodes),
        "runnable": sorted(RUNNABLE[request.command.value]),
        "out": out,
    }


def parse_ls_log(lines: Iterable[str]) -> tuple[frozenset[str], list[str]]:
    """(unique ids listed, error messages) from the JSON log lines of :func:`ls_argv`."""
    selected: set[str] = set()
    errors: list[str] = []
    for line in lines:
        try:
            event = json.loads(line)
            info = event["info"]
            if info.get("level") == "error":
                errors.append(str(info.get("msg", "")))
            elif info.get("name") == "PrintEvent":
                listed = json.loads(event["data"]["msg"])
                if isinstance(listed, dict) and isinstance(listed.get("unique_id"), str):
                    selected.add(listed["unique_id"])
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return frozenset(selected), errors


def nothing_selected_error(request: DbtRequest, output: Iterable[str]) -> ConfigError:
    """The error of a run whose selection picked no enabled node (dbt exits 0, results empty).

    dbt only warns ("Nothing to do"): the selection is wrong, and a retry would select nothing
    again. Names the selection and repeats dbt's warnings about the selectors that match nothing.
    """
    shown = " ".join(request.select) if request.select else "(everything)"
    selection = f"select {shown!r}"
    if request.exclude:
        selection += f" with exclude {' '.join(request.exclude)!r}"
    field_name = "select/exclude" if request.exclude else "select"
    warnings = [m.group(0) for line in output if (m := _NO_MATCH_WARNING.search(line))]
    said = f" (dbt: {'; '.join(warnings)})" if warnings else ""
    return ConfigError(
        field_name,
        f"{selection} selects no enabled node of the project for dbt {request.command.value}{said}",
        "check the selectors against the project (dbt ls --select ...): a model, tag or path that "
        "exists and is enabled, and an exclude that leaves something to run",
    )


# -- results ------------------------------------------------------------------------------------


def merge_run_results(previous: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The previous results with every node the new invocation ran replaced (or added).

    ``args`` stay those of the original command, so a chained ``dbt retry`` rebuilds the same
    selection; ``metadata`` and ``elapsed_time`` are the new invocation's.
    """
    fresh = {r["unique_id"]: r for r in new.get("results", [])}
    merged = [fresh.pop(r["unique_id"], r) for r in previous.get("results", [])]
    merged.extend(fresh.values())
    out = dict(previous)
    out["results"] = merged
    out["metadata"] = new.get("metadata", previous.get("metadata"))
    out["elapsed_time"] = new.get("elapsed_time", previous.get("elapsed_time"))
    return out


def status_counts(run_results: Mapping[str, Any]) -> dict[str, int]:
    """How many nodes ended in each status."""
    return dict(sorted(Counter(r.get("status", "unknown") for r in run_results.get("results", [])).items()))


def failed_nodes(run_results: Mapping[str, Any]) -> list[dict[str, str]]:
    """The nodes that ended in error, fail or runtime error, with dbt's message."""
    return [
        {"unique_id": r["unique_id"], "status": r["status"], "message": (r.get("message") or "").strip()}
        for r in run_results.get("results", [])
        if r.get("status") in FAILED_STATUSES
    ]


def failure_message(run_results: Mapping[str, Any]) -> str:
    """The task's failure message: each failed node with its status and dbt's message."""
    failed = failed_nodes(run_results)
    lines = [f"dbt finished with {len(failed)} failed node(s):"]
    lines += [f"  - {f['unique_id']} [{f['status']}]: {f['message'] or '(no message)'}" for f in failed]
    return "\n".join(lines)


def successful_models(run_results: Mapping[str, Any], ran: Iterable[str] | None = None) -> list[str]:
    """Models (incl. seeds and snapshots) that this invocation built successfully."""
    only = set(ran) if ran is not None else None
    return [
        r["unique_id"]
        for r in run_results.get("results", [])
        if r.get("status") == "success"
        and r["unique_id"].split(".", 1)[0] in {"model", "seed", "snapshot"}
        and (only is None or r["unique_id"] in only)
    ]


def node_index(manifest: Mapping[str, Any], unique_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Selector, type and model parents for the given nodes, from dbt's manifest.json."""
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    out: dict[str, dict[str, Any]] = {}
    for uid in unique_ids:
        node = nodes.get(uid)
        if not node:
            continue
        parents = [
            p
            for p in (node.get("depends_on") or {}).get("nodes", [])
            if p.split(".", 1)[0] in {"model", "seed", "snapshot"}
        ]
        out[uid] = {
            "selector": "fqn:" + ".".join(node.get("fqn") or [node.get("name", uid)]),
            "resource_type": node.get("resource_type"),
            "parents": parents,
        }
    return out


def new_state_doc(
    request: DbtRequest,
    run_results: dict[str, Any],
    nodes: dict[str, dict[str, Any]],
    invocations: list[dict[str, Any]],
) -> dict[str, Any]:
    """The document persisted for one task and logical date (see the module docstring)."""
    return {
        "format": STATE_FORMAT,
        "request": request.identity,
        "run_results": run_results,
        "nodes": nodes,
        "invocations": invocations,
    }


# -- dbt deps -----------------------------------------------------------------------------------

DEPS_FILES = ("packages.yml", "dependencies.yml", "package-lock.yml")


def deps_fingerprint(files: Mapping[str, bytes]) -> str | None:
    """A checksum of the package declarations, or None when the project declares no packages.

    ``files``: the contents of the project's :data:`DEPS_FILES` that exist, by file name (others
    are ignored); the hook reads them.
    """
    present = sorted(name for name in files if name in DEPS_FILES)
    if not any(name != "package-lock.yml" for name in present):
        return None
    digest = hashlib.sha256()
    for name in present:
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    return digest.hexdigest()
