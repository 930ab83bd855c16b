"""CDC before/after images: our net query vs the runbook's CTE-per-step formulation ("seed").

Ours is ``platform_ops.core.cdc.build_net_sql`` with each engine's default plan: on BigQuery one
window pass that reads the change-log window once; on DuckDB hash aggregates over the deduplicated
log (materialized once by DuckDB) joined back by (key, version). Both join the day-before snapshot
only for the keys whose before image the log cannot give. The peer is the formulation of the
runbook this project replaces: CTEs that each read the log (latest version, latest rows, before
version, before rows, snapshot fallback), corrected here so that it computes the same thing as ours
(see ``seed_sql``) while keeping its structure and so its number of reads of the log and snapshot.

Reported, in this order:

1. scans of the log and snapshot tables in the compiled BigQuery SQL of both, counted with sqlglot
   after CTE expansion (BigQuery does not materialize a non-recursive CTE: one referenced N times
   is read N times);
2. the dry-run byte estimate: not available without BigQuery, said so;
3. per size (env BENCH_CDC_SIZES, default 1000000,10000000 log rows): a generated log over three
   days (the window is the last day, the lookback the two before) and the snapshot of the day
   before the window, in a DuckDB file under benchmarks/.work/cdc (reused when present); DuckDB's
   plans (DuckDB, unlike BigQuery, materializes a CTE referenced more than once, so the seed's log
   CTE is computed once there; and it turns ``QUALIFY ROW_NUMBER() ... = 1`` into an arg_max over
   a narrow scan joined back on rowid, a second scan of the log table in both); then, median of
   three runs, the wall time and peak RSS of ``CREATE OR REPLACE TEMP TABLE out AS <query>``, each
   run in its own child process, DuckDB on 2 threads; on the smallest size, whether both return
   the same rows;
4. the scaling of ours from the smallest to the largest size.

Figures only. Targets: the log read once; ours no slower than the seed on DuckDB; 10x the rows in
at most 12x the time. Last line: the summary.
Run with the benchmark environment: ``make bench`` (or .venv-bench/bin/python benchmarks/cdc.py).
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "cdc"
sys.path.insert(0, str(REPO / "plugins"))
from _processes import run, stop_on_signals  # noqa: E402 (benchmarks/)

from platform_ops.core.cdc import CdcSpec, Dialect, NetPlan, build_net_sql, query_params  # noqa: E402

SIZES = [int(s) for s in os.environ.get("BENCH_CDC_SIZES", "1000000,10000000").split(",") if s.strip()]
THREADS = 2
REPEAT = 3
GENERATOR = 1  # bump when the generated data changes: the cached DuckDB files are named after it

SPEC = CdcSpec(
    source_table="cdc.orders_log",
    primary_key=("order_id",),
    columns=("status", "amount", "customer"),
    snapshot_table_prefix="cdc.orders_snapshot_",
)
WINDOW_START = datetime(2026, 1, 3, tzinfo=ZoneInfo("Asia/Tokyo"))
WINDOW_END = WINDOW_START + timedelta(days=1)
SPAN_START = WINDOW_START - SPEC.lookback  # the log holds three days: the lookback and the window
SNAPSHOT_TABLE = f"{SPEC.snapshot_table_prefix}{SPEC.snapshot_suffix(WINDOW_START)}"

# The generated data, per size N (log rows, re-deliveries included):
REDELIVERED = 0.001  # share of the rows delivered twice (same key and version, landing later)
ALPHA, MAX_CHANGES = 2.0, 1000  # changes per key ~ floor(U^(-1/ALPHA)): P(>= c) = c^-2, 75% once
NEW_KEYS = 0.2  # share of the changed keys inserted during the three days; the others pre-exist
TABLE_KEYS = 2  # keys in the table before the three days, per log row (~10% of the table a day)
DELETE_SHARE = {"new": 0.05, "old": 0.03}  # keys whose last change is a delete
STATUSES = ["ordered", "paid", "packed", "shipped", "delivered", "returned", "cancelled"]
SCRAMBLE = 1_000_000_007  # a prime: i -> 1 + i * SCRAMBLE % E picks distinct pre-existing keys


def log(msg: str) -> None:
    print(msg, flush=True)


def human(n: int) -> str:
    for div, unit in ((1_000_000, "M"), (1_000, "K")):
        if n >= div and n % (div // 10) == 0:
            return f"{n / div:g}{unit}"
    return str(n)


# -- the seed's formulation, corrected ---------------------------------------------------------------


def seed_sql(spec: CdcSpec, dialect: Dialect, snapshot_table: str | None = None) -> str:
    """The seed's query with its bugs fixed, returning the rows ``build_net_sql`` returns.

    Kept from the seed: the CTEs and which CTE reads which, so the log is read as often (8 times
    once CTEs are expanded) and the snapshot once. Fixed: the log is bounded by the window
    parameters (the seed took wall clock: the last 60 s for "latest", now-1 day for the snapshot
    suffix); a re-delivered (key, version) row is kept once (it duplicated output rows); the before
    version is the highest below the key's first change in the window, among changed keys only
    (the seed took any version but the latest, for every key); the before rows are joined on the
    key (the seed compared the key with a version); the trailing comma; the snapshot fallback
    selects columns its subquery has, and only for keys whose first change is an update or delete.
    The seed's final UNION ALL of after rows and before rows becomes a join of the same three CTEs,
    so that both queries return one row per changed key with the same columns.
    """
    bq = dialect is Dialect.BIGQUERY
    if len(spec.primary_key) != 1:
        raise ValueError("the seed's formulation has a single-column primary key")
    pk, t, v, at = spec.primary_key[0], spec.type_column, spec.version_column, spec.inserted_at_column
    cols = list(spec.columns)
    col_list = ", ".join(cols)

    def param(name: str) -> str:
        return f"@{name}" if bq else f"${name}"

    def struct(alias: str) -> str:
        if bq:
            return "STRUCT(" + ", ".join(f"{alias}.{c} AS {c}" for c in cols) + ")"
        return "struct_pack(" + ", ".join(f"{c} := {alias}.{c}" for c in cols) + ")"

    if bq:
        log_table = f"`{spec.source_table}`"
        snapshot = f"`{spec.snapshot_table_prefix}*` WHERE _TABLE_SUFFIX = {param('snapshot_suffix')}"
        first_type = f"ANY_VALUE({t} HAVING MIN {v})"
        string, int64 = "STRING", "INT64"
    else:
        if not snapshot_table:
            raise ValueError("pass the snapshot table on DuckDB")
        log_table, snapshot = spec.source_table, snapshot_table
        first_type = f"arg_min({t}, {v})"
        string, int64 = "VARCHAR", "BIGINT"
    s_cols = ", ".join(f"streaming.{c}" for c in cols)
    return f"""WITH
