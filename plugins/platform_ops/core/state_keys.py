"""Where a run-state document lives, relative to the state root.

Layout, one folder per (DAG, task, logical date)::

    <dag_id>/<task_id>/<date key>/<name>.json               the latest version
    <dag_id>/<task_id>/<date key>/<name>.versions/try-0003.json   one version per try

The date key is the logical date in UTC, ``2026-11-21T000000Z`` (sortable, no ``:``), or, for a run
without a logical date (Airflow 3 allows manual runs with none), ``run_id=<run id>``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from platform_ops.exceptions import ConfigError

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-=+]*")
_DOC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
# try-0003.json; try-0003.1.json, try-0003.2.json ... when a later run of the same logical date
# (deleted and re-created) stored the same try number: every version is kept.
_VERSION_FILE = re.compile(r"try-(\d{4,})(?:\.([1-9]\d*))?\.json")
# Characters a run id keeps as they are in its folder name; every other byte is escaped as =XX.
_RUN_ID_PLAIN = re.compile(r"[A-Za-z0-9_\-+]")
_RUN_ID_ESCAPE = re.compile(r"=([0-9a-f]{2})")
DATE_KEY_FORMAT = "%Y-%m-%dT%H%M%SZ"


def validate_segment(field: str, value: str) -> str:
    """Return ``value`` if it is safe as one path segment (no ``/``, no ``..``, no leading dot)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(field, "is empty", "pass a non-empty identifier")
    if not _SEGMENT.fullmatch(value) or ".." in value:
        raise ConfigError(
            field,
            f"{value!r} is not a safe path segment",
            "use letters, digits and . _ - = + only (no '/', no '..', no leading dot)",
        )
    return value


def date_key(logical_date: datetime | None, run_id: str | None = None) -> str:
    """The folder name for one logical date (UTC), or for a run that has no logical date."""
    if logical_date is None:
        if not run_id:
            raise ConfigError(
                "logical_date", "is None and no run_id was given", "pass the run's logical_date or run_id"
            )
        return validate_segment("run_id", f"run_id={escape_run_id(run_id)}")
    if logical_date.tzinfo is None:
        raise ConfigError(
            "logical_date", "is a naive datetime", "pass a timezone-aware datetime (Airflow's are)"
        )
    d = logical_date.astimezone(UTC)
    # Explicit padding: strftime's %Y does not zero-pad years before 1000 on every platform.
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}{d.minute:02d}{d.second:02d}Z"


def escape_run_id(run_id: str) -> str:
    """A run id as a safe path segment, reversibly.

    Letters, digits and ``_ - +`` stay; every other UTF-8 byte becomes ``=XX``, so two run ids
    never share a folder.
    """
    return "".join(
        ch if _RUN_ID_PLAIN.fullmatch(ch) else "".join(f"={b:02x}" for b in ch.encode()) for ch in run_id
    )


def unescape_run_id(escaped: str) -> str:
    """Inverse of :func:`escape_run_id`."""
    raw = bytearray()
    pos = 0
    for m in _RUN_ID_ESCAPE.finditer(escaped):
        raw += escaped[pos : m.start()].encode()
        raw.append(int(m.group(1), 16))
        pos = m.end()
    raw += escaped[pos:].encode()
    return raw.decode()


def legacy_run_id_key(run_id: str) -> str | None:
    """The folder older versions of this package kept a run without a logical date in.

    They folded every character of the run id but letters, digits and ``. _ - +`` to ``_``
    (``manual__2026-11-21T10:00:00+00:00`` -> ``run_id=manual__2026-11-21T10_00_00+00_00``), so two
    run ids could share it; :func:`date_key` has escaped them reversibly since. None for a run id
    they could not store.
    """
    folded = "run_id=" + re.sub(r"[^A-Za-z0-9._\-+]", "_", run_id)
    return folded if _SEGMENT.fullmatch(folded) and ".." not in folded else None


def parse_date_key(key: str) -> datetime | None:
    """Inverse of :func:`date_key` for dated keys; None for ``run_id=`` keys."""
    if key.startswith("run_id="):
        return None
    return datetime.strptime(key, DATE_KEY_FORMAT).replace(tzinfo=UTC)


def version_file(try_number: int, copy: int = 0) -> str:
    """``try-0003.json``; ``copy`` > 0 names a later run's version of the same try (try-0003.1.json)."""
    if not isinstance(try_number, int) or isinstance(try_number, bool) or try_number < 0:
        raise ConfigError("try_number", f"{try_number!r} is not a non-negative integer", "pass ti.try_number")
    return f"try-{try_number:04d}.json" if not copy else f"try-{try_number:04d}.{copy}.json"


def parse_version_name(filename: str) -> tuple[int, int] | None:
    """(try number, copy) of a version file name, or None for anything else (temp files, strays)."""
    m = _VERSION_FILE.fullmatch(filename)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def parse_version_file(filename: str) -> int | None:
    """The try number of a version file name, or None for anything else (temp files, strays)."""
    parsed = parse_version_name(filename)
    return parsed[0] if parsed else None


@dataclass(frozen=True)
class DocKey:
    """The address of one document family (all its versions) under the state root."""

    dag_id: str
    task_id: str
    date: str
    name: str

    def __post_init__(self) -> None:
        """Refuse any part that is not a safe path segment, naming the part."""
        validate_segment("dag_id", self.dag_id)
        # task ids of grouped tasks contain dots ("group.task"): allowed by the segment rule.
        validate_segment("task_id", self.task_id)
        validate_segment("logical_date", self.date)
        if not isinstance(self.name, str) or not _DOC_NAME.fullmatch(self.name):
            raise ConfigError(
                "name", f"{self.name!r} is not a valid document name", "use letters, digits, _ and - only"
            )

    @property
    def folder(self) -> tuple[str, ...]:
        """``(dag_id, task_id, date)``: the folder of the family."""
        return (self.dag_id, self.task_id, self.date)

    @property
    def latest(self) -> tuple[str, ...]:
        """Path parts of the latest copy, ``<name>.json``."""
        return (*self.folder, f"{self.name}.json")

    @property
    def versions_folder(self) -> tuple[str, ...]:
        """Path parts of the folder holding one version per try, ``<name>.versions``."""
        return (*self.folder, f"{self.name}.versions")

    def version(self, try_number: int, copy: int = 0) -> tuple[str, ...]:
        """Path parts of the version file of ``try_number`` (``copy`` > 0: a later run's copy)."""
        return (*self.versions_folder, version_file(try_number, copy))


def files_digest(files: Mapping[str, bytes]) -> str:
    """The sha256 of a set of files (names and contents): the folder name they are stored under."""
    total = hashlib.sha256()
    for name in sorted(files):
        total.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return total.hexdigest()
