"""
### model_serving_deploy_&lt;config&gt;

One DAG per file in `include/config/model_serving/` (or `PLATFORM_OPS_SERVING_CONFIG_DIR`):
deploy a Databricks model-serving endpoint to that config, then wait until it really serves.

1. `train` (only when the config has `training_job`): run the Databricks job first
   (**RepairingRunNowOperator**, the Databricks provider's run-now operator, deferrable; a
   failed run is repaired, its failed tasks re-run, instead of starting a new run);
2. `deploy` (**ModelServingDeployOperator**): create | update | roll back | delete | nothing, with
   `latest` resolved to the highest registered Unity Catalog version at run time;
3. `wait_ready` (**EndpointReadySensor**, deferrable): ready == READY, no update in progress and
   every served entity deployed; fails with the build logs on a failed deployment.

Params: `rollback_version` (serve that registered version instead), `force_delete` + `confirm_delete`
(delete the endpoint; `delete_registered_model` also deletes the Unity Catalog model).
Connection: `databricks_default`. Locally, `make demo` points it at sandbox/databricks.

A config file that does not parse (a typo'd key, a bad value, broken YAML) does not take the other
configs' DAGs down: its DAG keeps its id but has one task, `config_error`, that fails at once
(no retries) with the error naming the file and the field; its description says the same, and
the DAG processor's log has it as an error line. Fix the file and the next parse brings the real
DAG back.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from platform_ops.config_files import collision, dag_configs, load_yaml
from platform_ops.core.model_serving import parse_config
from platform_ops.dag_defaults import default_args
from platform_ops.operators.model_serving import (
    ModelServingDeployOperator,
    RepairingRunNowOperator,
    ServingConfigErrorOperator,
)
from platform_ops.sensors.model_serving import EndpointReadySensor

CONFIGS = os.environ.get(
    "PLATFORM_OPS_SERVING_CONFIG_DIR",
    str(Path(__file__).resolve().parents[1] / "include" / "config" / "model_serving"),
)
POLL_SECONDS = float(os.environ.get("PLATFORM_OPS_SERVING_POLL_SECONDS", "30"))
START = pendulum.datetime(2026, 11, 1, tz="UTC")
TAGS = ["databricks", "model-serving", "local"]
log = logging.getLogger(__name__)


def broken_config_dag(dag_id: str, path: Path, exc: Exception) -> DAG:
    """The DAG of a config that does not parse: one task that fails with the error, nothing else.

    Raising here instead would drop every DAG of this file (Airflow keeps none of a module that
    fails to import), so each file is checked on its own and a bad one only reports itself."""
    text = str(exc)
    message = text if text.startswith(str(path)) else f"{path}: {text}"
    log.error("Serving config %s is invalid; DAG %s only reports the error: %s", path, dag_id, message)
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        tags=[*TAGS, "config-error"],
        doc_md=f"**Config error** in `{path.name}`: {message}\n\nFix the file.\n" + (__doc__ or ""),
        description=f"Config error in {path.name}: {message}",
        default_args=default_args(retries=1),
    ) as dag:
        ServingConfigErrorOperator(task_id="config_error", message=message)
    return dag


for dag_id, paths in dag_configs(CONFIGS, "model_serving_deploy_").items():
    path = paths[0]
    # Parsed here because each file is a DAG (its endpoint, whether it trains first).
    try:
        clash = collision(dag_id, paths)
        if clash:
            raise ValueError(clash)
        spec = parse_config(load_yaml(path), str(path))
    except Exception as exc:  # any bad file: only its own DAG is affected
        globals()[dag_id] = broken_config_dag(dag_id, path, exc)
        continue
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        tags=TAGS,
        doc_md=__doc__,
        description=spec.description or f"Deploy serving endpoint {spec.endpoint_name}",
        default_args=default_args(retries=1),
        render_template_as_native_obj=True,
        params={
            "rollback_version": Param(
                None,
                "Serve this registered version of the model instead of the config's. Empty (the "
                "default): deploy the config as it is",
                type=["null", "integer"],
                minimum=1,
                title="Roll back to version",
            ),
            "force_delete": Param(
                spec.force_delete,
                "Delete the endpoint (needs Confirm delete). Default: the config's force_delete "
                f"({str(spec.force_delete).lower()})",
                type="boolean",
                title="Delete the endpoint",
            ),
            "confirm_delete": Param(
                False,
                "Required with Delete the endpoint; off (the default) refuses the delete before any change",
                type="boolean",
                title="Confirm delete",
            ),
            "delete_registered_model": Param(
                False,
                "With Delete the endpoint: also delete the Unity Catalog registered model. Off (the "
                "default): the model stays",
                type="boolean",
                title="Also delete the registered model",
            ),
        },
    ) as dag:
        deploy = ModelServingDeployOperator(
            task_id="deploy",
            config_path=str(path),
            force_delete="{{ params.force_delete }}",
            rollback_version="{{ params.rollback_version }}",
            confirm_delete="{{ params.confirm_delete }}",
            delete_registered_model="{{ params.delete_registered_model }}",
            poll_interval=POLL_SECONDS,
            deferrable=True,  # a 409 waits for the running update in the triggerer
        )
        wait = EndpointReadySensor(
            task_id="wait_ready",
            endpoint_name=spec.endpoint_name,
            deferrable=True,
            poke_interval=POLL_SECONDS,
            timeout=timedelta(hours=1).total_seconds(),
            skip_if_deleted_by="deploy",
        )
        if spec.training_job:
            train = RepairingRunNowOperator(
                task_id="train",
                job_id=spec.training_job["job_id"],
                job_parameters=spec.training_job.get("job_parameters"),
                forward_dag_params=False,  # the DAG's params are the deployment's, not the job's
                polling_period_seconds=POLL_SECONDS,
                deferrable=True,  # the run is watched from the triggerer, not a worker slot
                repair_run=True,  # a failed run is repaired (its failed tasks re-run), not started again
            )
            train >> deploy
        deploy >> wait
    globals()[dag_id] = dag