streaming AS (
  SELECT {t}, {v}, {at}, {pk} AS primary_key, {col_list}
  FROM {log_table}
  WHERE {at} >= {param("lookback_start")} AND {at} < {param("window_end")}
  QUALIFY ROW_NUMBER() OVER (PARTITION BY {pk}, {v} ORDER BY {at} DESC) = 1
),
streaming_latest_version AS (
  SELECT primary_key, MAX({v}) AS changetrack_ver_max, MIN({v}) AS changetrack_ver_first,
    {first_type} AS first_type, COUNT(*) AS change_count
  FROM streaming
  WHERE {at} >= {param("window_start")}
  GROUP BY primary_key
),
streaming_latest AS (
  SELECT streaming.{t}, streaming.{v}, streaming.primary_key, {s_cols},
    streaming_latest_version.first_type, streaming_latest_version.change_count
  FROM streaming
  INNER JOIN streaming_latest_version
    ON streaming.primary_key = streaming_latest_version.primary_key
    AND streaming.{v} = streaming_latest_version.changetrack_ver_max
),
streaming_before_latest_version AS (
  SELECT primary_key, MAX({v}) AS changetrack_ver_before_latest
  FROM (
    SELECT streaming.primary_key, streaming.{v}
    FROM streaming
    INNER JOIN streaming_latest_version
      ON streaming.primary_key = streaming_latest_version.primary_key
      AND streaming.{v} < streaming_latest_version.changetrack_ver_first
  ) AS earlier
  GROUP BY primary_key
),
streaming_before_latest AS (
  SELECT streaming.{t}, streaming.{v}, streaming.primary_key, {s_cols}
  FROM streaming
  INNER JOIN streaming_before_latest_version
    ON streaming.primary_key = streaming_before_latest_version.primary_key
    AND streaming.{v} = streaming_before_latest_version.changetrack_ver_before_latest
),
daily_before_latest AS (
  SELECT CAST(NULL AS {string}) AS {t}, CAST(NULL AS {int64}) AS {v}, primary_key, {col_list}
  FROM (SELECT {pk} AS primary_key, {col_list} FROM {snapshot}) AS daily
  WHERE primary_key NOT IN (SELECT primary_key FROM streaming_before_latest_version)
    AND primary_key IN (
      SELECT primary_key FROM streaming_latest_version WHERE first_type IN ('U', 'D')
    )
)
SELECT primary_key AS {pk},
  CASE WHEN after IS NULL THEN 'd' WHEN before IS NULL THEN 'c' ELSE 'u' END AS op,
  before, after, version_before, version_after, change_count, before_source,
  {param("window_start")} AS window_start, {param("window_end")} AS window_end
