"""RunStateStore: JSON run-state documents on any ObjectStoragePath (file://, s3://, gs://).

Documents are addressed by ``dag_id/task_id/<logical date>/<name>`` (see
:mod:`platform_ops.core.state_keys`). Each ``put`` writes the version of its try and then the
latest copy, both atomically:

* file:// writes a temp file beside the target, fsyncs it and renames it over the target
  (``os.replace``), so a reader sees the old or the new document, never a torn one, and a crash
  between the temp write and the rename leaves the previous version in place; temp files that a
  killed writer left behind are removed by the next write in that folder once they are stale;
* s3:// and gs:// objects appear whole on a single PUT, so the document is written directly.

A version file is created only if its name is free (a hard link on file://, ``If-None-Match: *``
on s3://, ``ifGenerationMatch=0`` on gs://), so two writers can never both take one name, and it is
never overwritten by another writer: when a run of the same logical date was deleted and
re-created, its try 1 finds the old run's ``try-0001.json`` and is stored as ``try-0001.1.json``
beside it. A try rewrites its own version, whatever store object or process writes it (a deferred
task resumes in a new one): a stored dict document carries who wrote it under
:data:`WRITER_FIELD` (the task instance, whose id Airflow keeps across deferrals and changes for
every new try), and reads hand the document back without that field.

State written by older versions of this package is read as it is: documents without
:data:`WRITER_FIELD`, and, for runs without a logical date, the folder ``run_id=<run id>`` in which
every character but letters, digits and ``. _ - +`` was folded to ``_`` (before run ids were
escaped reversibly): a document family found only there is read from there (see
:func:`~platform_ops.core.state_keys.legacy_run_id_key`).

Documents that several runs update (slot leases) go through :meth:`RunStateStore.update_shared`, a
read-modify-write with a compare-and-set: an exclusive lock on file://, ``If-Match`` /
``If-None-Match`` conditional PUTs on s3://. gs:// has no compare-and-set here yet: it is refused
with a ConfigError rather than risking lost updates.

Reads never raise on bad data: a missing, empty or corrupt document is reported with a logged
warning and read as ``None`` ("no state"), never as success.

The root comes from, in order: the ``root`` argument, the Airflow Variable
``platform_ops_state_root``, the environment variable ``PLATFORM_OPS_STATE_ROOT``, and finally
``file://$AIRFLOW_HOME/state``. Remote roots take an Airflow connection id: the ``conn_id``
argument, else the Variable ``platform_ops_state_conn_id`` or env ``PLATFORM_OPS_STATE_CONN_ID``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from airflow.sdk import ObjectStoragePath, Variable, get_current_context
from fsspec.asyn import sync

from platform_ops.core.state_keys import (
    DocKey,
    date_key,
    files_digest,
    legacy_run_id_key,
    parse_version_name,
    validate_segment,
)
from platform_ops.exceptions import ConfigError, StateError

log = logging.getLogger(__name__)

STATE_ROOT_VARIABLE = "platform_ops_state_root"
STATE_ROOT_ENV = "PLATFORM_OPS_STATE_ROOT"
STATE_CONN_VARIABLE = "platform_ops_state_conn_id"
STATE_CONN_ENV = "PLATFORM_OPS_STATE_CONN_ID"
_SUPPORTED_SCHEMES = ("file", "s3", "gs", "gcs")
# A temp file older than this in a folder being written belongs to a writer that died.
STALE_TEMP_SECONDS = 15 * 60
_CAS_ATTEMPTS = 50
#: The key under which a stored dict document records who wrote it (removed again on read):
#: ``{"writer": "ti-<task instance id>" or "store-<token>", "run_id": ..., "try_number": ...}``.
WRITER_FIELD = "_written_by"


def airflow_home() -> str:
    """$AIRFLOW_HOME, or Airflow's own default ~/airflow, as an absolute path."""
    return os.path.abspath(os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"))


def default_state_root() -> str:
    """The root used when nothing is configured: ``file://$AIRFLOW_HOME/state``."""
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
        """Open the store at ``root`` (resolved as the module describes), with ``conn_id`` for a remote root.

        Raises:
            ConfigError: the root is not a file://, s3:// or gs:// URL.
        """
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
        self._s3 = self.root.protocol in ("s3", "s3a")
        self._gcs = self.root.protocol in ("gs", "gcs")
        # Who writes when no task instance is known (put called outside a task): this object.
        self._token = f"store-{uuid.uuid4().hex}"
        # Version files this store wrote, per (document, try): rewritten in place, never another's.
        self._own_versions: dict[tuple[DocKey, int], tuple[str, ...]] = {}

    def __repr__(self) -> str:
        """The root URL and connection id (never the credentials)."""
        return f"RunStateStore({self.url!r}, conn_id={self.conn_id!r})"

    # -- addressing -------------------------------------------------------------------------------
    @staticmethod
    def key(
        dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> DocKey:
        """The address of a document family; a run without a logical date is keyed by ``run_id``."""
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
        writer: str | None = None,
    ) -> str:
        """Store ``doc`` as the version of ``try_number`` and as the latest. Returns the latest URL.

        ``writer`` names who writes; a version file of this try that the same writer stored before
        is rewritten, any other writer's is kept. Default: the running task instance (Airflow's
        current context), else, outside a task, this store object.
        """
        if doc is None:
            raise ConfigError("doc", "is None", "pass the JSON-serialisable document to store")
        key = self.key(dag_id, task_id, logical_date, name, run_id)
        if isinstance(doc, dict) and WRITER_FIELD in doc:
            raise ConfigError(
                "doc",
                f"has the key {WRITER_FIELD!r}, which the run-state store keeps for itself",
                "rename that key of the document",
            )
        stamp = {
            "writer": writer or _running_task_instance() or self._token,
            "run_id": run_id,
            "try_number": try_number,
        }
        stored = {**doc, WRITER_FIELD: stamp} if isinstance(doc, dict) else doc
        try:
            payload = json.dumps(stored, indent=1, sort_keys=True, default=str).encode()
        except (TypeError, ValueError) as exc:
            raise ConfigError("doc", f"is not JSON-serialisable ({exc})", "store plain dicts/lists") from exc
        own = self._own_versions.get((key, try_number))
        if own is not None:
            self._write_atomic(self._path(own), payload)
        else:
            self._own_versions[(key, try_number)] = self._create_version(key, try_number, payload, stamp)
        self._write_atomic(self._path(key.latest), payload)
        url = self._url(key.latest)
        log.info("Run state %s (try %s) written to %s", name, try_number, url)
        return url

    def put_files(
        self,
        files: dict[str, bytes],
        dag_id: str,
        task_id: str,
        logical_date: datetime | None,
        name: str,
        run_id: str | None = None,
    ) -> str:
        """Store a set of files beside the document ``name``; returns their folder's digest.

        The files go to ``<date>/<name>.files/<digest>/<filename>``, where the digest is the
        sha256 of the names and contents: a retry that stores the same files rewrites the same
        objects, never a second copy, and a set stored earlier is never changed. Each file is
        written atomically; the document that points at the digest (stored with :meth:`put`
        after this returns) is what makes the set visible.
        """
        key = self.key(dag_id, task_id, logical_date, name, run_id)
        digest = files_digest(files)
        for filename, content in sorted(files.items()):
            self._write_atomic(self._path(self._file_parts(key, digest, filename)), content)
        log.info(
            "%d file(s) of %s written to %s",
            len(files),
            name,
            self._url((*key.folder, f"{name}.files", digest)),
        )
        return digest

    def read_file(
        self,
        dag_id: str,
        task_id: str,
        logical_date: datetime | None,
        name: str,
        digest: str,
        filename: str,
        run_id: str | None = None,
    ) -> bytes | None:
        """One file stored by :meth:`put_files`, or None when it is not there."""
        key = self._read_key(dag_id, task_id, logical_date, name, run_id)
        path = self._path(self._file_parts(key, digest, filename))
        try:
            return path.read_bytes()
        except FileNotFoundError:
            log.warning("No file at %s", path)
            return None
        except OSError as exc:
            raise StateError(f"could not read run state at {path}: {exc}") from exc

    @staticmethod
    def _file_parts(key: DocKey, digest: str, filename: str) -> tuple[str, ...]:
        if not (
            isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
        ):
            raise ConfigError(
                "digest", f"{digest!r} is not a sha256 digest", "pass the digest put_files returned"
            )
        return (*key.folder, f"{key.name}.files", digest, validate_segment("filename", filename))

    def _write_atomic(self, target: ObjectStoragePath, payload: bytes) -> None:
        try:
            if self._local:
                self._write_local(target.path, payload)
            else:
                target.write_bytes(payload)  # object stores publish a PUT whole or not at all
        except OSError as exc:
            raise StateError(f"could not write run state to {target}: {exc}") from exc

    def _create_version(
        self, key: DocKey, try_number: int, payload: bytes, stamp: dict[str, Any]
    ) -> tuple[str, ...]:
        """Write the version file of ``try_number``: the writer's own, else the first free name.

        A name is taken only if it is free (never two writers on one name); one that holds this
        writer's document of this try (stored before a deferral, or by a request whose answer was
        lost) is rewritten; any other is kept and the next name tried.
        """
        copy = 0
        while True:
            parts = key.version(try_number, copy)
            target = self._path(parts)
            if self._create(target, payload):
                if copy:
                    log.warning(
                        "%s already holds a version of try %s from an earlier run of this date: kept; "
                        "this one is %s",
                        self._url(key.versions_folder),
                        try_number,
                        parts[-1],
                    )
                return parts
            if self._stamp_of(target) == stamp:
                log.info("%s is this try's own version: rewritten", self._url(parts))
                self._write_atomic(target, payload)
                return parts
            copy += 1

    def _create(self, target: ObjectStoragePath, payload: bytes) -> bool:
        """Write ``target`` only if no file or object has its name; False when one has."""
        try:
            if self._local:
                return self._write_local(target.path, payload, exclusive=True)
            if self._s3:
                return self._s3_put(target, payload, if_none_match=True)
            if self._gcs:
                return self._gcs_create(target, payload)
            raise ConfigError(
                "state_root", f"{self.url!r} has no conditional create", "use file://, s3:// or gs://"
            )
        except OSError as exc:
            raise StateError(f"could not write run state to {target}: {exc}") from exc

    @staticmethod
    def _gcs_create(target: ObjectStoragePath, payload: bytes) -> bool:
        """Create the object only if none has its name (gcsfs uploads with ``ifGenerationMatch=0``).

        GCS refuses the upload with 412 when the object exists, which gcsfs raises as
        FileExistsError: of two writers, exactly one creates it.
        """
        try:
            target.fs.pipe_file(target.path, payload, mode="create")
        except FileExistsError:
            return False
        return True

    def _stamp_of(self, target: ObjectStoragePath) -> Any | None:
        """The :data:`WRITER_FIELD` of the document at ``target`` (None: none, or unreadable)."""
        try:
            raw = target.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"could not read run state at {target}: {exc}") from exc
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return doc.get(WRITER_FIELD) if isinstance(doc, dict) else None

    @staticmethod
    def _write_local(path: str, payload: bytes, exclusive: bool = False) -> bool:
        """Write ``path`` atomically. ``exclusive``: only if it does not exist (returns False if it does)."""
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        _remove_stale_temp_files(folder)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            if exclusive:
                try:
                    os.link(tmp, path)  # atomic, and fails if the name is taken
                except FileExistsError:
                    return False
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
            else:
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
        return True

    @staticmethod
    def _s3_location(target: ObjectStoragePath) -> tuple[Any, str, str]:
        fs = target.fs
        bucket, key, _ = fs.split_path(target.path)
        return fs, bucket, key

    def _s3_put(
        self,
        target: ObjectStoragePath,
        payload: bytes,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> bool:
        """A conditional PUT; False when the condition does not hold (someone else wrote first)."""
        fs, bucket, key = self._s3_location(target)
        condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"} if if_none_match else {}
        try:
            fs.call_s3("put_object", Bucket=bucket, Key=key, Body=payload, **condition)
        except Exception as exc:  # s3fs translates boto errors; the status code survives in the text
            if condition and _is_precondition_failure(exc):
                return False
            raise
        fs.invalidate_cache(target.path)
        return True

    def _s3_get(self, target: ObjectStoragePath) -> tuple[bytes | None, str | None]:
        fs, bucket, key = self._s3_location(target)

        async def get() -> tuple[bytes | None, str | None]:
            try:
                out = await fs._call_s3("get_object", Bucket=bucket, Key=key)
            except FileNotFoundError:
                return None, None
            async with out["Body"] as stream:
                return await stream.read(), out["ETag"]

        result: tuple[bytes | None, str | None] = sync(fs.loop, get)
        return result

    # -- reads ------------------------------------------------------------------------------------
    def get_latest(
        self, dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> Any | None:
        """The latest stored document, or None (with a warning) if missing, empty or corrupt."""
        key = self._read_key(dag_id, task_id, logical_date, name, run_id)
        return _without_stamp(self._read(self._path(key.latest)))

    def has(
        self, dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> bool:
        """Whether a latest copy of the document is stored (read fresh, whatever it holds)."""
        key = self._read_key(dag_id, task_id, logical_date, name, run_id)
        path = self._path(key.latest)
        with contextlib.suppress(AttributeError):
            path.fs.invalidate_cache(path.path)
        try:
            return path.exists()
        except OSError as exc:
            raise StateError(f"could not read run state at {self._url(key.latest)}: {exc}") from exc

    def get_version(
        self,
        dag_id: str,
        task_id: str,
        logical_date: datetime | None,
        name: str,
        try_number: int,
        run_id: str | None = None,
    ) -> Any | None:
        """The document stored by one try, or None (with a warning) if missing, empty or corrupt.

        When several runs of the date stored this try, the latest run's copy.
        """
        key = self._read_key(dag_id, task_id, logical_date, name, run_id)
        copies = [c for t, c in self._version_names(key) if t == try_number]
        return _without_stamp(self._read(self._path(key.version(try_number, max(copies, default=0)))))

    def list_versions(
        self, dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> list[int]:
        """Try numbers that stored a version of this document, ascending (each once)."""
        key = self._read_key(dag_id, task_id, logical_date, name, run_id)
        return sorted({try_number for try_number, _ in self._version_names(key)})

    def list_version_files(
        self, dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> list[str]:
        """Every version file of this document, oldest first.

        A try stored again by a later run of the same date (``try-0001.1.json``) follows the
        earlier run's copy.
        """
        key = self._read_key(dag_id, task_id, logical_date, name, run_id)
        return [key.version(t, c)[-1] for t, c in sorted(self._version_names(key))]

    def _read_key(
        self, dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None
    ) -> DocKey:
        """Where a document family is read: its folder, or the older versions' one if only that has it.

        Runs without a logical date were kept, before run ids were escaped reversibly, in a folder
        whose name folded the run id (:func:`~platform_ops.core.state_keys.legacy_run_id_key`); a
        latest copy there whose ``run_id`` names another run is that run's, and not read.
        """
        key = self.key(dag_id, task_id, logical_date, name, run_id)
        if logical_date is not None or not run_id:
            return key
        legacy_date = legacy_run_id_key(run_id)
        if legacy_date is None or legacy_date == key.date or self._has_family(key):
            return key
        legacy = DocKey(key.dag_id, key.task_id, legacy_date, key.name)
        if not self._has_family(legacy):
            return key
        # Two run ids could fold to one folder: a latest copy that names another run is not this one's.
        latest = _without_stamp(self._read(self._path(legacy.latest)))
        if isinstance(latest, dict) and isinstance(latest.get("run_id"), str) and latest["run_id"] != run_id:
            log.warning(
                "%s holds run %s's state, not run %s's: not read",
                self._url(legacy.folder),
                latest["run_id"],
                run_id,
            )
            return key
        log.info(
            "Run state %s of run %s is read where older versions of this package stored it: %s",
            name,
            run_id,
            self._url(legacy.folder),
        )
        return legacy

    def _has_family(self, key: DocKey) -> bool:
        """Whether the latest copy or any version file of ``key`` exists."""
        try:
            return self._path(key.latest).exists() or bool(self._version_names(key))
        except OSError as exc:
            raise StateError(f"could not read run state at {self._url(key.folder)}: {exc}") from exc

    def _version_names(self, key: DocKey) -> list[tuple[int, int]]:
        names = self._names(self._path(key.versions_folder))
        return [v for v in (parse_version_name(n) for n in names) if v is not None]

    @staticmethod
    def _names(folder: ObjectStoragePath) -> list[str]:
        """The entries of a folder as the store holds them now; [] when it is no folder.

        s3fs and gcsfs keep every listing for the life of the filesystem object, which fsspec
        shares across store objects in a process: a long-lived reader (the API server's run
        report, a triggerer) would never see what other processes wrote after its first look.
        """
        with contextlib.suppress(AttributeError):
            folder.fs.invalidate_cache(folder.path)
        try:
            return [p.name for p in folder.iterdir()]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def dates(self, dag_id: str, task_id: str, name: str) -> list[str]:
        """The date keys whose folder holds a latest copy of the document ``name``, in no order.

        Keys are :func:`~platform_ops.core.state_keys.date_key` folder names of this DAG and task.
        """
        folder = self.root.joinpath(validate_segment("dag_id", dag_id), validate_segment("task_id", task_id))
        latest = f"{validate_segment('name', name)}.json"
        return [n for n in self._names(folder) if latest in self._names(folder.joinpath(n))]

    def get_versions(
        self, dag_id: str, task_id: str, logical_date: datetime | None, name: str, run_id: str | None = None
    ) -> list[tuple[int, int, Any | None]]:
        """Every stored version of the document as ``(try number, copy, document)``, oldest first.

        A version that is unreadable is ``None`` (with a warning), as in :meth:`get_version`.
        """
        key = self._read_key(dag_id, task_id, logical_date, name, run_id)
        return [
            (t, c, _without_stamp(self._read(self._path(key.version(t, c)))))
            for t, c in sorted(self._version_names(key))
        ]

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
        """Replace one shared document (last writer wins; see :meth:`update_shared` for a CAS)."""
        self._write_atomic(
            self._shared(namespace, key), json.dumps(doc, sort_keys=True, default=str).encode()
        )

    def get_shared(self, namespace: str, key: str) -> Any | None:
        """One shared document, or None (with a warning) if missing, empty or corrupt."""
        return self._read(self._shared(namespace, key))

    def list_shared(self, namespace: str) -> dict[str, Any]:
        """Map each key of the namespace to its document (unreadable documents are left out)."""
        try:
            paths = [p for p in self._shared(namespace).iterdir() if p.name.endswith(".json")]
        except (FileNotFoundError, NotADirectoryError):
            return {}
        docs = {p.name[: -len(".json")]: self._read(p) for p in paths if not p.name.startswith(".")}
        return {k: v for k, v in docs.items() if v is not None}

    def delete_shared(self, namespace: str, key: str) -> None:
        """Remove one shared document; a document that is already gone is not an error."""
        with contextlib.suppress(FileNotFoundError):
            self._shared(namespace, key).unlink()

    def update_shared(self, namespace: str, key: str, change: Callable[[Any | None], Any]) -> Any:
        """Read-modify-write one shared document with a compare-and-set; returns what was committed.

        ``change`` gets the current document (None if there is none) and returns the new one; it
        may run more than once (after losing a race it sees the winner's document), so it must be
        pure. An exception from it aborts the update and nothing is written.
        """
        target = self._shared(namespace, key)
        if self._local:
            return self._update_local(target.path, change)
        if not self._s3:
            raise ConfigError(
                "state_root",
                f"{self.url!r}: shared documents that several runs update need a compare-and-set, "
                "which this store implements for file:// and s3:// only",
                "use an s3:// or file:// state root for slot leases",
            )
        for attempt in range(_CAS_ATTEMPTS):
            try:
                raw, etag = self._s3_get(target)
            except OSError as exc:
                raise StateError(f"could not read run state at {target}: {exc}") from exc
            current = _decode(raw, target) if raw is not None else None
            doc = change(current)
            payload = json.dumps(doc, sort_keys=True, default=str).encode()
            try:
                written = self._s3_put(target, payload, if_match=etag, if_none_match=etag is None)
            except OSError as exc:
                raise StateError(f"could not write run state to {target}: {exc}") from exc
            if written:
                return doc
            log.info("%s changed while it was updated: reading it again (attempt %d)", target, attempt + 1)
            time.sleep(random.uniform(0.01, 0.1) * (attempt + 1))  # noqa: S311 (jitter, not a secret)
        raise StateError(f"{target} kept changing: gave up after {_CAS_ATTEMPTS} compare-and-set attempts")

    def _update_local(self, path: str, change: Callable[[Any | None], Any]) -> Any:
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        lock_path = os.path.join(folder, f".{os.path.basename(path)}.lock")
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file is closed, or the process dies
            try:
                try:
                    with open(path, "rb") as fh:
                        current = _decode(fh.read(), path)
                except FileNotFoundError:
                    current = None
                doc = change(current)
                self._write_local(path, json.dumps(doc, sort_keys=True, default=str).encode())
                return doc
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _running_task_instance() -> str | None:
    """``ti-<id>`` of the task instance running in this process, None outside a task.

    Airflow gives a task instance a new id for every try and keeps it while the try is deferred
    and resumed (in another process, with a new operator object).
    """
    try:
        ti = get_current_context()["ti"]
    except (RuntimeError, KeyError):  # no task is running here
        return None
    ti_id = getattr(ti, "id", None)
    return f"ti-{ti_id}" if ti_id else None


def _without_stamp(doc: Any) -> Any:
    """``doc`` as its writer passed it: without the :data:`WRITER_FIELD` the store added."""
    if isinstance(doc, dict) and WRITER_FIELD in doc:
        return {k: v for k, v in doc.items() if k != WRITER_FIELD}
    return doc


def _decode(raw: bytes, where: Any) -> Any | None:
    if not raw.strip():
        log.warning("Run state at %s is empty: treating as no state", where)
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("Run state at %s is corrupt (%s): treating as no state", where, exc)
        return None


def _is_precondition_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a conditional PUT refused because someone else wrote first.

    That is a 412 (the object changed) or a 409 ConditionalRequestConflict (a concurrent
    conditional write is in flight). s3fs keeps the boto error as the cause.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, FileExistsError):  # s3fs's translation of a failed If-None-Match
            return True
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
                return True
        seen = seen.__cause__
    return False


def _remove_stale_temp_files(folder: str) -> None:
    """Remove temp files a killed writer left in ``folder`` (older than STALE_TEMP_SECONDS)."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    log.info("Removed %s, left behind by a writer that died", entry.path)
