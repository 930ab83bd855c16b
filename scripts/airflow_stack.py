"""`make stack` / `make stack-stop`: docker-compose.yaml's deployment as plain local processes.

What runs (every server on 127.0.0.1, each on a free port; state under .stack/):

* PostgreSQL (Debian's postgresql): a cluster initialised under .stack/postgres, the metadata DB
  and the Celery result backend;
* Redis (Debian's redis-server): the Celery broker;
* ``moto_server``: S3 for the run-state root (``PLATFORM_OPS_STATE_ROOT=s3://...`` with the AWS
  connection ``stack_s3`` carrying ``endpoint_url``) and for remote task logs;
* the local stand-ins: the BigQuery Reservation API fake and the Databricks workspace sandbox;
* Airflow's api-server, scheduler, dag-processor and triggerer, and TWO Celery workers, each with
  its own host name, AIRFLOW_HOME and temp folder: they share only the code, PostgreSQL, Redis,
  S3 (and the stand-ins, which play the cloud).

Sized for 2 cores: 2 task slots per worker, parallelism 8. ``start`` prints the UI address and
the admin password and stays in the foreground: Ctrl-C stops everything it started, by PID, as
does ``stop`` from another shell. The ``Stack`` class is what the end-to-end tests start once
per session (tests/stack/).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO), str(REPO / "plugins"), str(REPO / "scripts")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from sandbox.ports import free_port  # noqa: E402

_TAKEN: set[int] = set()


def stack_port() -> int:
    """A free 127.0.0.1 port below the kernel's ephemeral range, never handed out twice here.

    A port from ``free_port()`` (bound to 0, then released) is an ephemeral one: until its server
    binds it, tens of seconds later, any outgoing connection on the machine may take it, or the
    kernel may hand it out again."""
    import random
    import socket

    low, _ = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for _ in range(200):
        port = random.randint(max(1024, low - 12000), low - 1)
        if port in _TAKEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _TAKEN.add(port)
        return port
    return free_port()


BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
STATE_BUCKET = "platform-ops-state"
LOG_BUCKET = "platform-ops-logs"
S3_CONN_ID = "stack_s3"
ADMIN = "admin"
WORKERS = 2
WORKER_CONCURRENCY = 2
PARALLELISM = 8
# The components docker-compose.yaml runs as services, in start order (workers are added).
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    exe = shutil.which(name)
    if exe:
        return exe
    raise RuntimeError(f"PostgreSQL's {name} not found: run `make bootstrap` (installs Debian's postgresql)")


def _others_can_enter(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents] if p.exists())


def stack_env(
    home: Path,
    *,
    api_port: int,
    pg_port: int,
    redis_port: int,
    s3_url: str,
    secrets: dict[str, str],
) -> dict[str, str]:
    """The Airflow configuration every component shares: the keys compose sets, local values."""
    db = f"airflow@127.0.0.1:{pg_port}/airflow"
    s3_conn = {
        "conn_type": "aws",
        "login": "stack",
        "password": "stack-secret",
        "extra": {"endpoint_url": s3_url, "region_name": "us-east-1"},
    }
    base = f"http://127.0.0.1:{api_port}"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__FERNET_KEY": secrets["fernet_key"],
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "sandbox.stack_host.hostname",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "admin-password.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{db}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets["jwt_secret"],
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(stack_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{LOG_BUCKET}/logs",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": S3_CONN_ID,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__TRIGGERER__CAPACITY": "100",
        f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(s3_conn),
        "PLATFORM_OPS_STATE_ROOT": f"s3://{STATE_BUCKET}/state",
        "PLATFORM_OPS_STATE_CONN_ID": S3_CONN_ID,
        "PLATFORM_OPS_SERVING_POLL_SECONDS": "2",
    }


class AirflowInterfaces:
    """What a test or a person drives a running Airflow with: ``cli()`` (the `airflow` CLI in
    ``env``), ``api()`` (REST API v2 at ``base``, token auth as ``admin``) and ``wait_for()``.
    Subclasses set ``env``, ``base``, ``logs`` and ``_token`` and say where the admin password is."""

    env: dict[str, str]
    base: str
    logs: Path
    _token: str | None

    @property
    def admin_password(self) -> str:
        raise NotImplementedError

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def token(self) -> str:
        if self._token is None:
            resp = httpx.post(
                f"{self.base}/auth/token",
                json={"username": ADMIN, "password": self.admin_password},
                timeout=30,
            )
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        resp = httpx.request(method, f"{self.base}/api/v2{path}", headers=headers, timeout=60, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def wait_for(self, condition: Callable[[], Any], timeout: float, what: str, every: float = 2) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(every)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}: logs in {self.logs}")


class Stack(AirflowInterfaces):
    """The processes of the stack under ``root``: ``start()``, ``stop()``, plus what a test or a
    person drives it with: ``api()`` (REST API v2, token auth), ``cli()`` (the `airflow` CLI)."""

    def __init__(
        self,
        root: Path,
        *,
        extra_env: dict[str, str] | None = None,
        databricks_token: str | None = None,
        api_port: int | None = None,
    ) -> None:
        self.root = root.resolve()
        self.home = self.root / "airflow"
        self.logs = self.root / "logs"
        self.extra_env = dict(extra_env or {})
        self.databricks_token = databricks_token
        self.api_port = api_port or stack_port()
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.stand_ins: list[Any] = []
        self.databricks: Any = None
        self.reservation: Any = None
        self.env: dict[str, str] = {}
        self.worker_env: dict[str, dict[str, str]] = {}
        self.pgdata: Path | None = None
        self._pg_tmp: Path | None = None
        self._token: str | None = None
        self.s3_url = ""

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self, timeout: float = 240) -> Stack:
        for folder in (self.root, self.home, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        try:
            pg_port = self._start_postgres()
            redis_port = self._start_redis()
            self._start_moto()
            self.env = self._base_env(pg_port, redis_port)
            self._start_stand_ins()
            self.cli("db", "migrate")
            self.cli("pools", "import", str(REPO / "include" / "config" / "pools.json"))
            for name in AIRFLOW_COMPONENTS:
                args = ["--port", str(self.api_port)] if name == "api-server" else []
                self._spawn(name, [AIRFLOW, name, *args], self.env)
            for n in range(1, WORKERS + 1):
                self.start_worker(f"worker-{n}")
            self.wait_for(self._healthy, timeout, "the api-server to answer")
            self.wait_for(self._workers_up, timeout, "both Celery workers to answer")
        except BaseException:
            self.stop()
            raise
        self._write_state()
        return self

    def _base_env(self, pg_port: int, redis_port: int) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLATFORM_OPS_"))}
        env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "plugins"), str(REPO)])
        env["PLATFORM_OPS_DBT_EXECUTABLE"] = os.environ.get(
            "PLATFORM_OPS_DBT_EXECUTABLE", str(REPO / ".venv-dbt" / "bin" / "dbt")
        )
        secrets = {"fernet_key": Fernet.generate_key().decode(), "jwt_secret": os.urandom(16).hex()}
        env.update(
            stack_env(
                self.home,
                api_port=self.api_port,
                pg_port=pg_port,
                redis_port=redis_port,
                s3_url=self.s3_url,
                secrets=secrets,
            )
        )
        # The warehouses stand in for cloud ones: one shared file each, as Databricks/BigQuery are.
        warehouse = self.root / "warehouse"
        warehouse.mkdir(exist_ok=True)
        env["PLATFORM_OPS_DUCKDB_PATH"] = str(warehouse / "warehouse.duckdb")
        env["PLATFORM_OPS_CDC_DUCKDB_PATH"] = str(warehouse / "cdc.duckdb")
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        log.close()
        self.procs[name] = proc
        return proc

    def _start_postgres(self) -> int:
        port = stack_port()
        as_root = os.geteuid() == 0
        data = self.root / "postgres"
        if as_root and not _others_can_enter(self.root):
            # PostgreSQL refuses to run as root and its own user must reach the data directory.
            self._pg_tmp = Path(tempfile.mkdtemp(prefix="platform-ops-pg-"))
            os.chmod(self._pg_tmp, 0o755)  # noqa: S103 - PostgreSQL's own user must enter it
            data = self._pg_tmp / "data"
        self.pgdata = data
        user: dict[str, Any] = {}
        if as_root:
            pw = pwd.getpwnam("postgres")
            user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        if not (data / "PG_VERSION").is_file():
            data.mkdir(parents=True, exist_ok=True)
            if as_root:
                os.chown(data, user["user"], user["group"])
            subprocess.run(
                [_pg_bin("initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"],
                check=True,
                stdout=subprocess.DEVNULL,
                **user,
            )
        self._spawn(
            "postgres",
            [_pg_bin("postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", "",
             "-c", "max_connections=200", "-c", "fsync=off", "-c", "synchronous_commit=off"],
            os.environ.copy(),
            **user,
        )  # fmt: skip

        def ready() -> bool:
            return self._pg_query(port, "postgres", "SELECT 1") is not None

        self.wait_for(ready, 60, "PostgreSQL to accept connections", every=0.5)
        if not self._pg_query(port, "postgres", "SELECT 1 FROM pg_database WHERE datname = 'airflow'"):
            self._pg_query(port, "postgres", "CREATE DATABASE airflow", autocommit=True)
        return port

    def _pg_query(self, port: int, db: str, sql: str, autocommit: bool = False) -> Any:
        self._check_alive()
        import psycopg2

        try:
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname=db, connect_timeout=3)
        except psycopg2.OperationalError:
            return None
        try:
            conn.autocommit = autocommit
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else True
        finally:
            conn.close()

    def _start_redis(self) -> int:
        port = stack_port()
        (self.root / "redis").mkdir(exist_ok=True)
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._spawn(
            "redis",
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root / "redis"), "--protected-mode", "yes"],
            os.environ.copy(),
        )  # fmt: skip
        self.wait_for(lambda: self._tcp_open(port), 30, "Redis to listen", every=0.3)
        return port

    def _start_moto(self) -> None:
        port = stack_port()
        self._spawn("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], os.environ.copy())
        self.s3_url = f"http://127.0.0.1:{port}"
        self.wait_for(lambda: self._tcp_open(port), 60, "moto_server to listen", every=0.3)
        s3 = self.s3_client()
        for bucket in (STATE_BUCKET, LOG_BUCKET):
            s3.create_bucket(Bucket=bucket)

    def s3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id="stack",
            aws_secret_access_key="stack-secret",  # noqa: S106 - moto accepts any key
        )

    def _start_stand_ins(self) -> None:
        from stand_ins import databricks_workspace, reservation_fake

        fake = reservation_fake(self.env)
        if fake:
            self.stand_ins.append(fake[0])
            self.reservation = fake[0]
        sandbox = databricks_workspace(self.env, self.root / "databricks")
        self.stand_ins.append(sandbox)
        self.databricks = sandbox
        if self.databricks_token:
            conn = json.loads(self.env["AIRFLOW_CONN_DATABRICKS_DEFAULT"])
            conn["password"] = self.databricks_token
            self.env["AIRFLOW_CONN_DATABRICKS_DEFAULT"] = json.dumps(conn)

    def start_worker(self, name: str) -> subprocess.Popen:
        """A Celery worker with its own host name, AIRFLOW_HOME and temp folder."""
        own = self.root / name
        for sub in ("home", "tmp"):
            (own / sub).mkdir(parents=True, exist_ok=True)
        env = dict(self.env)
        env.update(
            {
                "AIRFLOW_HOME": str(own / "home"),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(own / "home" / "logs"),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(stack_port()),
                "PLATFORM_OPS_STACK_HOSTNAME": name,
                "TMPDIR": str(own / "tmp"),
            }
        )
        self.worker_env[name] = env
        args = [AIRFLOW, "celery", "worker", "--celery-hostname", f"{name}@%h",
                "--concurrency", str(WORKER_CONCURRENCY), "--without-gossip", "--without-mingle"]  # fmt: skip
        return self._spawn(name, args, env)

    def start_component(self, name: str) -> subprocess.Popen:
        if name.startswith("worker-"):
            return self.start_worker(name)
        args = ["--port", str(self.api_port)] if name == "api-server" else []
        return self._spawn(name, [AIRFLOW, name, *args], self.env)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> list[int]:
        """Signal a component and, for SIGKILL, everything it forked (as a host crash would);
        returns the PIDs signalled."""
        proc = self.procs[name]
        group = [proc.pid]
        if sig == signal.SIGKILL:
            with contextlib.suppress(psutil.NoSuchProcess):
                group += [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        for pid in group:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
        return group

    def stop(self) -> None:
        """Stop everything started, by PID: Airflow first (children before parents), then the
        stand-ins, Redis, moto and PostgreSQL."""
        services = ("redis", "moto", "postgres")
        for name in [n for n in self.procs if n not in services]:
            _terminate(self.procs[name], signal.SIGTERM)
        for stand_in in self.stand_ins:
            with contextlib.suppress(Exception):
                stand_in.stop()
        self.stand_ins = []
        for name in [n for n in services if n in self.procs]:
            # SIGINT is PostgreSQL's fast shutdown
            _terminate(self.procs[name], signal.SIGINT if name == "postgres" else signal.SIGTERM)
        if self._pg_tmp:
            shutil.rmtree(self._pg_tmp, ignore_errors=True)
        (self.root / "stack.json").unlink(missing_ok=True)

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "ui": self.base,
            "processes": {name: proc.pid for name, proc in self.procs.items()},
        }
        (self.root / "stack.json").write_text(json.dumps(state, indent=2))

    # -- health -------------------------------------------------------------------------------------
    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None and not getattr(proc, "expected_exit", False):
                raise RuntimeError(f"{name} exited ({proc.returncode}): see {self.logs / name}.log")

    @staticmethod
    def _tcp_open(port: int) -> bool:
        import socket

        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", port)) == 0

    def _healthy(self) -> bool:
        self._check_alive()
        try:
            health = httpx.get(f"{self.base}/api/v2/monitor/health", timeout=5)
        except httpx.HTTPError:
            return False
        if health.status_code != 200:
            return False
        body = health.json()
        return all(body.get(c, {}).get("status") == "healthy" for c in ("metadatabase", "scheduler"))

    def _workers_up(self) -> bool:
        self._check_alive()
        return all("ready." in self.log(f"worker-{n}") for n in range(1, WORKERS + 1))

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    @property
    def admin_password(self) -> str:
        return json.loads((self.home / "admin-password.json").read_text())[ADMIN]


def _terminate(proc: subprocess.Popen, sig: int, timeout: float = 20) -> None:
    """Signal a process and wait; whatever it forked must not outlive it."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


