"""Seed a primary Databricks workspace for disaster-recovery migration tests, the demo and the benchmark.

Everything goes through databricks-sdk's ``WorkspaceClient``, as a platform team would have built the
workspace, except clusters whose ``cluster_source`` no API call can produce (UI, JOB, PIPELINE): those
come from the sandbox's ``seed_cluster`` (what a real workspace shows after a click in the UI, a job
run or a pipeline update). ::

    manifest = seed(sandbox.client(), sandbox=sandbox, notebooks=400, clusters=40, jobs=120)
    manifest.counts()          # per object type: what the seed created in the primary
    manifest.filtered          # object type -> source id -> why a migration must not copy it
    manifest.out_of_scope      # what a migration reports and never copies (/Repos, ...)

What the seed builds, sizes aside:

* identities (users, a group, a service principal) - out of scope for a migration, so
  :func:`ensure_principals` creates the same ones in a secondary before its permissions are set;
* workspace objects under several roots: ``/Users/<user>/...`` and ``/Shared/...`` (Python notebooks in
  SOURCE format, files, nested folders) and ``/Repos/...`` (a Git folder: reported, never migrated);
  one notebook carries a canary string, optional oversized notebooks exceed an export limit;
* a custom cluster policy and a policy made from a built-in family (filtered), an instance pool with
  idle instances, a global init script, a secret scope with keys (one value is a canary);
* clusters with cluster_source UI / API (migrated) and JOB / PIPELINE (filtered), using the policy, the
  pool, an init script, single-user access mode; libraries on some of them;
* jobs: single-task on an existing cluster (scheduled, paused or not), multi-task with job clusters
  on the policy and the pool, a continuous job, a file-arrival trigger job, a job that runs another
  job, optionally jobs pinned to a filtered cluster (blocked) and a bundle-managed job (filtered);
* permissions (non-inherited ACLs naming users, the group and the service principal) on a cluster,
  jobs, the policy, the pool and workspace objects.
"""

from __future__ import annotations

import base64
import json
import secrets as _secrets
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

USERS = ("alice@example.com", "bob@example.com", "carol@example.com")
GROUP = "data-engineers"
SERVICE_PRINCIPAL = "dr-etl-service-principal"
# An account-level service principal has one application id in every workspace it is added to;
# ACLs name it by that id.
SERVICE_PRINCIPAL_APP_ID = "6b7c1d2e-3f40-4a51-8b62-7c83d94ea5f6"
ROOTS = ("/Users", "/Shared")
SPARK_VERSION = "15.4.x-scala2.12"
NODE_TYPE = "i3.xlarge"
SCOPE = "etl-secrets"
SECRET_KEYS = ("warehouse-password", "api-token", "storage-key")
INIT_SCRIPT_PATH = "/Shared/init/install-deps.sh"

# Cluster sources, in the order the seed deals them out (so small sizes still get every source).
MIGRATED_SOURCES = ("UI", "API")
FILTERED_SOURCES = ("JOB", "PIPELINE")
SOURCE_CYCLE = ("UI", "API", "JOB", "PIPELINE", "UI", "API", "API", "UI")

# What a migration must do with what the seed made (reasons as a platform engineer would read them).
REASON_CLUSTER = "cluster_source {source}: created by a {what}, which recreates it in the secondary"
REASON_FAMILY = "built-in policy family {family}: every workspace has it"
REASON_BUNDLE = "bundle-managed job: deploy the bundle to the secondary instead"
REASON_REPOS = "Git folder under /Repos: clone the repository in the secondary instead"
REASON_LIBS = "libraries of a filtered cluster"
REASON_BLOCKED = "task {task} runs on cluster {cluster}, which is filtered ({source})"

_SIZE_FIELDS = (
    "notebooks",
    "files",
    "clusters",
    "jobs",
    "repos_notebooks",
    "oversized_notebooks",
    "blocked_jobs",
    "bundle_jobs",
    "workers",
)


