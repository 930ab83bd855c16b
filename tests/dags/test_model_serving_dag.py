"""The model-serving DAG file: one DAG per config file, and two files that claim one DAG id."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.dags.integrity import REPO

SERVING_DAG_FILE = REPO / "dags" / "model_serving_deploy.py"
SHIPPED_SERVING_CONFIG = REPO / "include" / "config" / "model_serving" / "churn.yaml"


def test_two_config_files_that_map_to_one_dag_id_are_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    shipped = yaml.safe_load(SHIPPED_SERVING_CONFIG.read_text())
    for stem, endpoint in (("churn-eu", "churn-eu"), ("churn_eu", "churn-eu-2"), ("good", "good")):
        (tmp_path / f"{stem}.yaml").write_text(yaml.safe_dump({**shipped, "endpoint_name": endpoint}))
    monkeypatch.setenv("PLATFORM_OPS_SERVING_CONFIG_DIR", str(tmp_path))  # read when the file is parsed
    bag = DagBag(dag_folder=str(SERVING_DAG_FILE), load_op_links=False)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"model_serving_deploy_churn_eu", "model_serving_deploy_good"}
    clash = bag.dags["model_serving_deploy_churn_eu"]
    assert [t.task_id for t in clash.tasks] == ["config_error"], "neither file deploys under that id"
    assert "churn-eu.yaml and churn_eu.yaml" in clash.description
    assert "rename one" in clash.description
    assert sorted(t.task_id for t in bag.dags["model_serving_deploy_good"].tasks) == ["deploy", "wait_ready"]


def test_the_shipped_dag_defers_its_waits_and_repairs_a_failed_training_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    shipped = yaml.safe_load(SHIPPED_SERVING_CONFIG.read_text())
    doc = {**shipped, "training_job": {"job_id": 7}}
    (tmp_path / "trained.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("PLATFORM_OPS_SERVING_CONFIG_DIR", str(tmp_path))
    dag = DagBag(dag_folder=str(SERVING_DAG_FILE), load_op_links=False).dags["model_serving_deploy_trained"]
    tasks = {t.task_id: t for t in dag.tasks}
    assert (tasks["train"].deferrable, tasks["train"].repair_run) == (True, True)
    assert tasks["deploy"].deferrable is True
    assert tasks["wait_ready"].deferrable is True
