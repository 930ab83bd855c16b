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
stored results; failed: only the stored failures; full: everything), `vars`, `force`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from platform_ops.dag_defaults import DBT_POOL, default_args
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
            type="string",
            # not blank, and not what a template renders for "nothing": that would build everything
            pattern=SELECTION_PATTERN,
            description="dbt selection, e.g. tag:daily or stg_orders+ (required: not blank, not None/[])",
        ),
        "target": Param(
            "local",
            type="string",
            enum=["local", "dev", "prod"],
            description="profiles.yml target: local (DuckDB) or dev/prod (Databricks)",
        ),
        "full_refresh": Param(False, type="boolean", description="pass --full-refresh"),
        "threads": Param(4, type="integer", minimum=1, maximum=64, description="dbt threads (1-64)"),
        "scope": Param(
            "auto",
            type="string",
            enum=["auto", "failed", "full"],
            description=(
                "what runs: auto = this date's stored failures if any, else everything; "
                "failed = only the stored failures (fails when there are none); full = everything"
            ),
        ),
        "vars": Param(
            {}, type="object", description="dbt vars (JSON object), passed in full to run and retry"
        ),
        "force": Param(
            False, type="boolean", description="re-run even if this date's stored results are green"
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
        databricks_conn_id="{{ '' if params.target == 'local' else 'databricks_default' }}",
    )