FROM (
  SELECT l.primary_key,
    CASE WHEN b.primary_key IS NOT NULL THEN (CASE WHEN b.{t} = 'D' THEN NULL ELSE {struct("b")} END)
      WHEN d.primary_key IS NOT NULL THEN {struct("d")} END AS before,
    CASE WHEN l.{t} = 'D' THEN NULL ELSE {struct("l")} END AS after,
    b.{v} AS version_before, l.{v} AS version_after, l.change_count,
    CASE WHEN b.primary_key IS NOT NULL THEN 'log' WHEN d.primary_key IS NOT NULL THEN 'snapshot'
      WHEN l.first_type = 'I' THEN 'none' ELSE 'missing' END AS before_source
  FROM streaming_latest AS l
  LEFT JOIN streaming_before_latest AS b ON b.primary_key = l.primary_key
  LEFT JOIN daily_before_latest AS d ON d.primary_key = l.primary_key
) AS paired
ORDER BY {pk}"""


# -- scans of the compiled BigQuery SQL ------------------------------------------------------------


def bigquery_scans(sql: str) -> Counter[str]:
    """Reads per base table, each CTE reference expanded into the reads of the CTE's body."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, dialect="bigquery")
    ctes = {cte.alias_or_name: cte.this for cte in tree.find_all(exp.CTE)}

    def count(node: exp.Expr) -> Counter[str]:
        found: Counter[str] = Counter()
        for t in node.walk(prune=lambda n: isinstance(n, exp.CTE)):
            if not isinstance(t, exp.Table):
                continue
            if not t.db and t.name in ctes:
                found.update(count(ctes[t.name]))
            else:
                found[".".join(p for p in (t.catalog, t.db, t.name) if p)] += 1
        return found

    return count(tree)


def split_scans(scans: Counter[str]) -> tuple[int, int]:
    log_n = sum(n for name, n in scans.items() if name == SPEC.source_table)
    snap_n = sum(n for name, n in scans.items() if name.startswith(str(SPEC.snapshot_table_prefix)))
    return log_n, snap_n


# -- the generated data ----------------------------------------------------------------------------


def _u(a: str, b: str, salt: int) -> str:
    """A uniform in [0, 1) from a hash of the row's coordinates: the same data on every run, whatever
    the threads (unlike random(), whose values depend on which thread draws them)."""
    return f"u({a}, {b}, {salt})"


def _status(pos: str) -> str:
    base = f"CASE WHEN is_new THEN -1 ELSE floor({_u('order_id', '0', 5)} * {len(STATUSES)}) END"
    return f"list_element({STATUSES!r}, (1 + ({base} + {pos}) % {len(STATUSES)})::INTEGER)"


def _amount(pos: str) -> str:
    return f"CAST((100 + floor({_u('order_id', pos, 6)} * 999900)) / 100 AS DECIMAL(10, 2))"


def _customer() -> str:
    return f"'C' || lpad(CAST(floor({_u('order_id', '0', 7)} * 2000000)::BIGINT AS VARCHAR), 7, '0')"


