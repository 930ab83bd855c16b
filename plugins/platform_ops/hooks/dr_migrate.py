"""DrWorkspaceHook: the workspace API calls a disaster-recovery copy makes, as plain JSON dicts.

The client is databricks-sdk's WorkspaceClient of an Airflow Databricks connection
(:mod:`platform_ops.hooks.databricks_client`). Every request goes through the
:class:`~platform_ops.core.adaptive_limiter.AdaptiveLimiter` of the workspace host, one per host in
the process and shared by the threads of a task, and is retried HERE, not by the SDK: the SDK's
client is given a clock on which its retry loop's deadline passes at the first retry, so it sends
each request once and hands back the error. That way a throttled answer (429, 503, a rate-limit
INVALID_STATE) reaches the limiter (it halves the concurrency and pauses every thread for the
Retry-After), and a POST that creates something is never sent twice blindly: the SDK retries POSTs
like any other call, and a create the server committed before answering 503 or timing out would
come back as a duplicate.

Retries: a refused request (429, rate limit) is sent again after the pause. An ambiguous failure
(5xx, timeout, connection reset: the request may have been committed) is sent again for reads and
for idempotent writes (edit, reset, put, permissions, install); a create (:meth:`create`) is not,
:meth:`create_once` looks the object up first and sends the create again only when it is absent.
Every other error leaves as a :mod:`platform_ops.exceptions` error.

Secret values travel only in :meth:`put_secret`'s request body; nothing here logs a request body
(and the SDK's own debug log redacts ``string_value``).
"""

from __future__ import annotations

import base64
import copy
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

import requests
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.sdk import BaseHook
from databricks.sdk import WorkspaceClient
from databricks.sdk.clock import Clock
from databricks.sdk.errors import InvalidState, TooManyRequests
from databricks.sdk.errors.base import DatabricksError

from platform_ops.core.adaptive_limiter import AdaptiveLimiter, limiter_for
from platform_ops.exceptions import (
    ExportTooLargeError,
    ExternalServiceError,
    ResourceNotFoundError,
    TransientServiceError,
)
from platform_ops.hooks.databricks_client import (
    SERVICE,
    is_transient,
    translate,
    workspace_client,
    workspace_url,
)

__all__ = ["SERVICE", "DrWorkspaceHook", "ExportTooLargeError", "failure_kind", "limiter_for"]

PAGE_SIZE = 100
DBFS_READ_BYTES = 1024 * 1024  # the most one dbfs/read answers
REFUSED = "refused"  # not processed (throttled): safe to send again after the pause
AMBIGUOUS = "ambiguous"  # maybe processed (5xx, timeout, reset): a create must look before sending again
FINAL = "final"  # an answer that sending again cannot change
EXPORT_LIMIT_CODES = frozenset({"MAX_NOTEBOOK_SIZE_EXCEEDED", "MAX_READ_SIZE_EXCEEDED", "RESOURCE_EXHAUSTED"})
JOB_PAGED_ARRAYS = ("tasks", "job_clusters", "parameters", "environments")
PAUSABLE = ("schedule", "continuous", "trigger")


@dataclass(frozen=True)
class _Api:
    """Where one object type lives in the REST API."""

    list_path: str
    list_key: str
    id_field: str
    create_path: str
    edit_path: str
    permissions: str | None = None
    page_size_param: str | None = None


_APIS: dict[str, _Api] = {
    "cluster_policies": _Api(
        "/api/2.0/policies/clusters/list",
        "policies",
        "policy_id",
        "/api/2.0/policies/clusters/create",
        "/api/2.0/policies/clusters/edit",
        "cluster-policies",
    ),
    "instance_pools": _Api(
        "/api/2.0/instance-pools/list",
        "instance_pools",
        "instance_pool_id",
        "/api/2.0/instance-pools/create",
        "/api/2.0/instance-pools/edit",
        "instance-pools",
    ),
    "clusters": _Api(
        "/api/2.1/clusters/list",
        "clusters",
        "cluster_id",
        "/api/2.1/clusters/create",
        "/api/2.1/clusters/edit",
        "clusters",
        "page_size",
    ),
    "jobs": _Api(
        "/api/2.2/jobs/list", "jobs", "job_id", "/api/2.2/jobs/create", "/api/2.2/jobs/reset", "jobs", "limit"
    ),
}
_PERMISSION_TYPES = {
    **{t: a.permissions for t, a in _APIS.items() if a.permissions},
    "notebooks": "notebooks",
    "directories": "directories",
    "files": "files",
}
SCIM = "/api/2.0/preview/scim/v2"
_SCIM_NAMES = (("Users", "userName"), ("Groups", "displayName"), ("ServicePrincipals", "applicationId"))


