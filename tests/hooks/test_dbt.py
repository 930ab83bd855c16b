"""DbtHook: the environment dbt gets, and dbt's process life tied to its task's.

Real processes throughout: the repository's dbt (DuckDB, a Python model that sleeps so there is
time to kill it), a child Python process standing in for the task process, and, for log masking,
Airflow's own task supervisor under a LocalExecutor.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from platform_ops.exceptions import ConfigError
from platform_ops.hooks.dbt import TOKEN_ENV, WORKSPACE_PREFIX, DbtHook, resolve_dbt_executable

REPO = Path(__file__).resolve().parents[2]
SH = "/bin/sh"


# -- environment ------------------------------------------------------------------------------------


def test_dbt_gets_an_allow_listed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "dapi-allow-list-token-0123456789"
    monkeypatch.setenv(
        "AIRFLOW_CONN_DBX_ENV",
        json.dumps(
            {
                "conn_type": "databricks",
                "host": "https://dbc-env.cloud.databricks.com",
                "password": token,
                "extra": {"http_path": "/sql/1.0/warehouses/abc", "catalog": "dev"},
            }
        ),
    )
    worker = {
        "AIRFLOW__CORE__FERNET_KEY": "fernet-key-of-the-worker",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://airflow:pw@db/airflow",
        "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret-of-the-worker",
        "AIRFLOW_VAR_SOMETHING": "a variable",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "DATABRICKS_TOKEN": "another-token",
        "PYTHONPATH": "/opt/airflow/plugins",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "no_proxy": "localhost",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
        "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca.pem",
        "DBT_PARTIAL_PARSE": "true",
        "PLATFORM_OPS_DUCKDB_PATH": "/data/warehouse.duckdb",
    }
    for name, value in worker.items():
        monkeypatch.setenv(name, value)

    env = DbtHook(databricks_conn_id="dbx_env").environment({"DBT_PROFILE_FLAVOUR": "x", "MY_SETTING": "1"})

    assert not [k for k in env if k.startswith("AIRFLOW_CONN_") or k.startswith("AIRFLOW__")]
    for name in ("AIRFLOW_VAR_SOMETHING", "AWS_SECRET_ACCESS_KEY", "DATABRICKS_TOKEN", "PYTHONPATH"):
        assert name not in env, name
    assert all(token not in v for k, v in env.items() if k != TOKEN_ENV)
    for name in ("PATH", "HOME", "LANG", "LC_ALL", "HTTPS_PROXY", "no_proxy", "SSL_CERT_FILE"):
        assert env[name] == os.environ[name], name
    assert env["REQUESTS_CA_BUNDLE"] == "/etc/ssl/certs/ca.pem"
    assert env["DBT_PARTIAL_PARSE"] == "true"  # DBT_* set by the user reach dbt
    assert env["PLATFORM_OPS_DUCKDB_PATH"] == "/data/warehouse.duckdb"  # read by include/dbt/profiles.yml
    assert (env["DBT_PROFILE_FLAVOUR"], env["MY_SETTING"]) == ("x", "1")  # the operator's env=
    assert env[TOKEN_ENV] == token
    assert env["DBT_DATABRICKS_HOST"] == "dbc-env.cloud.databricks.com"
    assert env["DBT_DATABRICKS_CATALOG"] == "dev"


@pytest.mark.parametrize(
    "extra",
    [
        {"AIRFLOW_CONN_DATABRICKS_DEFAULT": "databricks://x"},
        {"AIRFLOW__CORE__FERNET_KEY": "k"},
        {"NOT A NAME": "v"},
        {"DBT_THREADS": 4},
    ],
)
def test_extra_environment_that_would_leak_or_break_is_refused(extra: dict) -> None:
    with pytest.raises(ConfigError, match=r"^env: "):
        DbtHook().environment(extra)


# -- processes --------------------------------------------------------------------------------------


@pytest.fixture
def slow_project(tmp_path: Path) -> Path:
    """A dbt project whose only model sleeps for a minute (a Python model on DuckDB)."""
    project = tmp_path / "slow"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: slow\nversion: '1.0'\nconfig-version: 2\nprofile: slow\n")
    (project / "profiles.yml").write_text(
        "slow:\n  target: local\n  outputs:\n    local:\n"
        f"      type: duckdb\n      path: '{tmp_path}/slow.duckdb'\n      threads: 1\n"
    )
    (project / "models" / "nap.py").write_text(
        "def model(dbt, session):\n    import time\n\n    time.sleep(60)\n"
        "    return session.sql('select 1 as x')\n"
    )
    return project


def _dbt_processes(parent: psutil.Process) -> list[psutil.Process]:
    with_children = []
    for child in parent.children(recursive=True):
        try:
            if any("dbt" in part for part in child.cmdline()[:2]):
                with_children.append(child)
        except psutil.Error:
            continue
    return with_children


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


TASK_PROCESS = textwrap.dedent(
    """
    import sys
    from platform_ops.hooks.dbt import DbtHook

    project, running = sys.argv[1], sys.argv[2]
    hook = DbtHook()
    with hook.workspace() as work:
        print("workspace:", work, flush=True)
        argv = [hook.dbt_executable, "--no-use-colors", "run", "--project-dir", project,
                "--profiles-dir", project, "--target-path", str(work / "target"),
                "--log-path", str(work / "target")]
        hook.run(argv, hook.environment(), cwd=project, running_dir=running)
    """
)


def _next_line_starting(task: subprocess.Popen[str], prefix: str) -> str | None:
    assert task.stdout is not None
    line = task.stdout.readline()
    return line if line.startswith(prefix) else None


def _start_task_process(project: Path, running: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    return subprocess.Popen(
        [sys.executable, "-c", TASK_PROCESS, str(project), str(running)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.integration
def test_sigkill_of_the_task_process_takes_dbt_with_it_and_the_next_run_sweeps_its_folder(
    slow_project: Path, tmp_path: Path
) -> None:
    running = tmp_path / "running"
    task = _start_task_process(slow_project, running)
    try:
        assert task.stdout is not None
        # the hook logs to stdout too (e.g. the folders it sweeps): find the line of the script
        line = _wait(lambda: _next_line_starting(task, "workspace: "), 60, "the work folder")
        workspace = Path(line.removeprefix("workspace: ").strip())
        assert workspace.name.startswith(f"{WORKSPACE_PREFIX}{task.pid}-")
        assert workspace.is_dir()
        (dbt,) = _wait(lambda: _dbt_processes(psutil.Process(task.pid)), 60, "dbt to start")
        time.sleep(1)

        task.send_signal(signal.SIGKILL)  # what the OOM killer or `kill -9` does: no on_kill, no cleanup
        task.wait(timeout=10)
        _wait(lambda: _gone(dbt), 5, f"dbt (pid {dbt.pid}) to die with its task process")
    finally:
        if task.poll() is None:
            task.kill()
            task.wait()
        for leftover in _dbt_processes(psutil.Process()):
            leftover.kill()

    assert workspace.is_dir(), "a SIGKILLed process cannot clean up: the folder is still there"
    with DbtHook().workspace() as fresh:  # the next run of any dbt task on this worker
        assert fresh.is_dir()
        assert not workspace.exists(), "the folder of the dead run must be removed"
    assert not fresh.exists()


@pytest.mark.integration
def test_on_kill_of_the_operator_stops_the_running_dbt(slow_project: Path) -> None:
    from platform_ops.operators.dbt import DbtRunOrRetryOperator

    operator = DbtRunOrRetryOperator(task_id="dbt", project_dir=str(slow_project), target="local")
    hook = operator.hook
    finished: dict[str, Any] = {}

    def task() -> None:  # the task's execute, blocked in dbt
        with hook.workspace() as work:
            argv = [hook.dbt_executable, "--no-use-colors", "run", "--project-dir", str(slow_project),
                    "--profiles-dir", str(slow_project), "--target-path", str(work / "target")]  # fmt: skip
            finished["result"] = hook.run(argv, hook.environment(), cwd=str(slow_project))

    worker = threading.Thread(target=task)
    worker.start()
    try:
        (dbt,) = _wait(lambda: _dbt_processes(psutil.Process()), 60, "dbt to start")
        time.sleep(1)
        operator.on_kill()  # what the task runner calls when the task is stopped (SIGTERM)
        assert _gone(dbt), "on_kill returned while dbt still runs"
        worker.join(timeout=15)
        assert not worker.is_alive()
        assert finished["result"].returncode != 0
    finally:
        for leftover in _dbt_processes(psutil.Process()):
            leftover.kill()
        worker.join(timeout=15)


def test_workspaces_of_live_processes_are_kept(tmp_path: Path) -> None:
    hook = DbtHook()
    with hook.workspace() as outer, hook.workspace() as inner:
        assert outer.is_dir(), "a run never sweeps a folder of a live process"
        assert inner.is_dir()


RECORD_ORPHAN = textwrap.dedent(
    """
    import subprocess, sys
    from platform_ops.hooks.dbt import record_process

    # A dbt that outlives its task: started in a session of its own, as a platform without a
    # parent-death signal would leave it.
    quiet = subprocess.DEVNULL
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True, stdin=quiet, stdout=quiet, stderr=quiet)
    record_process(sys.argv[1], proc.pid)
    print(proc.pid, flush=True)
    """
)


def test_a_recorded_orphan_of_the_target_is_stopped_before_dbt_starts(tmp_path: Path) -> None:
    running = tmp_path / "running"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    out = subprocess.run(
        [sys.executable, "-c", RECORD_ORPHAN, str(running)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = psutil.Process(int(out.stdout.strip()))
    try:
        assert not _gone(orphan), "the orphan outlives the process that started it"
        # what the new process sees when it starts: the orphan running, or gone (a zombie is gone)
        probe = (
            f"state=$(cut -d' ' -f3 /proc/{orphan.pid}/stat 2>/dev/null); "
            'if [ -n "$state" ] && [ "$state" != Z ]; then echo "orphan alive"; else echo "orphan gone"; fi'
        )
        env = {"PATH": os.environ["PATH"]}
        result = DbtHook(dbt_executable=SH).run(
            [SH, "-c", probe], env, cwd=str(tmp_path), running_dir=running
        )
        assert result.tail == ["orphan gone"]
        assert _gone(orphan)
        assert list(running.glob("*.json")) == [], "records of finished processes are removed"
    finally:
        if not _gone(orphan):
            orphan.kill()


def test_a_live_run_of_the_target_is_left_alone(tmp_path: Path) -> None:
    running = tmp_path / "running"
    hook = DbtHook(dbt_executable=SH)
    env = {"PATH": os.environ["PATH"]}
    outer = subprocess.Popen(["sleep", "30"])
    try:
        from platform_ops.hooks.dbt import record_process

        record_process(running, outer.pid)  # recorded by this (live) process
        result = hook.run([SH, "-c", "echo ok"], env, cwd=str(tmp_path), running_dir=running)
        assert result.tail == ["ok"]
        assert outer.poll() is None, "a dbt whose task is alive is not an orphan"
    finally:
        outer.kill()
        outer.wait()


def test_executable_must_exist() -> None:
    with pytest.raises(ConfigError, match="dbt_executable"):
        resolve_dbt_executable("/no/such/dbt")


# -- masking where Airflow applies it: the task supervisor ------------------------------------------

MASK_DAGS = Path(__file__).parent / "dags"


@pytest.fixture(scope="module")
def local_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from tests.scheduler.harness import LocalAirflow

    token = "dapiMASKME0123456789abcdef"
    conn = {
        "conn_type": "databricks",
        "host": "https://dbc-mask.cloud.databricks.com",
        "extra": {"http_path": "/sql/1.0/warehouses/abc", "token": token},
    }
    stack = LocalAirflow(
        tmp_path_factory.mktemp("masking"),
        env={
            "AIRFLOW__CORE__DAGS_FOLDER": str(MASK_DAGS),
            "AIRFLOW_CONN_DBX_MASK": json.dumps(conn),
            # Airflow's own hiding of sensitive connection fields is off: only the hook's
            # registration can mask the token, as for an OAuth token fetched at run time, which
            # Airflow never sees in a connection.
            "AIRFLOW__CORE__HIDE_SENSITIVE_VAR_CONN_FIELDS": "False",
            "PLATFORM_OPS_TEST_TOKEN": token,
        },
    )
    try:
        stack.start()
        stack.wait_dag("dbt_hook_masking")
        yield stack
    finally:
        stack.stop()


@pytest.mark.integration
def test_the_token_is_masked_in_the_task_log_the_supervisor_writes(local_airflow) -> None:
    """dbt output that contains the token (here a shell run by the hook prints it) reaches the
    task log file redacted: the hook registers the token with Airflow's masker, which the task
    supervisor applies when it writes the log."""
    token = local_airflow.env["PLATFORM_OPS_TEST_TOKEN"]
    run = local_airflow.api(
        "POST", "/dags/dbt_hook_masking/dagRuns", json={"logical_date": "2026-11-01T00:00:00+00:00"}
    )
    run_id = run["dag_run_id"]
    local_airflow.wait_for(
        lambda: (
            local_airflow.api("GET", f"/dags/dbt_hook_masking/dagRuns/{run_id}")["state"]
            in ("success", "failed")
        ),
        300,
        "the masking run to finish",
    )
    folder = local_airflow.home / "logs" / "dag_id=dbt_hook_masking" / f"run_id={run_id}"
    logs = list(folder.glob("task_id=*/*.log"))
    assert logs, "no task log written"
    written = b"".join(p.read_bytes() for p in logs)
    assert b"the token dbt sees: ***" in written, written.decode(errors="replace")[-3000:]
    assert token.encode() not in written
    assert local_airflow.api("GET", f"/dags/dbt_hook_masking/dagRuns/{run_id}")["state"] == "success"


# -- the retry session: one dbt process lists the project and retries ---------------------------------


def test_the_python_of_dbts_environment_runs_the_retry_session(tmp_path: Path) -> None:
    hook = DbtHook()
    assert hook.dbt_python == str(REPO / ".venv-dbt" / "bin" / "python")
    linked = tmp_path / "bin" / "dbt"  # what pipx installs: a symlink to the environment's dbt
    linked.parent.mkdir()
    linked.symlink_to(hook.dbt_executable)
    (tmp_path / "bin" / "python").symlink_to("/bin/false")  # another Python beside the symlink
    assert DbtHook(dbt_executable=str(linked)).dbt_python == hook.dbt_python
    wrapper = tmp_path / "wrapper" / "dbt"  # a shell script: no Python to be found
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {hook.dbt_executable} "$@"\n')
    wrapper.chmod(0o755)
    assert DbtHook(dbt_executable=str(wrapper)).dbt_python is None


def _retry_decision(  # type: ignore[no-untyped-def]
    nodes: list[str], command: str = "build", project: Path = REPO / "include" / "dbt"
):
    from platform_ops.core.dbt import DbtRequest, Decision, Step

    request = DbtRequest.from_params(
        project_dir=str(project), target="local", command=command, select="tag:daily"
    )
    return Decision(Step.RETRY, "retry", nodes=tuple(nodes)), request


MANIFEST = {
    "nodes": {
        "model.shop.a": {"fqn": ["shop", "a"], "resource_type": "model"},
        "test.shop.t": {"fqn": ["shop", "t"], "resource_type": "test"},
        "model.shop.unselected": {"fqn": ["shop", "unselected"], "resource_type": "model"},
    },
    "sources": {"source.shop.raw.orders": {"fqn": ["shop", "raw", "orders"]}},
}
LISTED = {"model.shop.a", "test.shop.t", "source.shop.raw.orders"}


@pytest.mark.parametrize(
    ("nodes", "command"),
    [
        (["model.shop.a", "test.shop.t"], "build"),
        (["model.shop.a", "test.shop.t"], "run"),  # a test in a run: not retried
        (["model.shop.a", "model.shop.gone"], "build"),  # deleted or renamed
        (["model.shop.unselected"], "build"),  # in the project, not selected
        (["source.shop.raw.orders"], "build"),  # selected, but no node dbt retry runs
        (["model.shop.a"], "run"),
    ],
)
def test_the_session_retries_exactly_when_the_project_check_keeps_the_retry(
    nodes: list[str], command: str
) -> None:
    """The session's own check (it cannot import the package) agrees with check_against_project,
    which decides whenever the session stops before the retry."""
    from platform_ops.core.dbt import Project, Scope, check_against_project, retry_session_spec
    from platform_ops.hooks.retry_session import blockers

    decision, request = _retry_decision(nodes, command)
    spec = retry_session_spec(decision, request, "/w/target", "/w/state", "/w/out")
    session_retries = not blockers(spec["required"], spec["runnable"], LISTED)
    checked = check_against_project(decision, request, Scope.AUTO, Project(MANIFEST, frozenset(LISTED)))
    assert session_retries == (checked == decision)


@pytest.mark.integration
def test_the_session_lists_and_stops_before_retrying_a_failure_the_project_lost(tmp_path: Path) -> None:
    from platform_ops.core.dbt import StoredState, retry_run_results, retry_session_spec
    from platform_ops.hooks.dbt import RETRY_SESSION
    from platform_ops.hooks.retry_session import NOT_LISTED, NOT_RETRIED

    project = tmp_path / "project"
    shutil.copytree(REPO / "include" / "dbt", project, ignore=shutil.ignore_patterns("target", "logs"))
    decision, request = _retry_decision(["model.shop.orders", "model.shop.renamed_since"], project=project)
    target, state = tmp_path / "target", tmp_path / "state"
    target.mkdir()
    state.mkdir()
    stored = StoredState(
        {},
        {"results": [{"unique_id": n, "status": "error"} for n in decision.nodes]},
        {},
        [],
    )
    (state / "run_results.json").write_text(json.dumps(retry_run_results(stored, request, decision.nodes)))
    out = tmp_path / "session.json"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(retry_session_spec(decision, request, str(target), str(state), str(out))))
    hook = DbtHook()
    env = {**hook.environment(), "PLATFORM_OPS_DUCKDB_PATH": str(tmp_path / "w.duckdb")}
    argv = [str(hook.dbt_python), str(RETRY_SESSION), str(spec)]

    stopped = hook.run(argv, env, cwd=str(project))
    assert stopped.returncode == NOT_RETRIED, stopped.tail
    report = json.loads(out.read_text())
    assert (report["listed"], report["retried"]) == (True, False)
    assert "model.shop.orders" in report["selected"]
    assert "model.shop.renamed_since" not in report["selected"]
    assert json.loads((target / "manifest.json").read_text())["nodes"]["model.shop.orders"]
    assert not (target / "run_results.json").exists(), "nothing may run"
    assert not (tmp_path / "w.duckdb").exists()

    (project / "models" / "marts" / "schema.yml").write_text("models: [\n  - name: orders\n")
    broken = hook.run(argv, env, cwd=str(project))
    assert broken.returncode == NOT_LISTED
    report = json.loads(out.read_text())
    assert (report["listed"], report["retried"]) == (False, False)
    assert any("Parsing Error" in e for e in report["errors"]), report["errors"]


# -- the work folder of one invocation --------------------------------------------------------------


def test_an_invocation_folder_carries_the_parse_cache_per_project_and_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt's partial-parse file survives between runs of one project/target; nothing else does."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    project = str(REPO / "include" / "dbt")
    hook = DbtHook()
    with hook.invocation(project, "local") as work:
        assert work.target.is_dir()
        assert not (work.target / "partial_parse.msgpack").exists()
        (work.target / "partial_parse.msgpack").write_bytes(b"parsed once")
        (work.target / "run_results.json").write_text('{"results": [{"unique_id": "model.shop.a"}]}')
        (work.target / "manifest.json").write_text("not json")
        state = work.restore_run_results({"results": [], "args": {"which": "build"}})
        assert json.loads(Path(state, "run_results.json").read_text())["args"] == {"which": "build"}
        assert work.read_json("run_results.json") == {"results": [{"unique_id": "model.shop.a"}]}
        assert work.read_json("manifest.json") is None, "unreadable artifacts are no artifacts"
        assert work.read_json("missing.json") is None
        root = work.root
        assert root.name.startswith(f"{WORKSPACE_PREFIX}{os.getpid()}-")
    assert not root.exists(), "the work folder is removed after the invocation"
    with hook.invocation(project, "local") as again:
        assert (again.target / "partial_parse.msgpack").read_bytes() == b"parsed once"
        assert not (again.target / "run_results.json").exists(), "only what this invocation writes counts"
    with hook.invocation(project, "dev") as other:
        assert not (other.target / "partial_parse.msgpack").exists(), "each target parses for itself"
    assert hook.running_dir(project, "local").parent == again.cache_dir


def test_waiting_for_processes_ends_when_they_are_gone_or_at_the_deadline() -> None:
    from platform_ops.hooks.dbt import _wait_gone

    sleeper = subprocess.Popen([SH, "-c", "sleep 30"])
    try:
        proc = psutil.Process(sleeper.pid)
        t0 = time.monotonic()
        assert _wait_gone([proc], 0.5) == [proc], "still running at the deadline"
        assert 0.5 <= time.monotonic() - t0 < 5
        sleeper.kill()  # not reaped yet: a zombie counts as gone
        t0 = time.monotonic()
        assert _wait_gone([proc], 30) == []
        assert time.monotonic() - t0 < 5, "returns as soon as the process is gone"
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize(
    ("field", "project", "profiles"),
    [
        ("project_dir", "/nonexistent", None),
        ("profiles_dir", str(REPO / "include/dbt"), "/tmp"),
    ],
)
def test_a_project_folder_without_its_files_is_refused_naming_the_argument(
    field: str, project: str, profiles: str | None
) -> None:
    with pytest.raises(ConfigError) as err:
        DbtHook.check_project(project, profiles)
    assert err.value.field == field


def test_the_shipped_project_passes_the_file_check() -> None:
    DbtHook.check_project(str(REPO / "include/dbt"))
