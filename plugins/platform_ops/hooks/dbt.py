"""DbtHook: runs the dbt executable of its own environment as a subprocess.

dbt lives in a separate virtualenv (it pins pydantic/protobuf/packaging below Airflow's needs), so
Airflow never imports it: the hook runs ``<env>/bin/dbt``, streams every line to the task log and
keeps the tail for error messages. A retry runs :mod:`platform_ops.hooks.retry_session` with the
Python of that environment instead: one process lists the project and retries (see there).

Environment: dbt gets an allow-list (see :mod:`platform_ops.core.subprocess_env`), never the
worker's whole environment with Airflow's connections and keys. With a Databricks connection the
hook adds the host, HTTP path and token for profiles.yml; the token goes in ``DBT_ENV_SECRET_*``,
which dbt scrubs from its own logs, and it is registered with Airflow's secrets masker, which the
task supervisor applies to the task log.

Process life: dbt stays in its task's process group (the supervisor's kill of the task reaches it)
and, on Linux, gets a parent-death signal, so a SIGKILLed task process takes dbt with it. Each run
is recorded in a folder per project/target; a run first stops any recorded dbt whose task process
is gone. Work folders are named after the process that owns them, and the folders of dead
processes are removed by the next run on the worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import psutil
import tenacity
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from platform_ops.core.dbt import DEPS_FILES, deps_fingerprint
from platform_ops.core.subprocess_env import subprocess_environment
from platform_ops.exceptions import ConfigError, PlatformOpsError

DBT_EXECUTABLE_ENV = "PLATFORM_OPS_DBT_EXECUTABLE"
#: the repository's own dbt environment (made by `make bootstrap`), used when nothing else is set
REPO_DBT_EXECUTABLE = Path(__file__).resolve().parents[3] / ".venv-dbt" / "bin" / "dbt"
TOKEN_ENV = "DBT_ENV_SECRET_DATABRICKS_TOKEN"  # noqa: S105 - a variable name, not a secret
#: work folders are ``<tmp>/platform-ops-dbt-<pid of the owning process>-<random>``
WORKSPACE_PREFIX = "platform-ops-dbt-"
_WORKSPACE = re.compile(re.escape(WORKSPACE_PREFIX) + r"(\d+)-[^/]+")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: how long a stopped dbt gets to cancel its queries (SIGINT) before it is killed
STOP_GRACE_SECONDS = 5.0
#: the script that checks and retries in one dbt process, run by the dbt environment's Python
RETRY_SESSION = Path(__file__).with_name("retry_session.py")
#: dbt's partial-parse file, carried between invocations of one project/target
PARTIAL_PARSE = "partial_parse.msgpack"
#: in ``<project>/dbt_packages``: the fingerprint of the package declarations ``dbt deps`` installed
DEPS_STAMP = ".platform_ops_deps.sha256"


class DbtCommandError(PlatformOpsError):
    """A dbt command failed in a way Airflow's retries may fix (dbt deps, a parse error)."""


@dataclass(frozen=True)
class DbtInvocation:
    """How a dbt process ended: its exit code and the last lines it printed."""

    returncode: int
    tail: list[str]


def resolve_dbt_executable(explicit: str | None = None) -> str:
    """The dbt to run: ``explicit``, else env PLATFORM_OPS_DBT_EXECUTABLE, else the repository's."""
    exe = explicit or os.environ.get(DBT_EXECUTABLE_ENV) or str(REPO_DBT_EXECUTABLE)
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise ConfigError(
            "dbt_executable",
            f"{exe!r} is not an executable file",
            f"run `make bootstrap` to create .venv-dbt, or set {DBT_EXECUTABLE_ENV} / dbt_executable "
            "to the dbt of an environment with the adapters installed",
        )
    return exe


