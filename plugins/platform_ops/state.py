"""RunStateStore: JSON run-state documents on any ObjectStoragePath (file://, s3://, gs://).

Documents are addressed by ``dag_id/task_id/<logical date>/<name>`` (see
:mod:`platform_ops.core.state_keys`). Each ``put`` writes the version of its try and then the
latest copy, both atomically:

* file:// writes a temp file beside the target, fsyncs it and renames it over the target
  (``os.replace``), so a reader sees the old or the new document, never a torn one, and a crash
  between the temp write and the rename leaves the previous version in place;
* s3:// and gs:// objects appear whole on a single PUT, so the document is written directly.

Reads never raise on bad data: a missing, empty or corrupt document is reported with a logged
warning and read as ``None`` ("no state"), never as success.

The root comes from, in order: the ``root`` argument, the Airflow Variable
``platform_ops_state_root``, the environment variable ``PLATFORM_OPS_STATE_ROOT``, and finally
``file://$AIRFLOW_HOME/state``. Remote roots take an Airflow connection id: the ``conn_id``
argument, else the Variable ``platform_ops_state_conn_id`` or env ``PLATFORM_OPS_STATE_CONN_ID``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from datetime import datetime
from typing import Any

from airflow.sdk import ObjectStoragePath, Variable

from platform_ops.core.state_keys import DocKey, date_key, parse_version_file, validate_segment
from platform_ops.exceptions import ConfigError, StateError

log = logging.getLogger(__name__)

STATE_ROOT_VARIABLE = "platform_ops_state_root"
STATE_ROOT_ENV = "PLATFORM_OPS_STATE_ROOT"
STATE_CONN_VARIABLE = "platform_ops_state_conn_id"
STATE_CONN_ENV = "PLATFORM_OPS_STATE_CONN_ID"
_SUPPORTED_SCHEMES = ("file", "s3", "gs", "gcs")


def airflow_home() -> str:
    """$AIRFLOW_HOME, or Airflow's own default ~/airflow, as an absolute path."""
    return os.path.abspath(os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"))


def default_state_root() -> str:
    return "file://" + os.path.join(airflow_home(), "state")


def _setting(variable: str, env: str) -> str | None:
    try:
        value = Variable.get(variable, default=None)
    except Exception:  # no metadata DB / API reachable: fall through to the environment
        log.debug("Variable %s could not be read; using the environment", variable, exc_info=True)
        value = None
    return value or os.environ.get(env) or None


def resolve_state_root(root: str | None = None) -> str:
    """The state root URL: explicit argument, Airflow Variable, env var, then the default."""
    return root or _setting(STATE_ROOT_VARIABLE, STATE_ROOT_ENV) or default_state_root()


def resolve_state_conn_id(conn_id: str | None = None) -> str | None:
    """The connection for a remote root: explicit argument, Variable, env var, else none."""
    return conn_id or _setting(STATE_CONN_VARIABLE, STATE_CONN_ENV)


class RunStateStore:
    """Persisted run state, one JSON document per (dag, task, logical date, name), versioned per try."""

    def __init__(self, root: str | None = None, conn_id: str | None = None) -> None:
        url = resolve_state_root(root)
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in _SUPPORTED_SCHEMES:
            raise ConfigError(
                "state_root",
                f"{url!r} is not a file://, s3:// or gs:// URL",
                f"set the Variable {STATE_ROOT_VARIABLE} or env {STATE_ROOT_ENV} to e.g. "
                "file:///var/lib/airflow/state or s3://bucket/prefix",
            )
        self.url = url.rstrip("/")
        conn_id = resolve_state_conn_id(conn_id) if scheme != "file" else None
        self.conn_id = conn_id
        self.root = ObjectStoragePath(self.url, conn_id=conn_id) if conn_id else ObjectStoragePath(self.url)
        self._local = self.root.protocol in ("file", "local", "")

    def __repr__(self) -> str:
        return f"RunStateStore({self.url!r}, conn_id={self.conn_id!r})"

    # -- addressing -------------------------------------------------------------------------------
    @staticmethod
    def key(
        dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> DocKey:
        return DocKey(dag_id, task_id, date_key(logical_date, run_id), name)

    def _path(self, parts: tuple[str, ...]) -> ObjectStoragePath:
        return self.root.joinpath(*parts)

    def location(
        self, dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> str:
        """URL of the latest copy of a document (for logs and XCom)."""
        return self._url(self.key(dag_id, task_id, logical_date, name, run_id).latest)

    def _url(self, parts: tuple[str, ...]) -> str:
        # str(ObjectStoragePath) embeds the conn id (s3://conn@bucket/...); show the plain URL.
        return "/".join((self.url, *parts))

    # -- writes -----------------------------------------------------------------------------------
    def put(
        self,
        doc: Any,
        dag_id: str,
        task_id: str,
        logical_date: datetime | None,
        name: str,
        try_number: int,
        run_id: str | None = None,
    ) -> str:
        """Store ``doc`` as the version of ``try_number`` and as the latest. Returns the latest URL."""
        if doc is None:
            raise ConfigError("doc", "is None", "pass the JSON-serialisable document to store")
        key = self.key(dag_id, task_id, logical_date, name, run_id)
        try:
            payload = json.dumps(doc, indent=1, sort_keys=True, default=str).encode()
        except (TypeError, ValueError) as exc:
            raise ConfigError("doc", f"is not JSON-serialisable ({exc})", "store plain dicts/lists") from exc
        self._write_atomic(self._path(key.version(try_number)), payload)
        self._write_atomic(self._path(key.latest), payload)
        url = self._url(key.latest)
        log.info("Run state %s (try %s) written to %s", name, try_number, url)
        return url

    def _write_atomic(self, target: ObjectStoragePath, payload: bytes) -> None:
        try:
            if self._local:
                self._write_local(target.path, payload)
            else:
                target.write_bytes(payload)  # object stores publish a PUT whole or not at all
        except OSError as exc:
            raise StateError(f"could not write run state to {target}: {exc}") from exc

    @staticmethod
    def _write_local(path: str, payload: bytes) -> None:
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)

    # -- reads ------------------------------------------------------------------------------------
    def get_latest(
        self, dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> Any | None:
        """The latest stored document, or None (with a warning) if missing, empty or corrupt."""
        return self._read(self._path(self.key(dag_id, task_id, logical_date, name, run_id).latest))

    def get_version(
        self,
        dag_id: str,
        task_id: str,
        logical_date: datetime | None,
        name: str,
        try_number: int,
        run_id: str | None = None,
    ) -> Any | None:
        """The document stored by one try, or None (with a warning) if missing, empty or corrupt."""
        key = self.key(dag_id, task_id, logical_date, name, run_id)
        return self._read(self._path(key.version(try_number)))

    def list_versions(
        self, dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> list[int]:
        """Try numbers that stored a version of this document, ascending."""
        folder = self._path(self.key(dag_id, task_id, logical_date, name, run_id).versions_folder)
        try:
            names = [p.name for p in folder.iterdir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in (parse_version_file(name) for name in names) if n is not None)

    @staticmethod
    def _read(path: ObjectStoragePath) -> Any | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            log.warning("No run state at %s: treating as no state", path)
            return None
        if not raw.strip():
            log.warning("Run state at %s is empty: treating as no state", path)
            return None
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("Run state at %s is corrupt (%s): treating as no state", path, exc)
            return None
        if doc is None:
            log.warning("Run state at %s holds null: treating as no state", path)
        return doc

    # -- shared documents ---------------------------------------------------------------------------
    # Documents that belong to no single task and date, e.g. the slot leases that overlapping DAG
    # runs hold on one reservation: ``_shared/<namespace>/<key>.json``, one writer per key.
    def _shared(self, namespace: str, key: str | None = None) -> ObjectStoragePath:
        parts = ["_shared", validate_segment("namespace", namespace)]
        if key is not None:
            parts.append(f"{validate_segment('key', key)}.json")
        return self.root.joinpath(*parts)

    def put_shared(self, namespace: str, key: str, doc: Any) -> None:
        self._write_atomic(
            self._shared(namespace, key), json.dumps(doc, sort_keys=True, default=str).encode()
        )

    def get_shared(self, namespace: str, key: str) -> Any | None:
        return self._read(self._shared(namespace, key))

    def list_shared(self, namespace: str) -> dict[str, Any]:
        """key -> document for every readable document of the namespace."""
        try:
            paths = [p for p in self._shared(namespace).iterdir() if p.name.endswith(".json")]
        except (FileNotFoundError, NotADirectoryError):
            return {}
        docs = {p.name[: -len(".json")]: self._read(p) for p in paths if not p.name.startswith(".")}
        return {k: v for k, v in docs.items() if v is not None}

    def delete_shared(self, namespace: str, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._shared(namespace, key).unlink()
