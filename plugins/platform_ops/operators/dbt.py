"""DbtRunOrRetryOperator: run dbt, keep run_results per logical date, retry only what failed."""

from __future__ import annotations

import shlex
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from airflow.sdk import Asset, AssetAlias, BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from platform_ops.core.dbt import (
    NOTHING_TO_RETRY_MARKERS,
    STATE_NAME,
    DbtRequest,
    Decision,
    Project,
    Scope,
    Step,
    StoredState,
    build_argv,
    check_against_project,
    decide,
    deps_argv,
    failed_nodes,
    failure_message,
    load_state,
    ls_argv,
    merge_run_results,
    new_state_doc,
    node_index,
    nothing_selected_error,
    parse_enum,
    parse_ls_log,
    retry_run_results,
    retry_session_spec,
    status_counts,
    successful_models,
)
from platform_ops.core.dbt_docs import (
    DOCS_FILES,
    DOCS_STATE_NAME,
    docs_argv,
    docs_current,
    docs_document,
    site_files,
)
from platform_ops.core.params import parse_bool
from platform_ops.core.run_outcome import deterministic_test_failures, not_retried_note, warned_nodes
from platform_ops.core.run_results import results_table, without_compiled_code
from platform_ops.core.source_freshness import (
    FRESHNESS_STATE_NAME,
    FreshnessPolicy,
    freshness_argv,
    freshness_results,
    freshness_state_doc,
    source_selector,
    upstream_sources,
)
from platform_ops.exceptions import ConfigError
from platform_ops.hooks.dbt import TOKEN_ENV, DbtHook, DbtInvocation
from platform_ops.hooks.retry_session import NOT_LISTED, NOT_RETRIED
from platform_ops.links.dbt import DatabricksWarehouseLink, DbtDocsLink, DbtRunReportLink
from platform_ops.operators.build_checks import FreshnessCheck, Switches, notify_warnings
from platform_ops.state import RunStateStore
from platform_ops.task_failures import fail_fast_on_permanent_errors

DEFAULT_ASSET_ALIAS = "platform_ops_dbt_models"
#: the values of the deprecated ``mode`` argument, as ``scope`` values
_LEGACY_MODES = {"auto": Scope.AUTO, "retry": Scope.FAILED, "run": Scope.FULL}


class _NotRetried(Exception):
    """The retry session listed the project and found a stored failure gone or not selected."""

    def __init__(self, project: Project) -> None:
        super().__init__("stored failures not selected by the request")
        self.project = project


@dataclass(frozen=True)
class _Outcome:
    """What one dbt invocation left: its run_results (None: nothing to record), manifest, argv."""

    run_results: dict[str, Any] | None
    manifest: dict[str, Any] | None
    argv: list[str]


def warehouse_url(host: str, http_path: str) -> str | None:
    """The UI page of the SQL warehouse behind an http_path such as /sql/1.0/warehouses/<id>."""
    parts = http_path.strip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "warehouses":
        return f"{host.rstrip('/')}/sql/warehouses/{parts[-1]}"
    return None


def _no_results_error(what: str, result: DbtInvocation, said: Sequence[str]) -> AirflowException:
    """A dbt invocation that wrote nothing usable: usually a parse or compilation error."""
    message = "\n".join(map(str, said)) or "(no message)"
    return AirflowException(
        f"{what} (exit code {result.returncode}); this is usually a parse or compilation error. "
        f"dbt said:\n{message}"
    )