@dataclass
class Manifest:
    """What :func:`seed` created in the primary, by source identity (ids as the API names them).

    ``created`` holds every object the seed made, per object type of the migration (workspace
    objects by path, directories included); ``filtered`` / ``out_of_scope`` / ``blocked`` say which of
    them a migration must not copy, and why; ``needs_value`` lists secret keys per scope (values
    are never readable); ``pause_status`` is each job's source pause status (for the cutover).
    """

    workspace_id: str
    roots: tuple[str, ...] = ROOTS
    created: dict[str, list[str]] = field(default_factory=dict)
    filtered: dict[str, dict[str, str]] = field(default_factory=dict)
    out_of_scope: dict[str, dict[str, str]] = field(default_factory=dict)
    blocked: dict[str, dict[str, str]] = field(default_factory=dict)
    needs_value: dict[str, list[str]] = field(default_factory=dict)
    pause_status: dict[str, str | None] = field(default_factory=dict)
    cluster_sources: dict[str, str] = field(default_factory=dict)
    workspace_kinds: dict[str, str] = field(default_factory=dict)
    principals: dict[str, list[str]] = field(default_factory=dict)
    acls: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    canaries: dict[str, str] = field(default_factory=dict)
    not_seeded: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def add(self, object_type: str, source_id: str) -> None:
        self.created.setdefault(object_type, []).append(str(source_id))

    def counts(self) -> dict[str, int]:
        """Objects created per object type (workspace objects by kind too: NOTEBOOK, FILE, ...)."""
        out = {kind: len(ids) for kind, ids in self.created.items()}
        for kind in self.workspace_kinds.values():
            out[f"workspace_objects.{kind}"] = out.get(f"workspace_objects.{kind}", 0) + 1
        return out

    def eligible(self, object_type: str) -> list[str]:
        """Source ids a complete migration copies: created, minus filtered, blocked and out of scope."""
        skip = (
            set(self.filtered.get(object_type, {}))
            | set(self.out_of_scope.get(object_type, {}))
            | set(self.blocked.get(object_type, {}))
        )
        return [i for i in self.created.get(object_type, []) if i not in skip]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = self.counts()
        return data


def _check_sizes(sizes: dict[str, int]) -> None:
    for name in _SIZE_FIELDS:
        value = sizes[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"seed(): {name} must be an integer >= 0, got {value!r}")
    if sizes["workers"] < 1:
        raise ValueError(f"seed(): workers must be at least 1, got {sizes['workers']!r}")


def seed(
    client: Any,
    *,
    sandbox: Any = None,
    notebooks: int = 24,
    files: int = 6,
    clusters: int = 8,
    jobs: int = 12,
    repos_notebooks: int = 2,
    oversized_notebooks: int = 0,
    oversized_bytes: int = 0,
    blocked_jobs: int = 0,
    bundle_jobs: int = 1,
    with_acls: bool = True,
    workers: int = 8,
    seed_cluster: Callable[[dict[str, Any]], Any] | None = None,
) -> Manifest:
    """Fill the workspace ``client`` reaches and return a :class:`Manifest` of what was created.

    ``notebooks`` / ``files`` count the in-scope notebooks and files (spread over /Users and
    /Shared), ``clusters`` the clusters of every source, ``jobs`` every job including the special ones
    (continuous, file arrival, run-job parent and child, bundle-managed, blocked), ``workers`` the
    threads used for workspace objects. ``seed_cluster`` (default: ``sandbox.seed_cluster``) makes the
    clusters whose source the API cannot set; without one those are made through the API and the
    manifest says so in ``not_seeded``. Sizes are checked before any call.
    """
    sizes = {
        "notebooks": notebooks,
        "files": files,
        "clusters": clusters,
        "jobs": jobs,
        "repos_notebooks": repos_notebooks,
        "oversized_notebooks": oversized_notebooks,
        "blocked_jobs": blocked_jobs,
        "bundle_jobs": bundle_jobs,
        "workers": workers,
    }
    _check_sizes(sizes)
    special = 4 + blocked_jobs + bundle_jobs  # continuous, file arrival, run-job parent and child
    if jobs and jobs < special:
        raise ValueError(f"seed(): jobs must be 0 or at least {special} (the special jobs), got {jobs}")
    if oversized_notebooks and oversized_bytes < 1:
        raise ValueError("seed(): oversized_bytes must be set (> 0) when oversized_notebooks is")
    if seed_cluster is None and sandbox is not None and hasattr(sandbox, "seed_cluster"):
        seed_cluster = sandbox.seed_cluster

    manifest = Manifest(workspace_id=str(client.get_workspace_id()), sizes=dict(sizes))
    ensure_principals(client)
    manifest.principals = {
        "users": list(USERS),
        "groups": [GROUP],
        "service_principals": [SERVICE_PRINCIPAL_APP_ID],
    }
    _seed_workspace(client, manifest, notebooks, files, repos_notebooks, workers)
    if oversized_notebooks:
        _seed_oversized(client, manifest, oversized_notebooks, oversized_bytes)
    policy_id = _seed_policies(client, manifest)
    pool_id = _seed_pool(client, manifest)
    _seed_init_scripts(client, manifest)
    _seed_secrets(client, manifest)
    cluster_ids = _seed_clusters(client, manifest, clusters, policy_id, pool_id, seed_cluster)
    _seed_libraries(client, manifest, cluster_ids)
    if jobs:
        _seed_jobs(client, manifest, jobs, cluster_ids, policy_id, pool_id, blocked_jobs, bundle_jobs)
    if with_acls:
        _seed_acls(client, manifest, cluster_ids, policy_id, pool_id)
    return manifest


