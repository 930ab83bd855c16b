"""OpenLineage events of one dbt invocation, built from that invocation's own artifacts.

openlineage-integration-common's dbt artifact processor reads run_results and manifest without
importing dbt. It is given the invocation's files (not the merged picture of the date), so a
``dbt retry`` emits exactly the nodes it ran. Three gaps of the processor are closed here:

- it refuses ``which: retry``: the retry reports the command it re-runs (build, run...);
- it follows only ``model.`` and ``source.`` parents: seeds are inputs of the models reading them,
  and a seed's own load is an event with the seed's table as output;
- it names a source's dataset by the source's name: the table is its ``identifier``;
- it reports the tests of a skipped model as failed: skipped tests emit nothing, like skipped models;
- the dataset namespace comes from the target's connection. Only ``type``, ``path`` and ``host`` of
  the target are rendered (``env_var`` bound to the invocation's environment), never a credential.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2.sandbox import SandboxedEnvironment
from openlineage.client.event_v2 import Dataset, Job, RunEvent
from openlineage.client.facet_v2 import job_type_job
from openlineage.client.uuid import generate_new_uuid
from openlineage.common.provider.dbt.facets import DbtRunRunFacet, ParentRunMetadata
from openlineage.common.provider.dbt.processor import (
    DbtArtifactProcessor,
    DbtEvents,
    DbtRunContext,
    ModelNode,
)

from platform_ops.exceptions import ConfigError

LOG = logging.getLogger(__name__)
PRODUCER = "https://github.com/platform-ops/platform-ops"
# the only profile fields a dataset namespace needs (duckdb: path; databricks: host)
NAMESPACE_FIELDS = ("type", "path", "host")
EXECUTED = ("run", "build", "seed", "snapshot", "test")


class _MissingEnv(Exception):
    pass


def namespace_profile(
    project_dir: str, profiles_dir: str | None, target: str, env: Mapping[str, str]
) -> dict[str, str]:
    """The namespace fields of the target the invocation ran (see :func:`target_profile`)."""
    project = yaml.safe_load(Path(project_dir, "dbt_project.yml").read_text()) or {}
    profiles = Path(profiles_dir or project_dir, "profiles.yml").read_text()
    profile_name = project.get("profile")
    if not isinstance(profile_name, str):
        raise ConfigError(
            "dbt_project.yml profile", "is not set", "name the profiles.yml profile the project uses"
        )
    return target_profile(profiles, profile_name, target, env, project_dir)


def target_profile(
    profiles_yml: str, profile_name: str, target: str, env: Mapping[str, str], project_dir: str
) -> dict[str, str]:
    """``type``/``path``/``host`` of one target of profiles.yml, rendered as dbt would.

    A relative DuckDB path is resolved against the project folder (dbt's working directory) and a
    Databricks host loses its scheme, so namespaces read ``duckdb:///abs/file.duckdb`` and
    ``databricks://<host>``.
    """
    profiles = yaml.safe_load(profiles_yml) or {}
    outputs = (profiles.get(profile_name) or {}).get("outputs") or {}
    if target not in outputs:
        raise ConfigError(
            "target",
            f"{target!r} is not an output of profile {profile_name!r}",
            "pass a target of profiles.yml",
        )

    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise _MissingEnv(name)
        return default

    jinja = SandboxedEnvironment()
    jinja.globals["env_var"] = env_var
    rendered: dict[str, str] = {}
    for field in NAMESPACE_FIELDS:
        raw = outputs[target].get(field)
        if raw is None:
            continue
        try:
            rendered[field] = jinja.from_string(str(raw)).render().strip()
        except _MissingEnv as missing:
            raise ConfigError(
                f"profiles.yml {target}.{field}",
                f"env var {missing} is not set",
                "set it in the operator's env",
            ) from None
    if rendered.get("type") == "duckdb" and "path" in rendered and rendered["path"] != ":memory:":
        rendered["path"] = os.path.normpath(os.path.join(project_dir, rendered["path"]))
    if "host" in rendered:
        rendered["host"] = rendered["host"].removeprefix("https://").removeprefix("http://").rstrip("/")
    return rendered


@dataclass(frozen=True)
class Lineage:
    """The per-node events of one invocation and what the Airflow task read and wrote."""

    events: list[RunEvent]
    inputs: list[Dataset]
    outputs: list[Dataset]
    namespace: str


class _InvocationProcessor(DbtArtifactProcessor):  # type: ignore[misc]  # the library is untyped
    should_raise_on_unsupported_command = False

    def __init__(
        self,
        artifacts: tuple[dict[str, Any], dict[str, Any], dict[str, str]],
        job_namespace: str,
        parent: ParentRunMetadata | None,
    ) -> None:
        super().__init__(producer=PRODUCER, job_namespace=job_namespace, skip_errors=True, logger=LOG)
        self._artifacts = artifacts
        if parent is not None:
            self.dbt_run_metadata = parent

    def get_dbt_metadata(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], None]:
        return (*self._artifacts, None)

    def dbt_run_run_facet(self) -> dict[str, DbtRunRunFacet]:
        invocation = self.run_metadata.get("invocation_id")
        if not invocation:
            return {}
        return {"dbt_run": DbtRunRunFacet(invocation_id=invocation, full_refresh=self.full_refresh)}

    def parse_execution(self, context: DbtRunContext, nodes: dict[str, Any]) -> DbtEvents:
        events = super().parse_execution(context, nodes)
        seeds = context.manifest.get("nodes", {})
        parents = context.manifest.get("parent_map", {})
        seen: set[int] = set()
        for event in events.events():
            dbt_node = event.job.facets.get("dbt_node") if event.job.facets else None
            unique_id = getattr(dbt_node, "unique_id", None)
            if id(event.inputs) in seen or unique_id is None:  # START and COMPLETE share one list
                continue
            seen.add(id(event.inputs))
            for parent in parents.get(unique_id, []):
                if not (parent.startswith("seed.") and parent in seeds):
                    continue
                seed = self.node_to_dataset(ModelNode("seed", seeds[parent]), has_facets=True)
                # a source declared over the seed's table (as locally) is already this input
                if all((d.namespace, d.name) != (seed.namespace, seed.name) for d in event.inputs):
                    event.inputs.append(seed)
        events += self._seed_loads(context)
        return events

    def _seed_loads(self, context: DbtRunContext) -> DbtEvents:
        events = DbtEvents()
        for result in context.run_results["results"]:
            unique_id = result["unique_id"]
            node = context.manifest["nodes"].get(unique_id)
            if (
                not unique_id.startswith("seed.")
                or node is None
                or result["status"] not in ("success", "error")
            ):
                continue
            started, completed = self.get_timings(result["timing"])
            name = self._format_dataset_name(
                node["database"], node["schema"], unique_id.removeprefix("seed.")
            )
            job = Job(
                namespace=self.job_namespace,
                name=name + (".build.seed" if self.command == "build" else ".seed"),
                facets={
                    "jobType": job_type_job.JobTypeJobFacet(
                        jobType="SEED", integration="DBT", processingType="BATCH", producer=self.producer
                    )
                },
            )
            output = self.node_to_output_dataset(ModelNode("seed", node), has_facets=True)
            run = self.get_run(run_id=str(generate_new_uuid()))
            events.add(self.to_openlineage_events(result["status"], started, completed, run, job, [], output))
        return events


def invocation_lineage(
    manifest: Mapping[str, Any],
    run_results: Mapping[str, Any],
    command: str,
    profile: Mapping[str, str],
    job_namespace: str,
    parent: ParentRunMetadata | None = None,
) -> Lineage:
    """The OpenLineage events of the nodes this invocation ran.

    ``command`` is what ran: a ``dbt retry`` passes the command it re-ran. The task's inputs are
    the datasets read and not written by the invocation; its outputs are every node's output.
    """
    if command not in EXECUTED:
        raise ValueError(f"dbt {command} emits no lineage: expected one of {', '.join(EXECUTED)}")
    results = dict(run_results)
    results["args"] = {**(run_results.get("args") or {}), "which": command}
    results["results"] = [r for r in run_results.get("results") or [] if r.get("status") != "skipped"]
    nodes = dict(manifest)
    nodes["sources"] = {
        uid: {**source, "name": source.get("identifier") or source["name"]}
        for uid, source in (manifest.get("sources") or {}).items()
    }
    processor = _InvocationProcessor((nodes, results, dict(profile)), job_namespace, parent)
    events = processor.parse().events()

    def keyed(datasets: Any) -> dict[tuple[str, str], Dataset]:
        return {(d.namespace, d.name): d for d in datasets or []}

    # what the invocation set out to write (a START names its output), what it did write, and the
    # datasets it read that none of its nodes writes: the task's own inputs
    written = {k for e in events if e.eventType.value == "START" for k in keyed(e.outputs)}
    outputs = {k: d for e in events if e.eventType.value == "COMPLETE" for k, d in keyed(e.outputs).items()}
    inputs = {k: d for e in events for k, d in keyed(e.inputs).items() if k not in written}
    return Lineage(events, list(inputs.values()), list(outputs.values()), processor.dataset_namespace)
