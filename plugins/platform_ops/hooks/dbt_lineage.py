"""OpenLineage for a dbt invocation, through the Airflow OpenLineage provider.

The pure part (events from run_results and manifest) is :mod:`platform_ops.core.dbt_lineage`.
Here: the events are parented to the Airflow task's OpenLineage run (and its DAG run as root),
emitted through the provider's adapter (its configured transport, its secret redaction), and the
task's own inputs and outputs are returned as the provider's ``OperatorLineage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.openlineage.extractors import OperatorLineage
from airflow.providers.openlineage.plugins import macros
from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
from openlineage.common.provider.dbt.facets import ParentRunMetadata

from platform_ops.core.dbt import DbtRequest
from platform_ops.core.dbt_lineage import invocation_lineage, namespace_profile


def emit_dbt_lineage(
    manifest: Mapping[str, Any],
    run_results: Mapping[str, Any],
    request: DbtRequest,
    env: Mapping[str, str],
    task_instance: Any,
) -> OperatorLineage[Any, Any]:
    """Emit one event pair per node of the invocation; return what the task read and wrote."""
    namespace = macros.lineage_job_namespace()  # type: ignore[no-untyped-call]  # untyped upstream
    profile = namespace_profile(request.project_dir, request.profiles_dir, request.target, env)
    parent = ParentRunMetadata(
        run_id=macros.lineage_run_id(task_instance),
        job_name=macros.lineage_job_name(task_instance),
        job_namespace=namespace,
        root_parent_run_id=macros.lineage_root_run_id(task_instance),
        root_parent_job_name=macros.lineage_root_job_name(task_instance),
        root_parent_job_namespace=macros.lineage_root_job_namespace(task_instance),
    )
    lineage = invocation_lineage(manifest, run_results, request.command.value, profile, namespace, parent)
    adapter = get_openlineage_listener().adapter
    for event in lineage.events:
        adapter.emit(event)
    return OperatorLineage(inputs=lineage.inputs, outputs=lineage.outputs)
