"""The defaults every DAG shares, and the rule that only the DAG side reads the environment."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from platform_ops.dag_defaults import RETRY_DELAY_ENV, default_args
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