# -- make stack / make stack-stop ------------------------------------------------------------------
ROOT = REPO / ".stack"


def start() -> int:
    if (ROOT / "stack.json").is_file():
        state = json.loads((ROOT / "stack.json").read_text())
        if psutil.pid_exists(state["pid"]):
            print(f"the stack already runs (pid {state['pid']}, UI {state['ui']}); stop: make stack-stop")
            return 1
    port = 8080 if not Stack._tcp_open(8080) else stack_port()
    stack = Stack(ROOT, api_port=port)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print("starting PostgreSQL, Redis, moto (S3), the stand-ins and Airflow (2 Celery workers)...")
    try:
        stack.start()
        print(f"\nUI and REST API: {stack.base}  (user {ADMIN}, password {stack.admin_password})")
        print(f"Metadata DB: {stack.env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}")
        print(f"Run state: {stack.env['PLATFORM_OPS_STATE_ROOT']} and task logs: "
              f"{stack.env['AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER']} on {stack.s3_url}")  # fmt: skip
        print(f"Component logs: {stack.logs}/")
        print("Stop: Ctrl-C here, or `make stack-stop` from another shell.", flush=True)
        while True:
            for name, proc in stack.procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited ({proc.returncode}): see {stack.logs / name}.log; stopping")
                    return 1
            time.sleep(2)
    except KeyboardInterrupt:
        print("\nstopping the stack...")
        return 0
    finally:
        stack.stop()
        print("stack stopped")


def stop() -> int:
    path = ROOT / "stack.json"
    if not path.is_file():
        print("the stack is not running (no .stack/stack.json)")
        return 0
    state = json.loads(path.read_text())
    if psutil.pid_exists(state["pid"]):
        os.kill(state["pid"], signal.SIGTERM)  # the foreground `make stack` stops what it started
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(state["pid"]).wait(timeout=120)
    leftover = [pid for pid in state["processes"].values() if psutil.pid_exists(pid)]
    for pid in leftover:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    print(f"stack stopped (pid {state['pid']}" + (f"; killed {leftover})" if leftover else ")"))
    return 0


if __name__ == "__main__":
    sys.exit(stop() if sys.argv[1:] == ["stop"] else start())
