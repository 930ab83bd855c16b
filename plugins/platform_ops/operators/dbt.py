"""DbtRunOrRetryOperator: run dbt, keep run_results per logical date, retry only what failed."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, AssetAlias, BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from platform_ops.core.dbt import (
    NOTHING_TO_RETRY_MARKERS,
    STATE_NAME,
    DbtRequest,
    Decision,
    NoStateToRetry,
    Project,
    Scope,
    Step,
    StoredState,
    build_argv,
    check_against_project,
    decide,
    deps_argv,
    deps_fingerprint,
    failed_nodes,
    failure_message,
    load_state,
    ls_argv,
    merge_run_results,
    new_state_doc,
    node_index,
    parse_enum,
    parse_ls_log,
    retry_run_results,
    retry_session_spec,
    status_counts,
    successful_models,
)
from platform_ops.core.params import parse_bool
from platform_ops.core.run_results import results_table, without_compiled_code
from platform_ops.exceptions import ConfigError
from platform_ops.hooks.dbt import RETRY_SESSION, TOKEN_ENV, DbtHook, DbtInvocation
from platform_ops.hooks.retry_session import NOT_LISTED, NOT_RETRIED
from platform_ops.links.dbt import DatabricksWarehouseLink
from platform_ops.state import RunStateStore, airflow_home

DEFAULT_ASSET_ALIAS = "platform_ops_dbt_models"
DEPS_STAMP = ".platform_ops_deps.sha256"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    if not raw.strip():
        return None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


class _NotRetried(Exception):
    """The retry session listed the project and found a stored failure gone or not selected."""

    def __init__(self, project: Project) -> None:
        super().__init__("stored failures not selected by the request")
        self.project = project


def warehouse_url(host: str, http_path: str) -> str | None:
    """The UI page of the SQL warehouse behind an http_path such as /sql/1.0/warehouses/<id>."""
    parts = http_path.strip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "warehouses":
        return f"{host.rstrip('/')}/sql/warehouses/{parts[-1]}"
    return None


class DbtRunOrRetryOperator(BaseOperator):
    """Run dbt for one logical date; on a retry, a backfill or a re-run, re-run only what failed.

    The run_results of every invocation are persisted in the RunStateStore under
    ``dag_id/task_id/<logical date>/dbt_run_results``. Before running, the stored document decides
    (see :func:`platform_ops.core.dbt.decide`):

    * nothing stored: full ``dbt run``/``dbt build``;
    * failures stored for the same target/command/selection/full_refresh: ``dbt retry`` from
      run_results rebuilt from the request (in ``command="build"`` with failed tests: ``dbt build``
      of the failed and skipped nodes plus the models those tests check, because dbt retry would
      not rebuild them). The stored failures are first checked against what ``dbt ls`` of the
      request lists in the current project (in the same dbt process as the retry): failures that
      no longer exist (a deleted or renamed model), or that the request does not select, run the
      request in full with a warning (``mode="retry"`` fails and names the fix);
    * stored results all green: nothing to do (``force=True`` runs again);
    * stored results for another target/command/selection/full_refresh (``full_refresh=True`` on
      a date stored without it), stored dbt ``args`` that differ from the request, or unusable
      results: full run, with a warning.

    The stored document never decides what dbt executes: dbt retry gets only the failed node ids,
    with the command, selection and target of the request.

    ``mode="run"`` always runs in full; ``mode="retry"`` insists on a retry and fails if there is
    nothing to retry from. After each invocation the run_results it wrote (merged into the previous
    ones on a retry) are persisted without compiled SQL, summarised as a table in the task log and
    in XCom (key ``summary``), and every model it built emits an Asset event through the AssetAlias
    ``asset_alias``. The task fails, listing each failed node with dbt's message, when any node
    ended in error, fail or runtime error.

    dbt gets an allow-listed environment (:mod:`platform_ops.core.subprocess_env`), never Airflow's
    connections or settings, and dies with its task (see :mod:`platform_ops.hooks.dbt`).

    :param project_dir: folder with dbt_project.yml (templated)
    :param target: profiles.yml target, always passed as ``--target`` (templated)
    :param profiles_dir: folder with profiles.yml; defaults to project_dir (templated)
    :param select: dbt selectors, a string (space-separated) or a list of strings; None selects
        everything; empty, blank, "None" or "[]" are refused (templated)
    :param exclude: dbt exclusions, same rules (templated)
    :param vars: dict or JSON object, always passed in full, also to ``dbt retry`` (templated)
    :param threads: 1-64 (templated)
    :param full_refresh: pass ``--full-refresh``; on a date stored without it, a full run (templated)
    :param command: ``run`` or ``build``
    :param mode: ``auto`` | ``run`` | ``retry`` (templated)
    :param force: re-run even when the stored results are green (templated)
    :param dbt_executable: defaults to env PLATFORM_OPS_DBT_EXECUTABLE, else the repo's .venv-dbt
    :param state_root: RunStateStore root URL (default: Variable/env, see platform_ops.state)
    :param state_conn_id: connection for an s3:// or gs:// state root
    :param databricks_conn_id: Databricks connection whose host, extra.http_path and token are
        exported as DBT_DATABRICKS_HOST, DBT_DATABRICKS_HTTP_PATH and DBT_ENV_SECRET_DATABRICKS_TOKEN
    :param env: extra environment variables for dbt (strings; ``AIRFLOW_CONN_*``,
        ``AIRFLOW_VAR_*`` and ``AIRFLOW__*`` are refused)
    """

    template_fields: Sequence[str] = (
        "project_dir",
        "profiles_dir",
        "target",
        "select",
        "exclude",
        "vars",
        "threads",
        "full_refresh",
        "scope",
        "mode",
        "force",
        "databricks_conn_id",
    )
    ui_color = "#ff694a"
    operator_extra_links = (DatabricksWarehouseLink(),)

    def __init__(
        self,
        *,
        project_dir: str,
        target: str,
        profiles_dir: str | None = None,
        select: str | list[str] | None = None,
        exclude: str | list[str] | None = None,
        vars: dict[str, Any] | str | None = None,
        threads: int | str | None = None,
        full_refresh: bool | str = False,
        command: str = "run",
        scope: str = "auto",
        force: bool | str = False,
        dbt_executable: str | None = None,
        state_root: str | None = None,
        state_conn_id: str | None = None,
        databricks_conn_id: str | None = None,
        env: Mapping[str, str] | None = None,
        asset_alias: str = DEFAULT_ASSET_ALIAS,
        mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if mode is not None:
            warnings.warn(
                "DbtRunOrRetryOperator(mode=...) is deprecated and will be removed in the next release: "
                "pass scope= instead (mode='retry' is scope='failed', mode='run' is scope='full')",
                DeprecationWarning,
                stacklevel=2,
            )
        outlets = list(kwargs.pop("outlets", None) or [])
        super().__init__(outlets=[*outlets, AssetAlias(name=asset_alias)], **kwargs)
        self.project_dir = project_dir
        self.target = target
        self.profiles_dir = profiles_dir
        self.select = select
        self.exclude = exclude
        self.vars = vars
        self.threads = threads
        self.full_refresh = full_refresh
        self.command = command
        self.scope = scope
        self.mode = mode
        self.force = force
        self.dbt_executable = dbt_executable
        self.state_root = state_root
        self.state_conn_id = state_conn_id
        self.databricks_conn_id = databricks_conn_id
        self.env = dict(env or {})
        self.asset_alias = asset_alias
        self.warehouse_url: str | None = None  # set by execute, read by DatabricksWarehouseLink

    @cached_property
    def hook(self) -> DbtHook:
        return DbtHook(dbt_executable=self.dbt_executable, databricks_conn_id=self.databricks_conn_id)

    def on_kill(self) -> None:
        if "hook" in self.__dict__:
            self.hook.kill()

    # -- execute ----------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        self._t0 = time.monotonic()
        try:
            request = DbtRequest.from_params(
                project_dir=self.project_dir,
                target=self.target,
                command=self.command,
                select=self.select,
                exclude=self.exclude,
                full_refresh=self.full_refresh,
                threads=self.threads,
                vars=self.vars,
                profiles_dir=self.profiles_dir,
            )
            scope = self.resolved_scope()
            force = parse_bool("force", self.force)
            if not (self.databricks_conn_id is None or isinstance(self.databricks_conn_id, str)):
                raise ConfigError(
                    "databricks_conn_id",
                    f"{self.databricks_conn_id!r} is not a connection id",
                    "pass the id of a Databricks connection, or nothing for the local target",
                )
            env = self.hook.environment(self.env)
            store = RunStateStore(self.state_root, self.state_conn_id)
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from exc

        ti = context["ti"]
        key = (ti.dag_id, ti.task_id, context.get("logical_date"), STATE_NAME)
        run_id = context.get("run_id")
        dbx = self.hook.databricks_env
        if dbx:
            self.warehouse_url = warehouse_url(
                "https://" + dbx["DBT_DATABRICKS_HOST"], dbx["DBT_DATABRICKS_HTTP_PATH"]
            )
        location = store.location(*key, run_id=run_id)
        doc = store.get_latest(*key, run_id=run_id)
        try:
            decision = decide(doc, request, scope, force)
        except NoStateToRetry as exc:
            raise AirflowFailException(str(exc)) from exc
        # The stored failures must still exist and be selected by this request. A retry checks
        # them in its own dbt process, before dbt retry (retry_session.py); a rebuild's selectors
        # come from the project, never from the stored document, so it lists the project first.
        in_session = decision.step is Step.RETRY and self.hook.dbt_python is not None
        if decision.step is Step.REBUILD or (decision.step is Step.RETRY and not in_session):
            decision = self._check(decision, request, scope, self._resolve_project(request, env))
        self._log_decision(decision, key[2], location)
        previous, _ = load_state(doc)

        if decision.step is Step.SKIP:
            assert previous is not None
            summary = self._summary(decision, previous.run_results, [], None, location, request)
            ti.xcom_push(key="summary", value=summary)
            return summary

        started = datetime.now(UTC)
        try:
            new_rr, manifest, argv = self._invoke(decision, request, env, previous, in_session)
        except _NotRetried as stale:  # nothing ran: decide as from a separate `dbt ls`
            decision = self._check(decision, request, scope, stale.project)
            self._log_decision(decision, key[2], location)
            started = datetime.now(UTC)
            new_rr, manifest, argv = self._invoke(decision, request, env, previous)
        if new_rr is None:  # a retry that found nothing to do: the stored picture stands
            assert previous is not None
            summary = self._summary(decision, previous.run_results, [], argv, location, request)
            ti.xcom_push(key="summary", value=summary)
            return summary

        new_rr = without_compiled_code(new_rr)  # compiled SQL holds whatever models rendered
        ran = [r["unique_id"] for r in new_rr.get("results", [])]
        if previous is not None and decision.step in (Step.RETRY, Step.REBUILD):
            merged = merge_run_results(previous.run_results, new_rr)
            nodes, invocations = dict(previous.nodes), list(previous.invocations)
        else:
            merged, nodes, invocations = new_rr, {}, []
        nodes.update(node_index(manifest or {}, ran))
        invocations.append(
            {
                "mode": decision.step.value,
                "argv": self._display(argv),
                "started_at": started.isoformat(),
                "finished_at": datetime.now(UTC).isoformat(),
                "counts": status_counts(new_rr),
                "executed": ran,
                "try_number": ti.try_number,
            }
        )
        merged = without_compiled_code(merged)  # also drops it from documents stored before
        store.put(
            new_state_doc(request, merged, nodes, invocations), *key, try_number=ti.try_number, run_id=run_id
        )
        self.log.info("dbt results (this invocation, counts for the date):\n%s", results_table(merged, ran))

        self._emit_asset_events(context, request, successful_models(new_rr, ran))
        summary = self._summary(decision, merged, ran, argv, location, request)
        ti.xcom_push(key="summary", value=summary)
        if failed_nodes(merged):
            raise AirflowException(failure_message(merged))
        return summary

    # -- helpers ----------------------------------------------------------------------------------
    def resolved_scope(self) -> Scope:
        """The ``scope`` argument, or the deprecated ``mode`` when one was passed."""
        if self.mode is None:
            return parse_enum("scope", self.scope, Scope)
        legacy = {"auto": Scope.AUTO, "retry": Scope.FAILED, "run": Scope.FULL}
        found = legacy.get(str(self.mode).strip().lower())
        if found is None:
            raise ConfigError(
                "mode", f"{self.mode!r} is not one of auto | retry | run", "pass scope= instead"
            )
        return found

    def _check(self, decision: Decision, request: DbtRequest, scope: Scope, project: Project) -> Decision:
        try:
            return check_against_project(decision, request, scope, project)
        except NoStateToRetry as exc:
            raise AirflowFailException(str(exc)) from exc

    def _log_decision(self, decision: Decision, date: Any, location: str) -> None:
        if decision.warning:
            self.log.warning("%s", decision.warning)
        self.log.info("dbt %s for %s: %s (state: %s)", decision.step.value, date, decision.reason, location)

    def _invoke(
        self,
        decision: Decision,
        request: DbtRequest,
        env: dict[str, str],
        previous: StoredState | None,
        in_session: bool = False,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[str]]:
        """Run dbt in a fresh target folder; returns (run_results written, manifest, argv).

        ``in_session``: a retry whose stored failures are not checked yet runs in one process with
        ``dbt ls`` of the request (retry_session.py); :class:`_NotRetried` when the check fails."""
        self._ensure_deps(request, env)
        cache = self._parse_cache_dir(request)
        with self.hook.workspace() as work:
            target_path = Path(work, "target")
            target_path.mkdir()
            cached = cache / "partial_parse.msgpack"
            if cached.is_file():  # keep partial parsing across runs of the same project/target
                shutil.copy2(cached, target_path / "partial_parse.msgpack")
            state_dir = None
            if decision.step is Step.RETRY:
                assert previous is not None
                state_dir = Path(work, "state")
                state_dir.mkdir()
                # built from the request: dbt retry runs what this file's args say
                restored = retry_run_results(previous, request, decision.nodes)
                (state_dir / "run_results.json").write_text(json.dumps(restored))
            argv = build_argv(
                self.hook.dbt_executable,
                decision,
                request,
                str(target_path),
                str(state_dir) if state_dir else None,
            )
            run_argv, report_path = argv, None
            if in_session and decision.step is Step.RETRY and self.hook.dbt_python:
                assert state_dir is not None
                report_path, spec_path = Path(work, "session.json"), Path(work, "session-spec.json")
                spec = retry_session_spec(
                    decision, request, str(target_path), str(state_dir), str(report_path)
                )
                spec_path.write_text(json.dumps(spec))
                run_argv = [self.hook.dbt_python, str(RETRY_SESSION), str(spec_path)]
                self.log.info(
                    "Running in one dbt process: dbt ls of the request, then, if it selects every "
                    "stored failure: %s",
                    shlex.join(self._display(argv)),
                )
            else:
                self.log.info("Running: %s", shlex.join(self._display(argv)))
            # run_results.json starts absent: only what this invocation writes counts.
            t0 = time.monotonic()
            result = self.hook.run(
                run_argv, env, cwd=request.project_dir, running_dir=self._running_dir(request)
            )
            self.log.info("dbt exited %s after %.1f s", result.returncode, time.monotonic() - t0)
            run_results = _read_json(target_path / "run_results.json")
            manifest = _read_json(target_path / "manifest.json")
            fresh_cache = target_path / "partial_parse.msgpack"
            if fresh_cache.is_file():
                cache.mkdir(parents=True, exist_ok=True)
                tmp = cache / f".partial_parse.{os.getpid()}.tmp"
                shutil.copy2(fresh_cache, tmp)
                os.replace(tmp, cached)
            if report_path is not None:
                self._session_outcome(_read_json(report_path), manifest, result)
        if run_results is not None and not run_results.get("results"):
            run_results = None  # e.g. a retry after a clean run writes results: []
        if run_results is None:
            output = "\n".join(result.tail)
            if decision.step is Step.RETRY and any(m in output for m in NOTHING_TO_RETRY_MARKERS):
                self.log.info("dbt retry found nothing to re-run; the stored results stand")
                return None, None, argv
            # A parse or compilation error writes no run_results: fail, and leave the stored state as it was.
            raise AirflowException(
                f"dbt {decision.step.value} wrote no run_results.json (exit code {result.returncode}); "
                f"this is usually a parse or compilation error. dbt said:\n{output}"
            )
        return run_results, manifest, argv

    @staticmethod
    def _session_outcome(
        report: dict[str, Any] | None, manifest: dict[str, Any] | None, result: DbtInvocation
    ) -> None:
        """Returns when the retry session ran dbt retry; raises when it stopped before it: with the
        project it listed (:class:`_NotRetried`) or, when it could not list it, with dbt's errors."""
        if report is not None and report.get("retried") is True:
            return
        if report is not None and report.get("listed") is True and manifest is not None:
            if result.returncode != NOT_RETRIED:
                raise AirflowException(f"the dbt retry session ended with exit code {result.returncode}")
            selected = report.get("selected")
            if not (isinstance(selected, list) and all(isinstance(u, str) for u in selected)):
                raise AirflowException("the dbt retry session wrote no list of selected nodes")
            raise _NotRetried(Project(manifest, frozenset(selected)))
        # usually a parse error: fail, and leave the stored state as it was
        said = "\n".join(map(str, (report or {}).get("errors") or result.tail)) or "(no message)"
        listed = "could not read the project" if result.returncode == NOT_LISTED else "failed"
        raise AirflowException(
            f"dbt ls {listed} (exit code {result.returncode}); "
            f"this is usually a parse or compilation error. dbt said:\n{said}"
        )

    def _resolve_project(self, request: DbtRequest, env: dict[str, str]) -> Project:
        """`dbt ls` of the request: the current manifest and the unique ids the selection picks."""
        self._ensure_deps(request, env)
        with self.hook.workspace() as work:
            target_path, log_path = work / "target", work / "logs"
            target_path.mkdir()
            cached = self._parse_cache_dir(request) / "partial_parse.msgpack"
            if cached.is_file():
                shutil.copy2(cached, target_path / "partial_parse.msgpack")
            argv = ls_argv(self.hook.dbt_executable, request, str(target_path), str(log_path))
            self.log.info("Checking the stored failures against the project: %s", shlex.join(argv))
            result = self.hook.run(argv, env, cwd=request.project_dir, running_dir=self._running_dir(request))
            log_file = log_path / "dbt.log"
            lines = log_file.read_text(errors="replace").splitlines() if log_file.is_file() else []
            selected, errors = parse_ls_log(lines)
            manifest = _read_json(target_path / "manifest.json")
        if result.returncode != 0 or manifest is None:
            # usually a parse error: fail, and leave the stored state as it was
            said = "\n".join(errors or result.tail) or "(no message)"
            raise AirflowException(
                f"dbt ls could not read the project (exit code {result.returncode}); "
                f"this is usually a parse or compilation error. dbt said:\n{said}"
            )
        return Project(manifest, selected)

    def _ensure_deps(self, request: DbtRequest, env: dict[str, str]) -> None:
        """`dbt deps` only when packages.yml / dependencies.yml / package-lock.yml changed."""
        fingerprint = deps_fingerprint(request.project_dir)
        if fingerprint is None:
            return
        stamp = Path(request.project_dir, "dbt_packages", DEPS_STAMP)
        if stamp.is_file() and stamp.read_text().strip() == fingerprint:
            self.log.info("dbt packages up to date (%s)", fingerprint[:12])
            return
        argv = deps_argv(self.hook.dbt_executable, request)
        self.log.info("Package declarations changed: running %s", shlex.join(argv))
        result = self.hook.run(argv, env, cwd=request.project_dir, running_dir=self._running_dir(request))
        if result.returncode != 0:
            raise AirflowException("dbt deps failed:\n" + "\n".join(result.tail))
        stamp.parent.mkdir(parents=True, exist_ok=True)
        # dbt deps may write package-lock.yml: the stamp is the fingerprint as deps leaves it.
        stamp.write_text(deps_fingerprint(request.project_dir) or fingerprint)

    @staticmethod
    def _parse_cache_dir(request: DbtRequest) -> Path:
        digest = hashlib.sha256(os.path.abspath(request.project_dir).encode()).hexdigest()[:12]
        return Path(airflow_home(), "cache", "dbt", f"{digest}-{request.target}")

    @classmethod
    def _running_dir(cls, request: DbtRequest) -> Path:
        """Where the dbt processes of this project/target are recorded (orphans are stopped)."""
        return cls._parse_cache_dir(request) / "running"

    def _display(self, argv: list[str]) -> list[str]:
        token = self.hook.databricks_env.get(TOKEN_ENV)
        return [a.replace(token, "***") if token else a for a in argv]

    def _emit_asset_events(self, context: Any, request: DbtRequest, models: list[str]) -> None:
        events = context.get("outlet_events")
        if events is None or not models:
            return
        alias_events = events[AssetAlias(name=self.asset_alias)]
        for uid in models:
            alias_events.add(
                Asset(name=f"dbt.{request.target}.{uid}", uri=f"dbt://{request.target}/{uid}"),
                extra={"target": request.target, "unique_id": uid},
            )
        self.log.info("Emitted %d asset event(s) through alias %s", len(models), self.asset_alias)

    def _summary(
        self,
        decision: Decision,
        run_results: Mapping[str, Any],
        ran: list[str],
        argv: list[str] | None,
        location: str,
        request: DbtRequest,
    ) -> dict[str, Any]:
        return {
            "mode": decision.step.value,
            "reason": decision.reason,
            "target": request.target,
            "counts": status_counts(run_results),
            "failed": failed_nodes(run_results),
            "executed": ran,
            "command": shlex.join(self._display(argv)) if argv else None,
            "state_location": location,
            "seconds": round(time.monotonic() - getattr(self, "_t0", time.monotonic()), 3),
        }
