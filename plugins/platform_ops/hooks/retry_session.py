"""One dbt process for a retry: list what the request selects, then `dbt retry` if it may.

`dbt retry` runs only when the stored failures are all there.

Run by the Python of the dbt environment (``<env>/bin/python retry_session.py <spec.json>``),
never imported by Airflow's side but for its constants: it uses only the standard library and
dbt, which it imports in :func:`main`. The spec (written by the operator from
:func:`platform_ops.core.dbt.retry_session_spec`) holds::

    {"ls": [dbt args],  "retry": [dbt args],   # each run with dbt.cli.main.dbtRunner
     "required": [unique ids], "runnable": [node types],  # what must be selected to retry
     "out": "<path of the report>"}

1. ``dbt ls`` of the request parses the project (writing manifest.json and the partial-parse file
   into the target folder) and lists the unique ids the request selects.
2. The report ``out`` gets ``{"listed": bool, "selected": [...], "manifest": path, "retried":
   bool, "errors": [...]}``.
3. When every required id is of a runnable type and selected, ``dbt retry`` runs in the same
   process (it parses again, from the partial-parse file the listing just wrote) and the exit code
   is dbt's: 0 success, 1 failed nodes, 2 an error. Otherwise nothing runs and the exit code is
   :data:`NOT_RETRIED` (or :data:`NOT_LISTED` when the project could not be read): the operator
   then decides from the report, as it would from a separate ``dbt ls``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

#: exit code: the listing worked, a required failure is gone or not selected, nothing was retried
NOT_RETRIED = 17
#: exit code: dbt could not list the project (usually a parse error), nothing was retried
NOT_LISTED = 18


def blockers(required: list[str], runnable: list[str], selected: set[str]) -> list[str]:
    """The stored failures dbt retry must not run; empty: the retry may run.

    Those of a type the command does not run, or not selected by the request (gone from the
    project included).
    """
    return [u for u in required if u.split(".", 1)[0] not in runnable or u not in selected]


def _write(path: str, report: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    Path(tmp).write_text(json.dumps(report))
    os.replace(tmp, path)


def main(spec_path: str) -> int:
    """Run the spec at ``spec_path`` (see the module docstring); returns the exit code."""
    # Started as a script, this file's folder is first on sys.path, and it holds a dbt.py that
    # would shadow the dbt package.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]
    from dbt.cli.main import dbtRunner

    spec = json.loads(Path(spec_path).read_text())
    errors: list[str] = []

    def collect(event: Any) -> None:
        if event.info.level == "error":
            errors.append(event.info.msg)

    listed = dbtRunner(callbacks=[collect]).invoke(spec["ls"])
    selected: set[str] = set()
    for line in listed.result if isinstance(listed.result, list) else []:
        uid = json.loads(line).get("unique_id")
        if isinstance(uid, str):
            selected.add(uid)
    target_path = spec["ls"][spec["ls"].index("--target-path") + 1]
    manifest = Path(target_path, "manifest.json")
    report: dict[str, Any] = {
        "listed": bool(listed.success and manifest.is_file()),
        "selected": sorted(selected),
        "manifest": str(manifest),
        "retried": False,
        "errors": errors or ([str(listed.exception)] if listed.exception else []),
    }
    if not report["listed"]:
        _write(spec["out"], report)
        print("dbt could not list the project:", *report["errors"], sep="\n", flush=True)
        return NOT_LISTED
    missing = blockers(spec["required"], spec["runnable"], selected)
    if missing:
        _write(spec["out"], report)
        print(f"not retried: {missing} not selected by this request in the project", flush=True)
        return NOT_RETRIED
    report["retried"] = True
    _write(spec["out"], report)
    retried = dbtRunner().invoke(spec["retry"])
    if retried.success:
        return 0
    return 2 if retried.exception is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