class DbtRunOrRetryOperator(BaseOperator):
    """Run dbt for one logical date; on a retry, a backfill or a re-run, re-run only what failed.

    This docstring is where the operator's behaviour is written down; the README and the
    ``dbt_transform`` DAG summarise it.

    **State.** The run_results of every invocation are persisted in the RunStateStore under
    ``dag_id/task_id/<logical date>/dbt_run_results`` (one version per try, compiled SQL removed).

    **What runs** (``scope``, decided by :func:`platform_ops.core.dbt.decide` from that document):

    * ``scope="auto"`` (default):

      - nothing stored: the full ``dbt run``/``dbt build`` of the request;
      - failures stored for the same target/command/selection/``full_refresh``: ``dbt retry`` of
        the failed nodes and those they skipped. With ``command="build"`` and failed tests:
        ``dbt build`` of those nodes plus the models the tests check (``dbt retry`` would re-test
        the old model, dbt-core #10164);
      - stored results all green: nothing (``force=True`` runs again);
      - stored results of another target/command/selection/``full_refresh`` (``full_refresh=True``
        on a date stored without it), dbt ``args`` that differ from the request, or unusable
        results: the full request, with a warning;
      - stored failures that no longer exist in the project (a deleted or renamed model) or that
        the request does not select: the full request, with a warning.

    * ``scope="failed"``: only the stored failures, as above; fails the task, naming the fix,
      wherever ``auto`` would fall back to a full run.
    * ``scope="full"``: always the full request.

    **Safety.** The stored document never decides what dbt executes: ``dbt retry`` gets a
    run_results.json rebuilt from the request (command, selection, target, ``full_refresh``) with
    only the failed node ids, and the stored failures are first checked against what ``dbt ls`` of
    the request selects in the current project. A retry lists and retries in one dbt process
    (:mod:`platform_ops.hooks.retry_session`); a rebuild's selectors come from the project's manifest.

    **Each invocation** runs in a fresh target folder (dbt's partial-parse file is carried between
    runs of one project/target), always with ``--target`` and the full ``vars``; ``dbt deps`` runs
    only when the package declarations changed. A parse or compilation error that writes no
    run_results fails the task with dbt's message and leaves the stored state untouched.
    Afterwards the merged run_results are persisted, summarised as a table in the task log and in
    XCom (key ``summary``: ``mode`` (the step taken: run, retry, rebuild or skip), reason, counts
    per status, failed nodes with dbt's messages, nodes executed, command line, state location),
    and every model built emits an Asset event through the AssetAlias ``asset_alias``. The task
    fails, listing each failed node with dbt's message, when any node ended in error, fail or
    runtime error. Bad arguments fail the task at once, without retries, before dbt runs; so does
    a selection that matches no enabled node of the project (dbt only warns "Nothing to do"): the
    error names the selection and dbt's warning, and nothing is stored.

    **Warnings.** The nodes this try's dbt ended ``warn`` (tests of severity warn that found rows)
    and, with ``source_freshness``, the sources that are not fresh, are listed in the summary
    (``warnings``: unique_id, status, dbt's message) and given once per try to
    ``on_warning_callback``. The callback gets the Airflow context with astronomer-cosmos' keys
    ``test_names`` and ``test_results`` (one entry each per warning, same index) and
    ``dbt_warnings`` (the records), so a callback written for cosmos works unchanged. It is called
    before the task fails or succeeds; a callback that raises is logged and changes nothing.

    **Failures no retry changes.** With ``retry_test_failures=False``, a try whose only failures are
    tests that ran and failed (``fail``; no model, seed or snapshot errored) fails without Airflow
    retries, naming the tests: a test re-run on the same data gives the same result. The results
    are stored as always, so a Clear or a new run of the date rebuilds the tested models as above.

    **Source freshness** (``source_freshness``: ``off`` | ``warn`` | ``error``). Before dbt builds
    (not when the date is skipped), ``dbt ls`` of the request lists the project and ``dbt source
    freshness`` checks the sources upstream of the selection that have a freshness policy
    (:mod:`platform_ops.core.source_freshness`); a source whose query fails is a ``runtime error``.
    The results are stored next to the run_results, as ``<same folder>/dbt_source_freshness``, and
    summarised in XCom (``source_freshness``). ``warn`` builds and reports every source not fresh.
    ``error`` reports late ones (``warn``) and, when a source is past its ``error_after``, fails the
    task before anything is built and without retries (the run_results stay as they were), naming
    the sources; a source that could not be checked fails it too, and Airflow's retries apply.
    The listing also checks a retry's stored failures, so a retry still starts one dbt process.

    **Docs** (``generate_docs``). When the date ends green, ``dbt docs generate`` of the same
    project, target and vars writes the docs site; its index.html, manifest and
    catalog are stored with the date's state (:mod:`platform_ops.core.dbt_docs`), recorded in the
    document ``dbt_docs`` with the sha256 of each file, and served by the UI plugin behind its
    login (extra link "dbt docs"). A failed build generates nothing, so the docs stored before stay
    in place. A docs generation that fails fails the try (the build's results are stored); the
    retry finds the date green and generates only the docs. A green date whose docs already
    describe its last build is not generated again.

    **Environment and process life.** dbt gets an allow-listed environment
    (:mod:`platform_ops.core.subprocess_env`), never Airflow's connections or settings, and dies
    with its task; see :mod:`platform_ops.hooks.dbt`. With a Databricks connection, the extra link
    "Databricks SQL warehouse" opens the warehouse named by the connection's ``extra.http_path``.

    Args:
        project_dir: Folder with dbt_project.yml (templated).
        target: profiles.yml target, always passed as ``--target`` (templated).
        profiles_dir: Folder with profiles.yml; defaults to ``project_dir`` (templated).
        select: dbt selectors, a string (space-separated) or a list of strings; None selects
            everything; empty, blank, "None" or "[]" are refused (templated).
        exclude: dbt exclusions, same rules (templated).
        vars: Dict or JSON object, always passed in full, also to ``dbt retry`` (templated).
        threads: 1-64 (templated).
        full_refresh: Pass ``--full-refresh``; on a date stored without it, a full run (templated).
        command: ``run`` or ``build``.
        scope: What runs for the date: ``auto`` | ``failed`` | ``full``, as above (templated).
        force: Run again even when the stored results are green (templated).
        dbt_executable: Defaults to env PLATFORM_OPS_DBT_EXECUTABLE, else the repository's .venv-dbt.
        state_root: RunStateStore root URL (default: Variable/env, see :mod:`platform_ops.state`).
        state_conn_id: Connection for an s3:// or gs:// state root.
        databricks_conn_id: Databricks connection whose host, ``extra.http_path`` and token are
            exported as DBT_DATABRICKS_HOST, DBT_DATABRICKS_HTTP_PATH and
            DBT_ENV_SECRET_DATABRICKS_TOKEN (templated).
        env: Extra environment variables for dbt (strings; ``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*``
            and ``AIRFLOW__*`` are refused).
        asset_alias: Name of the AssetAlias the built models' Asset events go through.
        on_warning_callback: Called with the Airflow context and the warnings, as above.
        retry_test_failures: False: a try whose only failures are tests fails without Airflow
            retries (templated).
        source_freshness: ``off`` | ``warn`` | ``error``, as above (templated).
        generate_docs: Generate and store dbt docs after a green build, as above (templated).
        mode: Deprecated, removed in the next release: ``retry`` is ``scope="failed"``, ``run`` is
            ``scope="full"``.
        **kwargs: BaseOperator arguments.
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
        "retry_test_failures",
        "source_freshness",
        "generate_docs",
    )
    ui_color = "#ff694a"
    operator_extra_links = (DatabricksWarehouseLink(), DbtRunReportLink(), DbtDocsLink())

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
        on_warning_callback: Callable[[dict[str, Any]], Any] | None = None,
        retry_test_failures: bool | str = True,
        source_freshness: str = "off",
        generate_docs: bool | str = False,
        mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Assign the arguments; they are validated when the task runs (they may be templates)."""
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
        self.on_warning_callback = on_warning_callback
        self.retry_test_failures = retry_test_failures
        self.source_freshness = source_freshness
        self.generate_docs = generate_docs
        self.warehouse_url: str | None = None  # set by execute, read by DatabricksWarehouseLink

    @cached_property
    def hook(self) -> DbtHook:
        """The hook running dbt (and holding the Databricks credentials, when a connection is set)."""
        return DbtHook(dbt_executable=self.dbt_executable, databricks_conn_id=self.databricks_conn_id)

    def on_kill(self) -> None:
        """Stop a running dbt (it cancels its queries first)."""
        if "hook" in self.__dict__:
            self.hook.kill()

    def resolved_scope(self) -> Scope:
        """The ``scope`` argument, or the deprecated ``mode`` when one was passed."""
        if self.mode is None:
            scope: Scope = parse_enum("scope", self.scope, Scope)
            return scope
        found = _LEGACY_MODES.get(str(self.mode).strip().lower())
        if found is None:
            raise ConfigError(
                "mode", f"{self.mode!r} is not one of auto | retry | run", "pass scope= instead"
            )
        return found

    # -- execute ----------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        """Decide from the stored results, run dbt (or not), persist and summarise the results."""
        self._t0 = time.monotonic()
        self._lineage_source: tuple[_Outcome, DbtRequest, dict[str, str]] | None = None
        with fail_fast_on_permanent_errors():
            return self._execute(context)

    def _execute(self, context: Any) -> dict[str, Any]:
        request = self._request()
        scope = self.resolved_scope()
        force = parse_bool("force", self.force)
        switches = self._switches()
        env = self.hook.environment(self.env)
        store = RunStateStore(self.state_root, self.state_conn_id)
        self._set_warehouse_url()

        ti = context["ti"]
        key: tuple[str, str, Any, str] = (ti.dag_id, ti.task_id, context.get("logical_date"), STATE_NAME)
        run_id = context.get("run_id")
        location = store.location(*key, run_id=run_id)
        doc = store.get_latest(*key, run_id=run_id)
        decision = decide(doc, request, scope, force)
        checking = switches.source_freshness is not FreshnessPolicy.OFF and decision.step is not Step.SKIP
        decision, in_session, project = self._check_stored_failures(decision, request, scope, env, checking)
        self._log_decision(decision, key[2], location)
        previous, _ = load_state(doc)

        freshness = None
        if project is not None and checking:
            freshness = self._check_freshness(
                request, env, project, switches.source_freshness, store, key, run_id, ti.try_number
            )
            blocked = freshness.gate()
            if blocked is not None:
                stopped = Decision(decision.step, "source freshness failed: nothing was built")
                stored_rr = previous.run_results if previous is not None else {}
                self._finish(
                    context,
                    switches,
                    self._summary(stopped, stored_rr, [], None, location, request),
                    freshness,
                )
                raise blocked

        outcome, started = _Outcome(None, None, []), datetime.now(UTC)
        if decision.step is not Step.SKIP:
            try:
                outcome = self._invoke(decision, request, env, previous, in_session)
            except _NotRetried as stale:  # nothing ran: decide as from a separate `dbt ls`
                decision = check_against_project(decision, request, scope, stale.project)
                self._log_decision(decision, key[2], location)
                started = datetime.now(UTC)
                outcome = self._invoke(decision, request, env, previous)
        self._lineage_source = (outcome, request, env)
        if outcome.run_results is None:  # nothing to do, or a retry that found nothing: results stand
            assert previous is not None
            summary = self._summary(decision, previous.run_results, [], outcome.argv, location, request)
            last_build = previous.invocations[-1].get("finished_at") if previous.invocations else None
            docs_error = self._docs(switches, summary, request, env, store, key, run_id, ti, last_build)
            self._finish(context, switches, summary, freshness)
            if docs_error is not None:
                raise docs_error
            return summary

        merged, ran, last_build = self._record(
            decision, request, previous, outcome, started, ti, store, key, run_id
        )
        self._emit_asset_events(context, request, successful_models(outcome.run_results, ran))
        summary = self._summary(decision, merged, ran, outcome.argv, location, request)
        docs_error = self._docs(switches, summary, request, env, store, key, run_id, ti, last_build)
        self._finish(context, switches, summary, freshness, outcome.run_results)
        if docs_error is not None:
            raise docs_error
        if failed_nodes(merged):
            message = failure_message(merged)
            tests = [] if switches.retry_test_failures else deterministic_test_failures(merged)
            if tests:
                raise AirflowFailException(f"{message}\n{not_retried_note(tests)}")
            raise AirflowException(message)
        return summary

    def _check_stored_failures(
        self, decision: Decision, request: DbtRequest, scope: Scope, env: dict[str, str], listing: bool
    ) -> tuple[Decision, bool, Project | None]:
        """(decision once its stored failures are checked, whether the retry checks them, listing).

        The stored failures must still exist and be selected by this request. A retry checks them in
        its own dbt process, before dbt retry (retry_session.py), unless the project is listed anyway
        (``listing``: for the freshness check); a rebuild's selectors come from the project, never
        from the stored document, so it lists the project first.
        """
        project = None
        if listing or decision.step is Step.REBUILD:
            project = self._list_project(request, env)
        in_session = decision.step is Step.RETRY and project is None and self.hook.dbt_python is not None
        if decision.step in (Step.RETRY, Step.REBUILD) and not in_session:
            listed = project if project is not None else self._list_project(request, env)
            decision = check_against_project(decision, request, scope, listed)
        return decision, in_session, project

    # -- helpers ----------------------------------------------------------------------------------
    def _request(self) -> DbtRequest:
        if not (self.databricks_conn_id is None or isinstance(self.databricks_conn_id, str)):
            raise ConfigError(
                "databricks_conn_id",
                f"{self.databricks_conn_id!r} is not a connection id",
                "pass the id of a Databricks connection, or nothing for the local target",
            )
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
        self.hook.check_project(request.project_dir, request.profiles_dir)
        return request

    def _switches(self) -> Switches:
        return Switches.from_params(
            on_warning_callback=self.on_warning_callback,
            retry_test_failures=self.retry_test_failures,
            source_freshness=self.source_freshness,
            generate_docs=self.generate_docs,
        )

    def _check_freshness(
        self,
        request: DbtRequest,
        env: dict[str, str],
        project: Project,
        policy: FreshnessPolicy,
        store: RunStateStore,
        key: tuple[str, str, Any, str],
        run_id: str | None,
        try_number: int,
    ) -> FreshnessCheck:
        """`dbt source freshness` of the sources upstream of the selection; the results are stored."""
        checked = upstream_sources(project.manifest, project.selected)
        if not checked:
            self.log.info("Source freshness: no source upstream of the selection has a freshness policy")
            return FreshnessCheck(policy, [], None)
        selectors = [source_selector(project.manifest, uid) for uid in checked]
        with self.hook.invocation(request.project_dir, request.target) as work:
            argv = freshness_argv(
                self.hook.dbt_executable, request, selectors, str(work.target), str(work.logs)
            )
            self.log.info("Checking %d source(s): %s", len(checked), shlex.join(self._display(argv)))
            result = self.hook.run_in(work, argv, env, request.project_dir)
            sources_json, log_lines = work.read_json("sources.json"), work.log_lines()
        if sources_json is None:  # usually a parse error: nothing checked, nothing stored
            raise _no_results_error("dbt source freshness wrote no sources.json", result, result.tail)
        results = freshness_results(sources_json, log_lines, checked)
        for r in results:
            log = self.log.info if r["status"] == "pass" else self.log.warning
            log("Source freshness %s [%s]: %s", r["unique_id"], r["status"], r["message"])
        doc = freshness_state_doc(request, policy, results, sources_json, datetime.now(UTC).isoformat())
        url = store.put(doc, *key[:3], FRESHNESS_STATE_NAME, try_number=try_number, run_id=run_id)
        return FreshnessCheck(policy, results, url)

    def _finish(
        self,
        context: Any,
        switches: Switches,
        summary: dict[str, Any],
        freshness: FreshnessCheck | None,
        run_results: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add this try's warnings to the summary, push it to XCom, call ``on_warning_callback``."""
        warned = warned_nodes(run_results) + (freshness.warnings() if freshness is not None else [])
        summary["warnings"] = warned
        summary["source_freshness"] = freshness.summary() if freshness is not None else None
        context["ti"].xcom_push(key="summary", value=summary)
        notify_warnings(self.log, switches.on_warning_callback, context, warned)
        return summary

    def _set_warehouse_url(self) -> None:
        dbx = self.hook.databricks_env
        if dbx:
            self.warehouse_url = warehouse_url(
                "https://" + dbx["DBT_DATABRICKS_HOST"], dbx["DBT_DATABRICKS_HTTP_PATH"]
            )

    def _log_decision(self, decision: Decision, date: Any, location: str) -> None:
        if decision.warning:
            self.log.warning("%s", decision.warning)
        self.log.info("dbt %s for %s: %s (state: %s)", decision.step.value, date, decision.reason, location)

    def _ensure_deps(self, request: DbtRequest, env: dict[str, str]) -> None:
        argv = deps_argv(self.hook.dbt_executable, request)
        self.hook.ensure_deps(request.project_dir, request.target, argv, env)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What this try's dbt invocation read and wrote (the OpenLineage provider calls it)."""
        return self._openlineage(task_instance)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Failed models emit a FAIL event; what did build is still reported as written."""
        return self._openlineage(task_instance)

    def _openlineage(self, task_instance: Any) -> Any:
        """One event pair per node dbt ran in this try (parented to the task's run), and the task's own.

        Lineage never fails the task: any error is logged and dropped. The provider is imported
        here, not at DAG parse time.
        """
        try:
            from platform_ops.hooks.dbt_lineage import emit_dbt_lineage

            source = getattr(self, "_lineage_source", None)
            if source is None or source[0].run_results is None or source[0].manifest is None:
                return None  # dbt ran nothing in this try
            outcome, request, env = source
            return emit_dbt_lineage(outcome.manifest, outcome.run_results, request, env, task_instance)
        except Exception:
            self.log.warning("OpenLineage: the dbt lineage of this try was not emitted", exc_info=True)
            return None

    def _invoke(
        self,
        decision: Decision,
        request: DbtRequest,
        env: dict[str, str],
        previous: StoredState | None,
        in_session: bool = False,
    ) -> _Outcome:
        """Run dbt in a fresh work folder.

        ``in_session``: a retry whose stored failures are not checked yet runs in one process with
        ``dbt ls`` of the request (retry_session.py); :class:`_NotRetried` when the check fails.
        """
        self._ensure_deps(request, env)
        with self.hook.invocation(request.project_dir, request.target) as work:
            state_dir = None
            if decision.step is Step.RETRY:
                assert previous is not None
                # built from the request: dbt retry runs what this file's args say
                state_dir = work.restore_run_results(retry_run_results(previous, request, decision.nodes))
            argv = build_argv(self.hook.dbt_executable, decision, request, str(work.target), state_dir)
            run_argv = argv
            if in_session and state_dir is not None:
                spec = retry_session_spec(
                    decision, request, str(work.target), state_dir, str(work.root / "session.json")
                )
                run_argv = self.hook.retry_session_argv(work, spec)
                self.log.info(
                    "Running in one dbt process: dbt ls of the request, then, if it selects every "
                    "stored failure: %s",
                    shlex.join(self._display(argv)),
                )
            else:
                self.log.info("Running: %s", shlex.join(self._display(argv)))
            t0 = time.monotonic()
            result = self.hook.run_in(work, run_argv, env, request.project_dir)
            self.log.info("dbt exited %s after %.1f s", result.returncode, time.monotonic() - t0)
            run_results, manifest = work.read_json("run_results.json"), work.read_json("manifest.json")
            if run_argv is not argv:
                self._session_outcome(work.read_json("session.json", work.root), manifest, result)
        if run_results is not None and run_results.get("results"):
            return _Outcome(without_compiled_code(run_results), manifest, argv)
        # no results, or none in them (a retry after a clean run writes results: [])
        output = "\n".join(result.tail)
        if decision.step is Step.RETRY and any(m in output for m in NOTHING_TO_RETRY_MARKERS):
            self.log.info("dbt retry found nothing to re-run; the stored results stand")
            return _Outcome(None, None, argv)
        if decision.step is Step.RUN and result.returncode == 0 and run_results is not None:
            # dbt ran and wrote results, none of them: the selection matched no enabled node
            raise nothing_selected_error(request, result.tail)
        # A parse or compilation error writes no run_results: fail, and leave the stored state as it was.
        raise _no_results_error(f"dbt {decision.step.value} wrote no run_results.json", result, result.tail)

    @staticmethod
    def _session_outcome(
        report: dict[str, Any] | None, manifest: dict[str, Any] | None, result: DbtInvocation
    ) -> None:
        """Return when the retry session ran dbt retry; raise when it stopped before it.

        With the project it listed (:class:`_NotRetried`) or, when it could not list it, with dbt's
        errors.
        """
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
        listed = "could not read the project" if result.returncode == NOT_LISTED else "failed"
        raise _no_results_error(f"dbt ls {listed}", result, (report or {}).get("errors") or result.tail)

    def _list_project(self, request: DbtRequest, env: dict[str, str]) -> Project:
        """`dbt ls` of the request: the current manifest and the unique ids the selection picks."""
        self._ensure_deps(request, env)
        with self.hook.invocation(request.project_dir, request.target) as work:
            argv = ls_argv(self.hook.dbt_executable, request, str(work.target), str(work.logs))
            self.log.info("Listing what the request selects in the project: %s", shlex.join(argv))
            result = self.hook.run_in(work, argv, env, request.project_dir)
            selected, errors = parse_ls_log(work.log_lines())
            manifest = work.read_json("manifest.json")
        if result.returncode != 0 or manifest is None:
            # usually a parse error: fail, and leave the stored state as it was
            raise _no_results_error("dbt ls could not read the project", result, errors or result.tail)
        return Project(manifest, selected)

    def _record(
        self,
        decision: Decision,
        request: DbtRequest,
        previous: StoredState | None,
        outcome: _Outcome,
        started: datetime,
        ti: Any,
        store: RunStateStore,
        key: tuple[str, str, Any, str],
        run_id: str | None,
    ) -> tuple[dict[str, Any], list[str], str]:
        """Persist the results of the date with this invocation's merged in.

        Returns (merged results, nodes run, when this invocation finished).
        """
        new_rr = outcome.run_results or {}
        ran = [r["unique_id"] for r in new_rr.get("results", [])]
        if previous is not None and decision.step in (Step.RETRY, Step.REBUILD):
            merged = merge_run_results(previous.run_results, new_rr)
            nodes, invocations = dict(previous.nodes), list(previous.invocations)
        else:
            merged, nodes, invocations = new_rr, {}, []
        nodes.update(node_index(outcome.manifest or {}, ran))
        finished = datetime.now(UTC).isoformat()
        invocations.append(
            {
                "mode": decision.step.value,
                "argv": self._display(outcome.argv),
                "started_at": started.isoformat(),
                "finished_at": finished,
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
        return merged, ran, finished

    def _docs(
        self,
        switches: Switches,
        summary: dict[str, Any],
        request: DbtRequest,
        env: dict[str, str],
        store: RunStateStore,
        key: tuple[str, str, Any, str],
        run_id: str | None,
        ti: Any,
        last_build: str | None,
    ) -> AirflowException | None:
        """Generate and store the docs of a green date whose stored docs do not describe its last build.

        Sets the summary's ``docs``; returns the error to fail the try with when generating failed.
        """
        summary["docs"] = None
        if not switches.generate_docs or summary["failed"]:
            return None
        address = (*key[:3], DOCS_STATE_NAME)
        location = store.location(*address, run_id=run_id)
        stored = store.get_latest(*address, run_id=run_id) if store.has(*address, run_id=run_id) else None
        if docs_current(stored, last_build):
            self.log.info("dbt docs of this build are stored already: %s", location)
            summary["docs"] = {"location": location, "generated": False}
            return None
        with self.hook.invocation(request.project_dir, request.target) as work:
            argv = docs_argv(self.hook.dbt_executable, request, str(work.target), str(work.logs))
            self.log.info("Generating dbt docs: %s", shlex.join(self._display(argv)))
            result = self.hook.run_in(work, argv, env, request.project_dir)
            files = site_files(*(work.read_bytes(name) for name in DOCS_FILES))
        if result.returncode != 0 or files is None:
            said = "\n".join(map(str, result.tail)) or "(no message)"
            missing = (
                ""
                if files is not None or result.returncode
                else f", wrote no {' or '.join(DOCS_FILES)} in full"
            )
            return AirflowException(
                f"dbt docs generate failed (exit code {result.returncode}{missing}): the build's results are "
                "stored and the docs stored before stay in place; a retry generates only the docs. "
                f"dbt said:\n{said}"
            )
        store.put_files(files, *address, run_id=run_id)
        doc = docs_document(request, files, last_build, datetime.now(UTC).isoformat())
        url = store.put(doc, *address, try_number=ti.try_number, run_id=run_id)
        summary["docs"] = {"location": url, "generated": True, "bytes": {n: len(c) for n, c in files.items()}}
        return None

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
