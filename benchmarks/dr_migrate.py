"""Databricks DR migration: the DAG's tasks against the same objects copied one at a time.

A primary sandbox workspace is seeded (sandbox/dr_seed.py: 400 notebooks, 40 clusters, 120 jobs, or
2,000 / 100 / 300 with ``--large``; plus files, a policy, a pool, init scripts, a secret scope,
libraries and ACLs); each run copies it into a fresh, empty secondary with ``latency_seconds`` (50 ms)
on every request of both workspaces, then the same with 30% of requests answered 429 (Retry-After 1 s).

* sequential: the classic regional-DR procedure (export/import each user folder's notebooks, create
  each cluster from its config, recreate each job with remapped cluster ids and no schedule), corrected
  so it completes and leaves a usable secondary: one object at a time through databricks-sdk; policies
  (not built-in families) and pools (no idle instances) first so clusters can reference them; clusters
  allow-listed to UI/API sources and to the fields the create API takes, policy and pool ids remapped,
  each terminated right after its create; the libraries API per cluster; jobs paged to the end, each
  read with its full task list, bundle-managed ones skipped, job- and task-level cluster ids,
  job-cluster policy/pool ids and run-job ids remapped, every schedule / continuous / trigger PAUSED;
  non-inherited ACLs and the secret scope's ACL; a marker on every object it creates (as the DAG
  does) so duplicates are counted the same way. The SDK retries 429s itself, honouring Retry-After.
* dag: the migration's tasks (preflight, one task per object type, teardown, validate) wired by
  ``build_dr_migration`` as the shipped ``databricks_dr_migrate`` wires them, in a one-file DAG folder,
  run with ``airflow dags test`` (dry_run false, default parallelism): each task reads and writes
  through the DR hook, one adaptive limiter per workspace shared by a thread pool. Its wall time
  includes Airflow's start-up, measured alone with a one-empty-task DAG and printed; the speedup of
  "the DAG's tasks" is against that wall time less the start-up (validation included, which the
  sequential procedure does not do). ``parallelism`` is the DAG's default (8 calls in flight per
  workspace); a task's pool has twice as many threads, each host's limiter admits 8.

Requests are the sandboxes' own counts (``/_sandbox/stats``, both workspaces). Duplicates: target
objects sharing a marker, plus markers missing compared with what the seed says is eligible.
The 429 run is bound by Retry-After, not by the copy: the sequential procedure sleeps it (1 s) on
every 429, one request at a time, and the DAG's limiter pauses every thread for it and halves its
concurrency. It runs at ``--sizes-429`` (default quick: 40 notebooks, 8 clusters, 16 jobs, about
ten minutes), the sequential procedure only with ``--sequential-429``.
Figures, not assertions. Last line: speedup (no faults), the 429 run, duplicates.
Run with the benchmark environment:
.venv-bench/bin/python benchmarks/dr_migrate.py [--large | --quick] [--sizes-429 SIZE] [--sequential-429]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# one folder per run: two runs at once (or a run and a smoke run) must not delete each other's files
WORK = REPO / "benchmarks" / ".work" / "dr_migrate" / f"run-{os.getpid()}"
sys.path[:0] = [str(REPO), str(REPO / "plugins")]
from _processes import run, stop_on_signals  # noqa: E402 (benchmarks/)

PRIMARY_ID, SECONDARY_ID = "5100000000000001", "5100000000000002"
LATENCY = 0.05
SIZES = {"default": (400, 40, 120), "large": (2000, 100, 300), "quick": (40, 8, 16)}
MARKER_KEY = "dr_source"


def log(text: str) -> None:
    print(text, flush=True)


def marker(ws: str, source_id: str) -> str:
    return f"{ws}:{source_id}"


# -- the sequential procedure -------------------------------------------------------------------------------
CLUSTER_FIELDS = (
    "cluster_name", "spark_version", "node_type_id", "driver_node_type_id", "num_workers", "autoscale",
    "spark_conf", "spark_env_vars", "custom_tags", "cluster_log_conf", "init_scripts",
    "autotermination_minutes",
    "enable_elastic_disk", "instance_pool_id", "driver_instance_pool_id", "policy_id", "data_security_mode",
    "single_user_name", "aws_attributes", "azure_attributes", "gcp_attributes", "runtime_engine",
    "ssh_public_keys", "docker_image", "enable_local_disk_encryption", "apply_policy_default_values",
)  # fmt: skip


class Sequential:
    """The corrected one-at-a-time procedure (see the module docstring)."""

    def __init__(self, src: Any, dst: Any, roots: tuple[str, ...] = ("/Users", "/Shared")) -> None:
        self.src, self.dst, self.roots = src, dst, roots
        self.ws = str(src.get_workspace_id())
        self.ids: dict[str, dict[str, str]] = {}
        self.skipped: Counter[str] = Counter()

    def run(self) -> Counter[str]:
        for step in (
            self.policies, self.pools, self.init_scripts, self.scopes, self.workspace,
            self.clusters, self.libraries, self.jobs, self.permissions,
        ):  # fmt: skip
            step()
        return Counter({kind: len(ids) for kind, ids in self.ids.items()})

    def _done(self, kind: str, source_id: Any, target_id: Any) -> None:
        self.ids.setdefault(kind, {})[str(source_id)] = str(target_id)

    def policies(self) -> None:
        for p in self.src.cluster_policies.list():
            if p.policy_family_id or p.is_default:
                self.skipped["cluster_policies"] += 1
                continue
            description = f"{p.description or ''}\n[{MARKER_KEY} {marker(self.ws, p.policy_id)}]".lstrip()
            created = self.dst.cluster_policies.create(
                name=p.name, definition=p.definition, description=description,
                max_clusters_per_user=p.max_clusters_per_user,
            )  # fmt: skip
            self._done("cluster_policies", p.policy_id, created.policy_id)

    def pools(self) -> None:
        for p in self.src.instance_pools.list():
            tags = {**(p.custom_tags or {}), MARKER_KEY: marker(self.ws, p.instance_pool_id)}
            created = self.dst.instance_pools.create(
                instance_pool_name=p.instance_pool_name, node_type_id=p.node_type_id, min_idle_instances=0,
                max_capacity=p.max_capacity, custom_tags=tags,
                idle_instance_autotermination_minutes=p.idle_instance_autotermination_minutes,
            )  # fmt: skip
            self._done("instance_pools", p.instance_pool_id, created.instance_pool_id)

    def init_scripts(self) -> None:
        for s in self.src.global_init_scripts.list():
            full = self.src.global_init_scripts.get(s.script_id)
            text = base64.b64decode(full.script or "").decode()
            text = f"{text.rstrip()}\n# {MARKER_KEY} {marker(self.ws, s.script_id)}\n"
            created = self.dst.global_init_scripts.create(
                name=s.name, script=base64.b64encode(text.encode()).decode(), enabled=s.enabled,
                position=s.position,
            )  # fmt: skip
            self._done("global_init_scripts", s.script_id, created.script_id)

    def scopes(self) -> None:
        existing = {s.name for s in self.dst.secrets.list_scopes()}
        for scope in self.src.secrets.list_scopes():
            if scope.name not in existing:
                self.dst.secrets.create_scope(scope=scope.name)
            keys = [k.key for k in self.src.secrets.list_secrets(scope=scope.name)]
            self.skipped["secret values"] += len(keys)  # values cannot be read through the API
            self._done("secret_scopes", scope.name, scope.name)

    def workspace(self) -> None:
        from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

        from sandbox.dr_seed import walk

        for root in self.roots:
            for entry in walk(self.src, root):
                path = entry.path
                if entry.object_type == ObjectType.DIRECTORY:
                    self.dst.workspace.mkdirs(path)
                elif entry.object_type in (ObjectType.NOTEBOOK, ObjectType.FILE):
                    content = self.src.workspace.export(path, format=ExportFormat.SOURCE).content or ""
                    if entry.object_type == ObjectType.NOTEBOOK:
                        self.dst.workspace.import_(
                            path=path, format=ImportFormat.SOURCE, content=content, overwrite=True,
                            language=entry.language or Language.PYTHON,
                        )  # fmt: skip
                    else:
                        self.dst.api_client.do(
                            "POST", f"/api/2.0/workspace-files/import-file/{path.lstrip('/')}",
                            query={"overwrite": "true"}, data=base64.b64decode(content),
                            headers={"Content-Type": "application/octet-stream"},
                        )  # fmt: skip
                else:
                    self.skipped[f"workspace {entry.object_type}"] += 1
                    continue
                self._done("workspace_objects", path, path)
                self.ids.setdefault("object_ids", {})[path] = str(entry.object_id)

    def clusters(self) -> None:
        from databricks.sdk.service.compute import ClusterSpec

        policies, pools = self.ids.get("cluster_policies", {}), self.ids.get("instance_pools", {})
        for c in self.src.clusters.list():
            source = c.cluster_source.value if c.cluster_source else "API"
            if source not in ("UI", "API"):
                self.skipped[f"clusters {source}"] += 1
                continue
            raw = c.as_dict()
            body = {k: raw[k] for k in CLUSTER_FIELDS if raw.get(k) not in (None, {}, [])}
            if "policy_id" in body:
                body["policy_id"] = policies[body["policy_id"]]
            for key in ("instance_pool_id", "driver_instance_pool_id"):
                if key in body:
                    body[key] = pools[body[key]]
            body["custom_tags"] = {**body.get("custom_tags", {}), MARKER_KEY: marker(self.ws, c.cluster_id)}
            parsed = ClusterSpec.from_dict(body)
            created = self.dst.clusters.create(**{k: getattr(parsed, k) for k in body})
            target = created.response.cluster_id
            self.dst.clusters.delete(target)  # terminate: a created cluster starts and bills
            self._done("clusters", c.cluster_id, target)

    def libraries(self) -> None:
        from databricks.sdk.errors import NotImplemented as NotServed
        from databricks.sdk.service.compute import Library

        for source_id, target_id in self.ids.get("clusters", {}).items():
            try:
                statuses = list(self.src.libraries.cluster_status(source_id))
            except NotServed:  # a workspace API without the libraries API
                self.skipped["cluster_libraries (no libraries API)"] += 1
                return
            libraries = [Library.from_dict(s.library.as_dict()) for s in statuses if s.library]
            if libraries:
                self.dst.libraries.install(cluster_id=target_id, libraries=libraries)
                self._done("cluster_libraries", source_id, target_id)

    def _full_job(self, job_id: int) -> dict[str, Any]:
        job = self.src.jobs.get(job_id)
        settings = job.settings.as_dict() if job.settings else {}
        token = job.next_page_token
        while token:  # arrays over 100 elements come in pages
            page = self.src.jobs.get(job_id, page_token=token)
            more = page.settings.as_dict() if page.settings else {}
            for key in ("tasks", "job_clusters", "environments", "parameters"):
                settings[key] = settings.get(key, []) + more.get(key, [])
            token = page.next_page_token
        return settings

    def _remap_job(self, settings: dict[str, Any]) -> dict[str, Any] | None:
        clusters = self.ids.get("clusters", {})
        policies, pools = self.ids.get("cluster_policies", {}), self.ids.get("instance_pools", {})
        jobs = self.ids.get("jobs", {})
        for holder in [settings, *settings.get("tasks", [])]:
            if "existing_cluster_id" in holder:
                if holder["existing_cluster_id"] not in clusters:
                    return None  # its cluster was not migrated (filtered): the job cannot run there
                holder["existing_cluster_id"] = clusters[holder["existing_cluster_id"]]
            run_job = holder.get("run_job_task")
            if run_job:
                run_job["job_id"] = int(jobs[str(run_job["job_id"])])
        for jc in settings.get("job_clusters", []):
            new = jc.get("new_cluster", {})
            if "policy_id" in new:
                new["policy_id"] = policies[new["policy_id"]]
            for key in ("instance_pool_id", "driver_instance_pool_id"):
                if key in new:
                    new[key] = pools[new[key]]
        for key in ("schedule", "continuous", "trigger"):
            if key in settings:
                settings[key]["pause_status"] = "PAUSED"
        return settings

    def jobs(self) -> None:
        from databricks.sdk.service.jobs import JobSettings

        listed = [j.job_id for j in self.src.jobs.list()]  # the SDK follows every page
        full = {str(j): self._full_job(j) for j in listed}

        def runs_job(settings: dict[str, Any]) -> bool:
            return any("run_job_task" in t for t in settings.get("tasks", []))

        for job_id in sorted(full, key=lambda j: runs_job(full[j])):  # run-job targets first
            settings = full[job_id]
            if settings.get("deployment"):
                self.skipped["jobs bundle-managed"] += 1
                continue
            remapped = self._remap_job(settings)
            if remapped is None:
                self.skipped["jobs blocked"] += 1
                continue
            remapped["tags"] = {**remapped.get("tags", {}), MARKER_KEY: marker(self.ws, job_id)}
            parsed = JobSettings.from_dict(remapped)
            created = self.dst.jobs.create(**{k: getattr(parsed, k) for k in remapped})
            self._done("jobs", job_id, created.job_id)

    def permissions(self) -> None:
        from databricks.sdk.service.iam import AccessControlRequest
        from databricks.sdk.service.workspace import ObjectType

        targets: list[tuple[str, str, str]] = []
        kinds = {"clusters": "clusters", "jobs": "jobs", "cluster_policies": "cluster-policies",
                 "instance_pools": "instance-pools"}  # fmt: skip
        for kind, request in kinds.items():
            targets += [(request, s, t) for s, t in self.ids.get(kind, {}).items()]
        for path, object_id in self.ids.get("object_ids", {}).items():
            status = self.dst.workspace.get_status(path)
            request = {ObjectType.NOTEBOOK: "notebooks", ObjectType.DIRECTORY: "directories"}.get(
                status.object_type, "files"
            )
            targets.append((request, object_id, str(status.object_id)))
        for request, source_id, target_id in targets:
            acl = self.src.permissions.get(request, source_id).as_dict().get("access_control_list", [])
            entries = []
            for a in acl:
                for p in a.get("all_permissions", []):
                    if not p.get("inherited"):
                        who = {
                            k: a[k] for k in ("user_name", "group_name", "service_principal_name") if k in a
                        }
                        entries.append(
                            AccessControlRequest.from_dict({**who, "permission_level": p["permission_level"]})
                        )
            if entries:
                self.dst.permissions.update(request, target_id, access_control_list=entries)
                self._done("permissions", f"{request}/{source_id}", target_id)
        for scope in self.ids.get("secret_scopes", {}):  # a scope's ACL: one item per principal
            for item in self.src.secrets.list_acls(scope):
                self.dst.secrets.put_acl(scope, item.principal, item.permission)
            self._done("permissions", f"secret_scopes/{scope}", scope)


# -- the DAG ------------------------------------------------------------------------------------------
BENCH_DAG = """
from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from platform_ops.operators.dr_migrate import build_dr_migration

