"""DAG integrity rules, applied to dags/ and to the fixture folders that prove they can fail.

Parsing happens in a child process with outbound sockets refused and every AIRFLOW_CONN_* and
AIRFLOW_VAR_* variable removed, so a DAG file that reaches the network or needs a Variable or a
Connection at import time shows up as an import error.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# The pools every way of starting Airflow here imports; a task in any other pool never runs.
POOLS_FILE = REPO / "include" / "config" / "pools.json"

_PARSE = r"""
import json, socket, sys
def _refuse(*a, **k):
    raise OSError("network access while parsing a DAG file")
socket.socket.connect = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], load_op_links=False)
out = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "fileloc": dag.fileloc,
        "doc_md": dag.doc_md,
        "tags": sorted(dag.tags or []),
        "owners": sorted({t.owner for t in dag.tasks}),
        "min_retries": min((t.retries or 0) for t in dag.tasks) if dag.tasks else None,
        "catchup": dag.catchup,
        "n_tasks": len(dag.tasks),
        "pools": sorted({t.pool for t in dag.tasks}),
        "params": {
            name: {"title": p.schema.get("title"), "description": p.description}
            for name, p in ((n, dag.params.get_param(n)) for n in dag.params)
        },
    }
print("@@" + json.dumps(out))
"""


def parse_folder(folder: Path) -> dict[str, Any]:
    """Parse every DAG file of ``folder`` in a child process without network, Variables or Connections."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env["PYTHONPATH"] = str(REPO / "plugins")
    proc = subprocess.run(
        [sys.executable, "-c", _PARSE, str(folder)], env=env, capture_output=True, text=True, check=False
    )
    payload = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    if proc.returncode != 0 or not payload:
        raise AssertionError(f"DAG parse crashed:\n{proc.stdout}\n{proc.stderr}")
    parsed: dict[str, Any] = json.loads(payload[-1][2:])
    return parsed


def param_problems(dag_id: str, params: dict[str, dict[str, Any]]) -> list[str]:
    """What the trigger form would show raw: a param without a title (the form labels the field
    with the param's name), or whose title is that name, or without a description (no help)."""
    problems = []
    for name, shown in params.items():
        title, description = shown.get("title"), shown.get("description")
        if not isinstance(title, str) or not title.strip():
            problems.append(f"{dag_id}: param {name!r} has no title (the trigger form shows {name!r})")
        elif title.strip() == name:
            problems.append(f"{dag_id}: param {name!r} has its raw name as title (say it in words)")
        if not isinstance(description, str) or not description.strip():
            problems.append(
                f"{dag_id}: param {name!r} has no description (say what it does, and its default)"
            )
    return problems


def _dag_call_keywords(path: Path) -> list[set[str]]:
    """Keyword names of each DAG(...) / @dag(...) call in a file."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in {"DAG", "dag"}:
                calls.append({kw.arg for kw in node.keywords if kw.arg})
    return calls


def violations(folder: Path) -> list[str]:
    """Every rule broken by the DAG files in ``folder``, as readable messages."""
    parsed = parse_folder(folder)
    problems = [
        f"{Path(f).name}: import error: {e.strip().splitlines()[-1]}"
        for f, e in parsed["import_errors"].items()
    ]
    for dag_id, info in parsed["dags"].items():
        if not (info["doc_md"] or "").strip():
            problems.append(f"{dag_id}: no doc_md (use doc_md=__doc__)")
        if not info["tags"]:
            problems.append(f"{dag_id}: no tags")
        if not info["owners"] or "airflow" in info["owners"]:
            problems.append(f"{dag_id}: owner not set in default_args (got {info['owners']})")
        if info["min_retries"] is None or info["min_retries"] < 1:
            problems.append(f"{dag_id}: a task has retries < 1")
        if info["catchup"]:
            problems.append(f"{dag_id}: catchup must be False")
        problems += param_problems(dag_id, info["params"])
        declared = {"default_pool", *json.loads(POOLS_FILE.read_text())}
        for pool in sorted(set(info["pools"]) - declared):
            problems.append(
                f"{dag_id}: pool {pool!r} is not declared in include/config/pools.json "
                "(a task whose pool does not exist is never scheduled)"
            )
    for path in sorted(folder.glob("*.py")):
        for keywords in _dag_call_keywords(path):
            for required in ("schedule", "catchup"):
                if required not in keywords:
                    problems.append(f"{path.name}: DAG call without an explicit {required}=")
    return problems
