"""Test DAGs: deploy from a config file and wait (knobs through run conf), deferred or blocking;
the sensor alone, both modes with a short timeout (serving_wait), and each mode alone with a long one
(serving_wait_long_poke / _deferred: a failure within seconds there is not a timeout)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from platform_ops.operators.model_serving import ModelServingDeployOperator
from platform_ops.sensors.model_serving import EndpointReadySensor

ARGS = {"owner": "tests", "retries": 0}

for dag_id, deferrable in (("serving_deploy", True), ("serving_deploy_blocking", False)):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["test"],
        render_template_as_native_obj=True,
        default_args=ARGS,
    ):
        deploy = ModelServingDeployOperator(
            task_id="deploy",
            config_path="{{ dag_run.conf['config_path'] }}",
            rollback_version="{{ dag_run.conf.get('rollback_version') }}",
            confirm_delete="{{ dag_run.conf.get('confirm_delete', False) }}",
            delete_registered_model="{{ dag_run.conf.get('delete_registered_model', False) }}",
            poll_interval=0.1,
            deferrable=deferrable,
        )
        wait = EndpointReadySensor(
            task_id="wait_ready",
            endpoint_name="{{ dag_run.conf['endpoint_name'] }}",
            deferrable=deferrable,
            poke_interval=0.2,
            timeout=60,
            skip_if_deleted_by="deploy",
        )
        deploy >> wait

with DAG(
    dag_id="serving_wait",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test"],
    render_template_as_native_obj=True,
    default_args=ARGS,
):
    EndpointReadySensor(
        task_id="poke",
        endpoint_name="{{ dag_run.conf['endpoint_name'] }}",
        poke_interval=0.2,
        timeout=3,
        mode="poke",
    )
    EndpointReadySensor(
        task_id="deferred",
        endpoint_name="{{ dag_run.conf['endpoint_name'] }}",
        deferrable=True,
        poke_interval=0.2,
        timeout=3,
    )

for deferrable in (False, True):
    with DAG(
        dag_id=f"serving_wait_long_{'deferred' if deferrable else 'poke'}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["test"],
        render_template_as_native_obj=True,
        default_args=ARGS,
    ):
        EndpointReadySensor(
            task_id="wait",
            endpoint_name="{{ dag_run.conf['endpoint_name'] }}",
            deferrable=deferrable,
            poke_interval=0.2,
            timeout=60,
        )
