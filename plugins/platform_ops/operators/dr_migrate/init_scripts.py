"""DBFS init scripts relocated as the target's workspace files: checked and written by content."""

from __future__ import annotations

import threading

from platform_ops.core import dr_objects as objs
from platform_ops.exceptions import ResourceNotFoundError
from platform_ops.operators.dr_migrate.base import Pair


class Relocator:
    """DBFS init scripts as the target's workspace files (``relocate_dbfs_init_scripts``).

    A relocated script is the source's DBFS file with a last comment line carrying its marker; it
    is compared by content, written (with overwrite) only when absent or different, and a file at
    its path without that marker is never overwritten.
    """

    def __init__(self, pair: Pair) -> None:
        """Relocate within ``pair``."""
        self.pair = pair
        self.expected_bytes: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.current: set[str] = set()  # target paths written or found up to date by this task

    def expected(self, dbfs: str) -> bytes:
        """The content the target file of DBFS path ``dbfs`` must have (the source is read once)."""
        if dbfs not in self.expected_bytes:
            text = self.pair.source.read_dbfs(dbfs).decode()
            marker = objs.relocation_marker(self.pair.source_id, dbfs)
            self.expected_bytes[dbfs] = objs.relocated_script(text, marker).encode()
        return self.expected_bytes[dbfs]

    def check(self, prepared: objs.Prepared) -> tuple[list[str], list[str]]:
        """(problems that block the object, differences a write repairs) of its relocated scripts."""
        problems: list[str] = []
        differences: list[str] = []
        for dbfs, path in prepared.relocations:
            try:
                expected = self.expected(dbfs)
            except ResourceNotFoundError:
                problems.append(f"init script dbfs:{dbfs} does not exist in the source")
                continue
            except UnicodeDecodeError:
                problems.append(f"init script dbfs:{dbfs} is not UTF-8 text")
                continue
            have = self.pair.target.read_file(path)
            if have is None:
                differences.append(f"init script {path} (from dbfs:{dbfs}) is not in the target")
            elif objs.script_marker(have.decode(errors="replace")) != objs.relocation_marker(
                self.pair.source_id, dbfs
            ):
                problems.append(
                    f"init script {path} exists in the target without the marker of dbfs:{dbfs} (it is "
                    "never overwritten): remove it there or set another init_scripts_folder"
                )
            elif have != expected:
                differences.append(f"init script {path} differs from dbfs:{dbfs} in the source")
        return problems, differences

    def write(self, prepared: objs.Prepared) -> int:
        """Write each relocated script the target lacks or holds with other content; returns the writes."""
        wrote = 0
        for dbfs, path in prepared.relocations:
            with self.lock:  # objects sharing a script: one write, by the first
                if path in self.current:
                    continue
                expected = self.expected(dbfs)
                if self.pair.target.read_file(path) != expected:
                    folder = path.rsplit("/", 1)[0] or "/"
                    self.pair.target.import_object({"path": folder, "object_type": "DIRECTORY"}, None, True)
                    self.pair.target.import_object({"path": path, "object_type": "FILE"}, expected, True)
                    wrote += 1
                self.current.add(path)
        return wrote
