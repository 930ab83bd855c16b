"""The integrity checker itself: it passes a correct DAG and catches each broken rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dags.integrity import violations

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def bad() -> list[str]:
    return violations(FIXTURES / "bad")


def test_a_correct_dag_passes() -> None:
    assert violations(FIXTURES / "good") == []


@pytest.mark.parametrize(
    "expected",
    [
        "fixture_bad_rules: no doc_md",
        "fixture_bad_rules: no tags",
        "fixture_bad_rules: owner not set",
        "fixture_bad_rules: a task has retries < 1",
        "fixture_bad_rules: catchup must be False",
        "bad_rules.py: DAG call without an explicit schedule=",
        "fixture_bad_rules: pool 'no_such_pool' is not declared",
        "fixture_bad_rules: param 'untitled' has no title",
        "fixture_bad_rules: param 'unexplained' has no description",
        "fixture_bad_rules: param 'raw_name' has its raw name as title",
        "bad_network.py: import error",
        "bad_variable.py: import error",
    ],
)
def test_each_broken_rule_is_reported(bad: list[str], expected: str) -> None:
    assert any(p.startswith(expected) for p in bad), bad