def generate(con: duckdb.DuckDBPyConnection, n: int) -> dict[str, float]:
    """N log rows committed in [SPAN_START, WINDOW_END), the snapshot at WINDOW_START; a profile.

    Keys: the table holds TABLE_KEYS * N keys before the three days; the changed keys are some of
    them, picked at random, plus new keys (NEW_KEYS of the changed keys); each gets a
    Pareto-distributed number of changes at uniform commit times; versions follow commit order over
    all keys; a new key's first change is an insert, a key's last change a delete with DELETE_SHARE;
    deleted rows carry NULL columns (change tracking joins the live table); rows land
    (bigquery_insert_time) 0.5 s + Exp(4 s) after commit, 0.5% up to 30 min late, so arrival order
    is not version order near the window's edges. Re-delivered rows repeat a (key, version) 1 to
    60 min later. The snapshot is the table as committed at WINDOW_START.
    """
    n_dup = max(1, round(n * REDELIVERED))
    n_changes = n - n_dup
    mean = sum(c**-ALPHA for c in range(1, MAX_CHANGES + 1))  # E[changes] = sum of P(>= c)
    cand = math.ceil(n_changes / mean * 1.2) + 100
    n_new = round(cand * NEW_KEYS)
    table_keys = TABLE_KEYS * n
    if math.gcd(SCRAMBLE, table_keys) != 1:
        raise SystemExit(f"size {n}: pick another SCRAMBLE prime")
    t0, span = SPAN_START.timestamp(), (WINDOW_END - SPAN_START).total_seconds()
    ws = f"'{WINDOW_START.isoformat()}'::TIMESTAMPTZ"
    we = f"'{WINDOW_END.isoformat()}'::TIMESTAMPTZ"
    con.execute(f"SET threads = {THREADS}")
    # hash(a, b, salt) alone is no generator: it combines the three hashes so that two salts give
    # near-equal values (correlation 0.998); hashing that again mixes it (correlation ~0)
    con.execute("CREATE TEMP MACRO u(a, b, salt) AS hash(hash(a, b, salt)) / 18446744073709551616.0")
    con.execute("CREATE SCHEMA cdc")
    con.execute(f"""
        CREATE TEMP TABLE keys AS
        WITH cand AS (
          SELECT 1 + i * {SCRAMBLE} % {table_keys} AS order_id, FALSE AS is_new
          FROM range({cand - n_new}) AS r(i)
          UNION ALL
          SELECT {table_keys} + 1 + i, TRUE FROM range({n_new}) AS r(i)
        ), counted AS (
          SELECT *,
            least({MAX_CHANGES}, floor(pow(1 - {_u("order_id", "0", 1)}, {-1 / ALPHA})))::BIGINT AS want
          FROM cand
        ), cum AS (
          SELECT *, sum(want) OVER (ORDER BY {_u("order_id", "0", 2)}, order_id
                                    ROWS UNBOUNDED PRECEDING) - want AS prior
          FROM counted
        )
        SELECT order_id, is_new, least(want, {n_changes} - prior)::INTEGER AS cnt FROM cum
        WHERE prior < {n_changes}""")
    con.execute(f"""
        CREATE TEMP TABLE changes AS
        WITH raw AS (
          SELECT order_id, is_new, cnt, unnest(range(cnt)) AS i FROM keys
        ), timed AS (
          SELECT *, to_timestamp({t0} + {_u("order_id", "i", 3)} * {span}) AS committed_at FROM raw
        ), ordered AS (
          SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY committed_at, i) AS pos,
            100000000 + row_number() OVER (ORDER BY committed_at, order_id, i) AS changetrack_ver
          FROM timed
        ), typed AS (
          SELECT *, CASE WHEN is_new AND pos = 1 THEN 'I'
              WHEN pos = cnt AND {_u("order_id", "0", 4)}
                < CASE WHEN is_new THEN {DELETE_SHARE["new"]} ELSE {DELETE_SHARE["old"]} END THEN 'D'
              ELSE 'U' END AS changetrack_type
          FROM ordered
        )
        SELECT order_id,
          CASE WHEN changetrack_type <> 'D' THEN {_status("pos")} END AS status,
          CASE WHEN changetrack_type <> 'D' THEN {_amount("pos")} END AS amount,
          CASE WHEN changetrack_type <> 'D' THEN {_customer()} END AS customer,
          changetrack_type, changetrack_ver, committed_at,
          committed_at + to_microseconds(CAST(1e6 * (0.5 - 4 * ln(1 - {_u("changetrack_ver", "0", 8)})
            + CASE WHEN {_u("changetrack_ver", "0", 9)} < 0.005
              THEN 1800 * {_u("changetrack_ver", "0", 10)} ELSE 0 END) AS BIGINT)) AS bigquery_insert_time
        FROM typed""")
    cols = "order_id, status, amount, customer, changetrack_type, changetrack_ver"
    con.execute(f"""
        CREATE TABLE {SPEC.source_table} AS
        SELECT {cols}, bigquery_insert_time FROM changes
        UNION ALL (
          SELECT {cols}, bigquery_insert_time
            + to_microseconds(CAST(1e6 * (60 + 3540 * {_u("changetrack_ver", "0", 12)}) AS BIGINT))
          FROM changes ORDER BY {_u("changetrack_ver", "0", 11)} LIMIT {n_dup}
        )
        ORDER BY bigquery_insert_time""")
    con.execute(f"""
        CREATE TABLE {SNAPSHOT_TABLE} AS
        WITH last_before AS (
          SELECT order_id, arg_max(struct_pack(op := changetrack_type, status := status,
              amount := amount, customer := customer), changetrack_ver) AS r
          FROM changes WHERE committed_at < {ws} GROUP BY order_id
        ), untouched AS (
          SELECT i AS order_id, FALSE AS is_new FROM range(1, {table_keys} + 1) AS t(i)
          WHERE i NOT IN (SELECT order_id FROM last_before)
        )
        SELECT order_id, {_status("0")} AS status, {_amount("0")} AS amount, {_customer()} AS customer
        FROM untouched
        UNION ALL
        SELECT order_id, r.status, r.amount, r.customer FROM last_before WHERE r.op <> 'D'
        ORDER BY order_id""")
    in_w = f"bigquery_insert_time >= {ws} AND bigquery_insert_time < {we}"
    profile = con.execute(f"""
        SELECT count(*), count(DISTINCT order_id),
          count(DISTINCT order_id) FILTER (WHERE {in_w}), count(*) FILTER (WHERE {in_w}),
          count(*) FILTER (WHERE changetrack_type = 'I'), count(*) FILTER (WHERE changetrack_type = 'U'),
          count(*) FILTER (WHERE changetrack_type = 'D'),
          count(*) FILTER (WHERE bigquery_insert_time >= {we})
        FROM {SPEC.source_table}""").fetchone()
    per_key = con.execute(
        "SELECT avg((cnt = 1)::INT), avg((cnt >= 10)::INT), max(cnt), sum(is_new::INT) FROM keys"
    ).fetchone()
    dups = con.execute(
        f"SELECT count(*) - count(DISTINCT (order_id, changetrack_ver)) FROM {SPEC.source_table}"
    ).fetchone()[0]
    snap = con.execute(f"SELECT count(*) FROM {SNAPSHOT_TABLE}").fetchone()[0]
    if profile[0] != n:
        raise SystemExit(f"size {n}: generated {profile[0]:,} log rows; raise the key margin in generate()")
    names = "rows keys keys_in_w rows_in_w I U D after_window once ten_plus max_changes new_keys"
    return dict(zip(names.split(), [*profile, *per_key], strict=True)) | {
        "redelivered": dups,
        "snapshot": snap,
    }


