"""What deciding one object needs besides the object: ids mapped so far, what was filtered, params."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from platform_ops.core.dr_objects.catalogue import DEFAULT_INIT_SCRIPTS_FOLDER
from platform_ops.exceptions import ConfigError


@dataclass(frozen=True)
class Context:
    """What :func:`prepare` needs besides the object: ids mapped so far, what was filtered, parameters."""

    source_workspace_id: str
    id_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    filtered: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    references: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    keep_idle_instances: bool = False
    skip_blocked_jobs: bool = False
    roots: tuple[str, ...] = ("/Users", "/Shared")
    export_limit_bytes: int = 10 * 1024 * 1024
    secret_values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    relocate_dbfs_init_scripts: bool = False
    init_scripts_folder: str = DEFAULT_INIT_SCRIPTS_FOLDER
    # pool name -> the Docker image URLs whose basic-auth password is configured
    docker_passwords: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # type -> source id -> every target id of an object the target holds more than once (by marker)
    duplicates: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def copies(self, object_type: str, source_id: str) -> tuple[str, ...]:
        """The target ids of ``source_id``'s copies when the target holds more than one, else ()."""
        return tuple((self.duplicates.get(object_type) or {}).get(source_id, ()))

    def __post_init__(self) -> None:
        if not str(self.source_workspace_id).strip():
            raise ConfigError("source_workspace_id", "empty", "pass the source workspace's numeric id")
        bad = [r for r in self.roots if not isinstance(r, str) or not r.startswith("/")]
        if not self.roots or bad:
            raise ConfigError(
                "roots",
                f"{bad or 'no roots'} is not a list of absolute workspace paths",
                "give folders such as /Users and /Shared",
            )
        if not self.init_scripts_folder.startswith("/") or self.init_scripts_folder.rstrip("/") == "":
            raise ConfigError(
                "init_scripts_folder",
                f"{self.init_scripts_folder!r} is not an absolute workspace folder",
                "give a folder such as /Shared/dr-init-scripts",
            )
        if self.export_limit_bytes <= 0:
            raise ConfigError(
                "export_limit_bytes", f"{self.export_limit_bytes} is not positive", "give a byte count"
            )