class _OneAttemptClock(Clock):
    """The SDK's clock for this hook: its retry loop's deadline passes at its first sleep.

    databricks-sdk retries 429, 503, connection errors and timeouts inside every call until its
    ``retry_timeout_seconds``, POSTs included. On this clock a retry's sleep moves the calling
    thread's time past any deadline without sleeping, so each call makes one attempt and raises
    ``TimeoutError`` from the failure; the hook retries through its limiter instead.
    """

    def __init__(self) -> None:
        self._skipped = threading.local()

    def time(self) -> float:
        """Wall time plus what this thread's skipped retries added."""
        return time.time() + float(getattr(self._skipped, "seconds", 0.0))

    def sleep(self, seconds: float) -> None:
        """Skip the retry: the deadline is now behind this thread."""
        self._skipped.seconds = float(getattr(self._skipped, "seconds", 0.0)) + 1e9


def failure_kind(exc: BaseException) -> str:
    """:data:`REFUSED`, :data:`AMBIGUOUS` or :data:`FINAL` for an error of one attempt."""
    if isinstance(exc, TooManyRequests):
        return REFUSED
    if isinstance(exc, InvalidState) and any(
        word in str(exc).lower() for word in ("rate limit", "too many", "retry later")
    ):
        return REFUSED
    if is_transient(exc) or isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return AMBIGUOUS
    return FINAL


def _unwrapped(exc: BaseException) -> BaseException:
    """The failure itself, not the SDK's "Timed out" around it (see :class:`_OneAttemptClock`)."""
    if isinstance(exc, TimeoutError) and isinstance(
        exc.__cause__, (DatabricksError, requests.RequestException)
    ):
        return exc.__cause__
    return exc