def database(n: int) -> Path:
    """The DuckDB file of size n, generated unless already there (its profile kept beside it)."""
    path = WORK / f"log_{n}_g{GENERATOR}.duckdb"
    profile = path.with_suffix(".json")
    if path.exists() and profile.exists():
        p = json.loads(profile.read_text())
        log(f"  data: reusing {path.relative_to(REPO)} (generated in {p['seconds']:.1f} s)")
    else:
        tmp = path.with_suffix(".part")
        tmp.unlink(missing_ok=True)
        t0 = time.perf_counter()
        con = duckdb.connect(str(tmp))
        try:
            p = generate(con, n)
        finally:
            con.close()
        tmp.rename(path)
        p["seconds"] = time.perf_counter() - t0
        profile.write_text(json.dumps(p))
        log(f"  data: generated in {p['seconds']:.1f} s into {path.relative_to(REPO)}")
    log(
        f"  data: {p['rows']:,} log rows (I {p['I']:,} / U {p['U']:,} / D {p['D']:,}; "
        f"{p['redelivered']:,} re-delivered; {p['after_window']:,} landing after the window), "
        f"{p['rows_in_w']:,} in the window"
    )
    log(
        f"  data: {p['keys']:,} keys changed over 3 days ({p['new_keys']:,} inserted then), "
        f"{p['once']:.0%} once, {p['ten_plus']:.1%} 10+ times, max {p['max_changes']:,}; "
        f"{p['keys_in_w']:,} changed in the window; snapshot {SNAPSHOT_TABLE}: {p['snapshot']:,} rows"
    )
    return path


