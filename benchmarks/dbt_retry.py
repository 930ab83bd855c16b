"""Recovery from one failed model: DbtRunOrRetryOperator vs the raw dbt CLI vs astronomer-cosmos.

Generates a DuckDB project of 300 models in six layers with realistic fan-in (each model joins one
to three models of earlier layers), makes one mid-graph model fail (env BENCH_FAIL_MODELS, read by
a pre-hook), and measures wall time and models executed for:

* raw dbt: the full ``dbt run``; the lower bound of a recovery, ``dbt run --select <failed>+``;
* the operator (through Airflow's task runner, dag.test): full run, then the failed date's
  recovery (``dbt retry`` from the persisted run_results);
* astronomer-cosmos, default local mode (one Airflow task per model, each a ``dbt run --select``):
  full run, and its recovery: clearing the failed task and its downstream, i.e. running the tasks
  of ``<failed>+``; watcher mode on request (``BENCH_COSMOS_MODES=local,watcher``), none with
  ``BENCH_COSMOS_MODES=`` (empty: the operator against the raw CLI only, a few minutes).

Figures only. Targets: recovery within 1.3x the lower bound; operator overhead under 10% of the
raw CLI on the full run; faster recovery than cosmos in every mode measured.
Run with the benchmark environment: ``make bench`` (or .venv-bench/bin/python benchmarks/dbt_retry.py).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "dbt_retry"
PROJECT = WORK / "project"
DAGS = WORK / "dags"
DBT = os.environ.get("PLATFORM_OPS_DBT_EXECUTABLE", str(REPO / ".venv-dbt" / "bin" / "dbt"))
LAYERS = [40, 60, 60, 60, 50, 30]
THREADS = 4
SEED = 42
REPEAT = 3  # medians of three for the full runs and the lower bound

os.environ["AIRFLOW_HOME"] = str(WORK / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
os.environ["PLATFORM_OPS_DBT_EXECUTABLE"] = DBT
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"  # no network here; the peer must not wait on it
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]
from _processes import run, stop_on_signals  # noqa: E402 (benchmarks/)


def log(msg: str) -> None:
    print(msg, flush=True)


# -- the project ---------------------------------------------------------------------------------


def generate_project() -> tuple[dict[str, list[str]], list[list[str]]]:
    rng = random.Random(SEED)
    shutil.rmtree(PROJECT, ignore_errors=True)
    (PROJECT / "models").mkdir(parents=True)
    (PROJECT / "macros").mkdir()
    (PROJECT / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\n"
        'models:\n  bench:\n    +materialized: table\n    +pre-hook: "{{ fail_if_requested() }}"\n'
    )
    (PROJECT / "profiles.yml").write_text(
        f"bench:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        f"      path: \"{{{{ env_var('BENCH_DUCKDB_PATH') }}}}\"\n      threads: {THREADS}\n"
    )
    (PROJECT / "macros" / "fail.sql").write_text(
        "{% macro fail_if_requested() -%}\n"
        "{%- if model is defined and model.name in env_var('BENCH_FAIL_MODELS', '').split(',') -%}\n"
        "select cast('forced failure of {{ model.name }}' as integer)\n"
        "{%- endif -%}\n{%- endmacro %}\n"
    )
    layers: list[list[str]] = []
    parents: dict[str, list[str]] = {}
    for depth, width in enumerate(LAYERS):
        names = [f"l{depth}_m{i:03d}" for i in range(width)]
        for name in names:
            if depth == 0:
                sql = f"select range as id, range * {rng.randint(1, 9)} as v from range(2000)"
                parents[name] = []
            else:
                k = rng.choice([1, 2, 2, 3])
                pool = layers[-1] * 3 + [m for layer in layers[:-1] for m in layer]  # mostly the layer above
                ups = list(dict.fromkeys(rng.choice(pool) for _ in range(k)))
                parents[name] = ups
                sql = f"select p0.id, p0.v{''.join(f' + p{i}.v' for i in range(1, len(ups)))} as v\n"
                sql += f"from {{{{ ref('{ups[0]}') }}}} as p0\n"
                joins = (f"join {{{{ ref('{u}') }}}} as p{i} using (id)\n" for i, u in enumerate(ups[1:], 1))
                sql += "".join(joins)
            (PROJECT / "models" / f"{name}.sql").write_text(sql)
        layers.append(names)
    return parents, layers


def descendants(parents: dict[str, list[str]], node: str) -> set[str]:
    children: dict[str, list[str]] = {}
    for child, ups in parents.items():
        for up in ups:
            children.setdefault(up, []).append(child)
    seen, todo = set(), [node]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


# -- raw dbt -------------------------------------------------------------------------------------


def raw_dbt(args: list[str], env: dict[str, str], target_path: Path) -> tuple[float, int, int]:
    """(wall seconds, models executed, exit code) of one dbt CLI invocation."""
    argv = [
        DBT,
        "--no-use-colors",
        *args,
        "--project-dir",
        str(PROJECT),
        "--profiles-dir",
        str(PROJECT),
        "--target",
        "local",
        "--target-path",
        str(target_path),
        "--threads",
        str(THREADS),
    ]
    t0 = time.perf_counter()
    proc = run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    rr = target_path / "run_results.json"
    n = len(json.loads(rr.read_text())["results"]) if rr.is_file() and args[0] != "parse" else 0
    return seconds, n, proc.returncode


# -- Airflow runs --------------------------------------------------------------------------------

# dbt gets an allow-listed environment: the project's variables go through the operator's env=,
# read when the DAG file is parsed (run_airflow parses it before each run).
OPERATOR_DAG = """
import os
import pendulum
from airflow.sdk import DAG
from platform_ops.operators.dbt import DbtRunOrRetryOperator

