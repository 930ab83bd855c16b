"""The trigger forms of the shipped DAGs: every field labelled and explained, and every fixed set of
values offered as a select or a multi-select that refuses anything else, naming the param.

Which input the form draws for a Param is decided from its schema by Airflow 3.3's UI (the field
selector of the trigger form, in the UI bundle under airflow/ui/dist); :func:`form_input` follows
the same order of checks, for the kinds of params these DAGs declare.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.dags.integrity import REPO, param_problems

# Every param whose values are a fixed set, and the input the form must draw for it.
CHOICES = {
    ("bigquery_cdc_before_after", "tables"): "multi-select",
    ("bigquery_cdc_before_after", "mode"): "select",
    ("databricks_dr_migrate", "object_types"): "multi-select",
    ("dbt_transform", "target"): "select",
    ("dbt_transform", "scope"): "select",
    ("dbt_transform", "source_freshness"): "select",
}


def form_input(schema: dict[str, Any]) -> str:
    """The input Airflow 3.3's trigger form draws for a param of this schema."""
    types = schema.get("type")
    has_choices = isinstance(schema.get("enum"), list) or isinstance(schema.get("examples"), list)
    if isinstance(types, list) and len([t for t in types if t != "null"]) > 1 and not has_choices:
        return "json"  # several types: a JSON editor
    kind = next((t for t in types if t != "null"), "string") if isinstance(types, list) else types or "string"
    if kind == "boolean":
        return "switch"
    if kind in ("null", "string", "number", "integer") and isinstance(schema.get("enum"), list):
        return "select"
    if kind == "array" and has_choices:
        return "multi-select"
    if kind == "array":
        items = schema.get("items") or {}
        return "text list" if items.get("type") in (None, "string") else "json"
    if kind == "object":
        return "json"
    return "number" if kind in ("integer", "number") else "text"


def choices_of(schema: dict[str, Any]) -> list[Any]:
    """The values a choice param offers: a select's enum, a multi-select's examples."""
    return list(schema["enum"] if "enum" in schema else schema["examples"])


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), load_op_links=False)
    assert bag.import_errors == {}
    assert bag.dags
    return bag.dags


def param_schemas(dag: Any) -> dict[str, dict[str, Any]]:
    return {name: dag.params.get_param(name).schema for name in dag.params}


def shown(dag: Any) -> dict[str, dict[str, Any]]:
    """What the form shows of each param: its title (the field's label) and its description."""
    params = {name: dag.params.get_param(name) for name in dag.params}
    return {
        name: {"title": p.schema.get("title"), "description": p.description} for name, p in params.items()
    }


def test_the_form_input_mirror_tells_the_inputs_apart() -> None:
    assert form_input({"type": "string", "enum": ["a", "b"]}) == "select"
    assert form_input({"type": ["null", "integer"], "enum": [1, None]}) == "select"
    assert form_input({"type": "array", "examples": ["a"], "items": {"type": "string"}}) == "multi-select"
    # items restricted by enum alone are typed in, one a line: what object_types was before
    assert form_input({"type": "array", "items": {"type": "string", "enum": ["a"]}}) == "text list"
    assert form_input({"type": "array", "items": {"type": "integer"}}) == "json"
    assert form_input({"type": "string"}) == "text"
    assert form_input({"type": ["null", "string"]}) == "text"
    assert form_input({"type": ["string", "integer"]}) == "json"
    assert form_input({"type": "boolean"}) == "switch"
    assert form_input({"type": "object"}) == "json"


def test_every_param_of_every_dag_has_a_title_and_a_description(dags: dict[str, Any]) -> None:
    files = {Path(dag.fileloc).name for dag in dags.values() if dag.params}
    assert files == {p.name for p in (REPO / "dags").glob("*.py")}, "every DAG file's params are checked"
    assert [p for dag_id, dag in dags.items() for p in param_problems(dag_id, shown(dag))] == []


def test_a_param_without_a_title_is_reported(dags: dict[str, Any]) -> None:
    dag = dags["databricks_dr_migrate"]
    params = shown(dag)
    assert param_problems(dag.dag_id, params) == []
    params["object_types"] = {**params["object_types"], "title": None}
    params["roots"] = {**params["roots"], "description": " "}
    assert param_problems(dag.dag_id, params) == [
        "databricks_dr_migrate: param 'object_types' has no title (the trigger form shows 'object_types')",
        "databricks_dr_migrate: param 'roots' has no description (say what it does, and its default)",
    ]


def test_every_fixed_set_of_values_is_offered_as_choices(dags: dict[str, Any]) -> None:
    found = {}
    for dag_id, dag in dags.items():
        for name, schema in param_schemas(dag).items():
            items = schema.get("items") or {}
            if "enum" in schema or "enum" in items or "examples" in schema:
                found[(dag_id, name)] = form_input(schema)
    assert found == CHOICES


@pytest.mark.parametrize(("dag_id", "name"), sorted(CHOICES), ids=lambda v: v)
def test_a_choice_param_offers_valid_values_and_refuses_others(
    dags: dict[str, Any], dag_id: str, name: str
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = dags[dag_id].params
    schema = params.get_param(name).schema
    offered = choices_of(schema)
    assert offered, "a choice param offers at least one value"
    labels = schema.get("values_display")
    if labels is not None:
        assert set(labels) == {str(v) for v in offered}, "every offered value has its label"
        assert all(isinstance(label, str) and label.strip() for label in labels.values())
    copy.deepcopy(params).validate()  # the defaults (what a scheduled run gets) are valid
    multi = CHOICES[(dag_id, name)] == "multi-select"
    if multi:
        assert schema["items"]["enum"] == offered, "what the form offers is what validation accepts"
    for value in offered:
        check = copy.deepcopy(params)
        check[name] = [value] if multi else value
        assert check[name] == ([value] if multi else value)
    outside = ["not-a-choice"] if multi else "not-a-choice"
    with pytest.raises(ParamValidationError, match=f"param {name}: 'not-a-choice' is not one of"):
        copy.deepcopy(params)[name] = outside


def test_the_dr_object_types_default_to_all_and_need_one(dags: dict[str, Any]) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    from platform_ops.operators.dr_migrate import OBJECT_TYPES

    params = dags["databricks_dr_migrate"].params
    assert params["object_types"] == list(OBJECT_TYPES)
    assert choices_of(params.get_param("object_types").schema) == list(OBJECT_TYPES)
    for cleared in ([], None):  # the form sends null once every choice is removed
        with pytest.raises(ParamValidationError, match="param object_types"):
            copy.deepcopy(params)["object_types"] = cleared


def test_the_cdc_form_offers_the_configured_tables_and_none_means_all(dags: dict[str, Any]) -> None:
    from platform_ops.config_files import load_yaml

    params = dags["bigquery_cdc_before_after"].params
    configured = [t["name"] for t in load_yaml(REPO / "include" / "config" / "cdc_tables.yaml")["tables"]]
    assert choices_of(params.get_param("tables").schema) == configured
    assert params["tables"] == [], "a scheduled run still processes every table"
    cleared = copy.deepcopy(params)
    cleared["tables"] = None  # what the form sends once every table is removed
    assert cleared["tables"] is None
    # and the run reads it as all of them, as it does the default
    list_tables = dags["bigquery_cdc_before_after"].get_task("tables").python_callable
    for value in (None, []):
        run_params = {**params.dump(), "tables": value}
        assert len(list_tables(params=run_params)) == len(configured)
    assert len(list_tables(params={**params.dump(), "tables": configured[:1]})) == 1
