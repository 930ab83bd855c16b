"""OpenLineage events from one invocation's artifacts (a trimmed real `dbt build` of the shipped
project with stg_orders forced to fail: two seeds, two models, the tests of both)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from platform_ops.core.dbt_lineage import invocation_lineage, namespace_profile, target_profile
from platform_ops.exceptions import ConfigError

DATA = Path(__file__).parent / "data" / "dbt_lineage"
REPO = Path(__file__).resolve().parents[2]
DUCKDB = {"type": "duckdb", "path": "/data/warehouse.duckdb"}


def artifacts() -> tuple[dict[str, Any], dict[str, Any]]:
    return json.loads((DATA / "manifest.json").read_text()), json.loads(
        (DATA / "run_results.json").read_text()
    )


def summary(events: list[Any]) -> list[tuple[str, str, list[str], list[str]]]:
    return sorted(
        (e.job.name, e.eventType.value, [d.name for d in e.inputs], [d.name for d in e.outputs])
        for e in events
    )


def test_models_seeds_and_tests_emit_their_datasets() -> None:
    manifest, run_results = artifacts()
    lineage = invocation_lineage(manifest, run_results, "build", DUCKDB, "jobs")
    assert lineage.namespace == "duckdb:///data/warehouse.duckdb"
    assert {d.namespace for e in lineage.events for d in [*e.inputs, *e.outputs]} == {lineage.namespace}
    events = summary(lineage.events)
    # the source over the seed's table is named by its identifier: one input, the seed's table
    assert ("w.main.shop.stg_orders.build.run", "FAIL", ["w.main.raw_orders"], []) in events
    assert (
        "w.main.shop.stg_orders.build.run",
        "START",
        ["w.main.raw_orders"],
        ["w.main.stg_orders"],
    ) in events
    # a model reading only a seed has it as input; the seed's load writes it
    done = (
        "w.main.shop.stg_customers.build.run",
        "COMPLETE",
        ["w.main.raw_customers"],
        ["w.main.stg_customers"],
    )
    assert done in events
    assert ("w.main.shop.raw_customers.build.seed", "COMPLETE", [], ["w.main.raw_customers"]) in events
    # the skipped test of the failed model did not run: nothing says it failed
    assert not [e for e in events if "stg_orders" in e[0] and e[0].endswith(".test")]
    assert [e[1] for e in events if e[0] == "w.main.shop.stg_customers.build.test"] == ["COMPLETE", "START"]
    # the task wrote what completed and read nothing it did not write itself
    assert sorted(d.name for d in lineage.outputs) == [
        "w.main.raw_customers",
        "w.main.raw_orders",
        "w.main.stg_customers",
    ]
    assert lineage.inputs == []


def test_a_retry_reports_the_command_it_reran_and_the_parent() -> None:
    from openlineage.common.provider.dbt.facets import ParentRunMetadata

    manifest, run_results = artifacts()
    run_results["args"]["which"] = "retry"  # what a dbt retry may write: the processor refuses it
    run_results["results"] = [r for r in run_results["results"] if r["unique_id"] == "model.shop.stg_orders"]
    parent = ParentRunMetadata(
        run_id="0190a0a0-0000-7000-8000-000000000001", job_name="dag.dbt", job_namespace="af"
    )
    lineage = invocation_lineage(manifest, run_results, "build", DUCKDB, "jobs", parent)
    assert summary(lineage.events) == [
        ("w.main.shop.stg_orders.build.run", "FAIL", ["w.main.raw_orders"], []),
        ("w.main.shop.stg_orders.build.run", "START", ["w.main.raw_orders"], ["w.main.stg_orders"]),
    ]
    assert {e.run.facets["parent"].job.name for e in lineage.events} == {"dag.dbt"}
    assert lineage.inputs[0].name == "w.main.raw_orders"  # read, and its writer failed
    assert lineage.outputs == []


def test_commands_that_run_no_node_are_refused() -> None:
    manifest, run_results = artifacts()
    with pytest.raises(ValueError, match="dbt ls emits no lineage"):
        invocation_lineage(manifest, run_results, "ls", DUCKDB, "jobs")


def test_the_shipped_profiles_give_the_duckdb_file_and_the_databricks_host() -> None:
    project = str(REPO / "include" / "dbt")
    local = namespace_profile(project, None, "local", {"PLATFORM_OPS_DUCKDB_PATH": "rel/w.duckdb"})
    assert local == {"type": "duckdb", "path": str(REPO / "include" / "dbt" / "rel" / "w.duckdb")}
    env = {
        "DBT_DATABRICKS_HOST": "https://dbc-1.cloud.databricks.com/",
        "DBT_ENV_SECRET_DATABRICKS_TOKEN": "dapi-x",
    }
    prod = namespace_profile(project, None, "prod", env)
    assert prod == {"type": "databricks", "host": "dbc-1.cloud.databricks.com"}  # never the token
    manifest, run_results = artifacts()
    assert invocation_lineage(manifest, run_results, "build", prod, "jobs").namespace == (
        "databricks://dbc-1.cloud.databricks.com"
    )


def test_a_profile_that_cannot_be_rendered_names_the_field() -> None:
    profiles = "p:\n  outputs:\n    t:\n      type: duckdb\n      path: \"{{ env_var('WAREHOUSE') }}\"\n"
    with pytest.raises(ConfigError, match=r"profiles.yml t.path.*WAREHOUSE"):
        target_profile(profiles, "p", "t", {}, "/project")
    with pytest.raises(ConfigError, match="'other' is not an output of profile 'p'"):
        target_profile(profiles, "p", "other", {}, "/project")
    # a credential is never rendered, even one whose env var is missing
    secret = profiles.replace("type: duckdb", "type: duckdb\n      password: \"{{ env_var('NOPE') }}\"")
    assert target_profile(secret, "p", "t", {"WAREHOUSE": "/w.duckdb"}, "/project") == DUCKDB | {
        "path": "/w.duckdb"
    }
