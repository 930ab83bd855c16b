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
# and the DAG-facing surface of platform_ops: its operators and sensors, the shared DAG defaults,
# and the few pure config readers a DAG needs at parse time because they shape the DAG (whether
# slots wrap the CDC work, one serving DAG per config file). Hooks, triggers, links, state and
# every other core name are internals an operator uses on the DAG's behalf.
ALLOWED_PREFIXES = ("airflow.sdk.", "airflow.providers.", "pendulum.", "platform_ops.")
DAG_FACING_MODULES = (
    "platform_ops.operators.",
    "platform_ops.sensors.",
    "platform_ops.dag_defaults.",
    "platform_ops.config_files.",
)
DAG_FACING_CORE_NAMES = frozenset(
    {
        "platform_ops.core.bigquery_reservation.purchase_options",
        "platform_ops.core.model_serving.parse_config",
    }
)


def test_every_dag_follows_the_rules() -> None:
    assert violations(DAGS) == []


def test_every_dag_file_defines_a_dag() -> None:
    parsed = parse_folder(DAGS)
    files_with_dags = {Path(info["fileloc"]).name for info in parsed["dags"].values()}
    assert {p.name for p in DAG_FILES} <= files_with_dags


def imported_names(path: Path) -> list[str]:
    """Dotted names a file imports: ``import a.b`` gives a.b, ``from a.b import c`` gives a.b.c."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def is_dag_facing(name: str) -> bool:
    if not name.startswith("platform_ops."):
        return True
    return (name + ".").startswith(DAG_FACING_MODULES) or name in DAG_FACING_CORE_NAMES


def contract_breaches(path: Path) -> list[str]:
    bad = []
    for name in imported_names(path):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top == "__future__":
            continue
        private = any(part.startswith("_") for part in name.split("."))
        if private or not (name + ".").startswith(ALLOWED_PREFIXES) or not is_dag_facing(name):
            bad.append(name)
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
        "from platform_ops.core.model_serving import parse_config, plan\n"
        "from platform_ops.core import dbt\nimport platform_ops.core.params\n"
        "from platform_ops.state import RunStateStore\nfrom platform_ops.dag_defaults import default_args\n"
        "from platform_ops.links.dbt import DatabricksWarehouseLink\n"
        "import platform_ops.sensors.model_serving\n"
        "from platform_ops.config_files import load_yaml\n"
    )
    assert contract_breaches(f) == [
        "airflow.models.DAG",
        "platform_ops.hooks.dbt.X",
        "platform_ops.operators._private.Y",
        "requests",
        "platform_ops.core.model_serving.plan",
        "platform_ops.core.dbt",
        "platform_ops.core.params",
        "platform_ops.state.RunStateStore",
        "platform_ops.links.dbt.DatabricksWarehouseLink",
    ]


# -- model-serving configs: one DAG per file, and one bad file takes only itself down --------------

SERVING_DAG_FILE = DAGS / "model_serving_deploy.py"
SHIPPED_SERVING_CONFIG = REPO / "include" / "config" / "model_serving" / "churn.yaml"


@pytest.fixture
def serving_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder with one good file and one whose served entity has a typo'd key."""
    import yaml

    folder = tmp_path / "serving"
    folder.mkdir()
    good = yaml.safe_load(SHIPPED_SERVING_CONFIG.read_text())
    (folder / "good.yaml").write_text(yaml.safe_dump(good))
    bad = {**good, "endpoint_name": "bad-model"}
    bad["served_entities"] = [{**good["served_entities"][0], "workload_sise": "Small"}]
    (folder / "bad.yaml").write_text(yaml.safe_dump(bad))
    monkeypatch.setenv("PLATFORM_OPS_SERVING_CONFIG_DIR", str(folder))  # read when the file is parsed
    return folder


@pytest.fixture
def serving_dag_folder(tmp_path: Path) -> Path:
    """A DAG folder holding only the serving DAG file: the other families' files play no part."""
    import shutil

    folder = tmp_path / "dags"
    folder.mkdir()
    shutil.copy(SERVING_DAG_FILE, folder)
    return folder


def test_a_bad_serving_config_yields_only_its_own_failing_dag(serving_configs: Path, capfd, caplog) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(SERVING_DAG_FILE), load_op_links=False)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"model_serving_deploy_good", "model_serving_deploy_bad"}
    good = bag.dags["model_serving_deploy_good"]
    assert sorted(t.task_id for t in good.tasks) == ["deploy", "wait_ready"]
    bad = bag.dags["model_serving_deploy_bad"]
    assert [t.task_id for t in bad.tasks] == ["config_error"], "nothing that could deploy or wait"
    for shown in (bad.description, bad.doc_md):
        assert "bad.yaml" in shown
        assert "served_entities[0].workload_sise" in shown
    out = capfd.readouterr()  # where the line goes depends on who configured logging first
    text = out.out + out.err + caplog.text
    logged = [line for line in text.splitlines() if "error" in line.lower()]
    assert any("bad.yaml" in m and "served_entities[0].workload_sise" in m for m in logged), logged
    assert not any("good.yaml" in m for m in logged)


def test_the_dag_of_a_bad_serving_config_follows_the_rules(
    serving_configs: Path, serving_dag_folder: Path
) -> None:
    assert violations(serving_dag_folder) == []
    parsed = parse_folder(serving_dag_folder)["dags"]
    assert set(parsed) == {"model_serving_deploy_good", "model_serving_deploy_bad"}


@pytest.mark.integration
def test_the_dag_of_a_bad_serving_config_fails_naming_the_field(
    serving_configs: Path, serving_dag_folder: Path, capfd
) -> None:
    import pendulum

    from tests.airflow_runner import run_dag

    date = pendulum.datetime(2026, 11, 2, tz="UTC")
    result = run_dag(serving_dag_folder, "model_serving_deploy_bad", date, {})
    assert result.state == "failed"
    assert result.states == {"config_error": "failed"}
    assert result.try_numbers == {"config_error": 1}, "a config error is not retried"
    out = capfd.readouterr()
    assert "served_entities[0].workload_sise: is not a served-entity option" in out.out + out.err