ARGS = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False,
        "render_template_as_native_obj": True, "default_args": {"owner": "bench", "retries": 0}}

with DAG(dag_id="dr_bench", **ARGS):
    build_dr_migration(dr_params="{{ dag_run.conf['dr'] }}")

with DAG(dag_id="dr_bench_empty", **ARGS):
    from airflow.providers.standard.operators.empty import EmptyOperator

    EmptyOperator(task_id="nothing")
"""


def dag_available() -> bool:
    """The migration's operators exist (the benchmark wires them as the shipped DAG does)."""
    return (REPO / "plugins/platform_ops/operators/dr_migrate/__init__.py").is_file()


def airflow_env(primary: Any = None, secondary: Any = None) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(WORK / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(WORK / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PLATFORM_OPS_STATE_ROOT": f"file://{WORK / 'state'}",
        "PYTHONPATH": str(REPO / "plugins"),
    }
    if primary is not None and secondary is not None:
        from sandbox.dr_seed import SCOPE, SECRET_KEYS

        # values for the seeded scope's keys (the API never returns them): a Variable, as a team would
        env["AIRFLOW_VAR_DR_BENCH_SECRETS"] = json.dumps({SCOPE: {k: f"bench-{k}" for k in SECRET_KEYS}})
        env["AIRFLOW_CONN_DR_BENCH_SOURCE"] = primary.connection()
        env["AIRFLOW_CONN_DR_BENCH_TARGET"] = secondary.connection()
    return env


def prepare_airflow() -> float:
    """The metadata DB and the benchmark's DAG folder; returns the wall time of a one-empty-task
    ``airflow dags test`` (Airflow's start-up and parsing, included in the DAG's figures)."""
    (WORK / "dags").mkdir(parents=True, exist_ok=True)
    (WORK / "dags" / "dr_bench.py").write_text(BENCH_DAG)
    env = airflow_env()
    run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    start = time.perf_counter()
    dags_test("dr_bench_empty", {}, env, "empty")
    return time.perf_counter() - start


def dags_test(dag_id: str, conf: dict[str, Any], env: dict[str, str], name: str) -> None:
    argv = [sys.executable, "-m", "airflow", "dags", "test", dag_id, "-c", json.dumps(conf)]
    out = run(argv, env=env, capture_output=True, text=True, check=False)
    log_path = WORK / f"dags_test_{name}.log"
    log_path.write_text(out.stdout + out.stderr)
    if out.returncode != 0 or "state=failed" in out.stdout + out.stderr:
        raise RuntimeError(f"{dag_id} failed: see {log_path}")


def run_dag(primary: Any, secondary: Any, name: str) -> None:
    shutil.rmtree(WORK / "state", ignore_errors=True)  # each run copies into a fresh secondary
    dr = {
        "source_conn_id": "dr_bench_source",
        "target_conn_id": "dr_bench_target",
        "dry_run": False,
        "secret_values_variable": "dr_bench_secrets",
    }
    dags_test("dr_bench", {"dr": dr}, airflow_env(primary, secondary), name)
    TASK_SECONDS[name] = task_seconds()


TASK_SECONDS: dict[str, dict[str, float]] = {}


def task_seconds() -> dict[str, float]:
    """Each task's duration in the last run of dr_bench (the metadata DB's task instances)."""
    import sqlite3

    con = sqlite3.connect(WORK / "airflow" / "airflow.db")
    try:
        rows = con.execute(
            "SELECT task_id, duration FROM task_instance WHERE dag_id = 'dr_bench' AND run_id = "
            "(SELECT run_id FROM dag_run WHERE dag_id = 'dr_bench' ORDER BY id DESC LIMIT 1)"
        ).fetchall()
    finally:
        con.close()
    return {task: float(seconds or 0) for task, seconds in rows}


# -- measuring ----------------------------------------------------------------------------------------
@dataclass
class Result:
    name: str
    seconds: float
    requests: int
    writes: int
    throttled: int
    duplicates: int
    missing: dict[str, int] = field(default_factory=dict)
    copy_seconds: float = 0.0  # dag: its tasks but validation, without Airflow's start-up
    validate_seconds: float = 0.0  # dag: its validation task


def check_target(secondary: Any, manifest: Any) -> tuple[int, dict[str, int]]:
    """(duplicates, missing per type) in the target, by marker against the seed's eligible objects."""
    from sandbox.dr_seed import target_report

    report = target_report(secondary.client(), manifest)
    return report.duplicates, {kind: len(ids) for kind, ids in report.missing.items()}


def measure(
    name: str, primary: Any, secondary: Any, manifest: Any, run: Callable[[], Any], rate_429: float
) -> Result:
    for sandbox in (primary, secondary):
        sandbox.configure(latency_seconds=LATENCY, error_rate_429=rate_429, seed=7)
    before = [s.stats() for s in (primary, secondary)]
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    after = [s.stats() for s in (primary, secondary)]
    for sandbox in (primary, secondary):
        sandbox.configure(latency_seconds=0, error_rate_429=0)
    delta = {k: sum(a.get(k, 0) - b.get(k, 0) for a, b in zip(after, before, strict=True))
             for k in ("requests", "writes", "injected_429")}  # fmt: skip
    duplicates, missing = check_target(secondary, manifest)
    return Result(
        name, seconds, delta["requests"], delta["writes"], delta["injected_429"], duplicates, missing
    )


def fresh_secondary(index: int) -> Any:
    from sandbox.databricks.launcher import DatabricksSandbox
    from sandbox.dr_seed import ensure_principals

    sandbox = DatabricksSandbox(WORK / f"secondary-{index}", workspace_id=SECONDARY_ID).start()
    ensure_principals(sandbox.client())  # identities are out of scope: they exist in the target first
    return sandbox


def seeded_primary(name: str, sizes: tuple[int, int, int]) -> tuple[Any, Any]:
    """A primary sandbox seeded at ``sizes`` (notebooks, clusters, jobs): (sandbox, manifest)."""
    from sandbox.databricks.launcher import DatabricksSandbox
    from sandbox.dr_seed import seed

    notebooks, clusters, jobs = sizes
    primary = DatabricksSandbox(WORK / name, workspace_id=PRIMARY_ID).start()
    t0 = time.perf_counter()
    manifest = seed(primary.client(), sandbox=primary, notebooks=notebooks, files=notebooks // 20,
                    clusters=clusters, jobs=jobs, blocked_jobs=0)  # fmt: skip
    log(f"seeded a primary in {time.perf_counter() - t0:.1f} s: "
        + ", ".join(f"{k} {v}" for k, v in sorted(manifest.counts().items())))  # fmt: skip
    return primary, manifest


def main() -> None:
    stop_on_signals()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--large", action="store_true", help="2,000 notebooks, 100 clusters, 300 jobs")
    parser.add_argument("--quick", action="store_true", help="40 / 8 / 16: a smoke run of the harness")
    parser.add_argument(
        "--sizes-429", choices=sorted(SIZES), default="quick", help="sizes of the 429 run (default quick)"
    )
    parser.add_argument(
        "--sequential-only", action="store_true", help="measure the sequential procedure only"
    )
    parser.add_argument(
        "--sequential-429",
        action="store_true",
        help="also run the sequential procedure under 429s (slow: Retry-After on each, one at a time)",
    )
    args = parser.parse_args()
    sizes = SIZES["large" if args.large else "quick" if args.quick else "default"]
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    started: list[Any] = []
    try:
        ours = dag_available() and not args.sequential_only
        startup = prepare_airflow() if ours else 0.0
        if ours:
            log(f"airflow dags test of a one-empty-task DAG: {startup:.1f} s (start-up, in the dag figures)")
        log(f"latency {LATENCY * 1000:.0f} ms per request on both workspaces")
        results: dict[tuple[str, float], Result] = {}
        for rate, phase_sizes in ((0.0, sizes), (0.3, SIZES[args.sizes_429])):
            runners: list[tuple[str, Callable[[Any, Any], Any]]] = []
            if rate == 0 or args.sequential_429:
                runners.append(("sequential", lambda p, s: Sequential(p.client(), s.client()).run()))
            if ours:
                runners.append(("dag", lambda p, s, r=rate: run_dag(p, s, f"dag_{r}")))
            if not runners:
                continue
            primary, manifest = seeded_primary(f"primary-{rate}", phase_sizes)
            started.append(primary)
            for name, runner in runners:
                secondary = fresh_secondary(len(started))
                started.append(secondary)
                run = lambda r=runner, p=primary, s=secondary: r(p, s)  # noqa: E731
                result = measure(name, primary, secondary, manifest, run, rate)
                results[(name, rate)] = result
                label = f"{name} 429 {rate:.0%} {'/'.join(map(str, phase_sizes))}"
                log(f"{label:<28}: {result.seconds:7.1f} s, "
                    f"{result.requests} requests ({result.writes} writes, {result.throttled} answered 429), "
                    f"duplicates {result.duplicates}, missing {result.missing or 'none'}")  # fmt: skip
                if name == "dag":
                    tasks = TASK_SECONDS.get(f"dag_{rate}", {})
                    log("           tasks: " + ", ".join(f"{t} {s:.1f} s" for t, s in tasks.items()))
                    result.copy_seconds = sum(s for t, s in tasks.items() if t != "validate")
                    result.validate_seconds = tasks.get("validate", 0.0)
                secondary.stop()
            primary.stop()
        seq, seq_429 = results[("sequential", 0.0)], results.get(("sequential", 0.3))
        if ours:
            dag, dag_429 = results[("dag", 0.0)], results[("dag", 0.3)]
            tasks_seconds = max(dag.seconds - startup, 0.001)
            summary = [
                f"speedup {seq.seconds / tasks_seconds:.1f}x for the DAG's tasks ({seq.seconds:.1f} s vs "
                f"{tasks_seconds:.1f} s: its wall time {dag.seconds:.1f} s less Airflow's start-up "
                f"{startup:.1f} s, validation included; {seq.requests} vs {dag.requests} requests), "
                f"{seq.seconds / dag.seconds:.1f}x end to end, "
                f"{seq.seconds / max(dag.copy_seconds, 0.001):.1f}x for the copy tasks without validation "
                f"({dag.copy_seconds:.1f} s), validation {dag.validate_seconds:.1f} s "
                f"({dag.validate_seconds / tasks_seconds:.0%} of the DAG's tasks)",
                f"429 30% ({'/'.join(map(str, SIZES[args.sizes_429]))}): dag {dag_429.seconds:.1f} s"
                + (
                    f", {seq_429.seconds / dag_429.seconds:.1f}x the sequential {seq_429.seconds:.1f} s"
                    if seq_429
                    else ""
                ),
                f"duplicates {dag_429.duplicates} (no faults {dag.duplicates}), missing "
                f"{sum(dag_429.missing.values()) + sum(dag.missing.values())}",
            ]
        else:
            summary = [
                f"sequential {seq.seconds:.1f} s ({seq.requests} requests), duplicates {seq.duplicates}"
            ]
            if seq_429:
                summary.append(
                    f"429 30%: sequential {seq_429.seconds:.1f} s, duplicates {seq_429.duplicates}"
                )
            summary.append("dag: pending (databricks_dr_migrate not available)")
        log("; ".join(summary))
    finally:
        for sandbox in started:
            sandbox.stop()


if __name__ == "__main__":
    main()
