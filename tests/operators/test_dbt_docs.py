"""DbtRunOrRetryOperator(generate_docs=True) end to end: real dbt docs generate on DuckDB.

The docs of a green date are generated once per build and stored with its state; a failed build
generates none and leaves earlier docs in place; a docs generation that fails fails the try
without losing the build, and the next try generates only the docs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from platform_ops.core.dbt_docs import DOCS_FILES, DOCS_STATE_NAME, read_docs_document, verified
from platform_ops.state import RunStateStore
from tests.airflow_runner import RunResult, run_dag

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).parent / "dags" / "dbt_scenarios.py"
D1 = datetime(2026, 11, 1, tzinfo=UTC)
D2 = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture
def env(dbt_env: Path) -> Path:
    return dbt_env


def run(date: datetime, **conf) -> RunResult:
    return run_dag(SCENARIOS, "dbt_scenarios", date, {"generate_docs": True, **conf})


def docs_of(date: datetime) -> tuple[dict, dict[str, bytes]] | None:
    """The stored docs document of the date and its files, each checked against its sha256."""
    store = RunStateStore()
    if not store.has("dbt_scenarios", "dbt", date, DOCS_STATE_NAME):
        return None
    doc = store.get_latest("dbt_scenarios", "dbt", date, DOCS_STATE_NAME)
    record = read_docs_document(doc)
    assert record is not None, doc
    files = {}
    for name in DOCS_FILES:
        content = store.read_file("dbt_scenarios", "dbt", date, DOCS_STATE_NAME, record.digest, name)
        assert content is not None, name
        assert verified(record, name, content), name
        files[name] = content
    return doc, files


def test_a_green_build_stores_the_docs_site_once_and_a_failed_build_keeps_the_earlier_docs(env: Path) -> None:
    first = run(D1)
    assert first.state == "success"
    docs = first.summary("dbt")["docs"]
    assert docs["generated"] is True
    assert docs["location"].endswith("/dbt_scenarios/dbt/2026-11-01T000000Z/dbt_docs.json")
    stored = docs_of(D1)
    assert stored is not None
    doc, files = stored
    assert files["index.html"].lstrip().lower().startswith(b"<!doctype html>")
    manifest, catalog = json.loads(files["manifest.json"]), json.loads(files["catalog.json"])
    assert "model.shop.orders" in manifest["nodes"]
    assert "model.shop.orders" in catalog["nodes"]  # the catalog read the tables dbt built
    assert not any("compiled_code" in n for n in manifest["nodes"].values())
    assert doc["target"] == "local"

    again = run(D1)  # green and documented: nothing runs
    assert again.summary("dbt")["mode"] == "skip"
    assert again.summary("dbt")["docs"]["generated"] is False
    assert docs_of(D1) == stored

    failed = run(D2, vars={"fail_models": ["stg_orders"]})
    assert failed.state == "failed"
    assert failed.summary("dbt")["docs"] is None
    assert docs_of(D2) is None
    assert docs_of(D1) == stored

    fixed = run(D2)  # the retry turns the date green: now it has docs
    assert fixed.state == "success"
    assert fixed.summary("dbt")["mode"] == "retry"
    assert fixed.summary("dbt")["docs"]["generated"] is True
    assert docs_of(D2) is not None


def test_a_failed_docs_generation_fails_the_try_and_the_next_generates_only_the_docs(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platform_ops.operators.dbt as operator_module

    real = operator_module.docs_argv
    monkeypatch.setattr(operator_module, "docs_argv", lambda *a: [*real(*a), "--no-such-flag"])
    broken = run(D1)
    assert broken.state == "failed"
    summary = broken.summary("dbt")
    assert summary["mode"] == "run"
    assert summary["failed"] == []  # the build was green, and is stored
    assert docs_of(D1) is None

    monkeypatch.setattr(operator_module, "docs_argv", real)
    retried = run(D1)
    assert retried.state == "success"
    assert retried.summary("dbt")["mode"] == "skip"  # nothing is built again
    assert retried.summary("dbt")["docs"]["generated"] is True
    assert docs_of(D1) is not None


def test_a_generate_docs_that_is_not_a_boolean_is_refused_naming_the_field() -> None:
    from platform_ops.exceptions import ConfigError
    from platform_ops.operators.build_checks import Switches

    with pytest.raises(ConfigError, match="generate_docs"):
        Switches.from_params(
            on_warning_callback=None,
            retry_test_failures=True,
            source_freshness="off",
            generate_docs="sometimes",
        )