# -- runs ------------------------------------------------------------------------------------------


def duckdb_params() -> dict[str, datetime]:
    params = query_params(SPEC, WINDOW_START, WINDOW_END)
    params.pop("snapshot_suffix")  # BigQuery only: DuckDB is given the snapshot table itself
    return params


def peak_rss_kb() -> int:
    """This process's peak RSS. Not getrusage's ru_maxrss: a spawned child inherits the parent's
    high-water mark there (the parent's RSS at fork), while VmHWM is the child's own address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(db: str, query_file: str) -> None:
    """One timed run in this (child) process; prints its figures as JSON."""
    sql = Path(query_file).read_text()
    con = duckdb.connect(db, read_only=True)
    con.execute(f"SET threads = {THREADS}")
    con.execute(f"SET temp_directory = '{WORK / 'spill'}'")
    rss_before = peak_rss_kb()
    t0 = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE out AS {sql}", duckdb_params())
    seconds = time.perf_counter() - t0
    rows = con.execute("SELECT count(*) FROM out").fetchone()[0]
    peak = peak_rss_kb()
    print(json.dumps({"seconds": seconds, "rows": rows, "rss_kb": peak, "rss_before_kb": rss_before}))


def run_child(db: Path, query_file: Path) -> dict:
    out = run(
        [sys.executable, __file__, "--child", str(db), str(query_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{query_file.name} on {db.name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def duckdb_plan(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """Base-table scans of the log, materialized CTEs and CTE scans in DuckDB's physical plan."""
    plan = json.loads(con.execute(f"EXPLAIN (FORMAT JSON) {sql}", duckdb_params()).fetchall()[0][1])
    found: Counter[str] = Counter()

    def walk(node: dict) -> None:
        name = node.get("name", "")
        table = str((node.get("extra_info") or {}).get("Table", ""))
        if name in ("SEQ_SCAN", "TABLE_SCAN") and table.endswith(SPEC.source_table):
            found["log"] += 1
        elif name in ("SEQ_SCAN", "TABLE_SCAN") and table.endswith(SNAPSHOT_TABLE):
            found["snapshot"] += 1
        elif name in ("CTE", "CTE_SCAN"):
            found[name] += 1
        for c in node.get("children", []):
            walk(c)

    for node in plan:
        walk(node)
    return (
        f"{found['log']} scans of the log table, {found['snapshot']} of the snapshot, "
        f"{found['CTE']} materialized CTEs read by {found['CTE_SCAN']} CTE scans"
    )