def _retry_after(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after_secs", None)
    return float(value) if value is not None else None


def _listing_key(object_type: str, roots: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The memo key of one listing: workspace objects per roots, every other type once."""
    return (object_type, tuple(roots) if object_type == "workspace_objects" else ())


class DrWorkspaceHook(BaseHook):
    """One workspace of a disaster-recovery copy (source or target), every call through its host's limiter."""

    conn_name_attr = "databricks_conn_id"
    default_conn_name = "databricks_default"
    conn_type = "databricks"
    hook_name = "Databricks DR workspace"

    def __init__(
        self,
        databricks_conn_id: str = default_conn_name,
        max_concurrency: int = 8,
        limiter: AdaptiveLimiter | None = None,
        max_attempts: int = 30,
        memoize_listings: bool = False,
        **kwargs: Any,
    ) -> None:
        """Remember the settings; nothing is called until a method needs the workspace.

        Args:
            databricks_conn_id: the Airflow Databricks connection of the workspace.
            max_concurrency: calls in flight at once to the host (the limiter's starting limit).
            limiter: the limiter to use (default: the process's one for the host).
            max_attempts: attempts of one call before a throttled or failing call gives up.
            memoize_listings: list each object type once and answer later :meth:`list_objects`
                calls from that listing (a copy of it): for a workspace the task only reads.
            **kwargs: passed to BaseHook.
        """
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id
        self.max_concurrency = max_concurrency
        self.max_attempts = max_attempts
        self._limiter = limiter
        self.memoize_listings = memoize_listings
        self._listings: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
        self._listings_lock = threading.Lock()

    # -- client ----------------------------------------------------------------------------------
    @cached_property
    def provider_hook(self) -> DatabricksHook:
        """The Databricks provider's hook of the connection: the one authentication path."""
        return DatabricksHook(self.databricks_conn_id, caller="DrWorkspaceHook")

    @cached_property
    def host(self) -> str:
        """The workspace URL."""
        return workspace_url(self.provider_hook)

    @cached_property
    def client(self) -> WorkspaceClient:
        """The SDK's client; it sends each request once (the hook retries)."""
        return workspace_client(self.provider_hook, clock=_OneAttemptClock())

    def get_conn(self) -> WorkspaceClient:
        """The SDK's client."""
        return self.client

    @cached_property
    def limiter(self) -> AdaptiveLimiter:
        """The host's limiter, shared by every hook of the host in this process."""
        return self._limiter or limiter_for(self.host, self.max_concurrency)

    @cached_property
    def workspace_id(self) -> str:
        """The workspace's id (the ``X-Databricks-Org-Id`` of the SCIM /Me answer)."""
        me = self._call(
            "GET", f"{SCIM}/Me", "read the workspace id", response_headers=["X-Databricks-Org-Id"]
        )
        return str(me["X-Databricks-Org-Id"])

    # -- one request -----------------------------------------------------------------------------
    def _attempt(self, method: str, path: str, kwargs: Mapping[str, Any]) -> Any:
        """One request in one limiter slot; the limiter learns of a success."""
        with self.limiter.slot():
            answer = self.client.api_client.do(method, path, **kwargs)
        self.limiter.succeeded()
        return answer

    def _call(self, method: str, path: str, operation: str, replay: bool = True, **kwargs: Any) -> Any:
        """Send one request, retried while refused (and, when ``replay``, while the failure is ambiguous).

        Raises:
            TransientServiceError: still throttled or failing after ``max_attempts``, or an
                ambiguous failure of a request that must not be replayed.
            ExternalServiceError: any other refusal (translated).
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._attempt(method, path, kwargs)
            except (DatabricksError, requests.RequestException, TimeoutError) as exc:
                failure = _unwrapped(exc)
            kind = failure_kind(failure)
            retry = kind == REFUSED or (kind == AMBIGUOUS and replay)
            if kind != FINAL:
                self.limiter.throttled(_retry_after(failure))
            if not retry or attempt == self.max_attempts:
                raise translate(failure, operation) from failure
            self.log.debug(
                "%s: %s; sending it again (attempt %d)", operation, type(failure).__name__, attempt
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(
        self, path: str, key: str, operation: str, query: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Every item under ``key`` of a paged list, following ``next_page_token`` to the end."""
        token: str | None = None
        while True:
            page = self._call(
                "GET", path, operation, query={**query, **({"page_token": token} if token else {})}
            )
            yield from page.get(key) or []
            token = page.get("next_page_token")
            if not token:
                return

    # -- reads -----------------------------------------------------------------------------------
    def list_objects(
        self, object_type: str, roots: Sequence[str] = ("/Users", "/Shared")
    ) -> list[dict[str, Any]]:
        """Every object of ``object_type`` in this workspace, complete (see the module's design notes).

        With ``memoize_listings``, a type is listed once and each call gets its own copy.

        Raises:
            ValueError: an object type this hook cannot list (permissions are read per object).
        """
        if not self.memoize_listings:
            return self._list_now(object_type, roots)
        key = _listing_key(object_type, roots)
        with self._listings_lock:  # one listing per type, even when threads ask at once
            if key not in self._listings:
                self._listings[key] = self._list_now(object_type, roots)
            return copy.deepcopy(self._listings[key])

    def relist(self, object_type: str, roots: Sequence[str] = ("/Users", "/Shared")) -> list[dict[str, Any]]:
        """A fresh listing of ``object_type`` (what this task wrote included); it replaces a memoized one."""
        fresh = self._list_now(object_type, roots)
        if self.memoize_listings:
            key = _listing_key(object_type, roots)
            with self._listings_lock:
                self._listings[key] = copy.deepcopy(fresh)
        return fresh

    def _list_now(self, object_type: str, roots: Sequence[str]) -> list[dict[str, Any]]:
        listers: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "secret_scopes": self._secret_scopes,
            "global_init_scripts": self._init_scripts,
            "workspace_objects": lambda: self._workspace_tree(roots),
            "cluster_libraries": self._cluster_libraries,
            "jobs": self._jobs,
        }
        if object_type in listers:
            return listers[object_type]()
        if object_type in _APIS:
            return self._listed(object_type)
        raise ValueError(f"object_type: cannot list {object_type!r}; known: {sorted([*_APIS, *listers])}")

    def _listed(self, object_type: str) -> list[dict[str, Any]]:
        api = _APIS[object_type]
        query = {api.page_size_param: PAGE_SIZE} if api.page_size_param else {}
        return list(self._pages(api.list_path, api.list_key, f"list {object_type}", query))

    def _jobs(self) -> list[dict[str, Any]]:
        listed = self._pages(
            "/api/2.2/jobs/list", "jobs", "list jobs", {"limit": PAGE_SIZE, "expand_tasks": True}
        )
        return [self.get_job(str(j["job_id"])) if self._partial(j) else j for j in listed]

    @staticmethod
    def _partial(job: Mapping[str, Any]) -> bool:
        return bool(job.get("has_more")) or "tasks" not in (job.get("settings") or {})

    def get_job(self, job_id: str) -> dict[str, Any]:
        """One job with its complete settings: jobs/get pages its tasks (and job clusters) over 100."""
        job: dict[str, Any] | None = None
        token: str | None = None
        while True:
            query = {"job_id": job_id, **({"page_token": token} if token else {})}
            page = self._call("GET", "/api/2.2/jobs/get", f"get job {job_id}", query=query)
            job = page if job is None else _merged_job(job, page)
            token = page.get("next_page_token")
            if not token:
                job.pop("next_page_token", None)
                job.pop("has_more", None)
                return job

    def _secret_scopes(self) -> list[dict[str, Any]]:
        """Each scope with its backend and key names (a vault-backed scope's keys are in its vault)."""
        scopes = self._call("GET", "/api/2.0/secrets/scopes/list", "list secret scopes").get("scopes") or []
        out = []
        for s in scopes:
            backend = str(s.get("backend_type") or "DATABRICKS")
            scope: dict[str, Any] = {"name": s["name"], "backend_type": backend}
            if s.get("keyvault_metadata"):
                scope["keyvault_metadata"] = dict(s["keyvault_metadata"])
            scope["keys"] = self._secret_keys(s["name"]) if backend == "DATABRICKS" else []
            out.append(scope)
        return out

    def _secret_keys(self, scope: str) -> list[str]:
        answer = self._call(
            "GET", "/api/2.0/secrets/list", f"list the keys of {scope}", query={"scope": scope}
        )
        return sorted(str(s["key"]) for s in answer.get("secrets") or [])

    def _init_scripts(self) -> list[dict[str, Any]]:
        listed = (
            self._call("GET", "/api/2.0/global-init-scripts", "list global init scripts").get("scripts") or []
        )
        return [self._init_script(str(s["script_id"])) for s in listed]

    def _init_script(self, script_id: str) -> dict[str, Any]:
        script: dict[str, Any] = self._call(
            "GET", f"/api/2.0/global-init-scripts/{script_id}", f"get global init script {script_id}"
        )
        script["script"] = base64.b64decode(script.get("script") or "").decode()
        return script

    def _workspace_tree(self, roots: Sequence[str]) -> list[dict[str, Any]]:
        """Every entry under ``roots``, breadth first.

        The folders of one level are listed at once: one call per folder, up to ``max_concurrency``
        in flight (the limiter still bounds them).
        """
        found: list[dict[str, Any]] = []
        level = list(roots)
        workers = max(1, self.max_concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dr-tree") as pool:
            while level:
                entries = [e for listed in pool.map(self._workspace_list, level) for e in listed]
                found += entries
                level = [e["path"] for e in entries if e.get("object_type") == "DIRECTORY"]
        return found

    def _workspace_list(self, path: str) -> list[dict[str, Any]]:
        """The entries of one folder; a root that does not exist has none."""
        try:
            answer = self._call("GET", "/api/2.0/workspace/list", f"list {path}", query={"path": path})
        except ResourceNotFoundError:
            return []
        return list(answer.get("objects") or [])

    def _cluster_libraries(self) -> list[dict[str, Any]]:
        statuses = self._call("GET", "/api/2.0/libraries/all-cluster-statuses", "list cluster libraries")
        by_cluster = {
            s["cluster_id"]: s.get("library_statuses") or [] for s in statuses.get("statuses") or []
        }
        return [
            {"cluster_id": c["cluster_id"], "libraries": _installed(by_cluster.get(c["cluster_id"], []))}
            for c in self._listed("clusters")
        ]

    def export(self, path: str) -> bytes:
        """A notebook (SOURCE format) or file's content.

        Raises:
            ExportTooLargeError: the workspace refused the export for the object's size.
        """
        try:
            answer = self._call(
                "GET", "/api/2.0/workspace/export", f"export {path}", query={"path": path, "format": "SOURCE"}
            )
        except ExternalServiceError as exc:
            cause = exc.__cause__
            if isinstance(cause, DatabricksError) and _is_size_refusal(cause):
                raise ExportTooLargeError(path, self._size(path)) from cause
            raise
        return base64.b64decode(answer.get("content") or "")

    def read_file(self, path: str) -> bytes | None:
        """A workspace file's content, or None when there is none at ``path``."""
        try:
            return self.export(path)
        except ResourceNotFoundError:
            return None

    def read_dbfs(self, path: str) -> bytes:
        """A DBFS file's content, read ``DBFS_READ_BYTES`` at a time.

        Raises:
            ResourceNotFoundError: no file at ``path``.
        """
        content = b""
        while True:
            query = {"path": path, "offset": len(content), "length": DBFS_READ_BYTES}
            answer = self._call("GET", "/api/2.0/dbfs/read", f"read dbfs:{path}", query=query)
            chunk = base64.b64decode(answer.get("data") or "")
            content += chunk
            if int(answer.get("bytes_read") or 0) < DBFS_READ_BYTES or not chunk:
                return content

    def git_credentials(self) -> list[dict[str, Any]]:
        """The Git credentials of the connection's identity (the API lists the caller's only)."""
        answer = self._call("GET", "/api/2.0/git-credentials", "list Git credentials")
        return [dict(c) for c in answer.get("credentials") or []]

    def me(self) -> str:
        """The user name (or application id) of the connection's identity."""
        answer = self._call("GET", f"{SCIM}/Me", "read the calling identity")
        return str(answer.get("userName") or answer.get("applicationId") or answer.get("displayName") or "")

    def git_folder_owners(self) -> list[str]:
        """The user folders under /Repos (each user's Git folders live in ``/Repos/<user>``)."""
        return sorted(
            str(e["path"]).split("/")[2]
            for e in self._workspace_list("/Repos")
            if e.get("object_type") == "DIRECTORY" and str(e.get("path", "")).count("/") == 2
        )

    def _size(self, path: str) -> int | None:
        status = self._call(
            "GET", "/api/2.0/workspace/get-status", f"get status of {path}", query={"path": path}
        )
        size = status.get("size")
        return int(size) if size is not None else None

    def get_permissions(self, object_type: str, object_id: str) -> dict[str, Any]:
        """The object's permissions as the API answers them (secret scopes: their ACL items)."""
        if object_type == "secret_scopes":
            return dict(
                self._call(
                    "GET", "/api/2.0/secrets/acls/list", f"ACLs of {object_id}", query={"scope": object_id}
                )
            )
        path = f"/api/2.0/permissions/{_permission_type(object_type)}/{quote(object_id, safe='')}"
        return dict(self._call("GET", path, f"permissions of {object_type} {object_id}"))

    def principals(self) -> set[str]:
        """User names, group names and service principal application ids of the workspace (SCIM)."""
        return {name for resource, attr in _SCIM_NAMES for name in self._scim_names(resource, attr)}

    def _scim_names(self, resource: str, attribute: str) -> Iterator[str]:
        start = 1
        while True:
            query = {"startIndex": start, "count": PAGE_SIZE, "attributes": attribute}
            page = self._call("GET", f"{SCIM}/{resource}", f"list {resource}", query=query)
            resources = page.get("Resources") or []
            yield from (str(r[attribute]) for r in resources if r.get(attribute))
            start += len(resources)
            if not resources or start > int(page.get("totalResults") or 0):
                return

    def cluster_state(self, cluster_id: str) -> str:
        """The cluster's state (PENDING, RUNNING, TERMINATED, ...)."""
        answer = self._call(
            "GET", "/api/2.1/clusters/get", f"get cluster {cluster_id}", query={"cluster_id": cluster_id}
        )
        return str(answer.get("state") or "")

    # -- writes ----------------------------------------------------------------------------------
    def create(self, object_type: str, spec: dict[str, Any]) -> str:
        """One create call: the new object's id (scope name, path); not sent again after an ambiguous failure.

        Raises:
            TransientServiceError: the outcome is unknown (5xx, timeout, reset): look before retrying,
                as :meth:`create_once` does.
            ValueError: an object type created otherwise (workspace files and notebooks: import_object).
        """
        op = f"create {object_type}"
        if object_type in _APIS:
            api = _APIS[object_type]
            return str(self._call("POST", api.create_path, op, replay=False, body=spec)[api.id_field])
        if object_type == "global_init_scripts":
            body = _encoded_script(spec)
            return str(
                self._call("POST", "/api/2.0/global-init-scripts", op, replay=False, body=body)["script_id"]
            )
        if object_type == "secret_scopes":
            self._call("POST", "/api/2.0/secrets/scopes/create", op, replay=False, body=_scope_body(spec))
            return str(spec["scope"])
        return self._create_idempotent(object_type, spec)

    def _create_idempotent(self, object_type: str, spec: dict[str, Any]) -> str:
        """Creates that are safe to send twice: a folder, a cluster's libraries."""
        if object_type == "cluster_libraries":
            self.install_libraries(str(spec["cluster_id"]), list(spec["libraries"]))
            return str(spec["cluster_id"])
        if object_type == "workspace_objects" and spec.get("object_type") == "DIRECTORY":
            self.import_object(spec, None, overwrite=True)
            return str(spec["path"])
        raise ValueError(
            f"object_type: {object_type!r} {spec.get('object_type', '')} is not created by create()"
        )

    def create_once(
        self, object_type: str, spec: dict[str, Any], lookup: Callable[[], str | None]
    ) -> tuple[str, bool]:
        """Create the object unless it exists: ``(id, created)``.

        After an ambiguous failure ``lookup()`` (the target's object carrying the spec's marker, or
        None) runs before the create is sent again, so a create the server committed before failing
        is adopted, not duplicated.
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self.create(object_type, spec), True
            except TransientServiceError:
                if attempt == self.max_attempts:
                    raise
            found = lookup()
            if found is not None:
                self.log.info("%s: the create before the failure was committed (%s)", object_type, found)
                return found, False
        raise AssertionError("unreachable")  # pragma: no cover

    def update(self, object_type: str, target_id: str, spec: dict[str, Any]) -> None:
        """Bring an existing target object to ``spec`` (edit, reset or update, per type).

        Raises:
            ValueError: an object type with no update (workspace objects: import_object with overwrite).
        """
        op = f"update {object_type} {target_id}"
        if object_type in _APIS:
            api = _APIS[object_type]
            body = (
                {"job_id": target_id, "new_settings": spec}
                if object_type == "jobs"
                else {**spec, api.id_field: target_id}
            )
            self._call("POST", api.edit_path, op, body=body)
        elif object_type == "global_init_scripts":
            self._call("PATCH", f"/api/2.0/global-init-scripts/{target_id}", op, body=_encoded_script(spec))
        elif object_type == "cluster_libraries":
            self.install_libraries(target_id, list(spec["libraries"]))
        elif object_type != "secret_scopes":  # a scope has nothing to update; its keys are put one by one
            raise ValueError(f"object_type: {object_type!r} has no update; use import_object(overwrite=True)")

    def import_object(self, entry: Mapping[str, Any], content: bytes | None, overwrite: bool) -> None:
        """Write a workspace object: DIRECTORY (mkdirs), NOTEBOOK (SOURCE, its language) or FILE.

        Without ``overwrite`` an ambiguous failure is not replayed (the replay would find the object
        and be refused): it raises :class:`~platform_ops.exceptions.TransientServiceError`.
        """
        path, kind = str(entry["path"]), entry.get("object_type")
        op = f"import {path}"
        if kind == "DIRECTORY":
            self._call("POST", "/api/2.0/workspace/mkdirs", op, body={"path": path})
        elif kind == "NOTEBOOK":
            body = {
                "path": path,
                "format": "SOURCE",
                "language": entry.get("language"),
                "content": base64.b64encode(content or b"").decode(),
                "overwrite": overwrite,
            }
            sent = {k: v for k, v in body.items() if v is not None}
            self._call("POST", "/api/2.0/workspace/import", op, replay=overwrite, body=sent)
        elif kind == "FILE":
            url = f"/api/2.0/workspace-files/import-file/{quote(path.lstrip('/'))}"
            query = {"overwrite": str(overwrite).lower()}
            self._call("POST", url, op, replay=overwrite, query=query, data=content or b"")
        else:
            raise ValueError(f"object_type: cannot import a workspace {kind!r} ({path})")

    def put_secret(self, scope: str, key: str, value: str) -> None:
        """Store one secret value (the value is never logged)."""
        body = {"scope": scope, "key": key, "string_value": value}
        self._call("POST", "/api/2.0/secrets/put", f"put secret {scope}/{key}", body=body)

    def install_libraries(self, cluster_id: str, libraries: list[dict[str, Any]]) -> None:
        """Install libraries on a cluster (installing one already there changes nothing)."""
        if libraries:
            body = {"cluster_id": cluster_id, "libraries": libraries}
            self._call("POST", "/api/2.0/libraries/install", f"install libraries on {cluster_id}", body=body)

    def set_permissions(self, object_type: str, object_id: str, entries: list[dict[str, Any]]) -> None:
        """Replace the object's direct permissions with ``entries`` (secret scopes: put each ACL item)."""
        if object_type == "secret_scopes":
            for item in entries:
                body = {"scope": object_id, **item}
                self._call("POST", "/api/2.0/secrets/acls/put", f"put an ACL on {object_id}", body=body)
            return
        path = f"/api/2.0/permissions/{_permission_type(object_type)}/{quote(object_id, safe='')}"
        self._call(
            "PUT",
            path,
            f"set permissions of {object_type} {object_id}",
            body={"access_control_list": entries},
        )

    def terminate_cluster(self, cluster_id: str) -> None:
        """Terminate a cluster (it stays defined; terminating a terminated one changes nothing)."""
        self._call(
            "POST",
            "/api/2.1/clusters/delete",
            f"terminate cluster {cluster_id}",
            body={"cluster_id": cluster_id},
        )

    def set_job_pause(self, job_id: str, status: str) -> None:
        """Set the pause status of the job's schedule, continuous and trigger; nothing else changes.

        The complete settings (every task page) are read and reset with only the pause statuses
        changed; a job with none of the three is left alone.
        """
        settings = self.get_job(job_id).get("settings") or {}
        changed = {k: {**settings[k], "pause_status": status} for k in PAUSABLE if settings.get(k)}
        if changed:
            self.update("jobs", job_id, {**settings, **changed})


def _merged_job(job: dict[str, Any], page: Mapping[str, Any]) -> dict[str, Any]:
    """``job`` with the arrays of a further jobs/get page appended to its settings."""
    settings = dict(job.get("settings") or {})
    more = page.get("settings") or {}
    for key in JOB_PAGED_ARRAYS:
        if more.get(key):
            settings[key] = [*settings.get(key, []), *more[key]]
    return {**job, "settings": settings, "next_page_token": page.get("next_page_token")}


def _installed(statuses: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The libraries a cluster has on purpose (not those for all clusters, nor those being removed)."""
    return [
        dict(s["library"])
        for s in statuses
        if s.get("library")
        and not s.get("is_library_for_all_clusters")
        and s.get("status") != "UNINSTALL_ON_RESTART"
    ]


def _is_size_refusal(exc: DatabricksError) -> bool:
    message = str(exc).lower()
    return exc.error_code in EXPORT_LIMIT_CODES or (
        "size" in message and ("exceed" in message or "limit" in message)
    )


def _encoded_script(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A global init script's request body: the script text base64-encoded, as the API takes it."""
    return {**spec, "script": base64.b64encode(str(spec.get("script", "")).encode()).decode()}


def _scope_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The scopes/create body: only the scope's own fields (its keys are put separately)."""
    fields = ("scope", "initial_manage_principal", "scope_backend_type", "backend_azure_keyvault")
    return {k: spec[k] for k in fields if spec.get(k) is not None}


def _permission_type(object_type: str) -> str:
    if object_type not in _PERMISSION_TYPES:
        raise ValueError(
            f"object_type: no permissions API for {object_type!r}; known: {sorted(_PERMISSION_TYPES)}"
        )
    return _PERMISSION_TYPES[object_type]