# -- process life -----------------------------------------------------------------------------------


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn giving the child SIGKILL when the thread that started it dies (Linux only).

    The child is forked from the calling thread: PR_SET_PDEATHSIG fires when that thread ends, so
    dbt is started from the thread that waits for it (the task's main thread).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    option, sig = ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL)

    def preexec() -> None:  # runs in the child between fork and exec: no locks, no logging
        prctl(option, sig)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _started(proc: psutil.Process) -> float:
    return round(float(proc.create_time()), 2)


def _live_process(pid: int, started: float | None = None) -> psutil.Process | None:
    """The running process ``pid`` (started at ``started``, when given), or None.

    None: gone, a zombie, or a later process that reuses the pid.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if started is not None and _started(proc) != round(started, 2):
            return None
        return proc
    except psutil.Error:
        return None


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until none of ``procs`` runs (zombies count as gone); returns those still running."""

    def still_running() -> list[psutil.Process]:
        return [p for p in procs if _live_process(p.pid, _started_or_none(p)) is not None]

    polling = tenacity.Retrying(
        retry=tenacity.retry_if_result(bool),
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(0.1),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else [],
    )
    alive: list[psutil.Process] = polling(still_running)
    return alive


def _started_or_none(proc: psutil.Process) -> float | None:
    try:
        return _started(proc)
    except psutil.Error:
        return None


def stop_process_tree(proc: psutil.Process, first: signal.Signals, grace: float) -> None:
    """Send ``first`` to ``proc``; after ``grace`` seconds kill it and every descendant it had."""
    try:
        family = [proc, *proc.children(recursive=True)]
        proc.send_signal(first)
    except psutil.Error:
        return
    _wait_gone([proc], grace)
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.kill()
    _wait_gone(family, 10)


def record_process(running_dir: str | Path, pid: int, owner_pid: int | None = None) -> Path:
    """Note that ``pid`` runs dbt for the target of ``running_dir`` on behalf of ``owner_pid``."""
    folder = Path(running_dir)
    folder.mkdir(parents=True, exist_ok=True)
    proc, owner = psutil.Process(pid), psutil.Process(owner_pid or os.getpid())
    record = {"pid": pid, "started": _started(proc), "owner_pid": owner.pid, "owner_started": _started(owner)}
    path = folder / f"{pid}.json"
    tmp = folder / f".{pid}.json.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return path


def stop_orphans(running_dir: str | Path, log: Any) -> list[int]:
    """Stop every dbt recorded in ``running_dir`` whose owning task process is gone.

    Records of finished processes are removed; a dbt whose owner still runs is left alone.
    """
    stopped: list[int] = []
    folder = Path(running_dir)
    if not folder.is_dir():
        return stopped
    for path in folder.glob("*.json"):
        try:
            record = json.loads(path.read_text())
            pid, started = int(record["pid"]), float(record["started"])
            owner_pid, owner_started = int(record["owner_pid"]), float(record["owner_started"])
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        proc = _live_process(pid, started)
        if proc is not None and _live_process(owner_pid, owner_started) is not None:
            continue
        if proc is not None:
            log.warning(
                "Stopping an orphaned dbt (pid %s) left by task process %s, which is gone", pid, owner_pid
            )
            stop_process_tree(proc, signal.SIGTERM, STOP_GRACE_SECONDS)
            stopped.append(pid)
        path.unlink(missing_ok=True)
    return stopped


def sweep_workspaces(root: str | Path | None = None, log: Any = None) -> list[Path]:
    """Remove the work folders whose owning process is gone (killed before it could clean up)."""
    removed: list[Path] = []
    for path in Path(root or tempfile.gettempdir()).glob(f"{WORKSPACE_PREFIX}*"):
        match = _WORKSPACE.fullmatch(path.name)
        if not match or not path.is_dir():
            continue
        owner = _live_process(int(match[1]))
        try:
            created = path.stat().st_mtime
        except OSError:
            continue
        if owner is not None and _started(owner) <= created + 1:
            continue  # its process is still running
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        if log is not None:
            log.info("Removed the work folder of a dead dbt run: %s", path)
    return removed


def _deps_fingerprint(project_dir: str) -> str | None:
    """The fingerprint of the package declaration files of ``project_dir`` (None: no packages)."""
    files = {name: Path(project_dir, name) for name in DEPS_FILES}
    return deps_fingerprint({name: path.read_bytes() for name, path in files.items() if path.is_file()})


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when the file is missing, empty, not JSON or not an object."""
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


class DbtWorkspace:
    """The folders of one dbt invocation, under a fresh work folder removed afterwards.

    ``target`` is dbt's ``--target-path`` (and ``--log-path``): it starts with nothing but the
    project/target's partial-parse file, so only what this invocation writes counts. ``state``
    holds the run_results a ``dbt retry`` starts from; ``logs`` is for ``dbt ls``'s JSON log.
    """

    def __init__(self, root: Path, cache_dir: Path) -> None:
        """Lay out the folders under ``root``; ``cache_dir`` keeps the project/target's parse cache."""
        self.root = root
        self.cache_dir = cache_dir
        self.target = root / "target"
        self.state = root / "state"
        self.logs = root / "logs"
        self.target.mkdir()

    def restore_parse_cache(self) -> None:
        """Copy the project/target's partial-parse file, if any, into the target folder."""
        cached = self.cache_dir / PARTIAL_PARSE
        if cached.is_file():
            shutil.copy2(cached, self.target / PARTIAL_PARSE)

    def keep_parse_cache(self) -> None:
        """Replace the project/target's partial-parse file with the one dbt wrote (atomically)."""
        fresh = self.target / PARTIAL_PARSE
        if not fresh.is_file():
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_dir / f".{PARTIAL_PARSE}.{os.getpid()}.tmp"
        shutil.copy2(fresh, tmp)
        os.replace(tmp, self.cache_dir / PARTIAL_PARSE)

    def restore_run_results(self, run_results: Mapping[str, Any]) -> str:
        """Write the run_results a ``dbt retry`` starts from; returns the ``--state`` folder."""
        self.state.mkdir(exist_ok=True)
        (self.state / "run_results.json").write_text(json.dumps(run_results))
        return str(self.state)

    def write(self, name: str, doc: Mapping[str, Any]) -> Path:
        """Write ``doc`` as JSON to ``name`` in the work folder; returns its path."""
        path = self.root / name
        path.write_text(json.dumps(doc))
        return path

    def read_json(self, name: str, folder: Path | None = None) -> dict[str, Any] | None:
        """A JSON artifact of the invocation (in the target folder unless ``folder`` says otherwise)."""
        return read_json_object((folder or self.target) / name)

    def read_bytes(self, name: str) -> bytes | None:
        """A file the invocation wrote into the target folder, or None when it wrote none."""
        path = self.target / name
        return path.read_bytes() if path.is_file() else None

    def log_lines(self) -> list[str]:
        """The lines of ``dbt.log`` in the logs folder (empty when dbt wrote none)."""
        log_file = self.logs / "dbt.log"
        return log_file.read_text(errors="replace").splitlines() if log_file.is_file() else []


class DbtHook(BaseHook):
    """Runs dbt commands; optionally with credentials from an Airflow Databricks connection."""

    conn_name_attr = "databricks_conn_id"
    hook_name = "dbt (subprocess)"

    def __init__(self, dbt_executable: str | None = None, databricks_conn_id: str | None = None) -> None:
        """Resolve the dbt executable; credentials are read from the connection when first needed."""
        super().__init__()
        self.dbt_executable = resolve_dbt_executable(dbt_executable)
        self.databricks_conn_id = databricks_conn_id
        self._proc: subprocess.Popen[str] | None = None

    @cached_property
    def dbt_python(self) -> str | None:
        """The Python of dbt's environment (it runs :data:`RETRY_SESSION`), or None.

        None when there is none to be found; else the interpreter named by the dbt script's
        ``#!`` line, else the ``python`` next to the script (a symlink to dbt, as pipx makes, is
        followed first).
        """
        exe = Path(self.dbt_executable)
        try:
            with exe.open("rb") as f:
                first = f.readline(512).decode(errors="replace")
        except OSError:
            first = ""
        named = first[2:].strip() if first.startswith("#!") else ""
        candidates = [named] if named and " " not in named and "python" in Path(named).name else []
        candidates.append(str(exe.resolve().with_name("python")))
        for candidate in candidates:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    @cached_property
    def databricks_env(self) -> dict[str, str]:
        """DBT_DATABRICKS_HOST / _HTTP_PATH and the token, from the Databricks connection."""
        if not self.databricks_conn_id:
            return {}
        from airflow.providers.databricks.hooks.databricks_sql import DatabricksSqlHook

        hook = DatabricksSqlHook(databricks_conn_id=self.databricks_conn_id)
        extra = hook.databricks_conn.extra_dejson
        http_path = extra.get("http_path")
        if not hook.host or not http_path:
            raise ConfigError(
                "databricks_conn_id",
                f"connection {self.databricks_conn_id!r} lacks a host or extra.http_path",
                "set the workspace URL as host and the SQL warehouse path as extra.http_path",
            )
        # PAT, service-principal OAuth or Azure AD; the provider has no public token getter.
        token = hook._get_token(raise_error=True)
        mask_secret(token)
        env = {"DBT_DATABRICKS_HOST": hook.host, "DBT_DATABRICKS_HTTP_PATH": http_path, TOKEN_ENV: token}
        for key in ("catalog", "schema"):
            if extra.get(key):
                env[f"DBT_DATABRICKS_{key.upper()}"] = str(extra[key])
        return env

    def environment(self, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
        """The allow-listed worker environment, ``extra`` (the operator's ``env``) and credentials."""
        return subprocess_environment(os.environ, extra, self.databricks_env)

    @staticmethod
    def check_project(project_dir: str, profiles_dir: str | None = None) -> None:
        """Refuse, naming the argument, a project folder without dbt_project.yml or profiles.yml."""
        if not Path(project_dir, "dbt_project.yml").is_file():
            raise ConfigError(
                "project_dir", f"{project_dir!r} has no dbt_project.yml", "point it at the dbt project folder"
            )
        folder = profiles_dir or project_dir
        if not Path(folder, "profiles.yml").is_file():
            raise ConfigError(
                "profiles_dir",
                f"{folder!r} has no profiles.yml",
                "pass profiles_dir= the folder with profiles.yml",
            )

    @staticmethod
    def cache_dir(project_dir: str, target: str) -> Path:
        """Where invocations of one project/target keep what outlives them on this worker."""
        home = os.path.abspath(os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"))
        digest = hashlib.sha256(os.path.abspath(project_dir).encode()).hexdigest()[:12]
        return Path(home, "cache", "dbt", f"{digest}-{target}")

    @classmethod
    def running_dir(cls, project_dir: str, target: str) -> Path:
        """Where the dbt processes of one project/target are recorded (orphans are stopped)."""
        return cls.cache_dir(project_dir, target) / "running"

    @contextlib.contextmanager
    def invocation(self, project_dir: str, target: str) -> Iterator[DbtWorkspace]:
        """The folders of one invocation of ``project_dir`` for ``target``, removed afterwards.

        dbt's partial-parse file is carried from the previous invocation of the same project and
        target, and the one this invocation writes is kept for the next.
        """
        with self.workspace() as root:
            work = DbtWorkspace(root, self.cache_dir(project_dir, target))
            work.restore_parse_cache()
            try:
                yield work
            finally:
                work.keep_parse_cache()

    def run_in(
        self, work: DbtWorkspace, argv: list[str], env: Mapping[str, str], project_dir: str
    ) -> DbtInvocation:
        """Run dbt for the project of ``work``, recorded with the other runs of its project/target."""
        return self.run(argv, env, cwd=project_dir, running_dir=work.cache_dir / "running")

    def retry_session_argv(self, work: DbtWorkspace, spec: Mapping[str, Any]) -> list[str]:
        """The command running :data:`RETRY_SESSION` on ``spec`` with the Python of dbt's environment."""
        if self.dbt_python is None:
            raise ValueError("no Python found in dbt's environment to run the retry session with")
        return [self.dbt_python, str(RETRY_SESSION), str(work.write("session-spec.json", spec))]

    def ensure_deps(self, project_dir: str, target: str, argv: list[str], env: Mapping[str, str]) -> bool:
        """Run ``argv`` (``dbt deps``) when the project's package declarations changed.

        Returns whether it ran; raises :class:`DbtCommandError` when dbt deps fails.
        """
        fingerprint = _deps_fingerprint(project_dir)
        if fingerprint is None:
            return False
        stamp = Path(project_dir, "dbt_packages", DEPS_STAMP)
        if stamp.is_file() and stamp.read_text().strip() == fingerprint:
            self.log.info("dbt packages up to date (%s)", fingerprint[:12])
            return False
        self.log.info("Package declarations changed: running %s", " ".join(argv))
        result = self.run(argv, env, cwd=project_dir, running_dir=self.running_dir(project_dir, target))
        if result.returncode != 0:
            raise DbtCommandError("dbt deps failed:\n" + "\n".join(result.tail))
        stamp.parent.mkdir(parents=True, exist_ok=True)
        # dbt deps may write package-lock.yml: the stamp is the fingerprint as deps leaves it.
        stamp.write_text(_deps_fingerprint(project_dir) or fingerprint)
        return True

    @contextlib.contextmanager
    def workspace(self) -> Iterator[Path]:
        """A fresh work folder for one invocation, removed afterwards; first sweeps dead runs' folders."""
        sweep_workspaces(log=self.log)
        path = Path(tempfile.mkdtemp(prefix=f"{WORKSPACE_PREFIX}{os.getpid()}-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def run(
        self,
        argv: list[str],
        env: Mapping[str, str],
        cwd: str,
        tail_lines: int = 60,
        running_dir: str | Path | None = None,
    ) -> DbtInvocation:
        """Run dbt, streaming each output line to the task log; returns the exit code and the tail.

        With ``running_dir`` (one folder per project/target), a dbt left running there by a dead
        task process is stopped first, and this run is recorded until it ends.
        """
        if running_dir is not None:
            stop_orphans(running_dir, self.log)
        tail: deque[str] = deque(maxlen=tail_lines)
        # No session of its own: dbt stays in the task's process group, which the supervisor signals.
        self._proc = subprocess.Popen(  # the preexec_fn only calls prctl: safe after fork
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent(),
        )
        record = None
        try:
            if running_dir is not None:
                with contextlib.suppress(psutil.Error):
                    record = record_process(running_dir, self._proc.pid)
            assert self._proc.stdout is not None
            # A reader thread drains dbt's output as fast as dbt writes it; logging happens here.
            # dbt never blocks on a full pipe while the task logger is busy.
            lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
            stdout = self._proc.stdout

            def drain() -> None:
                for raw in stdout:
                    lines.put(raw.rstrip())
                lines.put(None)

            reader = threading.Thread(target=drain, name="dbt-output", daemon=True)
            reader.start()
            while (line := lines.get()) is not None:
                tail.append(line)
                self.log.info("dbt | %s", line)
            reader.join()
            returncode = self._proc.wait()
        finally:
            if self._proc.poll() is None:  # interrupted (an exception in this thread): never leave dbt behind
                self.kill()
            if record is not None:
                record.unlink(missing_ok=True)
            self._proc = None
        return DbtInvocation(returncode, list(tail))

    def kill(self) -> None:
        """Stop the running dbt: SIGINT first (dbt cancels its open queries), then kill what is left."""
        proc = self._proc
        if proc and proc.poll() is None:
            self.log.warning("Stopping dbt (pid %s)", proc.pid)
            with contextlib.suppress(psutil.Error):
                stop_process_tree(psutil.Process(proc.pid), signal.SIGINT, STOP_GRACE_SECONDS)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