def compare(db: Path, queries: dict[str, Path]) -> None:
    """Both formulations' rows, as multisets, on one size; prints the verdict and the mix of rows."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute(f"SET threads = {THREADS}")
        for name, path in queries.items():
            con.execute(f"CREATE TEMP TABLE out_{name} AS {path.read_text()}", duckdb_params())
        n_ours, n_seed = (con.execute(f"SELECT count(*) FROM out_{k}").fetchone()[0] for k in queries)
        only_ours, only_seed = (
            con.execute(f"SELECT count(*) FROM (FROM out_{a} EXCEPT ALL FROM out_{b})").fetchone()[0]
            for a, b in (("ours", "seed"), ("seed", "ours"))
        )
        mix = con.execute(
            "SELECT before_source, op, count(*) FROM out_ours GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    verdict = "agree" if only_ours == only_seed == 0 and n_ours == n_seed else "DISAGREE"
    log(
        f"  ours vs seed: {verdict} ({n_ours:,} vs {n_seed:,} rows; {only_ours:,} only in ours, "
        f"{only_seed:,} only in the seed's, compared as multisets with EXCEPT ALL)"
    )
    log("  output by before_source/op: " + ", ".join(f"{s}/{o} {c:,}" for s, o, c in mix))


def main() -> None:
    stop_on_signals()
    WORK.mkdir(parents=True, exist_ok=True)
    log(
        f"window [{WINDOW_START.isoformat()}, {WINDOW_END.isoformat()}), lookback {SPEC.lookback.days} days, "
        f"snapshot {SNAPSHOT_TABLE}; DuckDB threads {THREADS}; sizes {', '.join(map(human, SIZES))}"
    )
    queries = {
        "ours": build_net_sql(SPEC, Dialect.DUCKDB, snapshot_table=SNAPSHOT_TABLE),
        "seed": seed_sql(SPEC, Dialect.DUCKDB, snapshot_table=SNAPSHOT_TABLE),
        # The other net plan on DuckDB: whether one plan could serve both engines.
        "one_pass": build_net_sql(SPEC, Dialect.DUCKDB, snapshot_table=SNAPSHOT_TABLE, plan=NetPlan.ONE_PASS),
    }
    files = {}
    for name, sql in queries.items():
        files[name] = WORK / f"{name}.duckdb.sql"
        files[name].write_text(sql)
    scans = {}
    for name, sql in (
        ("ours", build_net_sql(SPEC, Dialect.BIGQUERY)),
        ("seed", seed_sql(SPEC, Dialect.BIGQUERY)),
        ("join_back", build_net_sql(SPEC, Dialect.BIGQUERY, plan=NetPlan.JOIN_BACK)),
    ):
        (WORK / f"{name}.bigquery.sql").write_text(sql)
        scans[name] = split_scans(bigquery_scans(sql))
        log(
            f"BigQuery {name}: log scans {scans[name][0]}, snapshot scans {scans[name][1]} "
            f"(sqlglot, CTEs expanded; SQL in {(WORK / f'{name}.bigquery.sql').relative_to(REPO)})"
        )
    log("dry-run bytes: n/a here (only BigQuery's dry run estimates them; the scan counts above stand in)")

    times: dict[int, dict[str, float]] = {}
    for i, n in enumerate(sorted(set(SIZES))):
        log(f"size {human(n)} ({n:,} log rows)")
        db = database(n)
        con = duckdb.connect(str(db), read_only=True)
        try:
            for name, sql in queries.items():
                log(f"  DuckDB plan {name}: {duckdb_plan(con, sql)}")
        finally:
            con.close()
        runs: dict[str, list[dict]] = {name: [] for name in queries}
        for _ in range(REPEAT):
            for name in queries:  # interleaved, so drift hits both alike
                runs[name].append(run_child(db, files[name]))
        times[n] = {}
        for name, rs in runs.items():
            secs = [r["seconds"] for r in rs]
            times[n][name] = statistics.median(secs)
            log(
                f"  {name}: {times[n][name]:.2f} s median of {REPEAT} "
                f"({' / '.join(f'{s:.2f}' for s in secs)}), {rs[0]['rows']:,} rows out, "
                f"peak RSS {max(r['rss_kb'] for r in rs) / 1024:.0f} MB "
                f"(the process before the query: {rs[0]['rss_before_kb'] / 1024:.0f} MB)"
            )
        log(f"  ours/seed time: {times[n]['ours'] / times[n]['seed']:.2f}")
        log(f"  DuckDB one_pass/join_back (ours) time: {times[n]['one_pass'] / times[n]['ours']:.2f}")
        if i == 0:
            compare(db, {k: files[k] for k in ("ours", "seed")})

    small, large = min(times), max(times)
    row_ratio = large / small
    time_ratio = times[large]["ours"] / times[small]["ours"]
    log(f"scaling of ours {human(small)} -> {human(large)}: {row_ratio:.1f}x rows in {time_ratio:.1f}x time")
    ours_s, seed_s = times[large]["ours"], times[large]["seed"]
    log(
        f"log scans ours/seed: {scans['ours'][0]}/{scans['seed'][0]}; "
        f"snapshot scans ours/seed: {scans['ours'][1]}/{scans['seed'][1]}; "
        f"DuckDB {human(large)} time ours/seed: {ours_s / seed_s:.2f} "
        f"(ours {ours_s:.1f} s, seed {seed_s:.1f} s); "
        f"ours {human(small)}->{human(large)}: {row_ratio:.1f}x rows in {time_ratio:.1f}x time; "
        f"net plans: BigQuery log scans one_pass/join_back {scans['ours'][0]}/{scans['join_back'][0]}, "
        f"DuckDB {human(large)} time one_pass/join_back {times[large]['one_pass'] / ours_s:.2f}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:4])
    else:
        main()
