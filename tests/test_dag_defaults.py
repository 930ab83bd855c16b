"""The defaults every DAG shares (default_args, the trigger params several DAGs take), and the rule
that only the DAG side reads the environment."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from platform_ops.dag_defaults import (
    RETRY_DELAY_ENV,
    default_args,
    dry_run_param,
    multi_select_param,
    select_param,
    workspace_pair_params,
)
from platform_ops.exceptions import ConfigError

CORE = Path(__file__).resolve().parents[1] / "plugins" / "platform_ops" / "core"


def environment_reads(source: str) -> list[str]:
    """Every ``os.environ`` / ``os.getenv`` / ``os.environb`` use or import in ``source``."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in names:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"line {node.lineno}: from os import {a.name}" for a in node.names if a.name in names]
    return found


def test_core_reads_no_environment() -> None:
    reads = {
        str(p.relative_to(CORE)): r
        for p in sorted(CORE.rglob("*.py"))
        if (r := environment_reads(p.read_text()))
    }
    assert reads == {}


def test_the_environment_check_catches_each_form() -> None:
    source = "import os\nfrom os import getenv\na = os.environ['X']\nb = os.getenv('Y')\n"
    assert environment_reads(source) == [
        "line 2: from os import getenv",
        "line 3: .environ",
        "line 4: .getenv",
    ]


def test_default_args_wait_five_minutes_between_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RETRY_DELAY_ENV, raising=False)
    args = default_args(retries=3, pool="p")
    assert args == {"owner": "platform-ops", "retries": 3, "retry_delay": timedelta(minutes=5), "pool": "p"}


def test_the_environment_shortens_the_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RETRY_DELAY_ENV, "2")
    assert default_args()["retry_delay"] == timedelta(seconds=2)
    monkeypatch.setenv(RETRY_DELAY_ENV, "0")
    assert default_args()["retry_delay"] == timedelta(0)


@pytest.mark.parametrize("value", ["soon", "-1", "1.5"])
def test_a_bad_retry_delay_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(RETRY_DELAY_ENV, value)
    with pytest.raises(ConfigError) as err:
        default_args()
    assert err.value.field == RETRY_DELAY_ENV
    assert "whole number of seconds" in err.value.fix


def test_a_select_param_offers_its_values_with_their_labels_and_refuses_others() -> None:
    from airflow.sdk import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    param = select_param("b", {"a": "A: first", "b": "B: second"}, title="Pick", description="one of two")
    assert (param.value, param.description) == ("b", "one of two")
    assert param.schema == {
        "type": "string",
        "title": "Pick",
        "enum": ["a", "b"],
        "values_display": {"a": "A: first", "b": "B: second"},
    }
    params = ParamsDict({"pick": param})
    params["pick"] = "a"
    with pytest.raises(ParamValidationError, match="param pick: 'c' is not one of"):
        params["pick"] = "c"


def test_a_multi_select_param_offers_its_values_as_examples_and_holds_items_to_them() -> None:
    from airflow.sdk import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    param = multi_select_param(("x",), ["x", "y"], title="Some", description="any of two", minItems=1)
    assert param.value == ["x"]
    assert param.schema == {
        "type": "array",
        "title": "Some",
        "items": {"type": "string", "enum": ["x", "y"]},
        "examples": ["x", "y"],
        "minItems": 1,
    }
    params = ParamsDict({"some": param})
    params["some"] = ["y", "x"]
    for bad in (["z"], [], None):
        with pytest.raises(ParamValidationError, match="param some"):
            params["some"] = bad
    labelled = multi_select_param([], {"x": "Ex"}, title="T", description="d", none_means_default=True)
    assert labelled.schema["type"] == ["array", "null"]
    assert labelled.schema["values_display"] == {"x": "Ex"}
    assert labelled.resolve(None) is None


def test_the_shared_params_have_titles_and_keep_their_defaults() -> None:
    dry_run = dry_run_param(True, "plan only")
    assert (dry_run.value, dry_run.description, dry_run.schema) == (
        True,
        "plan only",
        {"type": "boolean", "title": "Dry run"},
    )
    pair = workspace_pair_params()
    assert {name: p.value for name, p in pair.items()} == {
        "source_conn_id": "databricks_primary",
        "target_conn_id": "databricks_secondary",
    }
    for p in pair.values():
        assert p.schema["title"]
        assert p.description
        assert p.resolve(suppress_exception=True) == p.value
        assert p.resolve("", suppress_exception=True) is None, "a blank connection id is refused"
