"""The init scripts a cluster spec points at: which the target would not find, and DBFS relocation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from platform_ops.core.dr_objects.common import under
from platform_ops.core.dr_objects.context import Context
from platform_ops.core.dr_objects.identity import SCRIPT_MARKER, marker_value, set_marker, strip_line_marker


def _workspace_path(path: str) -> str:
    """A workspace path without the ``/Workspace`` prefix the UI and newer APIs write."""
    return path[len("/Workspace") :] if path == "/Workspace" or path.startswith("/Workspace/") else path


def init_script_problems(
    cluster: Any, where: str, roots: Sequence[str], relocate_dbfs: bool = False
) -> list[str]:
    """The init scripts a cluster created from ``cluster`` would not find in the target.

    A script on DBFS is not copied (Databricks ended DBFS init scripts) unless ``relocate_dbfs``
    (it then becomes a workspace file of the target, see :func:`relocate_init_scripts`), nor is a
    workspace file outside the migrated ``roots``. Volumes, cloud storage (s3, abfss, gcs) and
    node-local files (``file``) are the same for both workspaces and pass.
    """
    if not isinstance(cluster, Mapping):
        return []
    out = []
    for i, script in enumerate(cluster.get("init_scripts") or []):
        if not isinstance(script, Mapping):
            continue
        label = f"{where}.init_scripts[{i}]"
        dbfs = (script.get("dbfs") or {}).get("destination")
        if dbfs and not relocate_dbfs:
            out.append(
                f"{label}.dbfs.destination {dbfs}: DBFS init scripts are not migrated (Databricks ended "
                "them; set relocate_dbfs_init_scripts to copy it as a workspace file of the target, or "
                "move it to a workspace file under the roots or a Unity Catalog volume)"
            )
        path = (script.get("workspace") or {}).get("destination")
        if path and not any(under(_workspace_path(str(path)), root) for root in roots):
            out.append(
                f"{label}.workspace.destination {path}: outside the migrated roots "
                f"{', '.join(roots)} (add its folder to roots so it is copied)"
            )
    return out


def dbfs_path(destination: str) -> str:
    """A DBFS destination as the DBFS API names it: ``dbfs:/a/b.sh`` and ``/a/b.sh`` are ``/a/b.sh``."""
    path = destination[len("dbfs:") :] if destination.startswith("dbfs:") else destination
    return "/" + path.lstrip("/")


def relocated_path(folder: str, destination: str) -> str:
    """The target workspace file a DBFS init script becomes: its DBFS path under ``folder``."""
    return folder.rstrip("/") + dbfs_path(destination)


def relocation_marker(source_workspace_id: str, path: str) -> str:
    """The marker of a relocated DBFS init script: its source workspace and DBFS path (quoted)."""
    return marker_value(source_workspace_id, "dbfs:" + quote(dbfs_path(path), safe="/"))


def relocated_script(text: str, marker: str) -> str:
    """A relocated init script's content: the source's text with a last comment line of its marker."""
    return str(set_marker("global_init_scripts", {"script": text}, marker)["script"])


def script_marker(text: str) -> str | None:
    """The marker of a relocated init script's content (its last line), or None."""
    return strip_line_marker(text, SCRIPT_MARKER)[1]


def relocate_init_scripts(cluster: Any, folder: str) -> list[tuple[str, str]]:
    """Point the cluster spec's DBFS init scripts at their relocated workspace files (in place).

    Returns (DBFS path, workspace path) per relocated script.
    """
    if not isinstance(cluster, dict):
        return []
    out = []
    scripts = cluster.get("init_scripts") or []
    for i, script in enumerate(scripts):
        dbfs = (script.get("dbfs") or {}).get("destination") if isinstance(script, Mapping) else None
        if dbfs:
            target = relocated_path(folder, str(dbfs))
            scripts[i] = {"workspace": {"destination": target}}
            out.append((dbfs_path(str(dbfs)), target))
    return out


def relocated_reason(object_type: str, name: str, moved: Sequence[tuple[str, str]]) -> str:
    """The reason line listing the DBFS init scripts an object's spec now points elsewhere (empty if none)."""
    if not moved:
        return ""
    listed = ", ".join(f"dbfs:{dbfs} -> {path}" for dbfs, path in moved)
    return f"{object_type} {name}: DBFS init script(s) relocated to workspace files: {listed}"


def relocations_of(specs: Iterable[Any], ctx: Context) -> tuple[tuple[str, str], ...]:
    """Relocate the specs' DBFS init scripts in place if the context asks; (DBFS, target) once each."""
    if not ctx.relocate_dbfs_init_scripts:
        return ()
    found = [r for spec in specs for r in relocate_init_scripts(spec, ctx.init_scripts_folder)]
    return tuple(dict.fromkeys(found))