# -- identities -------------------------------------------------------------------------------------------
def ensure_principals(client: Any) -> None:
    """Create the seed's users, group and service principal where missing (e.g. in a secondary)."""
    existing = {u.user_name for u in client.users.list()}
    for user in USERS:
        if user not in existing:
            client.users.create(user_name=user)
    if not any(g.display_name == GROUP for g in client.groups.list()):
        client.groups.create(display_name=GROUP)
    if not any(sp.application_id == SERVICE_PRINCIPAL_APP_ID for sp in client.service_principals.list()):
        client.service_principals.create(
            display_name=SERVICE_PRINCIPAL, application_id=SERVICE_PRINCIPAL_APP_ID
        )


# -- workspace objects ------------------------------------------------------------------------------------
def walk(client: Any, root: str) -> list[Any]:
    """Every object under ``root``, directories included (the SDK's recursive list leaves them out);
    a missing root is empty."""
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.workspace import ObjectType

    out, pending = [], [root]
    while pending:
        try:
            entries = list(client.workspace.list(pending.pop()))
        except NotFound:
            continue
        for entry in entries:
            out.append(entry)
            if entry.object_type == ObjectType.DIRECTORY:
                pending.append(entry.path)
    return out


def notebook_source(title: str, body: str = "") -> bytes:
    """A Python notebook in Databricks SOURCE format."""
    cells = [
        f"# MAGIC %md\n# MAGIC ## {title}",
        "import datetime\n\nrun_at = datetime.datetime.now(datetime.UTC)",
        body or f"print({title!r}, run_at)",
    ]
    return ("# Databricks notebook source\n" + "\n\n# COMMAND ----------\n\n".join(cells) + "\n").encode()


def _notebook_paths(count: int) -> list[str]:
    """``count`` paths spread over three users' folders and two shared team folders, nested."""
    homes = [f"/Users/{u}" for u in USERS] + ["/Shared/analytics", "/Shared/platform"]
    paths = []
    for i in range(count):
        home = homes[i % len(homes)]
        project = f"project_{(i // len(homes)) % 4}"
        sub = "/exploration" if i % 3 == 2 else ""
        paths.append(f"{home}/{project}{sub}/notebook_{i:04d}")
    return paths


def _import_notebook(client: Any, path: str, content: bytes) -> None:
    from databricks.sdk.service.workspace import ImportFormat, Language

    client.workspace.import_(
        path=path,
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
        content=base64.b64encode(content).decode(),
        overwrite=True,
    )


def _import_file(client: Any, path: str, content: bytes) -> None:
    """A workspace FILE (not a notebook): the workspace-files import the CLI and bundles use."""
    client.api_client.do(
        "POST",
        f"/api/2.0/workspace-files/import-file/{path.lstrip('/')}",
        query={"overwrite": "true"},
        data=content,
        headers={"Content-Type": "application/octet-stream"},
    )


def _parents(paths: Iterable[str], stop: set[str]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        parent = path.rsplit("/", 1)[0]
        while parent and parent not in stop:
            out.add(parent)
            parent = parent.rsplit("/", 1)[0]
    return out


def _seed_workspace(
    client: Any, manifest: Manifest, notebooks: int, files: int, repos_notebooks: int, workers: int
) -> None:
    canary = f"DR-CANARY-NOTEBOOK-{_secrets.token_hex(6)}"
    manifest.canaries["notebook"] = canary
    items: list[tuple[str, str, bytes]] = []
    for i, path in enumerate(_notebook_paths(notebooks)):
        body = f"marker = {canary!r}" if i == 0 else ""
        items.append((path, "NOTEBOOK", notebook_source(path.rsplit("/", 1)[1], body)))
    file_paths = [INIT_SCRIPT_PATH] if files else []
    homes = ["/Shared/platform/config", f"/Users/{USERS[0]}/config", "/Shared/analytics/data"]
    file_paths += [f"{homes[i % len(homes)]}/settings_{i:03d}.json" for i in range(max(files - 1, 0))]
    for path in file_paths:
        content = b"#!/bin/bash\npip install requests\n" if path == INIT_SCRIPT_PATH else b""
        items.append((path, "FILE", content or json.dumps({"path": path, "env": "prod"}).encode()))
    repos = [f"/Repos/{USERS[0]}/etl-repo/notebook_{i:02d}" for i in range(repos_notebooks)]
    directories = sorted(_parents([p for p, _, _ in items], {"", "/Users", "/Shared"}))
    for directory in directories:
        client.workspace.mkdirs(directory)
    if repos:
        client.workspace.mkdirs(repos[0].rsplit("/", 1)[0])

    def put(item: tuple[str, str, bytes]) -> None:
        path, kind, content = item
        (_import_notebook if kind == "NOTEBOOK" else _import_file)(client, path, content)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(put, items))
        list(pool.map(lambda p: _import_notebook(client, p, notebook_source("repo notebook")), repos))
    for directory in directories:
        manifest.add("workspace_objects", directory)
        manifest.workspace_kinds[directory] = "DIRECTORY"
    for path, kind, _ in items:
        manifest.add("workspace_objects", path)
        manifest.workspace_kinds[path] = kind
    for path in repos:
        manifest.out_of_scope.setdefault("repos", {})[path] = REASON_REPOS