with DAG("bench_operator", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
         default_args={{"owner": "bench", "retries": 0}}):
    DbtRunOrRetryOperator(task_id="dbt", project_dir={project!r}, target="local", threads={threads},
                          env={{k: os.environ[k] for k in ("BENCH_DUCKDB_PATH", "BENCH_FAIL_MODELS")
                               if k in os.environ}})
"""

COSMOS_DAG = """
import pendulum
from cosmos import DbtDag, ProjectConfig, ProfileConfig, ExecutionConfig, RenderConfig
from cosmos.constants import ExecutionMode, LoadMode

for dag_id, mode, select in [
    ("bench_cosmos_local", ExecutionMode.LOCAL, []),
    ("bench_cosmos_local_recovery", ExecutionMode.LOCAL, [{failed!r} + "+"]),
    ("bench_cosmos_watcher", ExecutionMode.WATCHER, []),
    ("bench_cosmos_watcher_recovery", ExecutionMode.WATCHER, [{failed!r} + "+"]),
]:
    globals()[dag_id] = DbtDag(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={{"owner": "bench", "retries": 0}},
        project_config=ProjectConfig({project!r}, manifest_path={manifest!r}),
        profile_config=ProfileConfig(profile_name="bench", target_name="local",
                                     profiles_yml_filepath={profiles!r}),
        execution_config=ExecutionConfig(execution_mode=mode, dbt_executable_path={dbt!r}),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, select=select),
        operator_args={{"install_deps": False}},
    )
"""


def run_airflow(dag_id: str, date: datetime) -> tuple[float, str, int, dict]:
    """(wall seconds of dag.test, final state, tasks that ran, the operator's XCom summary if any)."""
    from tests.airflow_runner import ensure_db

    ensure_db()
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(DAGS), load_op_links=False)
    if bag.import_errors:
        raise RuntimeError(bag.import_errors)
    sync_bag_to_db(bag, "dags-folder", None)
    dag = bag.dags[dag_id]
    t0 = time.perf_counter()
    dr = dag.test(logical_date=date)
    seconds = time.perf_counter() - t0
    with create_session() as session:
        ran = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=dr.run_id).count()
        row = session.query(XComModel).filter_by(dag_id=dag_id, run_id=dr.run_id, key="summary").first()
        summary = XComModel.deserialize_value(row) if row else {}
    return seconds, str(dr.state), ran, summary


