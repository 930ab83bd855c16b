"""
### dbt_transform

Builds the dbt project in `include/dbt` (`dbt build`: seeds, models, tests) once a day with
**DbtRunOrRetryOperator**.

The run_results of every logical date are persisted (key
`dbt_transform/dbt_run/<logical date>/dbt_run_results`), so an Airflow retry, a cleared task or a
backfill of a **failed** date re-runs only its failed models and their descendants, and a re-run
of a **green** date does nothing unless `force` is set. The full rules are in the docstring of
`DbtRunOrRetryOperator` (plugins/platform_ops/operators/dbt.py).

Repair failed dates in bulk:

```
airflow backfill create --dag-id dbt_transform --from-date 2026-11-01 --to-date 2026-11-07 \\
    --reprocess-behavior failed
```

Params (UI form): `select` (required, rendered as a string: "2026" selects a model named 2026),
`target` (local = DuckDB, dev/prod = Databricks through the
`databricks_default` connection), `full_refresh`, `threads`, `scope` (auto: decide from the
stored results; failed: only the stored failures; full: everything), `vars`, `force`,
`source_freshness` (off / warn / error: check the upstream sources' freshness before building) and
`retry_test_failures` (off: a try failed only by data tests is not retried) and `generate_docs`
(after a green build, generate the dbt docs the UI serves under the task's "dbt docs" link).
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from platform_ops.dag_defaults import DBT_POOL, default_args, select_param
from platform_ops.operators.dbt import DbtRunOrRetryOperator

PROJECT_DIR = os.environ.get(
    "PLATFORM_OPS_DBT_PROJECT_DIR", str(Path(__file__).resolve().parents[1] / "include" / "dbt")
)
SELECTION_PATTERN = r"""^(?!\s*(None|none|NONE|null|Null|NULL|\[\]|''|""|\{\})\s*$)\s*\S"""

with DAG(
    dag_id="dbt_transform",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one dbt invocation at a time per warehouse target
    tags=["dbt", "transform", "local"],
    doc_md=__doc__,
    # Templates render to strings (the operator parses each argument): rendered natively, a
    # select of "2026" would become an int and "None" or "[]" no selection at all.
    render_template_as_native_obj=False,
    default_args=default_args(retries=2),
    params={
        "select": Param(
            "tag:daily",
            "What to build, in dbt's selection syntax, e.g. tag:daily or stg_orders+ (default "
            "tag:daily). Required: not blank, not None or []",
            type="string",
            # not blank, and not what a template renders for "nothing": that would build everything
            pattern=SELECTION_PATTERN,
            title="dbt selection",
        ),
        "target": select_param(
            "local",
            {
                "local": "local (DuckDB)",
                "dev": "dev (Databricks)",
                "prod": "prod (Databricks)",
            },
            title="Warehouse target",
            description="profiles.yml target: local (the default) builds into DuckDB, dev and prod into "
            "Databricks through the databricks_default connection",
        ),
        "full_refresh": Param(
            False,
            "Pass --full-refresh: rebuild incremental models and seeds from scratch. Off (the "
            "default): incremental",
            type="boolean",
            title="Full refresh",
        ),
        "threads": Param(
            4, "dbt threads, 1-64 (default 4)", type="integer", minimum=1, maximum=64, title="Threads"
        ),
        "scope": select_param(
            "auto",
            {
                "auto": "auto: this date's failures if any, else everything",
                "failed": "failed: only this date's stored failures",
                "full": "full: everything",
            },
            title="What runs",
            description="auto (the default): this date's stored failures if any, else everything; "
            "failed: only the stored failures (fails when there are none); full: everything",
        ),
        "vars": Param(
            {},
            "dbt vars as a JSON object, passed in full to the run and to each retry (default {}: none)",
            type="object",
            title="dbt vars",
        ),
        "force": Param(
            False,
            "Re-run even if this date's stored results are green. Off (the default): a green date "
            "does nothing",
            type="boolean",
            title="Force a re-run",
        ),
        "source_freshness": select_param(
            "off",
            {
                "off": "off: no check",
                "warn": "warn: check, report stale sources, build anyway",
                "error": "error: a stale source fails the task before anything is built",
            },
            title="Source freshness",
            description="Check the sources upstream of the selection before building (default off). "
            "error: a source past its error_after fails the task without retries and nothing is built",
        ),
        "retry_test_failures": Param(
            True,
            "On (the default): failed data tests are retried like any failure. Off: a try whose only "
            "failures are tests fails without Airflow retries (same data, same result); a Clear or a "
            "new run still rebuilds",
            type="boolean",
            title="Retry failed tests",
        ),
        "generate_docs": Param(
            False,
            "After a green build, run dbt docs generate and keep the site with the date's state: the "
            'task\'s "dbt docs" link opens it. A failed build leaves the docs stored before in place',
            type="boolean",
            title="Generate dbt docs",
        ),
    },
) as dag:
    DbtRunOrRetryOperator(
        task_id="dbt_run",
        # one build at a time across runs and backfills (a backfill ignores max_active_runs)
        pool=DBT_POOL,
        project_dir=PROJECT_DIR,
        command="build",  # seeds, models and tests in dependency order
        target="{{ params.target }}",
        select="{{ params.select }}",
        vars="{{ params.vars | tojson }}",
        threads="{{ params.threads }}",
        full_refresh="{{ params.full_refresh }}",
        scope="{{ params.scope }}",
        force="{{ params.force }}",
        source_freshness="{{ params.source_freshness }}",
        retry_test_failures="{{ params.retry_test_failures }}",
        generate_docs="{{ params.generate_docs }}",
        databricks_conn_id="{{ '' if params.target == 'local' else 'databricks_default' }}",
    )
