"""Whether a target copy is identical: specs by canonical hash, notebooks and files by exported bytes."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from platform_ops.core import dr_objects as objs
from platform_ops.core.dr_migrate import Checkpoint, copy_stamp
from platform_ops.operators.dr_migrate.base import Pair
from platform_ops.operators.dr_migrate.init_scripts import Relocator


def content_digest(content: bytes) -> str:
    """sha256 of exported bytes (hex), what notebooks and files are compared and checkpointed by."""
    return hashlib.sha256(content).hexdigest()


def libraries_key(library: Mapping[str, Any]) -> str:
    """A library spec as a comparable key (the same spec gives the same key whatever its key order)."""
    return repr(sorted((k, repr(v)) for k, v in library.items()))


def same_content(
    object_type: str, spec: Mapping[str, Any], target: Mapping[str, Any], refresh_secrets: bool = False
) -> bool:
    """Whether the target copy already matches the body a run would write (workspace objects aside).

    A scope matches when the target has every key with a configured value (values are unreadable);
    with ``refresh_secrets`` a scope with such keys never matches: its values are put again, and
    neither does a pool with Docker basic-auth images (its passwords are sent again).
    """
    if object_type == "secret_scopes":
        if refresh_secrets and spec.get("keys"):
            return False
        return set(spec.get("keys") or ()) <= set(target.get("keys") or ())
    if object_type == "instance_pools" and refresh_secrets and objs.docker_auth_images(spec):
        return False  # its Docker passwords are put again
    if object_type == "cluster_libraries":
        have = {libraries_key(lib) for lib in target.get("libraries") or ()}
        return all(libraries_key(lib) in have for lib in spec.get("libraries") or ())
    return objs.content_hash(object_type, spec) == objs.content_hash(object_type, target)


class Comparer:
    """Decides whether a target copy is identical: specs by canonical hash, notebooks by exported bytes.

    A notebook or file whose two sides still list the modification times recorded when the target
    last held the source's content (the checkpoint's ``stamps``) is identical without an export
    (``trusted``); any other is exported. ``verified`` holds the paths whose two exports matched.
    A cluster or job with relocated DBFS init scripts is identical only when each relocated file
    holds the source's script; ``notes`` keeps, per (type, source id), what differs.
    """

    def __init__(self, pair: Pair, checkpoint: Checkpoint, refresh_secrets: bool = False) -> None:
        """Compare within ``pair``, trusting the checkpoint's source hashes for unchanged notebooks.

        ``refresh_secrets``: a scope's configured values are to be put again (see :func:`same_content`).
        """
        self.pair = pair
        self.refresh_secrets = refresh_secrets
        self.hashes = checkpoint.hashes.get("workspace_objects", {})
        self.stamps = checkpoint.stamps
        self.source_entries: dict[str, Mapping[str, Any]] = {}
        self.trusted: set[str] = set()
        self.verified: set[str] = set()
        self._lock = threading.Lock()
        self.source_bytes: dict[str, bytes] = {}
        self.relocator = Relocator(pair)
        self.notes: dict[tuple[str, str], str] = {}

    def identical(
        self, prepared: objs.Prepared, found: Mapping[str, Any] | None, trust_checkpoint: bool
    ) -> bool | None:
        """True/False when the copy was found, None when there is none."""
        if found is None or prepared.spec is None:
            return None
        if prepared.object_type != "workspace_objects":
            same = same_content(prepared.object_type, prepared.spec, found, self.refresh_secrets)
            if prepared.relocations:
                _, differences = self.relocator.check(prepared)
                if differences:
                    self.notes[(prepared.object_type, prepared.source_id)] = "; ".join(differences)
                    return False
            return same
        if prepared.spec.get("object_type") == "DIRECTORY":
            return True
        path = prepared.source_id
        stamp = copy_stamp(self.source_entries.get(path) or {}, found)
        if stamp is not None and self.stamps.get(path) == stamp and path in self.hashes:
            with self._lock:
                self.trusted.add(path)
            return True
        digest = content_digest(self.export_source(path))
        if trust_checkpoint and self.hashes.get(path) == digest:
            return True
        same = content_digest(self.pair.target.export(path)) == digest
        if same:
            with self._lock:
                self.verified.add(path)
        return same

    def remember(self, source: Iterable[Mapping[str, Any]]) -> None:
        """The source's listing entries (their ``modified_at``) of the objects about to be compared."""
        with self._lock:
            self.source_entries.update({str(o["path"]): o for o in source if o.get("path")})

    def source_digest(self, path: str) -> str:
        """The source content's digest: the checkpoint's for a trusted pair, else of its export."""
        if path in self.trusted and path not in self.source_bytes:
            return self.hashes[path]
        return content_digest(self.export_source(path))

    def export_source(self, path: str) -> bytes:
        """The source's bytes of ``path`` (read once per task)."""
        if path not in self.source_bytes:
            self.source_bytes[path] = self.pair.source.export(path)
        return self.source_bytes[path]