def _seed_oversized(client: Any, manifest: Manifest, count: int, size: int) -> None:
    from databricks.sdk.service.workspace import ImportFormat

    for i in range(count):
        path = f"/Shared/analytics/large/oversized_{i:02d}"
        client.workspace.mkdirs(path.rsplit("/", 1)[0])
        filler = "# " + "x" * 98 + "\n"
        body = notebook_source("oversized") + (filler * (size // len(filler) + 1)).encode()
        client.workspace.import_(
            path=path, format=ImportFormat.SOURCE, language=_python(),
            content=base64.b64encode(body).decode(), overwrite=True,
        )  # fmt: skip
        if "/Shared/analytics/large" not in manifest.workspace_kinds:
            manifest.add("workspace_objects", "/Shared/analytics/large")
            manifest.workspace_kinds["/Shared/analytics/large"] = "DIRECTORY"
        manifest.add("workspace_objects", path)
        manifest.workspace_kinds[path] = "NOTEBOOK"
        manifest.blocked.setdefault("workspace_objects", {})[path] = (
            f"over the export limit: {len(body)} bytes"
        )


def _python() -> Any:
    from databricks.sdk.service.workspace import Language

    return Language.PYTHON


# -- policies, pools, init scripts, secrets ----------------------------------------------------------------
POLICY_DEFINITION = {
    "autotermination_minutes": {"type": "range", "maxValue": 120, "defaultValue": 60},
    "spark_version": {"type": "unlimited", "defaultValue": SPARK_VERSION},
    "custom_tags.cost_center": {"type": "fixed", "value": "data-platform"},
}


def _seed_policies(client: Any, manifest: Manifest) -> str:
    policy = client.cluster_policies.create(
        name="etl-standard",
        definition=json.dumps(POLICY_DEFINITION),
        description="ETL clusters: bounded auto-termination, a cost centre tag",
        max_clusters_per_user=5,
    )
    manifest.add("cluster_policies", policy.policy_id)
    try:
        family = client.cluster_policies.create(name="Personal Compute", policy_family_id="personal-vm")
    except Exception as exc:
        manifest.not_seeded["cluster_policies.family"] = f"policy from a family refused: {exc}"
    else:
        manifest.add("cluster_policies", family.policy_id)
        manifest.filtered.setdefault("cluster_policies", {})[family.policy_id] = REASON_FAMILY.format(
            family="personal-vm"
        )
    return str(policy.policy_id)


def _seed_pool(client: Any, manifest: Manifest) -> str:
    pool = client.instance_pools.create(
        instance_pool_name="etl-pool",
        node_type_id=NODE_TYPE,
        min_idle_instances=2,
        max_capacity=20,
        idle_instance_autotermination_minutes=15,
        custom_tags={"team": "data-platform"},
    )
    manifest.add("instance_pools", pool.instance_pool_id)
    return str(pool.instance_pool_id)


def _seed_init_scripts(client: Any, manifest: Manifest) -> None:
    for name, text, enabled in (
        ("install-monitoring-agent", "#!/bin/bash\necho 'monitoring agent'\n", True),
        ("legacy-proxy", "#!/bin/bash\nexport HTTPS_PROXY=http://proxy.internal:3128\n", False),
    ):
        script = client.global_init_scripts.create(
            name=name, script=base64.b64encode(text.encode()).decode(), enabled=enabled
        )
        manifest.add("global_init_scripts", script.script_id)


def _seed_secrets(client: Any, manifest: Manifest) -> None:
    client.secrets.create_scope(scope=SCOPE)
    canary = f"DR-CANARY-SECRET-{_secrets.token_hex(8)}"
    manifest.canaries["secret"] = canary
    for key in SECRET_KEYS:
        value = canary if key == SECRET_KEYS[0] else _secrets.token_urlsafe(16)
        client.secrets.put_secret(scope=SCOPE, key=key, string_value=value)
    manifest.add("secret_scopes", SCOPE)
    manifest.needs_value[SCOPE] = list(SECRET_KEYS)


# -- clusters and libraries ------------------------------------------------------------------------------
def cluster_spec(i: int, source: str, policy_id: str, pool_id: str) -> dict[str, Any]:
    """The create-API body of the seed's ``i``-th cluster (the shapes a workspace accumulates)."""
    spec: dict[str, Any] = {
        "cluster_name": f"{source.lower()}-cluster-{i:03d}",
        "spark_version": SPARK_VERSION,
        "autotermination_minutes": 30 + i % 4 * 15,
        "custom_tags": {"team": ("analytics", "platform", "ml")[i % 3]},
        "spark_conf": {"spark.sql.shuffle.partitions": str(64 + i)},
    }
    if i % 3 == 0:
        spec["instance_pool_id"] = pool_id
        spec["driver_instance_pool_id"] = pool_id
    else:
        spec["node_type_id"] = NODE_TYPE
        spec["aws_attributes"] = {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}
    if i % 2 == 0:
        spec["autoscale"] = {"min_workers": 1, "max_workers": 2 + i % 6}
    else:
        spec["num_workers"] = 1 + i % 4
    if i % 4 == 1:
        spec["policy_id"] = policy_id
        spec["custom_tags"]["cost_center"] = "data-platform"
    if i % 5 == 2:
        spec["data_security_mode"] = "SINGLE_USER"
        spec["single_user_name"] = USERS[i % len(USERS)]
    else:
        spec["data_security_mode"] = "USER_ISOLATION"
    if i % 4 == 3:
        spec["init_scripts"] = [{"workspace": {"destination": INIT_SCRIPT_PATH}}]
    return spec


def _seed_clusters(
    client: Any,
    manifest: Manifest,
    count: int,
    policy_id: str,
    pool_id: str,
    seed_cluster: Callable[[dict[str, Any]], Any] | None,
) -> dict[str, list[str]]:
    from databricks.sdk.service.compute import ClusterSpec

    by_source: dict[str, list[str]] = {s: [] for s in (*MIGRATED_SOURCES, *FILTERED_SOURCES)}
    for i in range(count):
        source = SOURCE_CYCLE[i % len(SOURCE_CYCLE)]
        spec = cluster_spec(i, source, policy_id, pool_id)
        if source == "API" or seed_cluster is None:
            if source != "API":
                manifest.not_seeded[f"clusters.{source}"] = "no seed_cluster: made through the API"
                source = "API"
            created = client.clusters.create(**_sdk_cluster_args(ClusterSpec, spec))
            cluster_id = str(created.response.cluster_id)
        else:
            made = seed_cluster({**spec, "cluster_source": source})
            cluster_id = str(made["cluster_id"] if isinstance(made, dict) else made)
        manifest.add("clusters", cluster_id)
        manifest.cluster_sources[cluster_id] = source
        by_source[source].append(cluster_id)
        if source in FILTERED_SOURCES:
            what = "job run" if source == "JOB" else "pipeline update"
            manifest.filtered.setdefault("clusters", {})[cluster_id] = REASON_CLUSTER.format(
                source=source, what=what
            )
    return by_source


def _sdk_cluster_args(cls: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` (API JSON) as keyword arguments of ``clusters.create`` (typed values)."""
    parsed = cls.from_dict(spec)
    return {name: getattr(parsed, name) for name in spec}


LIBRARIES = (
    {"pypi": {"package": "great-expectations==1.3.0"}},
    {"maven": {"coordinates": "com.databricks:spark-xml_2.12:0.18.0"}},
    {"whl": "/Workspace/Shared/platform/libs/etl_common-1.4.0-py3-none-any.whl"},
)


def _seed_libraries(client: Any, manifest: Manifest, by_source: dict[str, list[str]]) -> None:
    from databricks.sdk.service.compute import Library

    targets = by_source["UI"][:2] + by_source["API"][:2] + by_source["JOB"][:1]
    for n, cluster_id in enumerate(targets):
        libraries = [Library.from_dict(lib) for lib in LIBRARIES[: 1 + n % len(LIBRARIES)]]
        try:
            client.libraries.install(cluster_id=cluster_id, libraries=libraries)
        except Exception as exc:
            manifest.not_seeded["cluster_libraries"] = f"libraries API refused: {type(exc).__name__}: {exc}"
            return
        manifest.add("cluster_libraries", cluster_id)
        if cluster_id in manifest.filtered.get("clusters", {}):
            manifest.filtered.setdefault("cluster_libraries", {})[cluster_id] = REASON_LIBS


# -- jobs ---------------------------------------------------------------------------------------------------
def _notebook_for(manifest: Manifest, i: int) -> str:
    notebooks = [p for p, k in manifest.workspace_kinds.items() if k == "NOTEBOOK" and "oversized" not in p]
    return notebooks[i % len(notebooks)] if notebooks else f"/Shared/analytics/missing_{i}"


def _job_cluster(key: str, i: int, policy_id: str, pool_id: str) -> dict[str, Any]:
    new_cluster: dict[str, Any] = {
        "spark_version": SPARK_VERSION,
        "num_workers": 2 + i % 3,
        "spark_conf": {"spark.databricks.delta.optimizeWrite.enabled": "true"},
    }
    if i % 2:
        new_cluster["instance_pool_id"] = pool_id
    else:
        new_cluster["node_type_id"] = NODE_TYPE
        new_cluster["policy_id"] = policy_id
    return {"job_cluster_key": key, "new_cluster": new_cluster}


def _schedule(i: int) -> dict[str, Any]:
    status = "PAUSED" if i % 4 == 3 else "UNPAUSED"
    return {
        "quartz_cron_expression": f"0 {i % 60} {i % 24} * * ?",
        "timezone_id": "UTC",
        "pause_status": status,
    }


def job_settings(
    i: int, manifest: Manifest, clusters: list[str], policy_id: str, pool_id: str
) -> dict[str, Any]:
    """The settings of the seed's ``i``-th ordinary job: single-task on an existing cluster, or
    multi-task on job clusters (every other one scheduled)."""
    settings: dict[str, Any] = {
        "name": f"etl-job-{i:04d}",
        "max_concurrent_runs": 1,
        "tags": {"team": ("analytics", "platform")[i % 2]},
        "email_notifications": {"on_failure": [USERS[i % len(USERS)]]},
    }
    if i % 2 == 0 and clusters:
        settings["tasks"] = [
            {
                "task_key": "main",
                "existing_cluster_id": clusters[i % len(clusters)],
                "notebook_task": {
                    "notebook_path": _notebook_for(manifest, i),
                    "base_parameters": {"day": "{{ds}}"},
                },
                "timeout_seconds": 3600,
            }
        ]
    else:
        settings["job_clusters"] = [
            _job_cluster("ingest_cluster", i, policy_id, pool_id),
            _job_cluster("transform_cluster", i + 1, policy_id, pool_id),
        ]
        settings["tasks"] = [
            {"task_key": "ingest", "job_cluster_key": "ingest_cluster",
             "notebook_task": {"notebook_path": _notebook_for(manifest, i)}},
            {"task_key": "transform", "job_cluster_key": "transform_cluster",
             "depends_on": [{"task_key": "ingest"}],
             "notebook_task": {"notebook_path": _notebook_for(manifest, i + 1)}},
            {"task_key": "publish", "job_cluster_key": "transform_cluster",
             "depends_on": [{"task_key": "transform"}],
             "notebook_task": {"notebook_path": _notebook_for(manifest, i + 2)}},
        ]  # fmt: skip
    if i % 3 != 1:
        settings["schedule"] = _schedule(i)
    return settings


def _special_jobs(
    manifest: Manifest, clusters: list[str], policy_id: str, pool_id: str
) -> list[tuple[str, dict[str, Any]]]:
    notebook = _notebook_for(manifest, 0)
    job_cluster = _job_cluster("stream_cluster", 0, policy_id, pool_id)
    return [
        ("continuous", {
            "name": "stream-orders-continuous", "tags": {"team": "platform"}, "job_clusters": [job_cluster],
            "continuous": {"pause_status": "UNPAUSED"},
            "tasks": [{"task_key": "stream", "job_cluster_key": "stream_cluster",
                       "notebook_task": {"notebook_path": notebook}}],
        }),
        ("file_arrival", {
            "name": "ingest-on-file-arrival", "tags": {"team": "analytics"},
            "trigger": {"pause_status": "UNPAUSED",
                        "file_arrival": {"url": "s3://landing-bucket/incoming/",
                                         "min_time_between_triggers_seconds": 60}},
            "tasks": [{"task_key": "ingest", "existing_cluster_id": clusters[0] if clusters else None,
                       "notebook_task": {"notebook_path": _notebook_for(manifest, 1)}}],
        }),
        ("child", {
            "name": "child-refresh-dimensions", "tags": {"team": "analytics"}, "job_clusters": [job_cluster],
            "tasks": [{"task_key": "refresh", "job_cluster_key": "stream_cluster",
                       "notebook_task": {"notebook_path": _notebook_for(manifest, 2)}}],
        }),
    ]  # fmt: skip


def _create_job(client: Any, settings: dict[str, Any]) -> str:
    from databricks.sdk.service.jobs import JobSettings

    parsed = JobSettings.from_dict(settings)
    return str(client.jobs.create(**{name: getattr(parsed, name) for name in settings}).job_id)


def _record_job(manifest: Manifest, job_id: str, settings: dict[str, Any]) -> None:
    manifest.add("jobs", job_id)
    status = None
    for key in ("schedule", "continuous", "trigger"):
        if settings.get(key):
            status = settings[key].get("pause_status", "UNPAUSED")
    manifest.pause_status[job_id] = status


def _seed_jobs(
    client: Any,
    manifest: Manifest,
    count: int,
    by_source: dict[str, list[str]],
    policy_id: str,
    pool_id: str,
    blocked_jobs: int,
    bundle_jobs: int,
) -> None:
    migrated = by_source["UI"] + by_source["API"]
    specials = dict(_special_jobs(manifest, migrated, policy_id, pool_id))
    ids: dict[str, str] = {}
    for name in ("continuous", "file_arrival", "child"):
        ids[name] = _create_job(client, specials[name])
        _record_job(manifest, ids[name], specials[name])
    parent = {
        "name": "parent-nightly-orchestration",
        "tags": {"team": "platform"},
        "schedule": _schedule(0),
        "tasks": [
            {"task_key": "run_child", "run_job_task": {"job_id": int(ids["child"])}},
            {"task_key": "after", "depends_on": [{"task_key": "run_child"}],
             "existing_cluster_id": migrated[0] if migrated else None,
             "notebook_task": {"notebook_path": _notebook_for(manifest, 3)}},
        ],
    }  # fmt: skip
    ids["parent"] = _create_job(client, parent)
    _record_job(manifest, ids["parent"], parent)
    filtered = by_source["JOB"] + by_source["PIPELINE"]
    for n in range(blocked_jobs):
        cluster = filtered[n % len(filtered)] if filtered else "0000-000000-missing"
        settings = {
            "name": f"pinned-to-job-cluster-{n:02d}",
            "tasks": [{"task_key": "main", "existing_cluster_id": cluster,
                       "notebook_task": {"notebook_path": _notebook_for(manifest, n)}}],
        }  # fmt: skip
        job_id = _create_job(client, settings)
        _record_job(manifest, job_id, settings)
        source = manifest.cluster_sources.get(cluster, "unknown")
        manifest.blocked.setdefault("jobs", {})[job_id] = REASON_BLOCKED.format(
            task="main", cluster=cluster, source=source
        )
    for n in range(bundle_jobs):
        settings = job_settings(10_000 + n, manifest, migrated, policy_id, pool_id)
        settings["name"] = f"[bundle] etl-bundle-job-{n:02d}"
        settings["deployment"] = {
            "kind": "BUNDLE",
            "metadata_file_path": "/Shared/.bundle/etl/state/metadata.json",
        }
        settings["edit_mode"] = "UI_LOCKED"
        job_id = _create_job(client, settings)
        _record_job(manifest, job_id, settings)
        manifest.filtered.setdefault("jobs", {})[job_id] = REASON_BUNDLE
    ordinary = count - 4 - blocked_jobs - bundle_jobs
    for i in range(ordinary):
        settings = job_settings(i, manifest, migrated, policy_id, pool_id)
        _record_job(manifest, _create_job(client, settings), settings)


# -- permissions --------------------------------------------------------------------------------------------
PERMISSION_REQUEST_TYPES = {
    "clusters": "clusters",
    "jobs": "jobs",
    "cluster_policies": "cluster-policies",
    "instance_pools": "instance-pools",
    "notebooks": "notebooks",
    "directories": "directories",
}


def _seed_acls(
    client: Any, manifest: Manifest, by_source: dict[str, list[str]], policy_id: str, pool_id: str
) -> None:
    """Non-inherited ACLs and the secret scope's ACL; the manifest keys them ``<object type>/<source
    id>`` (workspace objects by path, the scope by name) and keeps the entries, in request form."""
    from databricks.sdk.service.iam import AccessControlRequest
    from databricks.sdk.service.workspace import AclPermission

    group_run = {"group_name": GROUP, "permission_level": "CAN_MANAGE_RUN"}
    sp_view = {"service_principal_name": SERVICE_PRINCIPAL_APP_ID, "permission_level": "CAN_VIEW"}
    targets: list[tuple[str, str, str, list[dict[str, str]]]] = []
    for cluster_id in (by_source["UI"] + by_source["API"])[:3]:
        entries = [
            {"user_name": USERS[1], "permission_level": "CAN_RESTART"},
            {"group_name": GROUP, "permission_level": "CAN_ATTACH_TO"},
        ]
        targets.append(("clusters", cluster_id, cluster_id, entries))
    eligible_jobs = manifest.eligible("jobs")
    for job_id in eligible_jobs[:4]:
        targets.append(("jobs", job_id, job_id, [group_run, sp_view]))
    targets.append(
        ("cluster_policies", policy_id, policy_id, [{"group_name": GROUP, "permission_level": "CAN_USE"}])
    )
    targets.append(
        ("instance_pools", pool_id, pool_id, [{"group_name": GROUP, "permission_level": "CAN_ATTACH_TO"}])
    )
    kinds = manifest.workspace_kinds
    for path in [p for p, k in kinds.items() if k == "DIRECTORY"][:1] + [
        p for p, k in kinds.items() if k == "NOTEBOOK"
    ][:2]:
        request = "notebooks" if kinds[path] == "NOTEBOOK" else "directories"
        object_id = str(client.workspace.get_status(path).object_id)
        targets.append((request, object_id, path, [{"user_name": USERS[2], "permission_level": "CAN_READ"}]))
    # the scope's readers: the secrets API's own ACL form, one item per principal
    scope_entry = {"principal": GROUP, "permission": "READ"}
    client.secrets.put_acl(scope=SCOPE, principal=GROUP, permission=AclPermission.READ)
    manifest.acls[f"secret_scopes/{SCOPE}"] = [scope_entry]
    manifest.add("permissions", f"secret_scopes/{SCOPE}")
    for request, object_id, source_id, entries in targets:
        client.permissions.update(
            request_object_type=PERMISSION_REQUEST_TYPES[request],
            request_object_id=object_id,
            access_control_list=[AccessControlRequest.from_dict(e) for e in entries],
        )
        object_type = "workspace_objects" if request in ("notebooks", "directories") else request
        key = f"{object_type}/{source_id}"
        manifest.acls[key] = entries
        manifest.add("permissions", key)


# -- reading a migrated secondary back ---------------------------------------------------------------
MARKER_KEY = "dr_source"


def _policy_marker(description: str | None) -> str | None:
    last = (description or "").rstrip().rsplit("\n", 1)[-1]
    prefix = f"[{MARKER_KEY} "
    return last[len(prefix) : -1] if last.startswith(prefix) and last.endswith("]") else None


def _script_marker(client: Any, script_id: str) -> str | None:
    text = base64.b64decode(client.global_init_scripts.get(script_id).script or "").decode()
    last = text.rstrip().rsplit("\n", 1)[-1]
    prefix = f"# {MARKER_KEY} "
    return last[len(prefix) :].strip() if last.startswith(prefix) else None


@dataclass
class TargetReport:
    """What a secondary holds compared with the manifest of its primary, by source marker."""

    per_marker: dict[str, dict[str, int]]  # object type -> marker -> target objects carrying it
    duplicates: int  # target objects beyond the first per marker
    missing: dict[str, list[str]]  # object type -> eligible source ids with no target object
    running_clusters: list[str]  # migrated clusters not terminated
    unpaused_jobs: list[str]  # source job ids whose copy runs on its own (schedule/continuous/trigger)


def target_report(client: Any, manifest: Manifest) -> TargetReport:
    """Count the secondary's objects per marker (``<source workspace id>:<source id>``) and compare
    with what the manifest says a complete migration copies (workspace objects by path)."""
    clusters = list(client.clusters.list())
    jobs = [j for j in client.jobs.list() if j.settings is not None]
    markers: dict[str, list[str | None]] = {
        "clusters": [(c.custom_tags or {}).get(MARKER_KEY) for c in clusters],
        "jobs": [(j.settings.tags or {}).get(MARKER_KEY) for j in jobs],
        "instance_pools": [(p.custom_tags or {}).get(MARKER_KEY) for p in client.instance_pools.list()],
        "cluster_policies": [_policy_marker(p.description) for p in client.cluster_policies.list()],
        "global_init_scripts": [
            _script_marker(client, s.script_id) for s in client.global_init_scripts.list()
        ],
    }
    per_marker: dict[str, dict[str, int]] = {}
    for kind, values in markers.items():
        counts: dict[str, int] = {}
        for value in values:
            if value:
                counts[value] = counts.get(value, 0) + 1
        per_marker[kind] = counts
    duplicates = sum(n - 1 for counts in per_marker.values() for n in counts.values())
    prefix = f"{manifest.workspace_id}:"
    missing = {
        kind: [i for i in manifest.eligible(kind) if f"{prefix}{i}" not in per_marker[kind]]
        for kind in per_marker
    }
    paths = {o.path for root in manifest.roots for o in walk(client, root)}
    missing["workspace_objects"] = [p for p in manifest.eligible("workspace_objects") if p not in paths]
    running = [
        str(c.cluster_id)
        for c in clusters
        if (c.custom_tags or {}).get(MARKER_KEY)
        and c.state
        and c.state.value not in ("TERMINATED", "TERMINATING")
    ]
    unpaused = []
    for job in jobs:
        source = (job.settings.tags or {}).get(MARKER_KEY, "")
        raw = job.settings.as_dict()
        if source and any(
            raw.get(k, {}).get("pause_status", "UNPAUSED") == "UNPAUSED"
            for k in ("schedule", "continuous", "trigger")
            if k in raw
        ):
            unpaused.append(source.split(":", 1)[1])
    return TargetReport(
        per_marker, duplicates, {k: v for k, v in missing.items() if v}, running, sorted(set(unpaused))
    )
