"""Integrity of the real dags/ folder and the import contract of DAG files."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.dags.integrity import REPO, parse_folder, violations

DAGS = REPO / "dags"
DAG_FILES = sorted(DAGS.glob("*.py"))

# What a DAG file may import: the standard library, pendulum, the public Airflow SDK, providers,
# and the public layers of platform_ops (never hooks, triggers or underscore modules directly).
ALLOWED_PREFIXES = ("airflow.sdk", "airflow.providers.", "pendulum", "platform_ops.")
FORBIDDEN_PLATFORM_OPS = ("platform_ops.hooks", "platform_ops.triggers")


def test_every_dag_follows_the_rules() -> None:
    assert violations(DAGS) == []


def test_every_dag_file_defines_a_dag() -> None:
    parsed = parse_folder(DAGS)
    files_with_dags = {Path(info["fileloc"]).name for info in parsed["dags"].values()}
    assert {p.name for p in DAG_FILES} <= files_with_dags


def imported_modules(path: Path) -> list[str]:
    mods = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.append(node.module)
    return mods


def contract_breaches(path: Path) -> list[str]:
    bad = []
    for mod in imported_modules(path):
        top = mod.split(".")[0]
        if top in sys.stdlib_module_names or top == "__future__":
            continue
        private = any(part.startswith("_") for part in mod.split("."))
        if not (mod + ".").startswith(ALLOWED_PREFIXES) or mod.startswith(FORBIDDEN_PLATFORM_OPS) or private:
            bad.append(mod)
    return bad


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_imports_only_public_modules(path: Path) -> None:
    assert contract_breaches(path) == []


def test_contract_check_catches_internal_imports(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text(
        "import os\nfrom airflow.models import DAG\nfrom airflow.sdk import task\n"
        "from platform_ops.hooks.dbt import X\nfrom platform_ops.operators._private import Y\n"
        "from platform_ops.operators.dbt import DbtRunOrRetryOperator\nimport requests\n"
    )
    assert contract_breaches(f) == [
        "airflow.models",
        "platform_ops.hooks.dbt",
        "platform_ops.operators._private",
        "requests",
    ]