def main() -> None:
    stop_on_signals()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    parents, layers = generate_project()
    mid = sorted(layers[2], key=lambda m: len(descendants(parents, m)))
    failed = mid[len(mid) // 2]
    expected = 1 + len(descendants(parents, failed))
    log(
        f"project: {len(parents)} models in layers {LAYERS}; failing model {failed} "
        f"({expected - 1} descendants)"
    )
    base_env = {**os.environ, "BENCH_DUCKDB_PATH": str(WORK / "raw.duckdb")}
    fail_env = {**base_env, "BENCH_FAIL_MODELS": failed}
    raw_dbt(["parse"], base_env, PROJECT / "target")  # warm partial parse for the raw CLI
    fulls = [raw_dbt(["run"], base_env, PROJECT / "target") for _ in range(REPEAT)]
    raw_full, n_full = statistics.median(f[0] for f in fulls), fulls[0][1]
    # Each recovery follows its own failing run in the same target folder, as a user's would: the
    # failing run's env var makes the next parse a full one, for the CLI and the operator alike.
    lowers = []
    for _ in range(REPEAT):
        _, _, rc = raw_dbt(["run"], fail_env, PROJECT / "target")
        lowers.append(raw_dbt(["run", "--select", f"{failed}+"], base_env, PROJECT / "target"))
    lower, n_lower = statistics.median(x[0] for x in lowers), lowers[0][1]
    log(
        f"raw dbt (median of {REPEAT}): full run {raw_full:.1f} s ({n_full} models); failing run exit {rc}; "
        f"lower bound `dbt run --select {failed}+` {lower:.1f} s ({n_lower} models)"
    )

    DAGS.mkdir()
    (DAGS / "bench_operator.py").write_text(OPERATOR_DAG.format(project=str(PROJECT), threads=THREADS))
    os.environ["BENCH_DUCKDB_PATH"] = str(WORK / "operator.duckdb")
    os.environ["PLATFORM_OPS_STATE_ROOT"] = f"file://{WORK / 'state'}"
    d0, d1 = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)  # d1: cosmos recovery
    run_airflow("bench_operator", d0)  # fills the operator's partial-parse cache; not timed
    runs = []
    for _ in range(REPEAT):
        shutil.rmtree(WORK / "state")
        runs.append(run_airflow("bench_operator", d0))
    ours_wall = statistics.median(r[0] for r in runs)
    ours_full = statistics.median(r[3]["seconds"] for r in runs)
    state = runs[-1][1]
    recoveries = []
    for day in range(REPEAT):
        date = datetime(2026, 11, 2 + day, tzinfo=UTC)
        os.environ["BENCH_FAIL_MODELS"] = failed
        _, fail_state, _, _ = run_airflow("bench_operator", date)
        del os.environ["BENCH_FAIL_MODELS"]
        recoveries.append(run_airflow("bench_operator", date))
    rec_wall = statistics.median(r[0] for r in recoveries)
    ours_rec = statistics.median(r[3]["seconds"] for r in recoveries)
    rec_state, rec_summary = recoveries[-1][1], recoveries[-1][3]
    n_rec = len([u for u in rec_summary["executed"] if u.startswith("model.")])
    overhead = (ours_full - raw_full) / raw_full
    log(
        f"operator (median of {REPEAT}): full run {ours_full:.1f} s in execute "
        f"({ours_wall:.1f} s with Airflow's task start, "
        f"{state}); failing run {fail_state}; recovery ({rec_summary['mode']}) {ours_rec:.1f} s in execute "
        f"({rec_wall:.1f} s with task start, {rec_state}, {n_rec} models); "
        f"overhead vs raw CLI {overhead:+.1%}; recovery/lower bound {ours_rec / lower:.2f}x"
    )

    # Watcher mode is opt-in (BENCH_COSMOS_MODES=local,watcher): under dag.test's serial runner its
    # consumer sensors poke for XComs of a producer that has not run yet, and the run does not finish.
    # An empty BENCH_COSMOS_MODES measures no cosmos mode.
    modes = [m.strip() for m in os.environ.get("BENCH_COSMOS_MODES", "local").split(",") if m.strip()]
    if modes:  # cosmos: build the manifest its DAGs render from, then run the modes asked for
        raw_dbt(["parse"], base_env, WORK / "manifest")
        (DAGS / "bench_cosmos.py").write_text(
            textwrap.dedent(COSMOS_DAG).format(
                failed=failed,
                project=str(PROJECT),
                manifest=str(WORK / "manifest" / "manifest.json"),
                profiles=str(PROJECT / "profiles.yml"),
                dbt=DBT,
            )
            + "\n# airflow dag\n"
        )
    cosmos: dict[str, tuple[float, float, int]] = {}
    for mode in modes:
        os.environ["BENCH_DUCKDB_PATH"] = str(WORK / f"cosmos-{mode}.duckdb")
        try:
            full, full_state, full_tasks, _ = run_airflow(f"bench_cosmos_{mode}", d0)
            # Recovering in cosmos = clearing the failed task and its downstream, so Airflow runs the
            # tasks of <failed>+ again, each on its own; the cost of those tasks does not depend on
            # the failed attempt, so the failing run (another full pass) is not repeated here.
            rec, crec_state, rec_tasks, _ = run_airflow(f"bench_cosmos_{mode}_recovery", d1)
        except Exception as exc:  # a mode that does not run here is reported, not fatal
            os.environ.pop("BENCH_FAIL_MODELS", None)
            log(f"cosmos {mode}: did not run here: {type(exc).__name__}: {str(exc)[:300]}")
            continue
        cosmos[mode] = (full, rec, rec_tasks)
        log(
            f"cosmos {mode}: full run {full:.1f} s ({full_state}, {full_tasks} tasks); "
            f"recovery of {failed}+ {rec:.1f} s ({crec_state}, {rec_tasks} tasks)"
        )
    # Against cosmos, compare like with like: dag.test wall time on both sides (task start included).
    vs = "; ".join(f"recovery ours/cosmos-{m} {rec_wall / c[1]:.2f}" for m, c in cosmos.items())
    log(
        f"recovery/full-run ratio {ours_rec / ours_full:.2f}; recovery/lower bound {ours_rec / lower:.2f}; "
        f"operator overhead {overhead:+.1%}; {vs or 'cosmos: n/a'}"
    )


if __name__ == "__main__":
    main()
