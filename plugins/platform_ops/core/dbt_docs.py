"""dbt docs of a dbt task: the command, the document that records a generated site, its checks.

After a green build, ``dbt docs generate`` writes the site (``index.html``, ``manifest.json``,
``catalog.json``) into the invocation's target folder. The three files are stored with the date's
state (``RunStateStore.put_files``: a folder named by their sha256) and the document
:data:`DOCS_STATE_NAME` records where they are, the sha256 of each, and which build they document
(the ``finished_at`` of the state's last invocation). The UI plugin serves only files whose
content still has the recorded sha256, under :data:`DOCS_CONTENT_SECURITY_POLICY`.

The manifest is stored without ``compiled_code`` (SQL rendered with the worker's environment), as
the stored run_results are: the site shows each model's source as written. (``--no-compile``
would make dbt 1.12 write no manifest.json at all.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from platform_ops.core.dbt import DbtRequest, run_args
from platform_ops.core.dbt_report import REPORT_PREFIX
from platform_ops.core.state_keys import files_digest, validate_segment

DOCS_STATE_NAME = "dbt_docs"
INDEX = "index.html"
DOCS_FILES = (INDEX, "manifest.json", "catalog.json")
CONTENT_TYPES = {
    INDEX: "text/html; charset=utf-8",
    "manifest.json": "application/json",
    "catalog.json": "application/json",
}
#: dbt's docs site is one page of inline scripts and styles that fetches manifest.json and
#: catalog.json from beside itself: nothing else is let in or out (no eval, no other origin, no
#: form, no plugin), and only the Airflow UI may frame it.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
DOCS_PATH = "dbt-docs"
_COMPILED_FIELDS = ("compiled_code", "compiled_sql")


def docs_argv(dbt_executable: str, request: DbtRequest, target_path: str, log_path: str) -> list[str]:
    """`dbt docs generate` of the request's project and target, with its vars and threads."""
    return [
        dbt_executable,
        "--no-use-colors",
        "docs",
        "generate",
        *run_args(request, target_path, log_path),
    ]


def site_files(index: bytes | None, manifest: bytes | None, catalog: bytes | None) -> dict[str, bytes] | None:
    """The files of the site to store, the manifest without compiled SQL; None if one is missing."""
    if index is None or manifest is None or catalog is None:
        return None
    parsed = json.loads(manifest)
    for section in ("nodes", "macros", "sources"):
        for node in (parsed.get(section) or {}).values():
            if isinstance(node, dict):
                for field in _COMPILED_FIELDS:
                    node.pop(field, None)
    return {INDEX: index, "manifest.json": json.dumps(parsed).encode(), "catalog.json": catalog}


def docs_document(
    request: DbtRequest, files: Mapping[str, bytes], for_build: str | None, generated_at: str
) -> dict[str, Any]:
    """The document recording one generated site: where its files are and what they hold."""
    return {
        "target": request.target,
        "project_dir": request.project_dir,
        "digest": files_digest(files),
        "files": {
            name: {"sha256": hashlib.sha256(files[name]).hexdigest(), "bytes": len(files[name])}
            for name in sorted(files)
        },
        "for_build": for_build,
        "generated_at": generated_at,
    }


@dataclass(frozen=True)
class DocsRecord:
    """A stored docs document that has the expected shape."""

    digest: str
    sha256: Mapping[str, str]
    for_build: str | None
    generated_at: str


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def read_docs_document(doc: Any) -> DocsRecord | None:
    """The record of a stored docs document; None when it is missing or not of this shape."""
    if not isinstance(doc, Mapping) or not _is_sha256(doc.get("digest")):
        return None
    files = doc.get("files")
    if not isinstance(files, Mapping) or set(files) != set(DOCS_FILES):
        return None
    sha = {}
    for name, entry in files.items():
        if not isinstance(entry, Mapping) or not _is_sha256(entry.get("sha256")):
            return None
        sha[name] = entry["sha256"]
    for_build = doc.get("for_build")
    return DocsRecord(
        doc["digest"],
        sha,
        for_build if isinstance(for_build, str) else None,
        str(doc.get("generated_at") or ""),
    )


def verified(record: DocsRecord, filename: str, content: bytes) -> bool:
    """Whether ``content`` is the file the document recorded under ``filename``."""
    expected = record.sha256.get(filename)
    return expected is not None and hashlib.sha256(content).hexdigest() == expected


def docs_current(doc: Any, for_build: str | None) -> bool:
    """Whether the stored docs document describes the build ``for_build`` (the last invocation)."""
    record = read_docs_document(doc)
    return record is not None and for_build is not None and record.for_build == for_build


def docs_path(
    dag_id: str,
    task_id: str,
    *,
    run_id: str | None = None,
    date: str | None = None,
    filename: str | None = None,
) -> str:
    """The docs of a task, relative to the Airflow UI's base URL (no leading slash).

    Without ``date``, the plugin picks the run's date (``run_id``), else the newest date with docs,
    and redirects to ``.../<date>/index.html``; the site's own requests for its manifest and
    catalog resolve beside it.
    """
    parts = [
        REPORT_PREFIX,
        DOCS_PATH,
        validate_segment("dag_id", dag_id),
        validate_segment("task_id", task_id),
    ]
    if date is not None:
        parts += [validate_segment("date", date), validate_segment("filename", filename or INDEX)]
    path = "/".join(quote(p, safe="=") for p in parts)
    return f"{path}?{urlencode({'run_id': run_id})}" if run_id and date is None else path
